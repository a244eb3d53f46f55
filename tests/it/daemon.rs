//! laminar end to end: a real registry, a bare repo served by sshd, and the laminar binary
//! (`once`, and `run` as a daemon driven over HTTP).

use std::process::{Command, Stdio};

use crate::fixtures::daemon::{Daemon, TOKEN, manifests, setup};
use crate::fixtures::git::{BareRepo, HttpGitServer, git};
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::Dir;

fn expected_after(addr: &str) -> String {
    manifests(addr)
        .replace("develop-1 ", "develop-3 ")
        .replace("api:1.9.0", "api:1.10.0")
}

#[tokio::test]
async fn once_dry_run_shows_the_diff_and_once_commits_exactly_the_tag_bytes() {
    let s = setup("", "").await;
    let before = s.remote.head();
    let dry = s
        .dir
        .laminar()
        .args(["once", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let out = String::from_utf8(dry.stdout).unwrap();
    assert!(
        out.starts_with(
            "manifests: would change 2 reference(s)\n--- a/dev/app.yaml\n+++ b/dev/app.yaml\n"
        ),
        "{out}"
    );
    assert!(out.contains(&format!("-image: {}/acme/app:develop-1   # bumped by laminar\n+image: {}/acme/app:develop-3   # bumped", s.registry.addr, s.registry.addr)), "{out}");
    assert!(
        out.contains("develop-3 is the newest tag allowed by glob:develop-* (by push time)"),
        "{out}"
    );
    assert_eq!(s.remote.head(), before, "a dry run pushes nothing");

    let once = s.dir.laminar().arg("once").output().unwrap();
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    assert!(String::from_utf8_lossy(&once.stdout).starts_with("manifests: updated 2 reference(s)"));
    let committed = git(&s.remote.bare, &["show", "main:dev/app.yaml"]);
    assert_eq!(format!("{committed}\n"), expected_after(&s.registry.addr));
    assert_eq!(
        git(&s.remote.bare, &["log", "-1", "--format=%s"]),
        "laminar: update 2 images in manifests"
    );

    let again = s.dir.laminar().arg("once").output().unwrap();
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(out.starts_with("manifests: up to date"), "{out}");
    assert!(
        out.contains("acme/api:1.10.0 stays: already the newest allowed tag"),
        "{out}"
    );
    assert_eq!(git(&s.remote.bare, &["rev-list", "--count", "main"]), "2");
}

#[tokio::test]
async fn the_daemon_syncs_on_trigger_serves_metrics_and_status_and_stops_on_sigterm() {
    let s = setup("", "").await;
    let mut daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;
    // The first cycle ran at start-up.
    let remote = &s.remote;
    daemon
        .wait_for(|| async { git(&remote.bare, &["rev-list", "--count", "main"]) == "2" })
        .await;
    assert_eq!(
        format!("{}\n", remote.show("dev/app.yaml")),
        expected_after(&s.registry.addr)
    );

    // A newer tag, then a trigger.
    s.registry
        .push("acme/app", "develop-4", "2024-04-01T00:00:00Z")
        .await;
    assert_eq!(
        daemon.post("/api/v1/sync/manifests", None).await.status(),
        401
    );
    assert_eq!(
        daemon
            .post("/api/v1/sync/manifests", Some("wrong"))
            .await
            .status(),
        401
    );
    assert_eq!(
        daemon.post("/api/v1/sync/nope", Some(TOKEN)).await.status(),
        404
    );
    assert_eq!(
        daemon
            .post("/api/v1/sync/manifests", Some(TOKEN))
            .await
            .status(),
        202
    );
    daemon
        .wait_for(|| async { git(&remote.bare, &["rev-list", "--count", "main"]) == "3" })
        .await;
    assert!(
        remote
            .show("dev/app.yaml")
            .contains("acme/app:develop-4   # bumped by laminar")
    );
    assert_eq!(
        git(&remote.bare, &["log", "-1", "--format=%s"]),
        "dev/app.yaml: app develop-3 → develop-4"
    );

    // The status is recorded once the cycle has ended, a moment after its push.
    daemon
        .wait_for(|| async { daemon.status().await["repos"]["manifests"]["head"] == remote.head() })
        .await;
    let status = daemon.status().await;
    let repo = &status["repos"]["manifests"];
    assert_eq!(repo["result"], "updated");
    assert_eq!(repo["head"], remote.head());
    assert!(
        repo["references"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["newest"] == "develop-4"),
        "{status}"
    );

    let metrics = daemon.get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "laminar_sync_total{repo=\"manifests\",result=\"updated\"} 2",
        "laminar_updates_total{",
        "laminar_references{repo=\"manifests\"} 3",
        "laminar_registry_requests_total{registry=\"local\",kind=\"tags\",result=\"ok\"}",
        "laminar_git_operations_total{repo=\"manifests\",op=\"push\",result=\"success\"} 2",
        "laminar_build_info{",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (prometheus) is installed: run scripts/install-deps.sh");
    let output = {
        let mut promtool = promtool;
        std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
        promtool.wait_with_output().unwrap()
    };
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Triggers while a cycle runs coalesce into one follow-up cycle.
    let cycles = |metrics: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("laminar_sync_total{repo=\"manifests\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before = cycles(&metrics);
    let triggers =
        futures::future::join_all((0..5).map(|_| daemon.post("/api/v1/sync", Some(TOKEN)))).await;
    assert!(triggers.iter().all(|r| r.status() == 202));
    daemon.wait_idle().await;
    let after = cycles(&daemon.get("/metrics").await.unwrap().text().await.unwrap());
    assert!(
        (before + 1..=before + 2).contains(&after),
        "{before} → {after} cycles for 5 triggers"
    );

    let status = daemon.terminate();
    assert!(status.success(), "SIGTERM → exit 0, got {status}");
}

#[tokio::test]
async fn without_a_token_the_api_is_disabled_but_health_and_metrics_serve() {
    let s = setup("", "").await;
    let daemon = Daemon::start(s.dir.path(), None).await;
    let response = daemon.post("/api/v1/sync", Some(TOKEN)).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("LAMINAR_API_TOKEN"));
    assert_eq!(daemon.get("/healthz").await.unwrap().status(), 200);
    assert_eq!(daemon.get("/metrics").await.unwrap().status(), 200);
}

#[tokio::test]
async fn remote_rules_exec_actions_and_their_limits() {
    let s = setup(
        "  remoteConfig: true\n  exec: [\"cp dev/app.yaml rendered.yaml\"]\n",
        "",
    )
    .await;
    // The repo's own rule for prod/, and an exec action it is not allowed to run.
    s.remote.write(
        ".laminar.yaml",
        "updates:\n- pattern: semver:^1\n  files: [prod/]\nexec: [\"touch remote-was-here\"]\n",
    );
    s.remote.write(
        "prod/api.yaml",
        &format!("api: {}/acme/api:1.9.0\n", s.registry.addr),
    );
    s.remote.commit_and_push("repo rules");
    let daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;
    let remote = &s.remote;
    daemon
        .wait_for(|| async { remote.show("prod/api.yaml").ends_with("acme/api:1.10.0") })
        .await;
    assert_eq!(
        format!("{}\n", remote.show("rendered.yaml")),
        expected_after(&s.registry.addr),
        "exec output committed"
    );
    assert!(
        git(&remote.bare, &["ls-tree", "--name-only", "main"])
            .lines()
            .all(|f| f != "remote-was-here")
    );

    // An invalid .laminar.yaml is reported, located, and the last valid one stays in force.
    remote.write(
        ".laminar.yaml",
        "updates:\n- pattern: nonsense\n  files: [prod/]\n",
    );
    remote.commit_and_push("break the rules");
    s.registry
        .push("acme/api", "1.12.0", "2024-01-01T00:00:00Z")
        .await;
    assert_eq!(
        daemon
            .post("/api/v1/sync/manifests", Some(TOKEN))
            .await
            .status(),
        202
    );
    daemon
        .wait_for(|| async { remote.show("prod/api.yaml").ends_with("acme/api:1.12.0") })
        .await;
    // The status is recorded once the cycle has ended, a moment after its push.
    daemon
        .wait_for(|| async { daemon.status().await["repos"]["manifests"]["result"] == "failed" })
        .await;
    let status = daemon.status().await;
    let repo = &status["repos"]["manifests"];
    assert!(
        repo["error"]
            .as_str()
            .unwrap()
            .contains(".laminar.yaml:2:12: pattern \"nonsense\" has no type"),
        "{status}"
    );
}

#[tokio::test]
async fn a_failing_exec_action_means_no_commit() {
    let s = setup("  exec: [\"echo rendering failed >&2; exit 1\"]\n", "").await;
    let before = s.remote.head();
    let once = s.dir.laminar().arg("once").output().unwrap();
    assert_eq!(once.status.code(), Some(1));
    let out = String::from_utf8_lossy(&once.stdout);
    assert!(
        out.contains("exec action `echo rendering failed >&2; exit 1` failed"),
        "{out}"
    );
    assert!(out.contains("rendering failed"), "{out}");
    assert_eq!(s.remote.head(), before);
}

#[tokio::test]
async fn remote_exec_runs_when_the_operator_allows_it() {
    let s = setup("  remoteConfig: true\n", "  allowRemoteExec: true\n").await;
    s.remote
        .write(".laminar.yaml", "exec: [\"touch remote-was-here\"]\n");
    s.remote.commit_and_push("repo exec");
    let once = s.dir.laminar().arg("once").output().unwrap();
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stdout)
    );
    assert!(
        git(&s.remote.bare, &["ls-tree", "--name-only", "main"])
            .lines()
            .any(|f| f == "remote-was-here")
    );
}

