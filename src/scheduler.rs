//! Runs every repo's cycles: each on its own `pollFreq` (the first at start-up), at once when
//! triggered, never two cycles of one repo together, at most `maxConcurrentRepos` cycles at a
//! time. Shutdown comes from outside as a future.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::cycle::{Mode, RepoCycle, Shared};
use crate::status::StatusBoard;

/// How long cycles abandoned at the end of the grace period get to stop before their push:
/// with the runtime's own wait for leftovers, shutdown ends within the grace period + 10 s.
pub const ABANDON_WAIT: Duration = Duration::from_secs(8);

/// Wakes repos on demand. Triggers during a cycle coalesce into one follow-up cycle.
#[derive(Debug, Default)]
pub struct Triggers {
    by_repo: HashMap<String, Arc<Notify>>,
}

impl Triggers {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Triggers {
        Triggers {
            by_repo: names
                .into_iter()
                .map(|n| (n.to_string(), Arc::new(Notify::new())))
                .collect(),
        }
    }

    /// `false` for an unknown repo.
    pub fn trigger(&self, repo: &str) -> bool {
        match self.by_repo.get(repo) {
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn trigger_all(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_repo.keys().cloned().collect();
        names.sort();
        for notify in self.by_repo.values() {
            notify.notify_one();
        }
        names
    }

    fn notify(&self, repo: &str) -> Arc<Notify> {
        self.by_repo.get(repo).cloned().unwrap_or_default()
    }
}

/// Runs the repos until `shutdown` completes, then lets running cycles finish within the
/// grace period; a cycle still running after it is abandoned before its push.
pub async fn run(
    shared: Arc<Shared>,
    repos: Vec<RepoCycle>,
    status: Arc<StatusBoard>,
    triggers: Arc<Triggers>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(shared.config.global.max_concurrent_repos));
    let running = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for repo in repos {
        let notify = triggers.notify(&repo.repo.name);
        tasks.spawn(repo_loop(
            repo,
            shared.clone(),
            status.clone(),
            notify,
            permits.clone(),
            running.clone(),
            stopped.clone(),
        ));
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

async fn repo_loop(
    mut cycle: RepoCycle,
    shared: Arc<Shared>,
    status: Arc<StatusBoard>,
    notify: Arc<Notify>,
    permits: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    mut stopped: watch::Receiver<bool>,
) {
    let poll = cycle.repo.poll_freq;
    let name = cycle.repo.name.clone();
    // Every repo's cycles fall on a grid of its pollFreq from start-up, so repos with the same
    // pollFreq wake together and share one registry listing per image (at most
    // maxConcurrentRepos run at once; the others wait for a turn).
    let mut due = Instant::now();
    loop {
        let woke = tokio::select! {
            _ = tokio::time::sleep_until(due) => due,
            _ = notify.notified() => Instant::now(),
            _ = stopped.changed() => break,
        };
        if *stopped.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = permits.acquire() => permit,
            _ = stopped.changed() => break,
        };
        // A cycle sees no registry listing older than the moment it woke.
        let span = tracing::info_span!("cycle", repo = %name);
        running.fetch_add(1, Ordering::SeqCst);
        let report = cycle.run(&shared, Mode::Apply, woke).instrument(span).await;
        drop(permit);
        // The registry cache is written (if it changed) once a round of cycles is over, not
        // after every repo's.
        if running.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.registries.save_cache().await;
        }
        let mut previous_result = None;
        status.update(&name, |previous| {
            previous_result = previous.result;
            report.status(previous)
        });
        for event in crate::notify::events(&cycle.repo, previous_result, &report) {
            shared.notifier.publish(&event);
        }
        drop(report);
        release_freed_memory();
        let now = Instant::now();
        while due <= now {
            due += poll;
        }
    }
}
