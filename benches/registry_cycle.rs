//! One cold and one warm registry "cycle" over many images with a time-ordered rule, against a
//! local registry started by `scripts/bench-registry.sh`, asked as a daemon's cycles ask. Prints
//! wall times and request counts by kind; the warm cycle should cost one tag-list request per
//! image.
//!
//! With TRUST_ROOT (a `trusted_root.json`) and SIGNED_IMAGES (the first images, whose newest
//! VERIFY_TAGS tags are signed by the release workflow), a cold and a warm round of trust
//! verdicts on those tags follows, with its requests by kind.
//!
//! Environment: REGISTRY_ADDR (host:port), IMAGES (default 200), REPO_PREFIX (default bench),
//! HUB_API (set: REGISTRY_ADDR serves Docker Hub's API, and the images are Hub names).

use std::collections::BTreeMap;
use std::time::Instant;

use laminar::config::{Endpoint, Registry, RegistryId};
use laminar::policy::TagInfo;
use laminar::registry::{Options, Registries};
use laminar::trust::{Evidence, Gate, Identity, Signer, check};

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
    let mut newest: Vec<Vec<TagInfo>> = Vec::new();
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
            newest.clear();
            for result in results {
                let listed = result.expect("listing");
                tags += listed.tags.len();
                pending += listed.pending.len();
                let mut infos = listed.tags.to_vec();
                infos.sort_by_key(|info| std::cmp::Reverse(info.pushed));
                newest.push(infos);
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
    if let Ok(root) = std::env::var("TRUST_ROOT") {
        verify_rounds(&runtime, &registries, id, &names, &newest, &root);
    }
}

/// Verification alone, on bundles in hand (`{"digest", "bundle"}` files), as sigstore-python
/// is timed on the same files.
fn verify_offline(gate: &Gate, dir: &str) {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).expect("BUNDLES_DIR") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("bundle file");
        let case: serde_json::Value = serde_json::from_str(&text).expect("bundle JSON");
        let evidence = Evidence {
            bundles: vec![case["bundle"].to_string().into_bytes()],
            ..Evidence::default()
        };
        cases.push((
            case["digest"].as_str().expect("digest").to_string(),
            evidence,
        ));
    }
    let started = Instant::now();
    let trusted = cases
        .iter()
        .filter(|(digest, evidence)| check(gate, digest, evidence).trusted())
        .count();
    println!(
        "laminar_verify_offline_seconds={:.3} judged={} trusted={trusted}",
        started.elapsed().as_secs_f64(),
        cases.len()
    );
}

/// A cold and a warm round of verdicts on the signed images' newest tags.
fn verify_rounds(
    runtime: &tokio::runtime::Runtime,
    registries: &Registries,
    id: &RegistryId,
    names: &[String],
    newest: &[Vec<TagInfo>],
    root: &str,
) {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (signed, per_image) = (env("SIGNED_IMAGES", 20), env("VERIFY_TAGS", 3));
    let root = std::fs::read_to_string(root).expect("TRUST_ROOT");
    let signer = Signer::Keyless {
        issuer: "https://token.actions.githubusercontent.com".into(),
        subject: Identity::Exact(
            "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main".into(),
        ),
    };
    let gate = Gate::new(Some(&root), vec![signer], vec![], vec![]).expect("gate");
    let counted = |kind: &str| -> u64 {
        let snapshot = registries.counters().snapshot();
        snapshot
            .iter()
            .filter(|((_, k, _), _)| k.to_string() == kind)
            .map(|(_, n)| n)
            .sum()
    };
    if let Ok(dir) = std::env::var("BUNDLES_DIR") {
        verify_offline(&gate, &dir);
    }
    for round in ["cold", "warm"] {
        let (manifests, blobs) = (counted("manifest"), counted("blob"));
        let started = Instant::now();
        let (mut judged, mut trusted) = (0, 0);
        runtime.block_on(async {
            let now = std::time::SystemTime::now();
            for (name, tags) in names.iter().zip(newest).take(signed) {
                for info in tags.iter().take(per_image) {
                    let digest = info.digest.as_deref().expect("digests were read");
                    let verdict = registries.judge(id, name, digest, &gate, now).await;
                    judged += 1;
                    trusted += usize::from(verdict.trusted());
                }
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        let (manifests, blobs) = (counted("manifest") - manifests, counted("blob") - blobs);
        println!(
            "laminar_verify_{round}_seconds={seconds:.3} judged={judged} trusted={trusted} requests: manifest={manifests} blob={blobs} per_tag={:.2}",
            (manifests + blobs) as f64 / judged.max(1) as f64
        );
    }
}
