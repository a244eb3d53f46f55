//! Runs every repo's cycles: each on its own `pollFreq` (the first at start-up), at once when
//! triggered, never two cycles of one repo together, at most `maxConcurrentRepos` cycles at a
//! time. Shutdown comes from outside as a future.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::EventKind;
use crate::cycle::{CycleReport, CycleResult, Mode, RepoCycle, Shared};
use crate::deploy::{Deploys, RepoOutcome};
use crate::notify::{self, Notifier};
use crate::plan::DeployOrder;
use crate::status::{RepoStatus, StatusBoard};
use crate::store;

/// How long cycles abandoned at the end of the grace period get to stop before their push:
/// with the runtime's own wait for leftovers, shutdown ends within the grace period + 10 s.
const ABANDON_WAIT: Duration = Duration::from_secs(8);

/// Deploy requests waiting for one repo at most; more are refused until these are done.
pub const MAX_QUEUED_DEPLOYS: usize = 32;

/// Wakes repos on demand. Triggers during a cycle coalesce into one follow-up cycle; deploy
/// requests queue, each its own cycle.
#[derive(Debug, Default)]
pub struct Triggers {
    by_repo: HashMap<String, Arc<Wake>>,
    /// Every recent deploy request's state.
    pub deploys: Arc<Deploys>,
}

/// One repo's wake-up call, and what it asks for.
#[derive(Debug, Default)]
struct Wake {
    notify: Notify,
    /// Every listing must be fresh (the API's sync).
    full: AtomicBool,
    /// A cycle reusing the last full cycle's listings.
    nudged: AtomicBool,
    /// The push events not yet acted on: when the earliest arrived, and the tags they
    /// announced by image. Their images' listings were dropped when they came; the cycle they
    /// ask for reuses the other listings of the last full cycle.
    event: Mutex<Option<Pending>>,
    /// Deploy requests, in the order they came.
    orders: Mutex<VecDeque<DeployOrder>>,
    /// Set from the moment the task wakes (before it takes what was asked) until it has
    /// published its cycles: with the requests above, whether anything is under way.
    busy: AtomicBool,
}

impl Wake {
    /// Nothing asked of this repo is waiting or running.
    fn idle(&self) -> bool {
        !self.busy.load(Ordering::SeqCst)
            && !self.full.load(Ordering::SeqCst)
            && !self.nudged.load(Ordering::SeqCst)
            && store::lock(&self.event).is_none()
            && self.orders().is_empty()
    }

    fn orders(&self) -> std::sync::MutexGuard<'_, VecDeque<DeployOrder>> {
        store::lock(&self.orders)
    }

    fn next_order(&self) -> Option<DeployOrder> {
        self.orders().pop_front()
    }
}

/// Push events waiting for their cycle.
#[derive(Debug)]
struct Pending {
    /// When the earliest arrived.
    at: Instant,
    /// (image, tag) each announced.
    announced: Vec<(String, String)>,
}

impl Triggers {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Triggers {
        Triggers {
            by_repo: names
                .into_iter()
                .map(|n| (n.to_string(), Arc::new(Wake::default())))
                .collect(),
            deploys: Arc::default(),
        }
    }

    pub fn knows(&self, repo: &str) -> bool {
        self.by_repo.contains_key(repo)
    }

    /// Is `repo` known, with room in its queue for `count` more deploy requests?
    pub fn can_deploy(&self, repo: &str, count: usize) -> Option<bool> {
        let wake = self.by_repo.get(repo)?;
        Some(wake.orders().len() + count <= MAX_QUEUED_DEPLOYS)
    }

    /// Queues a deploy request for `repo`; `false` for an unknown repo.
    pub fn deploy(&self, repo: &str, order: DeployOrder) -> bool {
        let Some(wake) = self.by_repo.get(repo) else {
            return false;
        };
        wake.orders().push_back(order);
        wake.notify.notify_one();
        true
    }

    /// A cycle that reuses the last full cycle's listings (a hold was released, say); `false`
    /// for an unknown repo.
    pub fn nudge(&self, repo: &str) -> bool {
        let Some(wake) = self.by_repo.get(repo) else {
            return false;
        };
        wake.nudged.store(true, Ordering::SeqCst);
        wake.notify.notify_one();
        true
    }

