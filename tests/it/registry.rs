//! The registry layer against a real registry (Debian's docker-registry).

use std::path::Path;
use std::process::Command as Process;

use laminar::config::{Platform, Registry, RegistryAuth, SecretSource};
use laminar::registry::{Failure, Options, Registries, RequestKind};
use serde_json::Value;

use crate::fixtures::registry::RegistryServer;
use crate::util::Dir;

fn local(server: &RegistryServer) -> Registry {
    let mut registry = Registry::new(&server.addr);
    registry.name = "local".into();
    registry.insecure = true;
    registry.rate_limit = 1000.0;
    registry
}

async fn registries(registry: &Registry, data_dir: &Path) -> Registries {
    Registries::new(std::slice::from_ref(registry), data_dir, Options::default()).await
}

fn tags_json(dir: &Dir, args: &[&str]) -> Value {
    let output = dir
        .laminar()
        .arg("tags")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn tag_names(listing: &Value) -> Vec<String> {
    listing["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tags_tries_a_range_on_extracted_versions_and_a_descending_order() {
    let server = RegistryServer::start().await;
    for tag in [
        "main-1.3.9-abc123",
        "main-1.4.2-abcdef",
        "main-1.10.0-0123ab",
        "main-2.0.0-fedcba",
        "build-9",
        "build-10",
    ] {
        server.push("acme/app", tag, "2024-01-01T00:00:00Z").await;
    }
    let dir = Dir::new();
    let image = format!("{}/acme/app", server.addr);
    let ranged = tags_json(
        &dir,
        &[
            &image,
            "--insecure",
            "--pattern",
            "glob:main-*",
            "--extract",
            "^main-(?P<v>.+)-[a-f0-9]+$",
            "--sort",
            "semver",
            "--range",
            ">=1.4 <2",
        ],
    );
    assert_eq!(
        tag_names(&ranged),
        ["main-1.10.0-0123ab", "main-1.4.2-abcdef"]
    );
    assert_eq!(ranged["selected"], "main-1.10.0-0123ab");
    let descending = tags_json(
        &dir,
        &[
            &image,
            "--insecure",
            "--pattern",
            "glob:build-*",
            "--extract",
            "build-(\\d+)",
            "--order",
            "desc",
        ],
    );
    assert_eq!(tag_names(&descending), ["build-9", "build-10"]);
    let bad = dir
        .laminar()
        .args([
            "tags",
            &image,
            "--insecure",
            "--pattern",
            "semver:>=1.2 && <2",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("did you mean"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
async fn more_than_a_hundred_tags_in_semver_order_without_manifest_requests() {
    let server = RegistryServer::start().await;
    for minor in 0..130 {
        server
            .push("acme/app", &format!("1.{minor}.0"), "2024-01-01T00:00:00Z")
            .await;
    }
    server
        .push("acme/app", "2.0.0", "2024-01-01T00:00:00Z")
        .await;
    server
        .push("acme/app", "latest", "2024-01-01T00:00:00Z")
        .await;

    let dir = Dir::new();
    let image = format!("{}/acme/app", server.addr);
    let listing = tags_json(
        &dir,
        &[
            &image,
            "--insecure",
            "--pattern",
            "semver:^1",
            "--current",
            "1.7.0",
        ],
    );
    let names = tag_names(&listing);
    assert_eq!(names.len(), 130);
    assert_eq!(names[0], "1.129.0");
    assert_eq!(names[1], "1.128.0");
    assert_eq!(names[129], "1.0.0");
    assert_eq!(listing["selected"], "1.129.0");
    assert_eq!(
        listing["tags"][0]["created"],
        Value::Null,
        "semver order needs no times"
    );

    // An independent client agrees on the full list.
    let skopeo = Process::new("skopeo")
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .expect("skopeo is installed: run scripts/install-deps.sh");
    let theirs: Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(theirs["Tags"].as_array().unwrap().len(), 132);

    let data = Dir::new();
    let registries = registries(&local(&server), data.path()).await;
    let tags = registries
        .tags(&registries.ids()[0], &image, false)
        .await
        .unwrap();
    assert_eq!(tags.len(), 132);
    let counters = registries.counters();
    // distribution 2.8 ignores `n` and answers with every tag at once; `Link` paging is
    // covered against a scripted server in registry_faults.rs.
    assert_eq!(counters.total("local", RequestKind::Tags), 1);
    assert_eq!(counters.total("local", RequestKind::Manifest), 0);
    assert_eq!(counters.total("local", RequestKind::Blob), 0);
}

#[tokio::test]
async fn time_order_follows_image_creation_and_never_downgrades() {
    let server = RegistryServer::start().await;
    server
        .push("acme/app", "develop-10", "2024-03-01T00:00:00Z")
        .await;
    server
        .push("acme/app", "develop-9", "2024-03-05T00:00:00Z")
        .await;
    server
        .push("acme/app", "develop-11", "2024-02-01T00:00:00Z")
        .await;
    server
        .push("acme/app", "develop-0", "1970-01-01T00:00:00Z")
        .await;
    server
        .push("acme/app", "release-1", "2025-01-01T00:00:00Z")
        .await;
    let dir = Dir::new();
    let image = format!("{}/acme/app", server.addr);
    let args = |current: &'static str| {
        vec![
            image.clone(),
            "--insecure".into(),
            "--pattern".into(),
            "glob:develop-*".into(),
            "--current".into(),
            current.into(),
        ]
    };
    let run = |current| {
        let args = args(current);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tags_json(&dir, &args)
    };
    let listing = run("develop-10");
    assert_eq!(
        tag_names(&listing),
        ["develop-9", "develop-10", "develop-11", "develop-0"]
    );
    assert_eq!(listing["tags"][0]["created"], "2024-03-05T00:00:00Z");
    assert_eq!(
        listing["time_source"], "created",
        "a plain registry dates images by build"
    );
    assert!(listing["tags"][0]["age_seconds"].as_u64().unwrap() > 86_400);
    assert_eq!(
        listing["tags"][3]["created"],
        Value::Null,
        "an epoch creation time is unknown"
    );
    assert!(
        listing["tags"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(listing["selected"], "develop-9");
    assert_eq!(
        run("develop-9")["selected"],
        Value::Null,
        "nothing is newer than the newest"
    );
}

#[tokio::test]
async fn the_disk_cache_spares_manifest_and_blob_requests_on_later_runs() {
    let server = RegistryServer::start().await;
    for n in 1..=5 {
        server
            .push(
                "acme/app",
                &format!("develop-{n}"),
                &format!("2024-01-0{n}T00:00:00Z"),
            )
            .await;
    }
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let registry = local(&server);

    let cold = registries(&registry, data.path()).await;
    assert_eq!(
        cold.tags(&cold.ids()[0], &image, true).await.unwrap().len(),
        5
    );
    // The manifest (which gives the digest too) and the config of each image.
    assert_eq!(cold.counters().total("local", RequestKind::Manifest), 5);
    assert_eq!(cold.counters().total("local", RequestKind::Blob), 5);
    cold.save_cache().await;
    drop(cold);

    // A restarted laminar pays only for the listing.
    let warm = registries(&registry, data.path()).await;
    let tags = warm.tags(&warm.ids()[0], &image, true).await.unwrap();
    assert!(
        tags.iter()
            .all(|t| t.pushed.is_some() && t.digest.is_some())
    );
    assert_eq!(warm.counters().total("local", RequestKind::Tags), 1);
    assert_eq!(warm.counters().total("local", RequestKind::Manifest), 0);
    assert_eq!(warm.counters().total("local", RequestKind::Blob), 0);
    drop(warm);

    // A new tag costs only its own lookups.
    server
        .push("acme/app", "develop-6", "2024-01-06T00:00:00Z")
        .await;
    let next = registries(&registry, data.path()).await;
    assert_eq!(
        next.tags(&next.ids()[0], &image, true).await.unwrap().len(),
        6
    );
    assert_eq!(next.counters().total("local", RequestKind::Manifest), 1);
    assert_eq!(next.counters().total("local", RequestKind::Blob), 1);
}

#[tokio::test]
async fn a_creation_annotation_on_the_manifest_spares_the_config_read() {
    let server = RegistryServer::start().await;
    // The config says 2024-01-01; the manifest's annotation, which wins, says 2024-03-01.
    server
        .push_annotated(
            "acme/app",
            "v1",
            "2024-01-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
        )
        .await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let registry = local(&server);
    let registries = registries(&registry, data.path()).await;
    let tags = registries
        .tags(&registries.ids()[0], &image, true)
        .await
        .unwrap();
    let march = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_200);
    assert_eq!(tags[0].pushed, Some(march));
    // One manifest read (which gives the digest too), no config blob.
    assert_eq!(
        registries.counters().total("local", RequestKind::Manifest),
        1
    );
    assert_eq!(registries.counters().total("local", RequestKind::Blob), 0);
}

#[tokio::test]
async fn concurrent_callers_share_one_listing() {
    let server = RegistryServer::start().await;
    server
        .push("acme/app", "develop-1", "2024-01-01T00:00:00Z")
        .await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let registries = registries(&local(&server), data.path()).await;
    let id = &registries.ids()[0];
    let calls = (0..8).map(|i| registries.tags(id, &image, i % 2 == 0));
    let results = futures::future::join_all(calls).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|t| t.len() == 1))
    );
    assert_eq!(registries.counters().total("local", RequestKind::Tags), 1);
}

#[tokio::test]
async fn manifest_lists_resolve_to_the_configured_platform() {
    let server = RegistryServer::start().await;
    server
        .push_index(
            "acme/multi",
            "v1",
            &[
                ("amd64", "2024-01-01T00:00:00Z"),
                ("arm64", "2024-06-01T00:00:00Z"),
            ],
        )
        .await;
    let image = format!("{}/acme/multi", server.addr);
    let (amd64, index_digest) = created_and_digest(local(&server), &image).await;
    assert_eq!(amd64, 1_704_067_200);
    let mut arm = local(&server);
    arm.platform = "linux/arm64".parse::<Platform>().unwrap();
    let (arm64, same_digest) = created_and_digest(arm, &image).await;
    assert_eq!(arm64, 1_717_200_000);
    assert_eq!(
        index_digest, same_digest,
        "the tag's digest is the index digest"
    );
}

async fn created_and_digest(registry: Registry, image: &str) -> (u64, String) {
    let data = Dir::new();
    let registries = registries(&registry, data.path()).await;
    let tags = registries
        .tags(&registries.ids()[0], image, true)
        .await
        .unwrap();
    let secs = tags[0]
        .pushed
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (secs, tags[0].digest.clone().unwrap())
}

#[tokio::test]
async fn mutable_tags_are_resolved_again_each_cycle() {
    let server = RegistryServer::start().await;
    server
        .push("acme/app", "stable", "2024-01-01T00:00:00Z")
        .await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let mut registry = local(&server);
    let first = registries(&registry, data.path()).await;
    let before = first.tags(&first.ids()[0], &image, true).await.unwrap()[0].clone();
    first.save_cache().await;
    server
        .push("acme/app", "stable", "2024-02-01T00:00:00Z")
        .await;

    let immutable = registries(&registry, data.path()).await;
    assert_eq!(
        immutable
            .tags(&immutable.ids()[0], &image, true)
            .await
            .unwrap()[0],
        before,
        "cached digest reused"
    );

    registry.mutable_tags = true;
    let mutable = registries(&registry, data.path()).await;
    let after = mutable.tags(&mutable.ids()[0], &image, true).await.unwrap()[0].clone();
    assert_ne!(after.digest, before.digest);
    assert!(after.pushed > before.pushed);
}

#[tokio::test]
async fn a_secret_fixed_while_running_is_read_again_after_a_refusal() {
    let server = RegistryServer::start_with_basic_auth("bot", "s3cret").await;
    server.push("acme/app", "v1", "2024-01-01T00:00:00Z").await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let password = data.write("password", "old-secret");
    let mut registry = local(&server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(password.clone()),
    });
    let registries = registries(&registry, data.path()).await;
    let id = registries.ids()[0].clone();
    let err = registries.tags(&id, &image, false).await.unwrap_err();
    assert!(matches!(err.failure, Failure::Auth(_)), "{err}");
    // The secret is rotated in its file; the same process picks it up at the next refusal.
    std::fs::write(&password, "s3cret").unwrap();
    let tags = registries
        .tags_since(&id, &image, None, tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(tags.tags[0].tag, "v1");
}

#[tokio::test]
async fn basic_auth_from_the_environment_a_docker_config_or_nothing() {
    let server = RegistryServer::start_with_basic_auth("bot", "s3cret").await;
    server.push("acme/app", "v1", "2024-01-01T00:00:00Z").await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();

    let mut registry = local(&server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(data.write("password", "s3cret\n")),
    });
    let tags = registries(&registry, data.path())
        .await
        .tags(&registry.id(), &image, true)
        .await
        .unwrap();
    assert_eq!(tags[0].tag, "v1");

    let config = data.write(
        "docker/config.json",
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            server.addr,
            crate::fixtures::registry::docker_auth("bot", "s3cret")
        ),
    );
    registry.auth = Some(RegistryAuth::DockerConfig(config));
    assert!(
        registries(&registry, data.path())
            .await
            .tags(&registry.id(), &image, false)
            .await
            .is_ok()
    );

    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(data.write("wrong", "nope")),
    });
    let err = registries(&registry, data.path())
        .await
        .tags(&registry.id(), &image, false)
        .await
        .unwrap_err();
    assert!(matches!(err.failure, Failure::Auth(_)), "{err}");
    assert!(
        !err.to_string().contains("nope"),
        "no secret in errors: {err}"
    );

    registry.auth = Some(RegistryAuth::Anonymous);
    let err = registries(&registry, data.path())
        .await
        .tags(&registry.id(), &image, false)
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "auth");
    assert!(err.to_string().starts_with("registry local: "), "{err}");

    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::Env("LAMINAR_TEST_UNSET_PASSWORD".into()),
    });
    let err = registries(&registry, data.path())
        .await
        .tags(&registry.id(), &image, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.failure, Failure::Credentials(m) if m.contains("LAMINAR_TEST_UNSET_PASSWORD")),
        "{err}"
    );
}

