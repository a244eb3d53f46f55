//! Notifications: what a finished cycle means for people (a commit pushed, a repo that started
//! failing or recovered, a push that lost every race), delivered to Slack, Teams, Discord or a
//! signed JSON webhook. Delivery never holds up a cycle: each target has a bounded queue and
//! a task of its own that retries with backoff; what cannot be queued or delivered is counted.

mod message;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::CONTENT_TYPE;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{EventKind, Notification, Repo};
use crate::cycle::{CycleError, CycleReport, CycleResult, ProposalAction};
use crate::forge::PullRequestRef;
use crate::holds::HoldKind;
use crate::metrics::Metrics;
use crate::plan::{Change, KeptReason};
use crate::secret::SecretError;

/// Events waiting per target; beyond that, new ones are dropped (and counted).
const QUEUE: usize = 100;
/// Tries per event, with a doubling pause between them.
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Something people should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub repo: String,
    pub branch: String,
    pub time: SystemTime,
    /// The pushed commit (`updated`), else the head the cycle saw.
    pub commit: Option<String>,
    /// The commit on the forge's web UI, when the URL says where that is.
    pub link: Option<String>,
    pub changes: Vec<ChangeNote>,
    /// `failed`, `push-gave-up`: what went wrong; `rolled-back` in a promotion chain: which
    /// chain stopped, and why.
    pub error: Option<String>,
    /// Pull-request mode (`updated`): the pull requests opened or updated, and their branches;
    /// `commit` and `link` are then the first one's.
    pub pull_requests: Vec<(String, PullRequestRef)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeNote {
    pub file: String,
    pub line: usize,
    pub image: String,
    pub old: String,
    pub new: String,
}

impl ChangeNote {
    fn of(change: &Change) -> ChangeNote {
        ChangeNote {
            file: change.site.path.display().to_string(),
            line: change.site.line,
            image: change.image.clone(),
            old: change.old_tag.clone(),
            new: change.new_tag.clone(),
        }
    }
}

/// The events a finished cycle makes, given how the repo's previous cycle ended. A repo that
/// keeps failing is announced once, when it starts.
pub fn events(repo: &Repo, previous: Option<CycleResult>, report: &CycleReport) -> Vec<Event> {
    let event = |kind| Event {
        kind,
        repo: repo.name.clone(),
        branch: repo.branch.clone(),
        time: SystemTime::now(),
        commit: report.head.map(|h| h.to_string()),
        link: report
            .head
            .and_then(|h| commit_link(&repo.url, &h.to_string())),
        changes: Vec::new(),
        error: None,
        pull_requests: Vec::new(),
    };
    let error = || {
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        Some(errors.join("; "))
    };
    let mut events = Vec::new();
    if report.result == CycleResult::Updated {
        let pull_requests: Vec<(String, PullRequestRef)> = report
            .proposals
            .iter()
            .filter(|p| matches!(p.action, ProposalAction::Opened | ProposalAction::Updated))
            .filter_map(|p| Some((p.branch.clone(), p.pull.clone()?)))
            .collect();
        let link = match pull_requests.first() {
            Some((_, pull)) => Some(pull.url.clone()),
            None => event(EventKind::Updated).link,
        };
        events.push(Event {
            link,
            pull_requests,
            changes: report.changes.iter().map(ChangeNote::of).collect(),
            ..event(EventKind::Updated)
        });
    }
    let failed = report.result == CycleResult::Failed;
    let was_failing = previous == Some(CycleResult::Failed);
    if failed && !was_failing {
        events.push(Event {
            error: error(),
            ..event(EventKind::Failed)
        });
    }
    if !failed && was_failing {
        events.push(event(EventKind::Recovered));
    }
    let (rolled_back, why) = rolled_back(report);
    if !rolled_back.is_empty() {
        events.push(Event {
            changes: rolled_back,
            error: why,
            ..event(EventKind::RolledBack)
        });
    }
    if report
        .errors
        .iter()
        .any(|e| matches!(e, CycleError::PushRaces { .. }))
    {
        events.push(Event {
            error: error(),
            ..event(EventKind::PushGaveUp)
        });
    }
    events
}

/// The references a rollback left held in this cycle — by other hands, or upstream in a
/// promotion chain (then why, as the holds say it).
fn rolled_back(report: &CycleReport) -> (Vec<ChangeNote>, Option<String>) {
    let mut chains = Vec::new();
    let notes = report
        .kept
        .iter()
        .filter_map(|kept| match &kept.reason {
            KeptReason::OnHold(hold)
                if hold.kind == HoldKind::Rollback
                    && report.holds_made.iter().any(|made| made.id == hold.id) =>
            {
                let reason = hold.reason.as_deref().unwrap_or_default();
                if reason.contains("promotion chain") && !chains.contains(&reason) {
                    chains.push(reason);
                }
                Some(ChangeNote {
                    file: kept.site.path.display().to_string(),
                    line: kept.site.line,
                    image: kept.image.clone(),
                    old: hold.release_after.clone().unwrap_or_default(),
                    new: kept.tag.clone(),
                })
            }
            _ => None,
        })
        .collect();
    let why = (!chains.is_empty()).then(|| chains.join("; "));
    (notes, why)
}

/// `https://host/owner/repo/commit/<sha>` (the form GitHub, GitLab, Gitea and Forgejo all
/// answer); none for local remotes.
fn commit_link(url: &str, commit: &str) -> Option<String> {
    let (host, path) = crate::config::git_url::web_location(url)?;
    Some(format!("https://{host}/{path}/commit/{commit}"))
}

