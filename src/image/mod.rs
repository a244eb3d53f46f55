//! Image references in text: the grammar, the scanner, the file walker and the rewriter.

pub mod reference;
pub mod scanner;
