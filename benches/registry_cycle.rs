//! One cold and one warm registry "cycle" over many images with a time-ordered rule, against a
//! local registry started by `scripts/bench-registry.sh`. Prints wall times and request counts
//! by kind; the warm cycle should cost exactly one tag-list request per image per page.
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
    for cycle in ["cold", "warm"] {
        let (seconds, counts, tags) = runtime.block_on(async {
            let registries = Registries::new(
                std::slice::from_ref(&registry),
                data.path(),
                Options::default(),
            )
            .await;
            let id = &registries.ids()[0];
            let started = Instant::now();
            let results =
                futures::future::join_all(names.iter().map(|n| registries.tags(id, n, true))).await;
            let seconds = started.elapsed().as_secs_f64();
            registries.save_cache().await;
            let mut tags = 0;
            for result in results {
                tags += result.expect("listing").len();
            }
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for ((_, kind, _), n) in registries.counters().snapshot() {
                *counts.entry(kind.to_string()).or_default() += n;
            }
            (seconds, counts, tags)
        });
        let by_kind: Vec<String> = ["tags", "manifest", "blob", "auth"]
            .iter()
            .map(|k| format!("{k}={}", counts.get(*k).copied().unwrap_or(0)))
            .collect();
        let metadata = ["manifest", "blob"]
            .iter()
            .map(|k| counts.get(*k).copied().unwrap_or(0))
            .sum::<u64>();
        println!(
            "laminar_{cycle}_seconds={seconds:.3} images={images} tags={tags} requests: {} per_tag={:.2}",
            by_kind.join(" "),
            metadata as f64 / tags.max(1) as f64
        );
    }
}
