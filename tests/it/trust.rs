//! Trust gates end to end: images signed in the test (a stand-in Fulcio and Rekor made by
//! `tests/sigstore/material.py`) in both places cosign keeps signatures, on the real
//! `docker-registry`, judged by `laminar once`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::fixtures::git::BareRepo;
use crate::fixtures::registry::RegistryServer;
use crate::util::{Dir, project_root};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const RELEASE: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const OTHER: &str = "https://github.com/acme/other/.github/workflows/ci.yml@refs/heads/main";

/// `material.py COMMAND DIR ARGS…`, as JSON when it prints any.
fn material(dir: &Path, command: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(project_root().join("tests/sigstore/material.py"))
        .arg(command)
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Pushes `app:tag` for both platforms (or amd64 alone) and returns its digest; each tag's
/// images are built at their own hour (`1.y.z`: day 10+y, hour z), so no two tags share a
/// digest.
async fn push(registry: &RegistryServer, tag: &str, both: bool) -> String {
    let part = |n: usize| tag.split('.').nth(n).unwrap().parse::<u32>().unwrap();
    let at = format!("2024-01-{:02}T{:02}:00:00Z", 10 + part(1), part(2));
    let platforms = match both {
        true => vec![("amd64", at.as_str()), ("arm64", at.as_str())],
        false => vec![("amd64", at.as_str())],
    };
    registry.push_index("acme/app", tag, &platforms).await
}

/// Requests for what only a trust gate reads: `.sig` tags, referrers and their fallback tags.
fn verification_requests(registry: &RegistryServer) -> usize {
    registry.requests("sha256-") + registry.requests("/referrers/")
}

#[tokio::test]
async fn only_the_newest_signed_tag_for_every_platform_moves_and_its_digest_is_pinned() {
    let registry = RegistryServer::start_logging().await;
    let keys = Dir::new();
    let trust = keys.path();
    material(trust, "root", &[]);
    let sign = |digest: &str, extra: &[&str]| {
        let mut args = vec![digest];
        args.extend_from_slice(extra);
        material(trust, "sign", &args)
    };

    let current = push(&registry, "1.0.0", true).await;
    let signed = push(&registry, "1.1.0", true).await;
    let by_other = push(&registry, "1.2.0", true).await;
    let half = push(&registry, "1.2.1", false).await;
    let copied = push(&registry, "1.2.2", true).await;
    push(&registry, "1.3.0", true).await; // never signed
    for digest in [&current, &signed] {
        registry
            .attach_legacy_signatures("acme/app", digest, &[sign(digest, &[])])
            .await;
    }
    registry
        .attach_legacy_signatures(
            "acme/app",
            &by_other,
            &[sign(&by_other, &["--identity", OTHER])],
        )
        .await;
    registry
        .attach_legacy_signatures("acme/app", &half, &[sign(&half, &[])])
        .await;
    // A signature of 1.1.0 copied to 1.2.2's tag.
    registry
        .attach_legacy_signatures("acme/app", &copied, &[sign(&signed, &[])])
        .await;

    let addr = &registry.addr;
    let remote = BareRepo::new(&[("dev/app.yaml", &format!("image: {addr}/acme/app:1.0.0\n"))]);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries:\n- reg: {addr}/acme\n  insecure: true\n  verify:\n    \
             keyless:\n    - issuer: {ISSUER}\n      subject: {RELEASE}\n    \
             trustedRoot: {root}\n    platforms: [linux/amd64, linux/arm64]\n\
             git:\n- name: app\n  url: {url}\n  branch: main\n  updates:\n  - pattern: semver:^1\n    pin: digest\n    files: [dev/]\n",
            root = trust.join("trusted_root.json").display(),
            url = remote.bare.display()
        ),
    );

    let dry = dir.once(&["--dry-run"]);
    assert!(
        dry.contains(&format!(
            "passed over 1.3.0 (unsigned), 1.2.2 (signature names another digest), 1.2.1 (missing linux/arm64), 1.2.0 (signed by {OTHER} ({ISSUER}))"
        )),
        "{dry}"
    );
    dir.once(&[]);
    assert_eq!(
        remote.show("dev/app.yaml"),
        format!("image: {addr}/acme/app:1.1.0@{signed}"),
        "the verified digest is written down"
    );

    // cosign 3 keeps a bundle beside the image (here through the referrers tag fallback).
    let bundled = push(&registry, "1.4.0", true).await;
    let bundle = sign(&bundled, &["--format", "bundle"]);
    registry
        .attach_bundles("acme/app", &bundled, &[bundle])
        .await;
    dir.once(&[]);
    assert_eq!(
        remote.show("dev/app.yaml"),
        format!("image: {addr}/acme/app:1.4.0@{bundled}")
    );

    // A run with nothing new asks the registry for no signature, bundle or referrer: every
    // verdict is kept.
    let before = verification_requests(&registry);
    assert!(
        before >= 7,
        "the first runs read signatures: {before} requests"
    );
    let quiet = dir.once(&["--dry-run"]);
    assert!(
        quiet.contains("1.4.0 stays: already the newest allowed tag"),
        "{quiet}"
    );
    assert_eq!(verification_requests(&registry), before);

    // `tags --verify` shows each tag's verdict and selects the newest trusted.
    let image = format!("{addr}/acme/app");
    let out = dir.stdout(&[
        "tags",
        &image,
        "--pattern",
        "semver:^1",
        "--verify",
        "--json",
        "--config",
        "laminar.yaml",
    ]);
    let listing: Value = serde_json::from_str(&out).unwrap();
    let verdict = |tag: &str| {
        let rows = listing["tags"].as_array().unwrap();
        let row = rows.iter().find(|r| r["tag"] == tag).unwrap();
        row["verdict"].as_str().unwrap().to_string()
    };
    assert_eq!(listing["selected"], "1.4.0");
    assert_eq!(verdict("1.3.0"), "unsigned");
    assert_eq!(verdict("1.2.1"), "missing linux/arm64");
    assert_eq!(verdict("1.1.0"), format!("trusted: signed by {RELEASE}"));
}