    /// A cycle with every listing fresh; `false` for an unknown repo.
    pub fn trigger(&self, repo: &str) -> bool {
        match self.by_repo.get(repo) {
            Some(wake) => {
                wake.full.store(true, Ordering::SeqCst);
                wake.notify.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn trigger_all(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_repo.keys().cloned().collect();
        names.sort();
        for name in &names {
            self.trigger(name);
        }
        names
    }

    /// A cycle for a push event that arrived `at`, announcing `tag` of `image` (whose listing
    /// was already dropped); `false` for an unknown repo.
    pub fn pushed(&self, repo: &str, at: Instant, image: &str, tag: Option<&str>) -> bool {
        let Some(wake) = self.by_repo.get(repo) else {
            return false;
        };
        let mut event = store::lock(&wake.event);
        let pending = event.get_or_insert_with(|| Pending {
            at,
            announced: Vec::new(),
        });
        pending.at = pending.at.min(at);
        // Bounded: a flood of events for one repo needs one cycle, not a list without end.
        if let Some(tag) = tag
            && pending.announced.len() < 100
        {
            pending.announced.push((image.to_string(), tag.to_string()));
        }
        drop(event);
        wake.notify.notify_one();
        true
    }

    /// No repo has a cycle running or a request (trigger, push event, deploy, released hold)
    /// waiting: what was asked so far is done. Polled cycles come on their own.
    pub fn idle(&self) -> bool {
        self.by_repo.values().all(|wake| wake.idle())
    }

    fn wake(&self, repo: &str) -> Arc<Wake> {
        self.by_repo.get(repo).cloned().unwrap_or_default()
    }
}

/// Where finished cycles are told: the status board (for the API and the page) and the
/// people notifications are for. Deploy outcomes go to [`Triggers::deploys`].
pub struct Outlets {
    pub status: Arc<StatusBoard>,
    pub notifier: Arc<Notifier>,
}

/// Runs the repos until `shutdown` completes, then lets running cycles finish within the
/// grace period; a cycle still running after it is abandoned before its push.
pub async fn run(
    shared: Arc<Shared>,
    outlets: Outlets,
    repos: Vec<RepoCycle>,
    triggers: Arc<Triggers>,
    shutdown: impl Future<Output = ()>,
) {
    let outlets = Arc::new(outlets);
    let permits = Arc::new(Semaphore::new(shared.config.global.max_concurrent_repos));
    let running = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for cycle in repos {
        let task = RepoTask {
            wake: triggers.wake(&cycle.repo.name),
            cycle,
            turns: Turns {
                shared: shared.clone(),
                permits: permits.clone(),
                running: running.clone(),
                stopped: stopped.clone(),
            },
            outlets: outlets.clone(),
            deploys: triggers.deploys.clone(),
            triggers: triggers.clone(),
            due: Instant::now(),
            last_full: None,
            clock: None,
            event_retry: None,
        };
        tasks.spawn(task.run());
    }
    shutdown.await;
    tracing::info!("shutting down: no new cycles");
    let _ = stop.send(true);
    let grace = shared.config.global.shutdown_grace;
    if tokio::time::timeout(grace, drain(&mut tasks))
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "cycles still running after the grace period; abandoning them before their push"
        );
        shared.abort.store(true, Ordering::SeqCst);
        if tokio::time::timeout(ABANDON_WAIT, drain(&mut tasks))
            .await
            .is_err()
        {
            tasks.abort_all();
        }
    }
}

/// A cycle's scans, listings and git buffers are freed when it ends, but glibc keeps freed heap
/// for reuse; hand it back so an idle daemon's RSS reflects what it holds, not its busiest
/// moment.
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn drain(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

/// One repo's task: its cycles, run when due or woken, one at a time, and what each one
/// finished is published.
struct RepoTask {
    cycle: RepoCycle,
    wake: Arc<Wake>,
    turns: Turns,
    outlets: Arc<Outlets>,
    deploys: Arc<Deploys>,
    /// Wakes the repos that follow this one's rules when what they hold moves.
    triggers: Arc<Triggers>,
    /// The next polled cycle. Every repo's cycles fall on a grid of its pollFreq from
    /// start-up, so repos with the same pollFreq wake together and share one registry listing
    /// per image (at most maxConcurrentRepos run at once; the others wait for a turn).
    due: Instant,
    /// When the last cycle that listed everything afresh began.
    last_full: Option<Instant>,
    /// A soak that runs out or a window that opens before the next poll: a cycle then.
    clock: Option<Instant>,
    /// A push event whose cycle a registry failed is tried again soon, not at the next poll:
    /// when, and how many tries so far.
    event_retry: Option<(Instant, usize)>,
}

/// How a cycle came to be, for [`RepoTask::publish`].
enum Finished<'a> {
    /// A deploy request's cycle.
    Deploy(&'a DeployOrder),
    /// A regular cycle: how long it took, and the push event that asked for it, if one did.
    Cycle {
        took: Duration,
        event: Option<Instant>,
    },
}

impl RepoTask {
    async fn run(mut self) {
        while let Some((woke, on_time)) = self.next_wake().await {
            self.wake.busy.store(true, Ordering::SeqCst);
            let Some(deployed) = self.run_deploys(woke).await else {
                break;
            };
            if !self.run_cycle(woke, on_time, deployed).await {
                break;
            }
            self.wake.busy.store(false, Ordering::SeqCst);
            release_freed_memory();
        }
        // Requests still queued get an answer rather than a wait without end.
        while let Some(order) = self.wake.next_order() {
            let error = "laminar shut down before carrying out the request".to_string();
            self.deploys.update(
                &order.id,
                &self.cycle.repo.name,
                RepoOutcome::Failed { error },
            );
        }
    }

    /// Sleeps until the next poll, a retry or a wake-up call: when it woke, and whether the
    /// poll was due. `None` at shutdown.
    async fn next_wake(&mut self) -> Option<(Instant, bool)> {
        let alarm = self
            .event_retry
            .map_or(self.due, |(at, _)| at.min(self.due));
        let alarm = self.clock.map_or(alarm, |at| at.min(alarm));
        let woke = tokio::select! {
            _ = tokio::time::sleep_until(alarm) => (alarm, alarm == self.due),
            _ = self.wake.notify.notified() => (Instant::now(), false),
            _ = self.turns.stopped.changed() => return None,
        };
        (!*self.turns.stopped.borrow()).then_some(woke)
    }

    /// Deploy requests first, each a cycle of its own, in the order they came: whether any
    /// ran. `None` at shutdown.
    async fn run_deploys(&mut self, woke: Instant) -> Option<bool> {
        let mut deployed = false;
        while let Some(order) = self.wake.next_order() {
            self.deploys
                .update(&order.id, &self.cycle.repo.name, RepoOutcome::Running);
            let Some(report) = self.turns.take(&mut self.cycle, Some(&order), woke).await else {
                self.wake.orders().push_front(order);
                return None;
            };
            self.publish(&report, Finished::Deploy(&order));
            deployed = true;
        }
        Some(deployed)
    }

    /// The regular cycle after a wake-up; `false` at shutdown.
    async fn run_cycle(&mut self, woke: Instant, on_time: bool, deployed: bool) -> bool {
        let full = self.wake.full.swap(false, Ordering::SeqCst) || on_time;
        let nudged = self.wake.nudged.swap(false, Ordering::SeqCst) || deployed;
        let event = store::lock(&self.wake.event).take().map(|pending| {
            self.cycle.announced(pending.announced);
            pending.at
        });
        // A cycle for a push event alone lists only the pushed image afresh; one after a
        // deploy or a released hold lists nothing afresh.
        let started = match (full, event.is_some() || nudged, self.last_full) {
            (false, true, Some(last)) => last,
            _ => {
                self.last_full = Some(woke);
                woke
            }
        };
        // A cycle sees no registry listing older than `started`.
        let began = Instant::now();
        let Some(report) = self.turns.take(&mut self.cycle, None, started).await else {
            return false;
        };
        let took = began.elapsed();
        self.event_retry = self.retry_event(event, &report);
        let now = Instant::now();
        while self.due <= now {
            self.due += self.cycle.repo.poll_freq;
        }
        // A second's slack: a window opens, or a soak ends, by then for sure.
        let wall = SystemTime::now();
        self.clock = report
            .next_due(wall)
            .map(|at| now + at.duration_since(wall).unwrap_or_default() + Duration::from_secs(1))
            .filter(|at| *at < self.due);
        self.publish(&report, Finished::Cycle { took, event });
        true
    }

    /// When to run again the cycle of a push event that a registry failed (a registry may
    /// announce a push and fail a read of it a moment later).
    fn retry_event(
        &self,
        event: Option<Instant>,
        report: &CycleReport,
    ) -> Option<(Instant, usize)> {
        match (event, self.event_retry) {
            (Some(at), retry) if registry_failed(report) => {
                let tries = retry.map_or(0, |(_, tries)| tries);
                EVENT_RETRIES.get(tries).map(|pause| {
                    store::lock(&self.wake.event).get_or_insert(Pending {
                        at,
                        announced: Vec::new(),
                    });
                    tracing::info!(repo = %self.cycle.repo.name, ?pause, "a registry failed the cycle a push event asked for; trying again");
                    (Instant::now() + *pause, tries + 1)
                })
            }
            (None, retry) => retry,
            (Some(_), _) => None,
        }
    }

    /// The one place a finished cycle is told: deploy outcomes, metrics, the status board and
    /// notifications.
    fn publish(&self, report: &CycleReport, finished: Finished) {
        let shared = &self.turns.shared;
        let name = &self.cycle.repo.name;
        // A regular cycle's status follows from the last one's; a deploy's is told by the
        // cycle that follows it, and people hear only of its commit.
        let previous = match finished {
            Finished::Deploy(order) => {
                let outcome = RepoOutcome::of(report);
                tracing::info!(repo = %name, deploy = %order.id, result = outcome.label(), "deploy request carried out");
                shared.metrics.deployed(name, outcome.label());
                self.deploys.update(&order.id, name, outcome);
                None
            }
            Finished::Cycle { took, event } => {
                if let Some(at) = event
                    && report.result == CycleResult::Updated
                {
                    shared.metrics.event_to_commit(name, at.elapsed());
                }
                let next = SystemTime::now() + self.due.saturating_duration_since(Instant::now());
                let mut previous = None;
                self.outlets.status.update(name, |last| {
                    previous = last.result;
                    RepoStatus {
                        duration_seconds: Some(took.as_secs_f64()),
                        next_cycle: jiff::Timestamp::try_from(next).ok().map(|t| t.to_string()),
                        ..RepoStatus::after(last, report)
                    }
                });
                Some(previous)
            }
        };
        self.outlets.status.updated(name, report);
        if report.lineage_moved {
            let followers = shared.config.repos.iter().filter(|repo| {
                repo.updates
                    .iter()
                    .any(|rule| rule.follow.as_ref().is_some_and(|f| &f.repo == name))
            });
            for follower in followers {
                self.triggers.trigger(&follower.name);
            }
        }
        for event in notify::events(&self.cycle.repo, previous.flatten(), report) {
            if previous.is_some() || event.kind == EventKind::Updated {
                self.outlets.notifier.publish(&event);
            }
        }
    }
}

/// Pauses before the cycle of a push event runs again after a registry failed it.
const EVENT_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

fn registry_failed(report: &CycleReport) -> bool {
    report
        .errors
        .iter()
        .any(|e| matches!(e, crate::cycle::CycleError::Registry(_)))
}

/// What a repo's cycles take turns with: the concurrency limit and shutdown.
struct Turns {
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    stopped: watch::Receiver<bool>,
}

impl Turns {
    /// Runs one cycle (a deploy request's, or a regular one seeing no listing older than
    /// `started`) once a permit is free; `None` when shutdown came first.
    async fn take(
        &mut self,
        cycle: &mut RepoCycle,
        order: Option<&DeployOrder>,
        started: Instant,
    ) -> Option<CycleReport> {
        let permit = tokio::select! {
            permit = self.permits.acquire() => permit,
            _ = self.stopped.changed() => return None,
        };
        let span = tracing::info_span!("cycle", repo = %cycle.repo.name);
        self.running.fetch_add(1, Ordering::SeqCst);
        // A cycle's future is large (git, registry and plan state, ~9 KB): boxed, it takes
        // memory while it runs rather than in every idle repo's task.
        let report = match order {
            Some(order) => Box::pin(cycle.deploy(&self.shared, order).instrument(span)).await,
            None => {
                Box::pin(
                    cycle
                        .run(&self.shared, Mode::Apply, started)
                        .instrument(span),
                )
                .await
            }
        };
        drop(permit);
        // The registry cache is written (if it changed) once a round of cycles is over, not
        // after every repo's.
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            Box::pin(self.shared.registries.save_cache()).await;
        }
        Some(report)
    }
}
