//! Integration tests: the `laminar` binary driven as a user would.

mod check;
mod readme;
mod scan;
mod util;
