//! One repo's cycle: sync the workspace → read the repo's own rules → scan (reusing the last
//! scan while the remote head and rules stand still) → ask the registries → plan → apply →
//! exec actions → commit → push (re-planning on races) → report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use git2::Oid;

use crate::config::{self, Config, REMOTE_CONFIG_FILE, RemoteConfig, Repo};
use crate::exec::{self, ExecContext};
use crate::git::{GitError, Identity, Memo, Outcome, Workspace};
use crate::image::rewrite::splice;
use crate::image::scanner::Scanner;
use crate::image::walk::{DEFAULT_MAX_FILE_SIZE, FileRefs, scan_paths};
use crate::metrics::{Metrics, labels};
use crate::plan::{Change, Kept, Plan, TagTable, apply, plan};
use crate::policy::Order;
use crate::registry::Registries;
use crate::status::{ReferenceStatus, RepoStatus};

/// What every repo's cycle shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub registries: Arc<Registries>,
    pub scanner: Arc<Scanner>,
    pub metrics: Arc<Metrics>,
    pub home: Option<PathBuf>,
    /// Set when the shutdown grace period is over: cycles stop before pushing.
    pub abort: Arc<AtomicBool>,
}

impl Shared {
    pub async fn new(config: Arc<Config>) -> Result<Shared, String> {
        let registries = Registries::new(
            &config.registries,
            &config.global.data_dir,
            Default::default(),
        )
        .await;
        let scanner = Scanner::new(config.prefixes()).map_err(|e| e.to_string())?;
        let metrics = Metrics::new(registries.counters().clone());
        Ok(Shared {
            config,
            registries: Arc::new(registries),
            scanner: Arc::new(scanner),
            metrics: Arc::new(metrics),
            home: std::env::var_os("HOME").map(PathBuf::from),
            abort: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// How a cycle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CycleResult {
    /// Nothing needed changing (or, in a dry run, the plan was only shown).
    Unchanged,
    Updated,
    Failed,
}

impl CycleResult {
    pub fn label(self) -> &'static str {
        match self {
            CycleResult::Unchanged => "unchanged",
            CycleResult::Updated => "updated",
            CycleResult::Failed => "failed",
        }
    }
}

/// What a cycle did, for the status board, metrics and `once`.
#[derive(Clone, Debug)]
pub struct CycleReport {
    pub result: CycleResult,
    /// Every problem met; a cycle can update some images and still fail on others.
    pub errors: Vec<String>,
    pub head: Option<Oid>,
    pub changes: Vec<Change>,
    pub kept: Vec<Kept>,
    pub references: usize,
    /// Dry runs: a unified diff per changed file.
    pub diff: String,
}

/// A repo and what its cycles remember between runs.
pub struct RepoRunner {
    pub repo: Repo,
    /// The workspace's state between cycles; the workspace itself is reopened each cycle.
    memo: Memo,
    /// The last valid `.laminar.yaml`.
    remote: RemoteConfig,
    /// The last scan, and the head and rule paths it was made for.
    last_scan: Option<(Oid, Vec<PathBuf>, Arc<Vec<FileRefs>>)>,
}

impl RepoRunner {
    pub fn new(repo: Repo) -> RepoRunner {
        RepoRunner {
            repo,
            memo: Memo::default(),
            remote: RemoteConfig::default(),
            last_scan: None,
        }
    }

    /// Runs one cycle; with `dry_run`, stops after planning and shows the diff. Registry
    /// listings started before `fresh_since` are not reused (a trigger wants the latest tags).
    pub async fn cycle(
        &mut self,
        shared: &Shared,
        dry_run: bool,
        fresh_since: Option<tokio::time::Instant>,
    ) -> CycleReport {
        let started = Instant::now();
        let mut report = CycleReport {
            result: CycleResult::Unchanged,
            errors: Vec::new(),
            head: None,
            changes: Vec::new(),
            kept: Vec::new(),
            references: 0,
            diff: String::new(),
        };
        if let Err(error) = self.run(shared, dry_run, fresh_since, &mut report).await {
            report.errors.push(error);
        }
        if !report.errors.is_empty() {
            report.result = CycleResult::Failed;
        }
        if !dry_run {
            self.record(shared, &report, started.elapsed().as_secs_f64());
        }
        report
    }

    async fn run(
        &mut self,
        shared: &Shared,
        dry_run: bool,
        fresh_since: Option<tokio::time::Instant>,
        report: &mut CycleReport,
    ) -> Result<(), String> {
        let name = self.repo.name.clone();
        let (workspace, synced) = self.synced_workspace(shared).await?;
        report.head = Some(synced.head);
        let dir = workspace.dir().to_path_buf();
        let effective = self.effective_repo(shared, &dir, report);
        let files = self
            .scan(shared, &effective, &dir, synced.head, synced.moved)
            .await?;
        report.references = files.iter().map(|f| f.refs.len()).sum();
        let table = Arc::new(ask_registries(shared, &effective, &files, fresh_since, report).await);
        let first = plan(&effective, &files, &table);
        report.kept = first.kept.clone();
        report.changes = first.changes.clone();
        if dry_run {
            report.diff = diff(&dir, &first);
            self.memo = workspace.memo();
            return Ok(());
        }
        if first.is_empty() {
            self.memo = workspace.memo();
            return Ok(());
        }
        let exec = self.exec_actions(shared);
        let config = shared.config.clone();
        let scanner = shared.scanner.clone();
        let abort = shared.abort.clone();
        let branch = self.repo.branch.clone();
        let attempts = config.global.push_attempts;
        let metrics = shared.metrics.clone();
        // The first attempt applies the plan just made; only a re-run after a push race needs
        // to scan and plan again, on top of what others pushed.
        let mut first = Some(first);
        let task = tokio::task::spawn_blocking(move || {
            let mut workspace = workspace;
            let outcome =
                workspace.commit_and_push(attempts, |dir: &Path| -> Result<Vec<Change>, String> {
                    let planned = match first.take() {
                        Some(planned) => planned,
                        None => {
                            let files = scan_paths(
                                dir,
                                &effective.scan_paths(),
                                &scanner,
                                DEFAULT_MAX_FILE_SIZE,
                            )
                            .map_err(|e| e.to_string())?;
                            plan(&effective, &files, &table)
                        }
                    };
                    apply(dir, &planned).map_err(|e| e.to_string())?;
                    if !planned.changes.is_empty() && !exec.is_empty() {
                        let context = ExecContext {
                            repo: &effective.name,
                            branch: &branch,
                            changes: &planned.changes,
                        };
                        let ran =
                            exec::run_actions(&exec, dir, config.global.exec_timeout, &context);
                        let result = if ran.is_ok() { "success" } else { "failure" };
                        metrics
                            .exec_actions_total
                            .get_or_create(&labels([("repo", &effective.name), ("result", result)]))
                            .inc();
                        ran.map_err(|e| e.to_string())?;
                    }
                    if abort.load(Ordering::SeqCst) {
                        return Err("shutting down: cycle abandoned before its push".into());
                    }
                    Ok(planned.changes)
                });
            let discarded = outcome.is_err().then(|| workspace.discard());
            if let Some(Err(err)) = discarded {
                tracing::warn!(error = %err, "cannot reset the workspace");
            }
            (workspace, outcome)
        });
        let (workspace, outcome) = task.await.map_err(|e| format!("cycle task failed: {e}"))?;
        self.memo = workspace.memo();
        let git_result =
            |result: &str| labels([("repo", &name), ("op", "push"), ("result", result)]);
        match outcome {
            Ok(Outcome::Unchanged) => {
                report.changes.clear();
                Ok(())
            }
            Ok(Outcome::Pushed {
                commit,
                attempts,
                changes,
            }) => {
                shared
                    .metrics
                    .git_operations_total
                    .get_or_create(&git_result("success"))
                    .inc();
                if attempts > 1 {
                    shared
                        .metrics
                        .push_retries_total
                        .get_or_create(&labels([("repo", &name)]))
                        .inc_by(u64::from(attempts - 1));
                }
                for change in &changes {
                    tracing::info!(
                        "{} {} → {} ({})",
                        change.image,
                        change.old_tag,
                        change.new_tag,
                        change.site.path.display()
                    );
                }
                tracing::info!(%commit, attempts, "pushed");
                report.head = Some(commit);
                report.changes = changes;
                report.result = CycleResult::Updated;
                Ok(())
            }
            Err(err) => {
                report.changes.clear();
                if !matches!(err, GitError::Apply(_)) {
                    shared
                        .metrics
                        .git_operations_total
                        .get_or_create(&git_result(err.metric_label()))
                        .inc();
                }
                if let GitError::RetriesExhausted { attempts, .. } = err {
                    shared
                        .metrics
                        .push_retries_total
                        .get_or_create(&labels([("repo", &name)]))
                        .inc_by(u64::from(attempts.saturating_sub(1)));
                }
                Err(err.to_string())
            }
        }
    }

    /// Opens the workspace if needed and syncs it with the remote, off the async runtime.
    async fn synced_workspace(
        &mut self,
        shared: &Shared,
    ) -> Result<(Workspace, crate::git::Synced), String> {
        let memo = self.memo;
        let repo = self.repo.clone();
        let data_dir = shared.config.global.data_dir.clone();
        let identity = Identity {
            name: shared.config.global.git_user.clone(),
            email: shared.config.global.git_email.clone(),
            template: shared.config.global.commit_message.clone(),
        };
        let home = shared.home.clone();
        let result = tokio::task::spawn_blocking(
            move || -> Result<(Workspace, crate::git::Synced), GitError> {
                let mut workspace =
                    Workspace::open(&data_dir, &repo, identity, home.as_deref())?.resume(memo);
                let synced = workspace.sync()?;
                Ok((workspace, synced))
            },
        )
        .await
        .map_err(|e| format!("sync task failed: {e}"))?;
        let fetch = |result: &str| {
            labels([
                ("repo", &self.repo.name),
                ("op", "fetch"),
                ("result", result),
            ])
        };
        match result {
            Ok(pair) => {
                shared
                    .metrics
                    .git_operations_total
                    .get_or_create(&fetch("success"))
                    .inc();
                Ok(pair)
            }
            Err(err) => {
                shared
                    .metrics
                    .git_operations_total
                    .get_or_create(&fetch(err.metric_label()))
                    .inc();
                Err(err.to_string())
            }
        }
    }

    /// The configured repo plus the rules of its own `.laminar.yaml` (when enabled). An invalid
    /// file is reported and the last valid one stays in force.
    fn effective_repo(&mut self, shared: &Shared, dir: &Path, report: &mut CycleReport) -> Repo {
        let mut effective = self.repo.clone();
        if !self.repo.remote_config {
            return effective;
        }
        let path = dir.join(REMOTE_CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => match config::parse_remote(Path::new(REMOTE_CONFIG_FILE), &text) {
                Ok((remote, warnings)) => {
                    if let Some(warnings) = warnings {
                        tracing::warn!("{warnings}");
                    }
                    self.remote = remote;
                }
                Err(err) => report.errors.push(format!(
                    "{err} (the last valid {REMOTE_CONFIG_FILE} stays in force)"
                )),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.remote = RemoteConfig::default()
            }
            Err(err) => report
                .errors
                .push(format!("cannot read {REMOTE_CONFIG_FILE}: {err}")),
        }
        if !self.remote.exec.is_empty() && !shared.config.global.allow_remote_exec {
            tracing::warn!(
                "{REMOTE_CONFIG_FILE} declares exec actions; they are ignored unless global.allowRemoteExec is true"
            );
        }
        effective
            .updates
            .extend(self.remote.updates.iter().cloned());
        effective
    }

    /// The configured exec actions, plus the repo's own where the operator allows them.
    fn exec_actions(&self, shared: &Shared) -> Vec<String> {
        let mut exec = self.repo.exec.clone();
        if shared.config.global.allow_remote_exec {
            exec.extend(self.remote.exec.iter().cloned());
        }
        exec
    }

    /// Scans the rules' paths, or reuses the last scan when neither the head nor the paths
    /// changed.
    async fn scan(
        &mut self,
        shared: &Shared,
        effective: &Repo,
        dir: &Path,
        head: Oid,
        moved: bool,
    ) -> Result<Arc<Vec<FileRefs>>, String> {
        let paths = effective.scan_paths();
        if let Some((last_head, last_paths, files)) = &self.last_scan
            && !moved
            && *last_head == head
            && *last_paths == paths
        {
            return Ok(files.clone());
        }
        let scanner = shared.scanner.clone();
        let dir = dir.to_path_buf();
        let scan_paths_for = paths.clone();
        let files = tokio::task::spawn_blocking(move || {
            scan_paths(&dir, &scan_paths_for, &scanner, DEFAULT_MAX_FILE_SIZE)
        })
        .await
        .map_err(|e| format!("scan task failed: {e}"))?
        .map_err(|e| e.to_string())?;
        let files = Arc::new(files);
        self.last_scan = Some((head, paths, files.clone()));
        Ok(files)
    }

    /// Metrics and log lines for a finished cycle.
    fn record(&self, shared: &Shared, report: &CycleReport, seconds: f64) {
        let name = &self.repo.name;
        let result = report.result.label();
        let metrics = &shared.metrics;
        metrics
            .sync_total
            .get_or_create(&labels([("repo", name), ("result", result)]))
            .inc();
        metrics
            .sync_duration
            .get_or_create(&labels([("repo", name)]))
            .observe(seconds);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics
            .last_sync
            .get_or_create(&labels([("repo", name), ("result", result)]))
            .set(now);
        metrics
            .references
            .get_or_create(&labels([("repo", name)]))
            .set(report.references as i64);
        for change in &report.changes {
            metrics
                .updates_total
                .get_or_create(&labels([("repo", name), ("image", &change.image)]))
                .inc();
        }
        for error in &report.errors {
            tracing::error!(%error, "cycle problem");
        }
        tracing::info!(
            result,
            seconds,
            references = report.references,
            "cycle finished"
        );
    }
}

/// Tags of every image a rule manages, one listing per image (shared across repos); a
/// failing registry is reported and the images it serves are left alone.
async fn ask_registries(
    shared: &Shared,
    effective: &Repo,
    files: &[FileRefs],
    fresh_since: Option<tokio::time::Instant>,
    report: &mut CycleReport,
) -> TagTable {
    let mut wanted: BTreeMap<(usize, String), bool> = BTreeMap::new();
    for file in files {
        for reference in &file.refs {
            if let Some(rule) = effective.rule_for(&file.path, &reference.tag) {
                // A pinned digest must move with the tag, so the new tag's digest is needed:
                // the timed listing resolves digests (and caches them).
                let needs_times = rule.policy.order == Order::Time || reference.digest.is_some();
                *wanted
                    .entry((reference.registry, reference.image.clone()))
                    .or_default() |= needs_times;
            }
        }
    }
    let asks = wanted.iter().map(|((registry, image), times)| async move {
        let tags = match fresh_since {
            Some(since) => {
                shared
                    .registries
                    .tags_since(*registry, image, *times, since)
                    .await
            }
            None => shared.registries.tags(*registry, image, *times).await,
        };
        (image.clone(), tags)
    });
    let mut table = TagTable::new();
    for (image, result) in futures::future::join_all(asks).await {
        match result {
            Ok(tags) => {
                table.insert(image, tags.as_ref().clone());
            }
            Err(err) => {
                tracing::warn!(error = %err, "registry lookup failed");
                report.errors.push(err.to_string());
            }
        }
    }
    shared.registries.save_cache();
    table
}

impl CycleReport {
    /// The status board's view of this cycle.
    pub fn status(&self, cycles: u64) -> RepoStatus {
        let mut references: Vec<ReferenceStatus> = self
            .changes
            .iter()
            .map(|c| ReferenceStatus {
                file: c.site.path.display().to_string(),
                line: c.site.line,
                image: c.image.clone(),
                tag: c.old_tag.clone(),
                newest: Some(c.new_tag.clone()),
            })
            .chain(self.kept.iter().map(|k| ReferenceStatus {
                file: k.site.path.display().to_string(),
                line: k.site.line,
                image: k.image.clone(),
                tag: k.tag.clone(),
                newest: k.up_to_date().then(|| k.tag.clone()),
            }))
            .collect();
        references.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        RepoStatus {
            last_cycle: jiff::Timestamp::now().to_string().into(),
            result: Some(self.result.label().to_string()),
            error: (!self.errors.is_empty()).then(|| self.errors.join("; ")),
            head: self.head.map(|h| h.to_string()),
            cycles,
            references,
        }
    }
}

/// A unified diff of every file the plan would change.
fn diff(dir: &Path, plan: &Plan) -> String {
    let mut out = String::new();
    for (path, edits) in plan.edits_by_file() {
        let full = dir.join(path);
        let Ok(old) = std::fs::read(&full) else {
            continue;
        };
        let Ok(new) = splice(&full, &old, &edits) else {
            continue;
        };
        out.push_str(&crate::diff::unified(
            &crate::image::walk::slash_path(path),
            &String::from_utf8_lossy(&old),
            &String::from_utf8_lossy(&new),
        ));
    }
    out
}
