//! `laminar completions SHELL` and `laminar man`: generated from the command-line definitions
//! themselves, so they never drift from what the binary accepts.

use std::io::{self, Write};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    pub shell: Shell,
}

pub(super) fn completions(args: &CompletionsArgs) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "laminar", &mut out);
    out.flush()?;
    Ok(())
}

/// The man page (roff), for `man -l -` or to install as `laminar.1`.
pub(super) fn man() -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(())
}
