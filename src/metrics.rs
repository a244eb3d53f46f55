//! Prometheus metrics, served as OpenMetrics text. Repo cycles record into the families here;
//! registry request counts are read from the registry layer's counters at scrape time.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::registry::RequestCounters;
use crate::registry::counters::DURATION_BUCKETS;

/// Labels of every per-repo family.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepoLabels {
    pub repo: String,
}

/// How something ended: a cycle (`unchanged`, `updated`, `failed`) or an exec action
/// (`success`, `failure`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub repo: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpdateLabels {
    pub repo: String,
    pub image: String,
}

/// A git operation (`fetch`, `push`) and how it ended (`success` or an error's label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitLabels {
    pub repo: String,
    pub op: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistryLabels {
    pub registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    registry: String,
    kind: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Every cycle result, so each repo's series exist from start-up (alerts compare them).
pub const CYCLE_RESULTS: [&str; 3] = ["unchanged", "updated", "failed"];

type TimeGauge = Gauge<f64, AtomicU64>;

/// Every metric laminar exports. Cycles record through the methods; the families stay private
/// so label sets cannot drift.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    cycles: Family<ResultLabels, Counter>,
    cycle_duration: Family<RepoLabels, Histogram>,
    last_cycle: Family<ResultLabels, TimeGauge>,
    poll_interval: Family<RepoLabels, TimeGauge>,
    references: Family<RepoLabels, Gauge>,
    updates: Family<UpdateLabels, Counter>,
    git_operations: Family<GitLabels, Counter>,
    push_retries: Family<RepoLabels, Counter>,
    exec_actions: Family<ResultLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    pull_requests: Family<PullRequestLabels, TimeGauge>,
    webhook_events: Family<WebhookLabels, Counter>,
    webhook_rejected: Family<WebhookRejectedLabels, Counter>,
    webhook_woken: Family<WebhookNameLabels, Counter>,
    event_to_commit: Family<RepoLabels, Histogram>,
    deploys: Family<ResultLabels, Counter>,
    trust_verdicts: Family<ResultLabels, Counter>,
    untrusted: Family<RepoLabels, Gauge>,
    promotions: Family<PromotionLabels, Counter>,
    promotion_lead: Family<ChainLabels, Histogram>,
    /// Each repo's series in `pull_requests`, to remove those of closed requests.
    open_pulls: std::sync::Mutex<std::collections::HashMap<String, Vec<PullRequestLabels>>>,
}

/// A push event a webhook received, and what came of it (`woke`, `unmanaged`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookRejectedLabels {
    webhook: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookNameLabels {
    webhook: String,
}

/// An open pull request laminar keeps, by its branch and number.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PullRequestLabels {
    repo: String,
    branch: String,
    number: String,
}

/// A promotion along a chain (`dev → staging`) and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PromotionLabels {
    repo: String,
    chain: String,
    result: &'static str,
}

/// A chain from its first environment to its last.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChainLabels {
    chain: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    notification: String,
    result: &'static str,
}