/// Targets and their queues.
pub struct Notifier {
    /// Each target and its queue.
    targets: Vec<(Notification, mpsc::Sender<Event>)>,
    /// Each target's delivery task, which ends when its queue is closed and empty.
    deliveries: Vec<(String, JoinHandle<Tally>)>,
    metrics: Arc<Metrics>,
}

/// What one target's delivery task did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: usize,
    pub failed: usize,
    /// Why the last failed event failed.
    pub last_error: Option<String>,
}

/// What became of the events by the time [`Notifier::finish`] returned, by target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub targets: Vec<(String, Tally)>,
    /// Targets still delivering when the time ran out: their remaining events are lost.
    pub unfinished: Vec<String>,
}

impl Delivered {
    /// The targets that did not get every event.
    pub fn short(&self) -> usize {
        self.unfinished.len() + self.targets.iter().filter(|(_, t)| t.failed > 0).count()
    }
}

impl Notifier {
    /// Starts a delivery task per target (none without targets).
    pub fn start(targets: &[Notification], metrics: Arc<Metrics>) -> Notifier {
        if targets.is_empty() {
            return Notifier::none(metrics);
        }
        let client = match reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .timeout(TIMEOUT)
            .build()
        {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err, "cannot set up an HTTP client: notifications are off");
                return Notifier::none(metrics);
            }
        };
        let mut deliveries = Vec::new();
        let targets = targets
            .iter()
            .map(|target| {
                let (queue, waiting) = mpsc::channel(QUEUE);
                let task = tokio::spawn(deliver(
                    target.clone(),
                    waiting,
                    client.clone(),
                    metrics.clone(),
                ));
                deliveries.push((target.name.clone(), task));
                (target.clone(), queue)
            })
            .collect();
        Notifier {
            targets,
            deliveries,
            metrics,
        }
    }

    fn none(metrics: Arc<Metrics>) -> Notifier {
        Notifier {
            targets: Vec::new(),
            deliveries: Vec::new(),
            metrics,
        }
    }

    /// Closes the queues and waits, up to `within`, for every event queued so far to be
    /// delivered or to fail (a one-shot run's last step; the daemon never calls it).
    pub async fn finish(self, within: Duration) -> Delivered {
        let Notifier {
            targets,
            deliveries,
            ..
        } = self;
        // Closing the queues lets each delivery task end once it has sent what they held.
        drop(targets);
        let deadline = tokio::time::Instant::now() + within;
        let mut delivered = Delivered::default();
        for (name, mut task) in deliveries {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(tally)) => delivered.targets.push((name, tally)),
                Ok(Err(_)) => delivered.unfinished.push(name),
                Err(_) => {
                    task.abort();
                    delivered.unfinished.push(name);
                }
            }
        }
        delivered
    }

    /// Queues `event` for every target that wants it; never waits.
    pub fn publish(&self, event: &Event) {
        for (target, queue) in &self.targets {
            let wanted = target.events.contains(&event.kind)
                && target
                    .repos
                    .as_ref()
                    .is_none_or(|repos| repos.contains(&event.repo));
            if wanted && queue.try_send(event.clone()).is_err() {
                self.metrics.notification(&target.name, "dropped");
                tracing::warn!(notification = %target.name, "notification queue full; event dropped");
            }
        }
    }
}

/// Sends what `waiting` holds to `target`, each event tried [`ATTEMPTS`] times.
async fn deliver(
    target: Notification,
    mut waiting: mpsc::Receiver<Event>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
) -> Tally {
    let mut tally = Tally::default();
    while let Some(event) = waiting.recv().await {
        let mut pause = FIRST_PAUSE;
        let mut outcome = Ok(());
        for attempt in 1..=ATTEMPTS {
            outcome = send(&client, &target, &event).await;
            if outcome.is_ok() || attempt == ATTEMPTS {
                break;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match outcome {
            Ok(()) => {
                tally.sent += 1;
                metrics.notification(&target.name, "sent");
            }
            Err(why) => {
                tally.failed += 1;
                metrics.notification(&target.name, "failed");
                tracing::warn!(notification = %target.name, event = event.kind.name(), error = %why, "notification not delivered");
                tally.last_error = Some(why.to_string());
            }
        }
    }
    tally
}

/// Why an event did not reach its target. Never shows the URL (for Slack, Teams and Discord
/// it is the secret).
#[derive(Debug, thiserror::Error)]
enum Undelivered {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Transport(String),
    #[error("the receiver answered HTTP {0}")]
    Refused(u16),
}

/// One delivery.
async fn send(
    client: &reqwest::Client,
    target: &Notification,
    event: &Event,
) -> Result<(), Undelivered> {
    let url = target.url.read()?;
    let body = message::body(target.kind, event);
    let mut request = client
        .post(url.expose())
        .header(CONTENT_TYPE, "application/json")
        .header("x-laminar-event", event.kind.name());
    if let Some(secret) = &target.secret {
        let secret = secret.read()?;
        let timestamp = event
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        request = request
            .header("x-laminar-timestamp", timestamp.to_string())
            .header(
                "x-laminar-signature",
                message::signature(secret.expose().as_bytes(), timestamp, &body),
            );
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| Undelivered::Transport(e.without_url().to_string()))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(Undelivered::Refused(status.as_u16())),
    }
}

#[cfg(test)]
mod tests;
