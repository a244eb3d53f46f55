//! laminar keeps container image tags in git repositories current.
//!
//! Data flows one way: `config` → `image` (find references in a checkout) → `plan` (decide,
//! purely, which tags to change using `policy`) → `image::rewrite` (apply the plan).
//!
//! - [`config`]: the YAML config, decoded with located errors into compiled rules.
//! - [`image`]: the reference grammar, the prefix scanner, the file walker, the rewriter.
//! - [`policy`]: tag patterns and orderings; picks the newest allowed tag. Pure.
//! - [`plan`]: from references, rules and known tags to a list of changes. Pure.
//! - [`cli`]: command-line definitions and the commands behind them.

pub mod cli;
pub mod config;
pub mod diff;
pub mod exec;
pub mod git;
pub mod image;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod registry;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod status;
pub mod sync;
