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

fn once(dir: &Dir, args: &[&str]) -> String {
    let out = dir.laminar().arg("once").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[tokio::test]
async fn only_the_newest_signed_tag_for_every_platform_moves_and_its_digest_is_pinned() {
    let registry = RegistryServer::start().await;
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

    let dry = once(&dir, &["--dry-run"]);
    assert!(
        dry.contains(&format!(
            "passed over 1.3.0 (unsigned), 1.2.2 (signature names another digest), 1.2.1 (missing linux/arm64), 1.2.0 (signed by {OTHER} ({ISSUER}))"
        )),
        "{dry}"
    );
    once(&dir, &[]);
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
    once(&dir, &[]);
    assert_eq!(
        remote.show("dev/app.yaml"),
        format!("image: {addr}/acme/app:1.4.0@{bundled}")
    );

    let quiet = once(&dir, &["--dry-run"]);
    assert!(
        quiet.contains("1.4.0 stays: already the newest allowed tag"),
        "{quiet}"
    );
}
