//! Image references in text: the grammar, the scanner, the file walker and the rewriter.

pub mod forms;
pub mod hold;
pub mod hub;
pub mod reference;
mod registry_id;
pub mod rewrite;
pub mod scanner;
pub mod walk;

pub use registry_id::RegistryId;
