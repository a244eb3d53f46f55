//! Request counts by registry, kind and outcome, read by tests and exported as metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Upper bounds (seconds) of the request duration histogram.
pub const DURATION_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a registry request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// A page of a tag listing.
    Tags,
    /// A manifest HEAD or GET.
    Manifest,
    /// A blob GET (image config).
    Blob,
    /// A token request.
    Auth,
    /// An ECR API call.
    Ecr,
    /// A Helm repository's `index.yaml`.
    Index,
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            RequestKind::Tags => "tags",
            RequestKind::Manifest => "manifest",
            RequestKind::Blob => "blob",
            RequestKind::Auth => "auth",
            RequestKind::Ecr => "ecr",
            RequestKind::Index => "index",
        })
    }
}

/// Registry name, request kind, outcome label.
pub type CounterKey = (String, RequestKind, &'static str);

/// Request durations of one registry, histogram style.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durations {
    pub count: u64,
    pub sum: f64,
    /// Requests per bucket of [`DURATION_BUCKETS`] (not cumulative), then those above.
    pub buckets: [u64; DURATION_BUCKETS.len() + 1],
}

/// A registry's latest failed request: when, what for, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastFailure {
    pub at: SystemTime,
    pub kind: RequestKind,
    pub outcome: &'static str,
}

#[derive(Debug, Default)]
pub struct RequestCounters {
    counts: Mutex<BTreeMap<CounterKey, u64>>,
    durations: Mutex<BTreeMap<String, Durations>>,
    failures: Mutex<BTreeMap<String, LastFailure>>,
}

impl RequestCounters {
    pub fn record(&self, registry: &str, kind: RequestKind, outcome: &'static str, took: Duration) {
        // A missing manifest or tag is an answer, not trouble with the registry.
        if !matches!(outcome, "ok" | "not_found") {
            let failure = LastFailure {
                at: SystemTime::now(),
                kind,
                outcome,
            };
            let mut failures = crate::store::lock(&self.failures);
            failures.insert(registry.to_string(), failure);
        }
        {
            let mut counts = crate::store::lock(&self.counts);
            *counts
                .entry((registry.to_string(), kind, outcome))
                .or_default() += 1;
        }
        let seconds = took.as_secs_f64();
        let mut durations = crate::store::lock(&self.durations);
        let stats = durations.entry(registry.to_string()).or_default();
        stats.count += 1;
        stats.sum += seconds;
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        stats.buckets[bucket] += 1;
    }

    pub fn durations(&self) -> Vec<(String, Durations)> {
        let durations = crate::store::lock(&self.durations);
        durations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Requests of `kind` to `registry`, whatever their outcome.
    pub fn total(&self, registry: &str, kind: RequestKind) -> u64 {
        self.snapshot()
            .into_iter()
            .filter(|((r, k, _), _)| r == registry && *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Each registry's latest failed request.
    pub fn failures(&self) -> BTreeMap<String, LastFailure> {
        crate::store::lock(&self.failures).clone()
    }

    pub fn snapshot(&self) -> Vec<(CounterKey, u64)> {
        let counts = crate::store::lock(&self.counts);
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}