#[tokio::test]
async fn a_registry_that_is_down_fails_its_repo_and_the_other_still_syncs() {
    let s = setup("", "").await;
    let dead = free_port();
    let second = BareRepo::new(&[("dev/app.yaml", &manifests(&s.registry.addr))]);
    let config = std::fs::read_to_string(s.dir.path().join("laminar.yaml")).unwrap();
    let config = config.replace(
        "git:\n",
        &format!(
            "- reg: 127.0.0.1:{dead}/down\n  name: down\n  insecure: true\n  timeout: 2\ngit:\n- name: broken\n  url: {}\n  branch: main\n  updates:\n  - pattern: glob:*\n    files: [.]\n",
            second.bare.display()
        ),
    );
    s.dir.write("laminar.yaml", config);
    second.write(
        "dev/down.yaml",
        &format!("image: 127.0.0.1:{dead}/down/app:v1\n"),
    );
    second.commit_and_push("references a dead registry");
    let daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;
    let remote = &s.remote;
    daemon
        .wait_for(|| async { git(&remote.bare, &["rev-list", "--count", "main"]) == "2" })
        .await;
    let status: serde_json::Value = serde_json::from_str(
        &daemon
            .get("/api/v1/status")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status["repos"]["broken"]["result"], "failed", "{status}");
    assert!(
        status["repos"]["broken"]["error"]
            .as_str()
            .unwrap()
            .contains("registry down: "),
        "{status}"
    );
    assert_eq!(
        status["repos"]["manifests"]["result"], "updated",
        "{status}"
    );
    let metrics = daemon.get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("laminar_sync_total{repo=\"broken\",result=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "laminar_registry_requests_total{registry=\"down\",kind=\"tags\",result=\"network\"}"
        ),
        "{metrics}"
    );
    drop(s.ssh);
}

