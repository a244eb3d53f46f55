//! `laminar check`: validate configs, print a one-line summary of each.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, load_config};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config files to check instead of the one `--config` names (as a pre-commit hook passes
    /// them)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Checks every file, reporting each, so one run shows every broken file.
pub(super) fn run(args: &CheckArgs, config: &Path) -> Result<(), CliError> {
    let files = match args.files.is_empty() {
        true => vec![config.to_path_buf()],
        false => args.files.clone(),
    };
    let several = files.len() > 1;
    let mut failed = 0;
    for file in &files {
        match load_config(file) {
            Ok(loaded) => {
                let config = loaded.config;
                let prefix = match several {
                    true => format!("{}: ", file.display()),
                    false => String::new(),
                };
                let charts = config.chart_repositories().count();
                let charts = match charts {
                    0 => String::new(),
                    n => format!(", {n} chart repositories"),
                };
                println!(
                    "{prefix}ok: {} repos, {} update rules, {} registries{charts}",
                    config.repos.len(),
                    config.update_rule_count(),
                    config.prefixes().count()
                );
            }
            Err(err) if several => {
                eprintln!("{err}");
                failed += 1;
            }
            Err(err) => return Err(err),
        }
    }
    match failed {
        0 => Ok(()),
        failed => Err(CliError::Usage(format!(
            "{failed} of {} config files are invalid",
            files.len()
        ))),
    }
}
