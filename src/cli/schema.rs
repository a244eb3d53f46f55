//! `laminar schema [--remote]`: the JSON Schema of `laminar.yaml` (or of a repo's
//! `.laminar.yaml`), for editors that check YAML as it is written.

use clap::Args;

use super::CliError;
use crate::config::schema;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of a repo's own .laminar.yaml instead
    #[arg(long)]
    pub remote: bool,
}

pub(super) fn run(args: &SchemaArgs) -> Result<(), CliError> {
    let schema = match args.remote {
        true => schema::remote(),
        false => schema::config(),
    };
    println!("{schema:#}");
    Ok(())
}