#[tokio::test]
async fn pinned_digests_move_with_their_tag() {
    let registry = RegistryServer::start().await;
    let old = registry
        .push("acme/api", "1.9.0", "2024-01-01T00:00:00Z")
        .await;
    let new = registry
        .push("acme/api", "1.10.0", "2024-01-02T00:00:00Z")
        .await;
    let remote = BareRepo::new(&[(
        "app.yaml",
        &format!("image: {}/acme/api:1.9.0@{old}\n", registry.addr),
    )]);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\ndockerRegistries:\n- reg: {}/acme\n  insecure: true\ngit:\n- name: pinned\n  url: {}\n  branch: main\n  updates:\n  - pattern: semver:^1\n    files: [.]\n",
            registry.addr,
            remote.bare.display()
        ),
    );
    let once = dir.laminar().arg("once").output().unwrap();
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stdout)
    );
    assert_eq!(
        remote.show("app.yaml"),
        format!("image: {}/acme/api:1.10.0@{new}", registry.addr)
    );
}

/// A self-signed certificate for `localhost`, as (cert, key) PEM files in `dir`.
fn localhost_certificate(dir: &Dir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed: run scripts/install-deps.sh");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// The daemon reads the CA bundle for https remotes when the first one is used, not at start;
/// the certificate is still checked: trusted when `SSL_CERT_FILE` vouches for it, refused
/// when only the system's bundle is there.
#[tokio::test]
async fn https_remotes_are_verified_against_the_ca_bundle_read_when_first_used() {
    let registry = RegistryServer::start().await;
    registry
        .push("acme/app", "develop-1", "2024-01-01T00:00:00Z")
        .await;
    registry
        .push("acme/app", "develop-2", "2024-02-01T00:00:00Z")
        .await;
    let manifest = format!("image: {}/acme/app:develop-1\n", registry.addr);
    let remote = BareRepo::new(&[("dev/app.yaml", &manifest)]);
    let dir = Dir::new();
    let (cert, key) = localhost_certificate(&dir);
    let server = HttpGitServer::start_tls(remote.bare.parent().unwrap(), &cert, &key);
    let token = dir.write("token", "s3cret\n");
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries:\n- reg: {addr}/acme\n  insecure: true\n\
             git:\n- name: manifests\n  url: https://localhost:{port}/remote.git\n  branch: main\n  \
             username: bot\n  passwordFile: {token}\n  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n",
            addr = registry.addr,
            port = server.port,
            token = token.display(),
        ),
    );

    let refused = dir
        .laminar()
        .args(["once", "--dry-run"])
        .env_remove("SSL_CERT_FILE")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr).to_lowercase()
        + &String::from_utf8_lossy(&refused.stdout).to_lowercase();
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("certificate"), "{said}");

    let trusted = dir
        .laminar()
        .arg("once")
        .env("SSL_CERT_FILE", &cert)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&trusted.stdout);
    assert!(
        out.starts_with("manifests: updated 1 reference(s)"),
        "{out}{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(
        git(&remote.bare, &["show", "main:dev/app.yaml"]),
        manifest.replace("develop-1", "develop-2").trim_end()
    );
}