impl Metrics {
    /// The families, each series labelled `shard` when the process is one of several
    /// (`shard`: its ordinal and how many there are).
    pub fn new(requests: Arc<RequestCounters>, shard: Option<(usize, usize)>) -> Metrics {
        let mut registry = match shard {
            Some((me, _)) => Registry::with_labels(
                [(Cow::Borrowed("shard"), Cow::Owned(me.to_string()))].into_iter(),
            ),
            None => Registry::default(),
        };
        if let Some((_, shards)) = shard {
            let count: Gauge = Gauge::default();
            count.set(shards as i64);
            registry.register(
                "laminar_shards",
                "Shards the repos are spread over (global.shards)",
                count,
            );
        }
        let metrics = Metrics {
            cycles: Family::default(),
            cycle_duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ])
            }),
            last_cycle: Family::default(),
            poll_interval: Family::default(),
            references: Family::default(),
            updates: Family::default(),
            git_operations: Family::default(),
            push_retries: Family::default(),
            exec_actions: Family::default(),
            notifications: Family::default(),
            pull_requests: Family::default(),
            webhook_events: Family::default(),
            webhook_rejected: Family::default(),
            webhook_woken: Family::default(),
            event_to_commit: Family::new_with_constructor(|| {
                Histogram::new([0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            deploys: Family::default(),
            trust_verdicts: Family::default(),
            untrusted: Family::default(),
            promotions: Family::default(),
            // Hours to weeks: soak times are counted in hours and days.
            promotion_lead: Family::new_with_constructor(|| {
                Histogram::new([
                    600.0,
                    3600.0,
                    4.0 * 3600.0,
                    12.0 * 3600.0,
                    86_400.0,
                    2.0 * 86_400.0,
                    4.0 * 86_400.0,
                    7.0 * 86_400.0,
                    14.0 * 86_400.0,
                ])
            }),
            open_pulls: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "laminar_sync",
            "Repo cycles by result",
            metrics.cycles.clone(),
        );
        registry.register(
            "laminar_sync_duration_seconds",
            "Duration of repo cycles",
            metrics.cycle_duration.clone(),
        );
        registry.register(
            "laminar_last_sync_timestamp_seconds",
            "Unix time of each repo's last cycle with this result (0: none since start-up)",
            metrics.last_cycle.clone(),
        );
        registry.register(
            "laminar_poll_interval_seconds",
            "Each repo's pollFreq",
            metrics.poll_interval.clone(),
        );
        registry.register(
            "laminar_references",
            "Image references found in each repo",
            metrics.references.clone(),
        );
        registry.register(
            "laminar_updates",
            "Image references moved to a newer tag",
            metrics.updates.clone(),
        );
        registry.register(
            "laminar_git_operations",
            "Git fetches and pushes by result",
            metrics.git_operations.clone(),
        );
        registry.register(
            "laminar_push_retries",
            "Pushes retried because the remote moved",
            metrics.push_retries.clone(),
        );
        registry.register(
            "laminar_exec_actions",
            "Exec actions run, by result",
            metrics.exec_actions.clone(),
        );
        registry.register(
            "laminar_notifications",
            "Notifications by target and result (sent, failed after retries, dropped: queue full)",
            metrics.notifications.clone(),
        );
        registry.register(
            "laminar_pull_request_created_timestamp_seconds",
            "Unix time each open pull request laminar keeps was opened (0: unknown)",
            metrics.pull_requests.clone(),
        );
        registry.register(
            "laminar_webhook_events",
            "Push events webhooks received: woke (a repo manages the image) or unmanaged",
            metrics.webhook_events.clone(),
        );
        registry.register(
            "laminar_webhook_rejected",
            "Webhook requests refused, by reason",
            metrics.webhook_rejected.clone(),
        );
        registry.register(
            "laminar_deploy_requests",
            "Deploy requests carried out per repo, by result (pushed, unchanged, refused, failed)",
            metrics.deploys.clone(),
        );
        registry.register(
            "laminar_promotions",
            "Promotions along chains, per repo and chain (upstream → stage), by result (promoted, failed, stopped)",
            metrics.promotions.clone(),
        );
        registry.register(
            "laminar_promotion_lead_seconds",
            "Time from a chain's first environment taking a tag to its last environment taking it",
            metrics.promotion_lead.clone(),
        );
        registry.register(
            "laminar_trust_verdicts",
            "Digests judged afresh under a trust gate, per repo, by result (trusted, refused)",
            metrics.trust_verdicts.clone(),
        );
        registry.register(
            "laminar_untrusted_references",
            "References the latest cycle kept because no newer tag passed their trust gate",
            metrics.untrusted.clone(),
        );
        registry.register(
            "laminar_webhook_repos_woken",
            "Repo cycles webhooks asked for",
            metrics.webhook_woken.clone(),
        );
        registry.register(
            "laminar_event_to_commit_seconds",
            "From a push event's arrival to the commit (or pull request) it led to",
            metrics.event_to_commit.clone(),
        );
        let build_info: Family<BuildLabels, Gauge> = Family::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("laminar_build_info", "laminar's version", build_info);
        let started: Gauge<f64, AtomicU64> = Gauge::default();
        started.set(unix_now());
        registry.register(
            "laminar_start_time_seconds",
            "Unix time the process started",
            started,
        );
        registry.register_collector(Box::new(RegistryRequests(requests)));
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Creates a repo's series at start-up, so a repo that fails from its first cycle on has a
    /// success series (at 0) for the alerts to compare with.
    pub fn register_repo(&self, repo: &str, poll_interval: Duration) {
        for result in CYCLE_RESULTS {
            let labels = result_labels(repo, result);
            self.cycles.get_or_create(&labels).inc_by(0);
            self.last_cycle.get_or_create(&labels).set(0.0);
        }
        self.poll_interval
            .get_or_create(&repo_labels(repo))
            .set(poll_interval.as_secs_f64());
        self.untrusted.get_or_create(&repo_labels(repo)).set(0);
    }

    /// Starts timing a cycle; the duration is recorded when the guard drops.
    pub fn cycle_timer(&self, repo: &str) -> CycleTimer {
        CycleTimer {
            histogram: self.cycle_duration.get_or_create_owned(&repo_labels(repo)),
            started: Instant::now(),
        }
    }

    /// A finished cycle: its result, when it ended and the references it found.
    pub fn cycle_finished(&self, repo: &str, result: &'static str, references: usize) {
        let labels = result_labels(repo, result);
        self.cycles.get_or_create(&labels).inc();
        self.last_cycle.get_or_create(&labels).set(unix_now());
        self.references
            .get_or_create(&repo_labels(repo))
            .set(i64::try_from(references).unwrap_or(i64::MAX));
    }

    pub fn image_updated(&self, repo: &str, image: &str) {
        self.updates
            .get_or_create(&UpdateLabels {
                repo: repo.to_string(),
                image: image.to_string(),
            })
            .inc();
    }

    pub fn git_operation(&self, repo: &str, op: &'static str, result: &'static str) {
        self.git_operations
            .get_or_create(&GitLabels {
                repo: repo.to_string(),
                op,
                result,
            })
            .inc();
    }

    pub fn push_retried(&self, repo: &str, retries: u32) {
        self.push_retries
            .get_or_create(&repo_labels(repo))
            .inc_by(u64::from(retries));
    }

    pub fn exec_action(&self, repo: &str, succeeded: bool) {
        let result = if succeeded { "success" } else { "failure" };
        self.exec_actions
            .get_or_create(&result_labels(repo, result))
            .inc();
    }

    pub fn notification(&self, notification: &str, result: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                notification: notification.to_string(),
                result,
            })
            .inc();
    }

    /// The repo's open pull requests, each with the time it was opened (its age is
    /// `time() - value`); those closed since the last call disappear.
    pub fn pull_requests_open<'a>(
        &self,
        repo: &str,
        open: impl IntoIterator<Item = (&'a str, u64, Option<SystemTime>)>,
    ) {
        let open: Vec<PullRequestLabels> = open
            .into_iter()
            .map(|(branch, number, created)| {
                let labels = PullRequestLabels {
                    repo: repo.to_string(),
                    branch: branch.to_string(),
                    number: number.to_string(),
                };
                let created = created
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                self.pull_requests.get_or_create(&labels).set(created);
                labels
            })
            .collect();
        // Family has no iteration: the labels of this repo's earlier requests are kept here.
        let mut known = crate::store::lock(&self.open_pulls);
        let earlier = known
            .insert(repo.to_string(), open.clone())
            .unwrap_or_default();
        for gone in earlier.iter().filter(|l| !open.contains(l)) {
            self.pull_requests.remove(gone);
        }
    }

    /// A push event for an image some repo manages (`woke`), or none does (`unmanaged`).
    pub fn webhook_event(&self, webhook: &str, managed: bool, repos_woken: usize) {
        let result = if managed { "woke" } else { "unmanaged" };
        self.webhook_events
            .get_or_create(&WebhookLabels {
                webhook: webhook.to_string(),
                result,
            })
            .inc();
        self.webhook_woken
            .get_or_create(&WebhookNameLabels {
                webhook: webhook.to_string(),
            })
            .inc_by(repos_woken as u64);
    }

    /// A refused webhook request; `webhook` is a configured name (never one a request made up).
    pub fn webhook_rejected(&self, webhook: &str, reason: &'static str) {
        self.webhook_rejected
            .get_or_create(&WebhookRejectedLabels {
                webhook: webhook.to_string(),
                reason,
            })
            .inc();
    }

    pub fn deployed(&self, repo: &str, result: &'static str) {
        self.deploys
            .get_or_create(&ResultLabels {
                repo: repo.to_string(),
                result,
            })
            .inc();
    }

    /// A promotion's outcome: `promoted`, `failed` (its cycle failed), `stopped` (its
    /// upstream rolled back from the tag the stage holds).
    pub fn promotion(&self, repo: &str, chain: &str, result: &'static str) {
        self.promotions
            .get_or_create(&PromotionLabels {
                repo: repo.to_string(),
                chain: chain.to_string(),
                result,
            })
            .inc();
    }

    /// A tag reached the last environment of `chain`, `lead` after the first took it.
    pub fn promotion_lead(&self, chain: &str, lead: std::time::Duration) {
        self.promotion_lead
            .get_or_create(&ChainLabels {
                chain: chain.to_string(),
            })
            .observe(lead.as_secs_f64());
    }

    /// A digest judged afresh under a trust gate.
    pub fn trust_verdict(&self, repo: &str, trusted: bool) {
        let result = if trusted { "trusted" } else { "refused" };
        self.trust_verdicts
            .get_or_create(&ResultLabels {
                repo: repo.to_string(),
                result,
            })
            .inc();
    }

    /// References a cycle kept because no newer tag passed their trust gate.
    pub fn untrusted_references(&self, repo: &str, count: usize) {
        self.untrusted
            .get_or_create(&repo_labels(repo))
            .set(count as i64);
    }

    pub fn event_to_commit(&self, repo: &str, took: Duration) {
        self.event_to_commit
            .get_or_create(&repo_labels(repo))
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            let _ = writeln!(text, "# EOF");
        }
        text
    }

    /// The same in the Prometheus text format (0.0.4), for scrapers and tools such as
    /// `promtool` that do not ask for OpenMetrics: counters are described under their `_total`
    /// name and there is no `# EOF`.
    pub fn render_prometheus(&self) -> String {
        let openmetrics = self.render();
        let counters: Vec<&str> = openmetrics
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
            .collect();
        let mut text = String::with_capacity(openmetrics.len());
        for line in openmetrics.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let described = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .contains(&name)
                    .then(|| format!("{prefix}{name}_total {tail}"))
            });
            text.push_str(described.as_deref().unwrap_or(line));
            text.push('\n');
        }
        text
    }
}

