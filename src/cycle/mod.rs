//! One repo's cycle. [`RepoCycle::pipeline`] reads top to bottom as the cycle runs:
//!
//! sync workspace → repo rules → scan → ask registries → plan → apply → exec → commit → push
//! → on a rejected push, sync, scan and plan again and go round → report.
//!
//! Each stage is a method with typed input and output. Git and file work runs on blocking
//! threads, never on the async workers. The git layer offers primitives only; the decisions —
//! what to commit, whether to retry — are made here.

mod ask;
mod chain;
mod delivered;
mod error;
mod message;
mod proposal;
mod pull_request;
mod repo_rules;
mod report;
mod scan_memo;
mod standing;
mod verify;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use git2::Oid;
use rand::Rng;
use tokio::time::Instant;

pub use chain::Chains;
pub use error::CycleError;
pub use repo_rules::{MAX_REPO_FILE, RepoFileError};
pub use report::{CycleReport, CycleResult, Proposal, ProposalAction};

use crate::config::{Config, RegistryId, RemoteConfig, Repo};
use crate::exec::{self, ExecContext};
use crate::forge::Forge;
use crate::git::{Coverage, GitError, Identity, Memo, Push, Synced, Workspace};
use crate::holds::HoldBook;
use crate::image::rewrite::splice;
use crate::image::scanner::{Scanner, ScannerError};
use crate::image::walk::{
    DEFAULT_MAX_FILE_SIZE, FileRefs, Starts, patch_scan, scan_starts, slash_path,
};
use crate::metrics::Metrics;
use crate::plan::{
    DeployOrder, Inputs, KeptReason, Plan, Standing, TagTable, Trust, Written, apply, deploy, plan,
};
use crate::policy::{ImageTags, Policy, TagInfo};
use crate::registry::{Options, Registries};
use crate::trust::Gate;
use ask::{Asked, ask_registries, unanswered};
use chain::{HistoryMemo, chain_facts, record_promotions};
use delivered::Delivered;
use pull_request::Proposing;
use repo_rules::Rules;
use scan_memo::ScanMemo;
use verify::judge_candidates;

/// The first wait before retrying a rejected push; it doubles each time, with jitter.
const RETRY_BASE: Duration = Duration::from_millis(300);

/// What a cycle plans with: its rules, the deploy request it carries out (if it does), the
/// tags the registries gave and the standing between cycles.
struct Planning<'a> {
    rules: &'a Rules,
    order: Option<&'a DeployOrder>,
    tags: &'a TagTable,
    standing: &'a Standing,
}

impl Planning<'_> {
    /// The plan for `files`, as of now.
    fn plan(&self, files: &[FileRefs]) -> Result<Plan, CycleError> {
        let (repo, now) = (&self.rules.repo, SystemTime::now());
        Ok(match self.order {
            None => plan(repo, files, self.tags, self.standing, now),
            Some(order) => {
                let inputs = Inputs {
                    repo,
                    tags: self.tags,
                    standing: self.standing,
                    now,
                };
                deploy(&inputs, files, order)?
            }
        })
    }
}

/// What every repo's cycle shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub registries: Arc<Registries>,
    pub scanner: Arc<Scanner>,
    pub metrics: Arc<Metrics>,
    pub home: Option<PathBuf>,
    /// Set when the shutdown grace period is over: exec actions are stopped and cycles give up
    /// before pushing.
    pub abort: Arc<AtomicBool>,
    /// The holds the daemon keeps.
    pub holds: Arc<HoldBook>,
    /// The trust gates registries demand, by registry.
    pub registry_gates: Arc<HashMap<RegistryId, Arc<Gate>>>,
    /// Followed rules' lineages, and the checks and health answers read for chains.
    pub chains: Arc<Chains>,
}

impl Shared {
    pub async fn new(config: Arc<Config>) -> Result<Shared, ScannerError> {
        let registries = Registries::new(
            &config.registries,
            &config.global.data_dir,
            Options::default(),
        )
        .await;
        Shared::with_registries(config, registries)
    }