#[tokio::test]
async fn provenance_is_required_and_a_pinned_tag_pushed_again_follows_only_when_trusted() {
    let registry = RegistryServer::start().await;
    let keys = Dir::new();
    let trust = keys.path();
    material(trust, "root", &[]);
    const BUILDER: &str = "https://github.com/actions/runner/github-hosted";
    let built_by =
        |builder: &str| format!(r#"{{"runDetails": {{"builder": {{"id": "{builder}"}}}}}}"#);
    // Signed the cosign 3 way; attested by `builder` unless `None`.
    let release = |digest: String, builder: Option<String>| {
        let mut bundles = vec![material(trust, "sign", &[&digest, "--format", "bundle"])];
        if let Some(predicate) = builder {
            bundles.push(material(
                trust,
                "attest",
                &[&digest, "--predicate", &predicate],
            ));
        }
        let registry = &registry;
        async move { registry.attach_bundles("acme/app", &digest, &bundles).await }
    };
    let first = push(&registry, "1.0.0", true).await;
    release(first.clone(), Some(built_by(BUILDER))).await;
    let elsewhere = push(&registry, "1.1.0", true).await;
    release(elsewhere, Some(built_by("https://ci.example.com/runner"))).await;
    let unattested = push(&registry, "1.2.0", true).await;
    release(unattested, None).await;

    let addr = &registry.addr;
    let remote = BareRepo::new(&[(
        "prod/app.yaml",
        &format!("image: {addr}/acme/app:1.0.0@{first}\n"),
    )]);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries:\n- reg: {addr}/acme\n  insecure: true\n  mutableTags: true\n\
             git:\n- name: app\n  url: {url}\n  branch: main\n  updates:\n  - pattern: semver:^1\n    pin: digest\n    files: [prod/]\n    \
             verify:\n      keyless:\n      - issuer: {ISSUER}\n        subject: {RELEASE}\n      \
             trustedRoot: {root}\n      attestations:\n      - predicateType: https://slsa.dev/provenance/v1\n        \
             match: {{runDetails.builder.id: {BUILDER}}}\n",
            root = trust.join("trusted_root.json").display(),
            url = remote.bare.display()
        ),
    );
    let dry = dir.once(&["--dry-run"]);
    assert!(
        dry.contains(&format!(
            "no newer tag passed the trust gate: 1.2.0 (no https://slsa.dev/provenance/v1 attestation), \
             1.1.0 (https://slsa.dev/provenance/v1 attestation: runDetails.builder.id is not \"{BUILDER}\")"
        )),
        "{dry}"
    );

    // 1.0.0 pushed again, built and attested as it should be: the pin follows.
    let rebuilt = registry
        .push_index(
            "acme/app",
            "1.0.0",
            &[
                ("amd64", "2024-02-01T00:00:00Z"),
                ("arm64", "2024-02-01T00:00:00Z"),
            ],
        )
        .await;
    release(rebuilt.clone(), Some(built_by(BUILDER))).await;
    dir.once(&[]);
    let written = format!("image: {addr}/acme/app:1.0.0@{rebuilt}");
    assert_eq!(remote.show("prod/app.yaml"), written);

    // Pushed again with nothing signed: the pin stays where it is.
    registry
        .push_index(
            "acme/app",
            "1.0.0",
            &[
                ("amd64", "2024-03-01T00:00:00Z"),
                ("arm64", "2024-03-01T00:00:00Z"),
            ],
        )
        .await;
    let dry = dir.once(&["--dry-run"]);
    assert!(dry.contains("(unsigned)"), "{dry}");
    dir.once(&[]);
    assert_eq!(remote.show("prod/app.yaml"), written);
}

