//! `laminar once`: one cycle of every (or one) repo, then exit; `--dry-run` shows the plan.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CliError, load_config};
use crate::cycle::{CycleReport, CycleResult, Mode, RepoCycle, Shared};
use crate::notify::{self, Notifier};
use crate::store;

#[derive(Debug, Args)]
pub struct OnceArgs {
    /// Show the plan as a diff with reasons; commit, push and exec nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only this repo
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// How long to wait, at the end, for notifications to be delivered
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub notify_timeout: u64,
    /// Exit 1 when a notification could not be delivered (by default it is only reported)
    #[arg(long)]
    pub strict_notify: bool,
}

/// How each repo's last `once` ended, so the next run can tell a repo that starts failing
/// (or recovers) from one that keeps failing.
const LAST_RESULTS: &str = "once-results.json";

pub(super) fn run(args: &OnceArgs, path: &Path) -> Result<(), CliError> {
    let config = Arc::new(load_config(path)?.config);
    let repos: Vec<_> = config
        .upstream_first()
        .into_iter()
        .filter(|r| args.repo.as_ref().is_none_or(|name| &r.name == name))
        .cloned()
        .collect();
    if let (Some(name), true) = (&args.repo, repos.is_empty()) {
        return Err(CliError::Usage(format!(
            "no repo named {name:?} in {}",
            path.display()
        )));
    }
    let results_file = config.global.data_dir.join(LAST_RESULTS);
    let (failed, delivered) = super::block_on(async {
        let shared = Shared::new(config.clone()).await?;
        let notifier = Notifier::start(&config.notifications, shared.metrics.clone());
        let mode = match args.dry_run {
            true => Mode::DryRun,
            false => Mode::Apply,
        };
        let mut last: BTreeMap<String, CycleResult> =
            store::load_json(&results_file, "results of the last run").unwrap_or_default();
        let mut failed = 0;
        // A chosen repo's chains read the repos they follow: those are read, never changed.
        for upstream in config.upstreams_of(&repos) {
            let span = tracing::info_span!("read", repo = %upstream.name);
            let mut reader = RepoCycle::new(upstream.clone());
            let reading = reader.run(&shared, Mode::DryRun, tokio::time::Instant::now());
            tracing::Instrument::instrument(reading, span).await;
        }
        for repo in repos {
            let span = tracing::info_span!("cycle", repo = %repo.name);
            let report = tracing::Instrument::instrument(
                RepoCycle::new(repo.clone()).run(&shared, mode, tokio::time::Instant::now()),
                span,
            )
            .await;
            print(&mut io::stdout().lock(), &repo.name, &report, args.dry_run)?;
            failed += usize::from(report.result == CycleResult::Failed);
            // A dry run changes nothing, so it tells nobody anything.
            if mode == Mode::Apply {
                let previous = last.insert(repo.name.clone(), report.result);
                for event in notify::events(&repo, previous, &report) {
                    notifier.publish(&event);
                }
            }
        }
        shared.registries.save_cache().await;
        if mode == Mode::Apply
            && let Err(err) = store::save_json(&results_file, &last)
        {
            tracing::warn!(file = %results_file.display(), error = %err, "cannot save the results of this run");
        }
        let within = Duration::from_secs(args.notify_timeout);
        let delivered = notifier.finish(within).await;
        Ok::<_, CliError>((failed, delivered))
    })?;
    report_delivery(&mut io::stderr().lock(), &delivered)?;
    if failed > 0 {
        return Err(CliError::CyclesFailed(failed));
    }
    if args.strict_notify && delivered.short() > 0 {
        return Err(CliError::Undelivered(delivered.short()));
    }
    Ok(())
}

/// One line per target that had something to send, and what could not be sent.
fn report_delivery(out: &mut impl Write, delivered: &notify::Delivered) -> io::Result<()> {
    for (name, tally) in &delivered.targets {
        if tally.sent + tally.failed == 0 {
            continue;
        }
        write!(out, "notification {name}: {} sent", tally.sent)?;
        match &tally.last_error {
            Some(why) => writeln!(out, ", {} not delivered ({why})", tally.failed)?,
            None => writeln!(out)?,
        }
    }
    for name in &delivered.unfinished {
        writeln!(
            out,
            "notification {name}: still sending when the time ran out (--notify-timeout); the rest is lost"
        )?;
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
