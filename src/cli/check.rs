//! `laminar check`: validate the config, print a one-line summary.

use std::path::Path;

use super::{CliError, load_config};

pub fn run(path: &Path) -> Result<(), CliError> {
    let config = load_config(path)?.config;
    println!(
        "ok: {} repos, {} update rules, {} registries",
        config.repos.len(),
        config.update_rule_count(),
        config.registries.len()
    );
    Ok(())
}
