//! Prometheus metrics, served as OpenMetrics text. Repo cycles record into the families here;
//! registry request counts are read from the registry layer's counters at scrape time.

use std::fmt::Write;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::registry::RequestCounters;
use crate::registry::counters::DURATION_BUCKETS;

type Labels = Vec<(&'static str, String)>;

/// Every metric laminar exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub sync_total: Family<Labels, Counter>,
    pub sync_duration: Family<Labels, Histogram>,
    pub last_sync: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub references: Family<Labels, Gauge>,
    pub updates_total: Family<Labels, Counter>,
    pub git_operations_total: Family<Labels, Counter>,
    pub push_retries_total: Family<Labels, Counter>,
    pub exec_actions_total: Family<Labels, Counter>,
}

impl Metrics {
    pub fn new(requests: Arc<RequestCounters>) -> Metrics {
        let mut registry = Registry::default();
        let sync_total = Family::<Labels, Counter>::default();
        let sync_duration = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ])
        });
        let last_sync = Family::default();
        let references = Family::default();
        let updates_total = Family::default();
        let git_operations_total = Family::default();
        let push_retries_total = Family::default();
        let exec_actions_total = Family::default();
        registry.register("laminar_sync", "Repo cycles by result", sync_total.clone());
        registry.register(
            "laminar_sync_duration_seconds",
            "Duration of repo cycles",
            sync_duration.clone(),
        );
        registry.register(
            "laminar_last_sync_timestamp_seconds",
            "Unix time of each repo's last cycle with this result",
            last_sync.clone(),
        );
        registry.register(
            "laminar_references",
            "Image references found in each repo",
            references.clone(),
        );
        registry.register(
            "laminar_updates",
            "Image references moved to a newer tag",
            updates_total.clone(),
        );
        registry.register(
            "laminar_git_operations",
            "Git fetches and pushes by result",
            git_operations_total.clone(),
        );
        registry.register(
            "laminar_push_retries",
            "Pushes retried because the remote moved",
            push_retries_total.clone(),
        );
        registry.register(
            "laminar_exec_actions",
            "Exec actions run, by result",
            exec_actions_total.clone(),
        );
        let build_info: Family<Labels, Gauge> = Family::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])
            .set(1);
        registry.register("laminar_build_info", "laminar's version", build_info);
        registry.register_collector(Box::new(RegistryRequests(requests)));
        Metrics {
            registry,
            sync_total,
            sync_duration,
            last_sync,
            references,
            updates_total,
            git_operations_total,
            push_retries_total,
            exec_actions_total,
        }
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

/// Builds a label set.
pub fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
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
            let set = labels([
                ("registry", &registry),
                ("kind", &kind.to_string()),
                ("result", result),
            ]);
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
                .encode_family(&labels([("registry", &registry)]))?
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
        let metrics = Metrics::new(requests);
        metrics
            .sync_total
            .get_or_create(&labels([("repo", "m"), ("result", "updated")]))
            .inc();
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