    /// Cycles asking `registries` for tags (scripted fakes, in tests).
    pub fn with_registries(
        config: Arc<Config>,
        registries: Registries,
    ) -> Result<Shared, ScannerError> {
        let scanner = config.scanner()?;
        let shard = config.global.shards.as_ref().map(|s| (s.me, s.peers.len()));
        let metrics = Metrics::new(registries.counters().clone(), shard);
        for repo in &config.repos {
            metrics.register_repo(&repo.name, repo.poll_freq);
        }
        let metrics = Arc::new(metrics);
        Ok(Shared {
            registry_gates: Arc::new(Trust::of_registries(&config.registries)),
            chains: Arc::new(Chains::new(&config)),
            holds: Arc::new(HoldBook::open(
                &config.global.data_dir,
                config.global.max_holds,
            )),
            config,
            registries: Arc::new(registries),
            scanner: Arc::new(scanner),
            metrics,
            home: std::env::var_os("HOME").map(PathBuf::from),
            abort: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// Whether a cycle carries out its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Apply, run exec actions, commit and push.
    Apply,
    /// Stop after planning and show the plan as a diff; write nothing.
    DryRun,
}

/// A repo and what its cycles remember between runs.
pub struct RepoCycle {
    pub repo: Repo,
    /// The workspace's state between cycles; the workspace itself is only open during one.
    memo: Memo,
    /// Open during a cycle; closed (and its lock released) between cycles.
    workspace: Option<Workspace>,
    /// The last valid `.laminar.yaml`.
    remote: RemoteConfig,
    /// The part of the tree the last sync was asked to bring to disk.
    wanted: Coverage,
    /// The last scan, and what it was made for.
    last_scan: Option<ScanMemo>,
    /// Hard resets of the working tree in this repo's cycles so far.
    resets: u64,
    /// Pull-request mode: the forge client, made at the first cycle that needs it.
    forge: Option<Arc<Forge>>,
    /// Pull-request mode: laminar's branches as last pushed (loaded at the first cycle).
    delivered: Option<Delivered>,
    /// Tags push events announced for the next cycle, by image: their listings must hold them.
    announced: Vec<(String, String)>,
    /// The tags laminar last wrote (loaded at the first cycle).
    written: Option<Written>,
    /// The head whose history the written tags' commits were last checked against.
    written_checked: Option<Oid>,
    /// Followed rules' lineages and the followed files' versions already read.
    history: HistoryMemo,
}

impl RepoCycle {
    pub fn new(repo: Repo) -> RepoCycle {
        RepoCycle {
            repo,
            memo: Memo::default(),
            workspace: None,
            remote: RemoteConfig::default(),
            wanted: Coverage::Full,
            last_scan: None,
            resets: 0,
            forge: None,
            delivered: None,
            announced: Vec::new(),
            written: None,
            written_checked: None,
            history: HistoryMemo::default(),
        }
    }

    /// Tags push events announced (`image`, `tag`): the next cycle's listing of that image
    /// must hold the tag. A registry may announce a push a moment before it lists the tag
    /// (distribution sends the event before it links the tag), so the listing is asked again,
    /// briefly, until it does.
    pub fn announced(&mut self, pushed: Vec<(String, String)>) {
        self.announced = pushed;
    }

    /// Hard resets made so far: a cycle after laminar's own push, or with nothing new
    /// upstream, makes none.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Runs one cycle. Registry listings older than `started` are never used: the cycle sees
    /// every tag pushed before it began.
    pub async fn run(&mut self, shared: &Shared, mode: Mode, started: Instant) -> CycleReport {
        self.run_for(shared, mode, started, None).await
    }

    /// Carries out a deploy request: its tag on every managed reference of its image,
    /// committed and pushed, and nothing else.
    pub async fn deploy(&mut self, shared: &Shared, order: &DeployOrder) -> CycleReport {
        self.run_for(shared, Mode::Apply, Instant::now(), Some(order))
            .await
    }

    async fn run_for(
        &mut self,
        shared: &Shared,
        mode: Mode,
        started: Instant,
        order: Option<&DeployOrder>,
    ) -> CycleReport {
        // A deploy request's cycle is counted as a deploy, not as one of the repo's cycles.
        let counted = mode == Mode::Apply && order.is_none();
        let timer = counted.then(|| shared.metrics.cycle_timer(&self.repo.name));
        let mut report = CycleReport::default();
        let pushed = self
            .pipeline(shared, mode, started, order, &mut report)
            .await
            .unwrap_or_else(|error| {
                report.errors.push(error);
                false
            });
        report.settle(pushed, mode == Mode::DryRun);
        if mode == Mode::Apply {
            self.keep_standing(shared, &report);
        }
        if let Some(workspace) = self.workspace.take() {
            self.memo = workspace.memo();
            self.resets += u64::from(workspace.resets());
        }
        if counted {
            record(shared, &self.repo.name, &report);
        }
        if mode == Mode::Apply {
            record_promotions(shared, &self.repo, &report);
        }
        drop(timer);
        report
    }

    /// The cycle's stages, in order. `Ok(true)` when a commit was pushed.
    async fn pipeline(
        &mut self,
        shared: &Shared,
        mode: Mode,
        started: Instant,
        order: Option<&DeployOrder>,
        report: &mut CycleReport,
    ) -> Result<bool, CycleError> {
        let mut synced = self.sync_workspace(shared).await?;
        self.read_repo_file(shared, report).await?;
        let rules = self.rules(shared);
        if rules.coverage() != self.wanted {
            // The repo's own rules name paths not on disk yet.
            synced = self.sync_workspace(shared).await?;
        }
        report.head = Some(synced.head);
        let files = self.scan(shared, &rules, &synced).await?;
        report.references = files.iter().map(|f| f.refs.len()).sum();
        let announced = std::mem::take(&mut self.announced);
        let asked = Asked {
            started,
            announced: &announced,
            deploy: order,
        };
        let tags = ask_registries(shared, &rules.repo, &files, &asked, report).await;
        match self
            .read_lineages(shared, &rules, &files, synced.head)
            .await
        {
            Ok(moved) => report.lineage_moved |= moved,
            Err(error) => report.errors.push(error),
        }
        let mut standing = self.standing(shared, synced.head).await?;
        standing.chain = chain_facts(shared, &rules.repo, &files, order).await;
        judge_candidates(shared, &rules.repo, &files, &tags, order, &mut standing).await;
        let planning = Planning {
            rules: &rules,
            order,
            tags: &tags,
            standing: &standing,
        };
        let planned = planning.plan(&files)?;
        report.planned(&planned);
        if mode == Mode::DryRun {
            self.show(&files, &planned, report).await?;
        }
        if let Some(pull) = &rules.repo.pull_request {
            let unanswered = unanswered(&rules.repo, &files, &tags);
            let proposing = Proposing {
                pull,
                rules: &rules,
                base: synced.head,
                tags: &tags,
                unanswered: &unanswered,
            };
            return match order {
                Some(_) if mode == Mode::DryRun => Ok(false),
                Some(order) => {
                    self.propose_deploy(shared, &proposing, order, &planned, report)
                        .await
                }
                None => {
                    self.propose(shared, &proposing, &planned, mode, report)
                        .await
                }
            };
        }
        if mode == Mode::DryRun {
            return Ok(false);
        }
        self.push_until_accepted(shared, &planning, synced, planned, report)
            .await
    }

    /// What a dry run shows: the plan as a diff, and the images seen but not managed.
    async fn show(
        &mut self,
        files: &[FileRefs],
        planned: &Plan,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        report.unmanaged = files
            .iter()
            .flat_map(|f| f.unmanaged.iter().map(|u| (f.path.clone(), u.clone())))
            .collect();
        let dir = self.checkout_dir()?;
        let shown = planned.clone();
        report.diff = tokio::task::spawn_blocking(move || unified_diff(&dir, &shown)).await?;
        Ok(())
    }

    /// Applies, commits and pushes the plan; when someone else pushed first, syncs, scans and
    /// plans again on top of their commit, up to `pushAttempts` times. `Ok(true)` once pushed.
    async fn push_until_accepted(
        &mut self,
        shared: &Shared,
        planning: &Planning<'_>,
        mut synced: Synced,
        mut planned: Plan,
        report: &mut CycleReport,
    ) -> Result<bool, CycleError> {
        let rules = planning.rules;
        let attempts = shared.config.global.push_attempts.max(1);
        for attempt in 1..=attempts {
            if planned.is_empty() {
                return Ok(false);
            }
            let Some(commit) = self
                .apply_exec_commit(shared, rules, &planned, planning.order)
                .await?
            else {
                return Ok(false);
            };
            if shared.abort.load(Ordering::SeqCst) {
                return Err(CycleError::Abandoned);
            }
            match self.push(shared, commit).await? {
                Push::Pushed => {
                    tracing::info!(%commit, attempt, "pushed");
                    report.head = Some(commit);
                    report.push_attempts = attempt;
                    report.planned(&planned);
                    self.rescan_own_commit(shared, rules, &synced, commit).await;
                    self.read_own_lineages(shared, rules, commit, report).await;
                    return Ok(true);
                }
                Push::Rejected(why) => {
                    tracing::info!(attempt, reason = %why, "push rejected; redoing the change on the new remote head");
                    if attempt == attempts {
                        break;
                    }
                    shared.metrics.push_retried(&self.repo.name, 1);
                    tokio::time::sleep(backoff(attempt)).await;
                    synced = self.sync_workspace(shared).await?;
                    report.head = Some(synced.head);
                    let files = self.scan(shared, rules, &synced).await?;
                    planned = planning.plan(&files)?;
                }
            }
        }
        shared
            .metrics
            .git_operation(&self.repo.name, "push", "push_retries_exhausted");
        Err(CycleError::PushRaces { attempts })
    }

    /// Opens the workspace (first time in a cycle) and brings it in step with the remote,
    /// with the part of the tree the current rules need on disk.
    async fn sync_workspace(&mut self, shared: &Shared) -> Result<Synced, CycleError> {
        self.wanted = self.rules(shared).coverage();
        let wanted = self.wanted.clone();
        let synced = match self.workspace.is_some() {
            true => {
                self.git(|workspace| {
                    workspace.want(wanted);
                    workspace.sync()
                })
                .await?
            }
            false => {
                let data_dir = shared.config.global.data_dir.clone();
                let repo = self.repo.clone();
                let identity = Identity {
                    name: shared.config.global.git_user.clone(),
                    email: shared.config.global.git_email.clone(),
                    signing: self.repo.signing.clone(),
                };
                let home = shared.home.clone();
                let memo = self.memo.clone();
                let history = match shared.chains.reads_history_of(&self.repo.name) {
                    true => chain::LOOK_BACK_COMMITS as i32,
                    false => 1,
                };
                let (workspace, synced) =
                    tokio::task::spawn_blocking(move || {
                        match Workspace::open(&data_dir, &repo, identity, home.as_deref()) {
                            Ok(workspace) => {
                                let mut workspace = workspace.resume(memo);
                                workspace.want(wanted);
                                workspace.keep_history(history);
                                let synced = workspace.sync();
                                (Some(workspace), synced)
                            }
                            Err(err) => (None, Err(err)),
                        }
                    })
                    .await?;
                self.workspace = workspace;
                synced
            }
        };
        let result = match &synced {
            Ok(_) => "success",
            Err(err) => err.metric_label(),
        };
        shared
            .metrics
            .git_operation(&self.repo.name, "fetch", result);
        Ok(synced?)
    }

    /// Reads the repo's own `.laminar.yaml` where enabled. An unreadable or invalid file is
    /// reported and the last valid one stays in force.
    async fn read_repo_file(
        &mut self,
        shared: &Shared,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        if !self.repo.remote_config {
            return Ok(());
        }
        match repo_rules::read(&self.checkout_dir()?).await {
            Ok(Some(remote)) => self.remote = remote,
            Ok(None) => self.remote = RemoteConfig::default(),
            Err(error) => report.errors.push(error),
        }
        if !self.remote.exec.is_empty() && !shared.config.global.allow_remote_exec {
            tracing::warn!(
                "{} declares exec actions; they are ignored unless global.allowRemoteExec is true",
                crate::config::REMOTE_CONFIG_FILE
            );
        }
        Ok(())
    }

    /// The configured rules, plus the repo's own as last read.
    fn rules(&self, shared: &Shared) -> Rules {
        let allowed = shared.config.global.allow_remote_exec;
        let mut repo = self.repo.clone();
        repo.updates.extend(self.remote.updates.iter().cloned());
        let mut exec = self.repo.exec.clone();
        if allowed {
            exec.extend(self.remote.exec.iter().cloned());
        }
        Rules { repo, exec }
    }

    /// Every reference under the rules' paths. The last scan is reused while the head and
    /// the paths stand still; when only the head moved, just the files that changed are read.
    async fn scan(
        &mut self,
        shared: &Shared,
        rules: &Rules,
        synced: &Synced,
    ) -> Result<Arc<Vec<FileRefs>>, CycleError> {
        let paths = rules.repo.scan_paths();
        let dir = self.checkout_dir()?;
        let saved = self.open_workspace()?.sidecar(ScanMemo::SUFFIX);
        let scanner = shared.scanner.clone();
        let earlier = self.last_scan.take();
        let synced = synced.clone();
        let memo = tokio::task::spawn_blocking(move || {
            // A new process starts from the scan the last one saved.
            let earlier = earlier.or_else(|| ScanMemo::load(&saved));
            let starts = Starts::resolve(&dir, &paths)?;
            let files = match (earlier, &synced.changed) {
                (Some(memo), _) if memo.starts == starts && memo.head == synced.head => {
                    return Ok(memo);
                }
                (Some(memo), Some(changed))
                    if memo.starts == starts && Some(memo.head) == synced.previous =>
                {
                    patch_scan(
                        &starts,
                        &memo.files,
                        changed,
                        &scanner,
                        DEFAULT_MAX_FILE_SIZE,
                    )
                }
                _ => scan_starts(&starts, &scanner, DEFAULT_MAX_FILE_SIZE)?,
            };
            let memo = ScanMemo {
                head: synced.head,
                starts,
                files: Arc::new(files),
            };
            memo.save(&saved);
            Ok::<_, CycleError>(memo)
        })
        .await??;
        let files = memo.files.clone();
        self.last_scan = Some(memo);
        Ok(files)
    }

    /// Brings the scan up to laminar's own pushed commit by re-reading the files it changed,
    /// so the next cycle starts from it. A failure only costs the next cycle a full scan.
    async fn rescan_own_commit(
        &mut self,
        shared: &Shared,
        rules: &Rules,
        synced: &Synced,
        commit: Oid,
    ) {
        let from = synced.head;
        let changed = self.git(move |w| w.changed_files(from, commit)).await;
        let pushed = Synced {
            head: commit,
            previous: Some(from),
            changed: changed.ok().and_then(Result::ok),
        };
        if let Err(err) = self.scan(shared, rules, &pushed).await {
            tracing::debug!(error = %err, "cannot rescan the pushed commit");
        }
    }

    /// Publishes what followed rules hold after laminar's own commit, so their followers
    /// need not wait for this repo's next cycle. A failure only delays them until then.
    async fn read_own_lineages(
        &mut self,
        shared: &Shared,
        rules: &Rules,
        commit: Oid,
        report: &mut CycleReport,
    ) {
        let Some(files) = self.last_scan.as_ref().filter(|m| m.head == commit) else {
            return;
        };
        let files = files.files.clone();
        match self.read_lineages(shared, rules, &files, commit).await {
            Ok(moved) => report.lineage_moved |= moved,
            Err(err) => tracing::debug!(error = %err, "cannot read the pushed commit's history"),
        }
    }

    /// Rewrites the planned tags, runs the exec actions and commits the result. `None` when
    /// the tree ends up unchanged. On failure the working copy is reset: nothing half-done
    /// is ever committed.
    async fn apply_exec_commit(
        &mut self,
        shared: &Shared,
        rules: &Rules,
        planned: &Plan,
        order: Option<&DeployOrder>,
    ) -> Result<Option<Oid>, CycleError> {
        let global = &shared.config.global;
        let message = match order {
            Some(order) => message::deploy(order, &planned.changes),
            None => message::render(
                global.commit_message.as_deref(),
                global.commit_change_line.as_deref(),
                &self.repo.name,
                &planned.changes,
            ),
        };
        let planned = planned.clone();
        let exec = rules.exec.clone();
        let mut pass_env = global.exec_env.clone();
        pass_env.extend(self.repo.exec_env.iter().cloned());
        let timeout = global.exec_timeout;
        let abort = shared.abort.clone();
        let metrics = shared.metrics.clone();
        let name = self.repo.name.clone();
        let branch = self.repo.branch.clone();
        self.git(move |workspace| {
            workspace.touched();
            let dir = workspace.dir().to_path_buf();
            let mut changed = || -> Result<Option<Oid>, CycleError> {
                apply(&dir, &planned)?;
                if !exec.is_empty() {
                    let context = ExecContext {
                        repo: &name,
                        branch: &branch,
                        changes: &planned.changes,
                        pass_env: &pass_env,
                        timeout,
                        abort: &abort,
                    };
                    let ran = exec::run_actions(&exec, &dir, &context);
                    metrics.exec_action(&name, ran.is_ok());
                    ran?;
                }
                Ok(workspace.commit(&message)?)
            };
            let result = changed();
            if result.is_err()
                && let Err(err) = workspace.discard()
            {
                tracing::warn!(error = %err, "cannot reset the workspace");
            }
            result
        })
        .await?
    }

    /// Pushes `commit` without force.
    async fn push(&mut self, shared: &Shared, commit: Oid) -> Result<Push, CycleError> {
        let pushed = self.git(move |workspace| workspace.push(commit)).await?;
        record_push(shared, &self.repo.name, &pushed);
        Ok(pushed?)
    }

    /// Lends the open workspace to a blocking thread for one step.
    async fn git<T: Send + 'static>(
        &mut self,
        step: impl FnOnce(&mut Workspace) -> T + Send + 'static,
    ) -> Result<T, CycleError> {
        let Some(mut workspace) = self.workspace.take() else {
            return Err(self.no_workspace());
        };
        let (workspace, out) = tokio::task::spawn_blocking(move || {
            let out = step(&mut workspace);
            (workspace, out)
        })
        .await?;
        self.workspace = Some(workspace);
        Ok(out)
    }

    fn open_workspace(&self) -> Result<&Workspace, CycleError> {
        self.workspace.as_ref().ok_or_else(|| self.no_workspace())
    }

    fn checkout_dir(&self) -> Result<PathBuf, CycleError> {
        Ok(self.open_workspace()?.dir().to_path_buf())
    }

    fn no_workspace(&self) -> CycleError {
        CycleError::Git(GitError::Workspace {
            path: self.repo.name.clone().into(),
            message: "the workspace is not open".into(),
        })
    }
}

/// A push's outcome in the git metrics.
fn record_push(shared: &Shared, repo: &str, pushed: &Result<Push, GitError>) {
    let result = match pushed {
        Ok(Push::Pushed) => "success",
        Ok(Push::Rejected(_)) => "rejected",
        Err(err) => err.metric_label(),
    };
    shared.metrics.git_operation(repo, "push", result);
}

/// Metrics and log lines for a finished cycle.
fn record(shared: &Shared, repo: &str, report: &CycleReport) {
    let result = report.result.label();
    shared
        .metrics
        .cycle_finished(repo, result, report.references);
    let untrusted = report
        .kept
        .iter()
        .filter(|kept| matches!(kept.reason, KeptReason::Untrusted { .. }))
        .count();
    shared.metrics.untrusted_references(repo, untrusted);
    for change in &report.changes {
        shared.metrics.image_updated(repo, &change.image);
        tracing::info!(
            "{} {} → {} ({})",
            change.image,
            change.old_tag,
            change.new_tag,
            change.site.path.display()
        );
    }
    for error in &report.errors {
        tracing::error!(%error, kind = error.metric_label(), "cycle problem");
    }
    tracing::info!(result, references = report.references, "cycle finished");
}

fn backoff(attempt: u32) -> Duration {
    RETRY_BASE
        .saturating_mul(1 << attempt.min(6))
        .mul_f64(rand::rng().random_range(0.5..1.5))
}

/// A unified diff of every file the plan would change.
fn unified_diff(dir: &Path, plan: &Plan) -> String {
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
            &slash_path(path),
            &String::from_utf8_lossy(&old),
            &String::from_utf8_lossy(&new),
        ));
    }
    out
}