/// Records a cycle's duration when dropped, however the cycle ended.
pub struct CycleTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for CycleTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

fn repo_labels(repo: &str) -> RepoLabels {
    RepoLabels {
        repo: repo.to_string(),
    }
}

fn result_labels(repo: &str, result: &'static str) -> ResultLabels {
    ResultLabels {
        repo: repo.to_string(),
        result,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Registry requests, read from the registry layer's counters on each scrape.
#[derive(Debug)]
struct RegistryRequests(Arc<RequestCounters>);

impl Collector for RegistryRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut requests = encoder.encode_descriptor(
            "laminar_registry_requests",
            "Registry requests by registry, kind and result",
            None,
            MetricType::Counter,
        )?;
        for ((registry, kind, result), count) in self.0.snapshot() {
            let set = RequestLabels {
                registry,
                kind: kind.to_string(),
                result,
            };
            ConstCounter::new(count).encode(requests.encode_family(&set)?)?;
        }
        let mut durations = encoder.encode_descriptor(
            "laminar_registry_request_duration_seconds",
            "Duration of registry requests",
            None,
            MetricType::Histogram,
        )?;
        for (registry, stats) in self.0.durations() {
            let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(stats.buckets)
                .collect();
            durations
                .encode_family(&RegistryLabels { registry })?
                .encode_histogram::<NoLabelSet>(stats.sum, stats.count, &buckets, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::RequestKind;

    #[test]
    fn renders_every_family_with_registry_requests() {
        let requests = Arc::new(RequestCounters::default());
        requests.record("ghcr", RequestKind::Tags, "ok", Duration::from_millis(30));
        requests.record("ghcr", RequestKind::Tags, "ok", Duration::from_secs(20));
        let metrics = Metrics::new(requests, None);
        metrics.register_repo("m", Duration::from_secs(60));
        metrics.cycle_finished("m", "updated", 3);
        drop(metrics.cycle_timer("m"));
        let text = metrics.render();
        assert!(
            text.contains("laminar_sync_total{repo=\"m\",result=\"updated\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "laminar_registry_requests_total{registry=\"ghcr\",kind=\"tags\",result=\"ok\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "laminar_registry_request_duration_seconds_bucket{le=\"0.05\",registry=\"ghcr\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "laminar_registry_request_duration_seconds_bucket{le=\"+Inf\",registry=\"ghcr\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("laminar_build_info{version=\""), "{text}");
        assert!(
            text.contains("laminar_sync_total{repo=\"m\",result=\"failed\"} 0"),
            "series exist from start-up: {text}"
        );
        assert!(
            text.contains("laminar_sync_duration_seconds_count{repo=\"m\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("laminar_poll_interval_seconds{repo=\"m\"} 60"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        let classic = metrics.render_prometheus();
        assert!(
            classic.contains("# TYPE laminar_sync_total counter\n"),
            "{classic}"
        );
        assert!(
            classic.contains("# HELP laminar_sync_total Repo cycles by result.\n"),
            "{classic}"
        );
        assert!(!classic.contains("# EOF"));
    }
}
