//! One cold and one warm registry "cycle" over many images with a time-ordered rule, against a
//! local registry started by `scripts/bench-registry.sh`, asked as a daemon's cycles ask. Prints
//! wall times and request counts by kind; the warm cycle should cost one tag-list request per
//! image.
//!
//! Environment: REGISTRY_ADDR (host:port), IMAGES (default 200), REPO_PREFIX (default bench),
//! HUB_API (set: REGISTRY_ADDR serves Docker Hub's API, and the images are Hub names).

use std::collections::BTreeMap;
use std::time::Instant;

use laminar::config::{Endpoint, Registry};
use laminar::registry::{Options, Registries};

fn main() {
    let Ok(addr) = std::env::var("REGISTRY_ADDR") else {
        eprintln!("registry_cycle: set REGISTRY_ADDR (scripts/bench-registry.sh does); skipped");
        return;
    };
    let images: usize = std::env::var("IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let prefix = std::env::var("REPO_PREFIX").unwrap_or_else(|_| "bench".into());
    let hub = std::env::var_os("HUB_API").is_some();
    let names: Vec<String> = (0..images)
        .map(|i| match hub {
            true => format!("{prefix}/app-{i}"),
            false => format!("{addr}/{prefix}/app-{i}"),
        })
        .collect();
    let mut registry = Registry::new(if hub { "docker.io" } else { &addr });
    if hub {
        registry.endpoint = Some(Endpoint {
            scheme: "http",
            authority: addr.clone(),
        });
    }
    registry.name = "bench".into();
    registry.insecure = true;
    registry.rate_limit = 5000.0;
    registry.max_concurrency = 16;
    let data = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registries = runtime.block_on(Registries::new(
        std::slice::from_ref(&registry),
        data.path(),
        Options::default(),
    ));
    let id = &registries.ids()[0];
    // What a daemon's cycle asks: every tag's time (a rule matching them all).
    let every_tag = |_: &str| true;
    let mut before: BTreeMap<String, u64> = BTreeMap::new();
    for cycle in ["cold", "warm"] {
        let (seconds, tags, pending) = runtime.block_on(async {
            let started = Instant::now();
            let results = futures::future::join_all(names.iter().map(|n| {
                registries.tags_since(id, n, Some(&every_tag), tokio::time::Instant::now())
            }))
            .await;
            let seconds = started.elapsed().as_secs_f64();
            registries.save_cache().await;
            let (mut tags, mut pending) = (0, 0);
            for result in results {
                let listed = result.expect("listing");
                tags += listed.tags.len();
                pending += listed.pending.len();
            }
            (seconds, tags, pending)
        });
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for ((_, kind, _), n) in registries.counters().snapshot() {
            *counts.entry(kind.to_string()).or_default() += n;
        }
        let this_cycle = |kind: &str| {
            counts.get(kind).copied().unwrap_or(0) - before.get(kind).copied().unwrap_or(0)
        };
        let by_kind: Vec<String> = ["tags", "manifest", "blob", "auth"]
            .iter()
            .map(|k| format!("{k}={}", this_cycle(k)))
            .collect();
        let metadata = this_cycle("manifest") + this_cycle("blob");
        println!(
            "laminar_{cycle}_seconds={seconds:.3} images={images} tags={tags} pending={pending} requests: {} per_tag={:.2}",
            by_kind.join(" "),
            metadata as f64 / tags.max(1) as f64
        );
        before = counts;
    }
}
