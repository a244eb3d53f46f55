//! Request counts by registry, kind and outcome, read by tests and exported as metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

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
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            RequestKind::Tags => "tags",
            RequestKind::Manifest => "manifest",
            RequestKind::Blob => "blob",
            RequestKind::Auth => "auth",
            RequestKind::Ecr => "ecr",
        })
    }
}

/// Registry name, request kind, outcome label.
pub type CounterKey = (String, RequestKind, &'static str);

#[derive(Debug, Default)]
pub struct RequestCounters {
    counts: Mutex<BTreeMap<CounterKey, u64>>,
}

impl RequestCounters {
    pub fn record(&self, registry: &str, kind: RequestKind, outcome: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((registry.to_string(), kind, outcome))
            .or_default() += 1;
    }

    /// Requests of `kind` to `registry`, whatever their outcome.
    pub fn total(&self, registry: &str, kind: RequestKind) -> u64 {
        self.snapshot()
            .into_iter()
            .filter(|((r, k, _), _)| r == registry && *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn snapshot(&self) -> Vec<(CounterKey, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}
