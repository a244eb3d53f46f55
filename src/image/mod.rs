//! Image references in text: the grammar, the scanner, the file walker and the rewriter.

pub mod forms;
pub mod hold;
pub mod hub;
pub mod reference;
pub mod rewrite;
pub mod scanner;
pub mod walk;