/// A registry with the OCI referrers API (Debian's docker-registry has none), scripted from the
/// distribution spec's responses: the bundle is found through it, no fallback tag is asked
/// for, and other artifacts are not read.
#[tokio::test]
async fn bundles_are_found_through_the_referrers_api() {
    use sha2::{Digest, Sha256};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let keys = Dir::new();
    material(keys.path(), "root", &[]);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let hex = &digest["sha256:".len()..];
    let bundle = material(keys.path(), "sign", &[&digest, "--format", "bundle"]).to_string();
    let sha = |bytes: &[u8]| format!("sha256:{:x}", Sha256::digest(bytes));
    let blob = sha(bundle.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": blob, "size": bundle.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": 1},
    })
    .to_string();
    let manifest_digest = sha(manifest.as_bytes());
    let sbom = format!("sha256:{}", "cd".repeat(32));
    let referrers = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
             "size": manifest.len(), "artifactType": BUNDLE},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sbom,
             "size": 10, "artifactType": "application/spdx+json"},
        ],
    });
    let server = MockServer::start().await;
    let answers = [
        (
            format!("/v2/acme/app/manifests/sha256-{hex}.sig"),
            ResponseTemplate::new(404),
            1,
        ),
        (
            format!("/v2/acme/app/referrers/{digest}"),
            ResponseTemplate::new(200).set_body_json(&referrers),
            1,
        ),
        (
            format!("/v2/acme/app/manifests/{manifest_digest}"),
            ResponseTemplate::new(200).set_body_string(manifest.clone()),
            1,
        ),
        (
            format!("/v2/acme/app/blobs/{blob}"),
            ResponseTemplate::new(200).set_body_string(bundle.clone()),
            1,
        ),
        (
            format!("/v2/acme/app/manifests/sha256-{hex}"),
            ResponseTemplate::new(404),
            0,
        ),
        (
            format!("/v2/acme/app/manifests/{sbom}"),
            ResponseTemplate::new(404),
            0,
        ),
    ];
    for (at, answer, times) in answers {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(answer)
            .expect(times)
            .mount(&server)
            .await;
    }

    let root = std::fs::read_to_string(keys.path().join("trusted_root.json")).unwrap();
    let signer = laminar::trust::Signer::Keyless {
        issuer: ISSUER.into(),
        subject: laminar::trust::Identity::Exact(RELEASE.into()),
    };
    let gate = laminar::trust::Gate::new(Some(&root), vec![signer], vec![], vec![]).unwrap();
    let mut registry = laminar::config::Registry::new(&server.address().to_string());
    registry.insecure = true;
    let data = Dir::new();
    let registries = laminar::registry::Registries::new(
        std::slice::from_ref(&registry),
        data.path(),
        laminar::registry::Options::default(),
    )
    .await;
    let image = format!("{}/acme/app", server.address());
    let now = std::time::SystemTime::now();
    let verdict = registries
        .judge(&registry.id(), &image, &digest, &gate, now)
        .await;
    assert_eq!(
        verdict,
        laminar::trust::Verdict::Trusted {
            by: Some(RELEASE.into())
        }
    );
}

#[tokio::test]
async fn a_following_rules_gate_judges_what_its_chain_offers() {
    let registry = RegistryServer::start_logging().await;
    let keys = Dir::new();
    let trust = keys.path();
    material(trust, "root", &[]);
    push(&registry, "1.0.0", true).await;
    let unsigned = push(&registry, "1.1.0", true).await;
    let addr = &registry.addr;
    let app = |tag: &str| format!("image: {addr}/acme/app:{tag}\n");
    let remote = BareRepo::new(&[("README", "environments\n")]);
    crate::chains::commit_at(
        &remote,
        &[
            ("dev/app.yaml", app("1.1.0")),
            ("prod/app.yaml", app("1.0.0")),
        ],
        30,
    );
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries:\n- reg: {addr}/acme\n  insecure: true\n\
             git:\n- name: envs\n  url: {url}\n  branch: main\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - follow: dev\n    files: [prod/]\n    verify:\n      \
             keyless:\n      - issuer: {ISSUER}\n        subject: {RELEASE}\n      \
             trustedRoot: {root}\n",
            root = trust.join("trusted_root.json").display(),
            url = remote.bare.display()
        ),
    );
    // dev ran 1.1.0 for 30 h, but nobody signed it: prod, which demands a signature, stays.
    let out = dir.once(&[]);
    assert!(
        out.contains("no newer tag passed the trust gate: 1.1.0 ("),
        "{out}"
    );
    assert_eq!(remote.show("prod/app.yaml"), app("1.0.0").trim_end());
    let signature = material(trust, "sign", &[&unsigned]);
    registry
        .attach_legacy_signatures("acme/app", &unsigned, &[signature])
        .await;
    // Refusals are remembered for ten minutes (signatures often follow the push): a fresh
    // cache sees the signature now.
    std::fs::remove_file(dir.path().join("state/registry-cache.json")).unwrap();
    let out = dir.once(&[]);
    assert!(out.contains("promoted dev → envs"), "{out}");
    assert_eq!(remote.show("prod/app.yaml"), app("1.1.0").trim_end());
}
