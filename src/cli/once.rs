//! `laminar once`: one cycle of every (or one) repo, then exit; `--dry-run` shows the plan.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use clap::Args;

use super::{CliError, load_config};
use crate::cycle::{CycleReport, CycleResult, Mode, RepoCycle, Shared};

#[derive(Debug, Args)]
pub struct OnceArgs {
    /// Show the plan as a diff with reasons; commit, push and exec nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only this repo
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
}

pub fn run(args: &OnceArgs, path: &Path) -> Result<(), CliError> {
    let config = Arc::new(load_config(path)?.config);
    let repos: Vec<_> = config
        .repos
        .iter()
        .filter(|r| args.repo.as_ref().is_none_or(|name| &r.name == name))
        .cloned()
        .collect();
    if let (Some(name), true) = (&args.repo, repos.is_empty()) {
        return Err(CliError::Usage(format!(
            "no repo named {name:?} in {}",
            path.display()
        )));
    }
    let failed = super::block_on(async {
        let shared = Shared::new(config.clone()).await?;
        let mode = match args.dry_run {
            true => Mode::DryRun,
            false => Mode::Apply,
        };
        let mut failed = 0;
        for repo in repos {
            let name = repo.name.clone();
            let span = tracing::info_span!("cycle", repo = %name);
            let report = tracing::Instrument::instrument(
                RepoCycle::new(repo).run(&shared, mode, tokio::time::Instant::now()),
                span,
            )
            .await;
            print(&mut io::stdout().lock(), &name, &report, args.dry_run)?;
            failed += usize::from(report.result == CycleResult::Failed);
        }
        shared.registries.save_cache().await;
        Ok::<_, CliError>(failed)
    })?;
    if failed > 0 {
        return Err(CliError::CyclesFailed(failed));
    }
    Ok(())
}

fn print(out: &mut impl Write, name: &str, report: &CycleReport, dry_run: bool) -> io::Result<()> {
    let verb = match (dry_run, report.result) {
        (_, CycleResult::Failed) => "failed".to_string(),
        (true, _) => format!("would change {} reference(s)", report.changes.len()),
        (false, CycleResult::Updated) => format!("updated {} reference(s)", report.changes.len()),
        (false, CycleResult::Unchanged) => "up to date".to_string(),
    };
    writeln!(out, "{name}: {verb}")?;
    if dry_run {
        write!(out, "{}", report.diff)?;
    }
    for change in &report.changes {
        writeln!(
            out,
            "  {}: {} {} → {}: {}",
            change.site, change.image, change.old_tag, change.new_tag, change.reason
        )?;
    }
    for kept in &report.kept {
        writeln!(
            out,
            "  {}: {}:{} stays: {}",
            kept.site, kept.image, kept.tag, kept.reason
        )?;
    }
    for proposal in &report.proposals {
        let pull = match &proposal.pull {
            Some(pull) => format!(" #{} {}", pull.number, pull.url),
            None => String::new(),
        };
        let title = match proposal.title.is_empty() {
            true => String::new(),
            false => format!(": {:?}", proposal.title),
        };
        writeln!(
            out,
            "  pull request on {}{pull}: {}{title}",
            proposal.branch,
            proposal.action.describe(),
        )?;
    }
    for (path, u) in &report.unmanaged {
        let file = crate::image::walk::slash_path(path);
        writeln!(out, "  {file}:{}:{}: {u}", u.line, u.column)?;
    }
    for error in &report.errors {
        writeln!(out, "  error: {error}")?;
    }
    Ok(())
}
