//! Integration tests: the `laminar` binary driven as a user would.

mod check;
mod scan;
mod util;