#[tokio::test]
async fn tags_uses_the_config_registry_for_auth() {
    let server = RegistryServer::start_with_basic_auth("bot", "s3cret").await;
    server
        .push("acme/app", "v1.0.0", "2024-01-01T00:00:00Z")
        .await;
    server
        .push("acme/app", "v1.1.0", "2024-01-02T00:00:00Z")
        .await;
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\ndockerRegistries:\n- reg: {}/acme\n  insecure: true\n  auth:\n    username: bot\n    passwordEnv: REG_PASSWORD\ngit: []\n",
            server.addr
        ),
    );
    let image = format!("{}/acme/app", server.addr);
    let output = dir
        .laminar()
        .args([
            "tags",
            &image,
            "--pattern",
            "semver:*",
            "--config",
            "laminar.yaml",
        ])
        .env("REG_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("times: created\nv1.1.0\t"), "{text}");
    assert!(text.ends_with("selected: v1.1.0\n"), "{text}");

    let failed = dir
        .laminar()
        .args(["tags", &image, "--config", "laminar.yaml"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("REG_PASSWORD is not set"), "{stderr}");
}

#[tokio::test]
async fn a_cycle_reads_times_only_for_tags_a_rule_could_pick_a_bounded_number_at_a_time() {
    let server = RegistryServer::start().await;
    for n in 1..=5 {
        server
            .push(
                "acme/app",
                &format!("develop-{n}"),
                &format!("2024-01-0{n}T00:00:00Z"),
            )
            .await;
    }
    // The same image under a second tag (a retag): its time is read once.
    server.retag("acme/app", "develop-5", "develop-6").await;
    for n in 1..=3 {
        server
            .push("acme/app", &format!("release-{n}"), "2024-02-01T00:00:00Z")
            .await;
    }
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let mut registry = local(&server);
    registry.limits.lookups_per_cycle = 4;
    let registries = registries(&registry, data.path()).await;
    let id = &registries.ids()[0];
    let develop = |tag: &str| tag.starts_with("develop-");
    let cycle = || registries.tags_since(id, &image, Some(&develop), tokio::time::Instant::now());
    let count = |kind| registries.counters().total("local", kind);

    // First cycle: four of the six develop tags, newest-looking first; none of the others.
    let first = cycle().await.unwrap();
    assert_eq!(*first.pending, ["develop-2", "develop-1"]);
    assert_eq!(count(RequestKind::Manifest), 4);
    assert_eq!(
        count(RequestKind::Blob),
        3,
        "develop-5 and -6 are one image"
    );
    let timed: std::collections::BTreeSet<&str> = first
        .tags
        .iter()
        .filter(|t| t.pushed.is_some())
        .map(|t| t.tag.as_str())
        .collect();
    assert_eq!(
        timed,
        ["develop-3", "develop-4", "develop-5", "develop-6"].into()
    );

    // Next cycle: the rest; then nothing but the listing.
    let second = cycle().await.unwrap();
    assert!(second.pending.is_empty());
    assert_eq!(count(RequestKind::Manifest), 6);
    let third = cycle().await.unwrap();
    assert!(third.pending.is_empty());
    assert_eq!(count(RequestKind::Manifest), 6);
    assert_eq!(count(RequestKind::Blob), 5);
    assert!(
        third
            .tags
            .iter()
            .all(|t| t.pushed.is_some() == develop(&t.tag))
    );
}

#[tokio::test]
async fn repos_completing_one_image_together_never_read_a_tag_twice() {
    let server = RegistryServer::start().await;
    for n in 1..=6 {
        server
            .push(
                "acme/app",
                &format!("develop-{n}"),
                &format!("2024-01-0{n}T00:00:00Z"),
            )
            .await;
    }
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let mut registry = local(&server);
    registry.limits.lookups_per_cycle = 4;
    let registries = registries(&registry, data.path()).await;
    let id = &registries.ids()[0];
    let all = |_: &str| true;
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(
        registries.tags_since(id, &image, Some(&all), started),
        registries.tags_since(id, &image, Some(&all), started),
    );
    let pending = [a.unwrap().pending.len(), b.unwrap().pending.len()];
    // One took four, the other the remaining two: six reads for six tags, and one listing.
    assert!(pending == [2, 0] || pending == [0, 2], "{pending:?}");
    assert_eq!(
        registries.counters().total("local", RequestKind::Manifest),
        6
    );
    assert_eq!(registries.counters().total("local", RequestKind::Tags), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_credential_helpers_expired_token_is_replaced_after_one_refusal() {
    use std::os::unix::fs::PermissionsExt;
    let server = RegistryServer::start_with_basic_auth("bot", "token-2").await;
    server.push("acme/app", "v1", "2024-01-01T00:00:00Z").await;
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    // The helper hands out an hourly token: the one it gave first has expired by the time it
    // is used; asked again, it gives the current one.
    let calls = data.path().join("calls");
    let helper = data.write(
        "bin/docker-credential-hourly",
        format!(
            "#!/bin/sh\nread host\necho x >> {calls}\nn=$(wc -l < {calls})\nprintf '{{\"Username\":\"bot\",\"Secret\":\"token-%s\"}}' \"$n\"\n",
            calls = calls.display()
        ),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = data.write(
        "docker/config.json",
        format!(r#"{{"credHelpers":{{"{}":"hourly"}}}}"#, server.addr),
    );
    let path = std::env::var("PATH").unwrap_or_default();
    // Helpers are found on PATH, as docker finds them; prepending is harmless to others.
    unsafe {
        std::env::set_var(
            "PATH",
            format!("{}:{path}", helper.parent().unwrap().display()),
        )
    };
    let mut registry = local(&server);
    registry.auth = Some(RegistryAuth::DockerConfig(config));
    let registries = registries(&registry, data.path()).await;
    let tags = registries
        .tags(&registries.ids()[0], &image, false)
        .await
        .unwrap();
    assert_eq!(tags[0].tag, "v1");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().count(),
        2,
        "asked once, and once more after the refusal"
    );
}

#[tokio::test]
async fn with_mutable_tags_only_tags_never_read_wait_for_a_later_cycle() {
    let server = RegistryServer::start().await;
    for n in 1..=4 {
        server
            .push(
                "acme/app",
                &format!("v{n}"),
                &format!("2024-01-0{n}T00:00:00Z"),
            )
            .await;
    }
    let image = format!("{}/acme/app", server.addr);
    let data = Dir::new();
    let mut registry = local(&server);
    registry.mutable_tags = true;
    registry.limits.lookups_per_cycle = 2;
    let registries = registries(&registry, data.path()).await;
    let id = &registries.ids()[0];
    let all = |_: &str| true;
    let cycle = || registries.tags_since(id, &image, Some(&all), tokio::time::Instant::now());
    assert_eq!(cycle().await.unwrap().pending.len(), 2);
    // The two read before are checked again (a HEAD each) and the other two read now.
    assert!(cycle().await.unwrap().pending.is_empty());
    assert!(cycle().await.unwrap().pending.is_empty());
}
