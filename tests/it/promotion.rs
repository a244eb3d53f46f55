//! Explicit promotion end to end, against the real `docker-registry` and a running laminar:
//! deploy requests (rollbacks that stay, refusals, requests that race), rollbacks made by hand
//! and held, and holds made from the command line that survive a restart.

use std::process::Command;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::daemon::{Daemon, TOKEN};
use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::Dir;

const OLD: &str = "2024-01-01T00:00:00Z";

fn config(port: u16, addr: &str, remote: &BareRepo, extra: &str) -> String {
    format!(
        r#"global:
  dataDir: state
  listen: 127.0.0.1:{port}
  gitUser: Laminar
  gitEmail: laminar@example.org
dockerRegistries:
- reg: {addr}/acme
  name: local
  insecure: true
git:
- name: manifests
  url: {url}
  branch: main
  pollFreq: 3600
  updates:
  - pattern: semver:^1
    files: [dev/]
{extra}"#,
        url = remote.bare.display(),
    )
}

async fn send(
    daemon_port: u16,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://127.0.0.1:{daemon_port}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs a cycle and waits until it has ended.
async fn cycle(daemon: &Daemon, port: u16) {
    let before = daemon.status().await["repos"]["manifests"]["cycles"]
        .as_u64()
        .unwrap();
    let (status, _) = send(port, reqwest::Method::POST, "/api/v1/sync/manifests", None).await;
    assert_eq!(status, 202);
    daemon
        .wait_for(|| async {
            daemon.status().await["repos"]["manifests"]["cycles"]
                .as_u64()
                .unwrap()
                > before
        })
        .await;
}

/// The `kept` reason the status gives for the reference on `line`.
async fn kept(daemon: &Daemon, line: u64) -> String {
    let status = daemon.status().await;
    status["repos"]["manifests"]["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == line)
        .and_then(|r| r["kept"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn deploy_requests_roll_back_and_stay_refuse_unknown_tags_and_take_turns() {
    let registry = RegistryServer::start().await;
    for tag in ["1.3.2", "1.4.0"] {
        registry.push("acme/app", tag, OLD).await;
    }
    for tag in ["1.0.0", "1.1.0", "1.2.0"] {
        registry.push("acme/api", tag, OLD).await;
    }
    let addr = &registry.addr;
    let remote = BareRepo::new(&[(
        "dev/app.yaml",
        &format!("app: {addr}/acme/app:1.3.2\napi: {addr}/acme/api:1.0.0\n"),
    )]);
    let dir = Dir::new();
    let port = free_port();
    dir.write("laminar.yaml", config(port, addr, &remote, ""));
    let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    let current = format!("app: {addr}/acme/app:1.4.0\napi: {addr}/acme/api:1.2.0");
    assert_eq!(remote.show("dev/app.yaml"), current);
    let post = reqwest::Method::POST;

    // Unauthenticated requests change nothing.
    let anonymous = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/deploy"))
        .body(json!({"image": format!("{addr}/acme/app"), "tag": "1.3.2"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A rollback, waited for: the answer names the pushed commit.
    let (status, answer) = send(
        port,
        post.clone(),
        "/api/v1/deploy?wait=true",
        Some(json!({"image": format!("{addr}/acme/app"), "tag": "1.3.2", "reason": "incident 42"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let outcome = &answer["repos"]["manifests"];
    assert_eq!(outcome["state"], "pushed", "{answer}");
    assert_eq!(outcome["commit"].as_str().unwrap(), remote.head());
    assert_eq!(outcome["changes"][0]["from"], "1.4.0");
    assert_eq!(
        remote.show("dev/app.yaml"),
        current.replace("app:1.4.0", "app:1.3.2")
    );
    let message = git(&remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("Deploy app:1.3.2 as requested\n\nincident 42\n"),
        "{message}"
    );
    assert!(message.contains(&format!(
        "Laminar-Deploy: {}",
        answer["id"].as_str().unwrap()
    )));

    // The following cycles keep it there, and say why.
    let head = remote.head();
    cycle(&daemon, port).await;
    cycle(&daemon, port).await;
    assert_eq!(remote.head(), head);
    let reason = kept(&daemon, 1).await;
    assert!(reason.starts_with("set by a deploy request"), "{reason}");
    assert!(
        reason.contains("kept until a tag newer than 1.4.0 appears"),
        "{reason}"
    );
    let holds = daemon.status().await["holds"].clone();
    assert_eq!(holds[0]["kind"], "deploy", "{holds}");
    assert_eq!(holds[0]["file"], "dev/app.yaml");

    // A tag the registry does not have: 404, and nothing is committed.
    let (status, answer) = send(
        port,
        post.clone(),
        "/api/v1/deploy?wait=true",
        Some(json!({"image": format!("{addr}/acme/app"), "tag": "9.9.9"})),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["repos"]["manifests"]["error"]
            .as_str()
            .unwrap()
            .contains("9.9.9")
    );
    let (status, _) = send(
        port,
        post.clone(),
        "/api/v1/deploy",
        Some(json!({"image": format!("{addr}/acme/unused"), "tag": "1.0.0"})),
    )
    .await;
    assert_eq!(status, 404);
    // Already there: 409.
    let (status, _) = send(
        port,
        post.clone(),
        "/api/v1/deploy?wait=true",
        Some(json!({"image": format!("{addr}/acme/app"), "tag": "1.3.2"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(remote.head(), head);

    // Without waiting: 202 and an id whose state GET follows.
    let (status, answer) = send(
        port,
        post.clone(),
        "/api/v1/deploy",
        Some(json!({"image": format!("{addr}/acme/api"), "tag": "1.1.0"})),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let state = format!("/api/v1/deploy/{}", answer["id"].as_str().unwrap());
    daemon
        .wait_for(|| async {
            let (_, now) = send(port, reqwest::Method::GET, &state, None).await;
            now["state"] == "done"
        })
        .await;
    let (_, done) = send(port, reqwest::Method::GET, &state, None).await;
    assert_eq!(done["repos"]["manifests"]["state"], "pushed", "{done}");

    // Two requests at once for one repo: they take turns, and neither change is lost.
    let commits_before: usize = git(&remote.bare, &["rev-list", "--count", "main"])
        .parse()
        .unwrap();
    let first = send(
        port,
        post.clone(),
        "/api/v1/deploy?wait=true",
        Some(json!({"image": format!("{addr}/acme/app"), "tag": "1.4.0"})),
    );
    let second = send(
        port,
        post.clone(),
        "/api/v1/deploy?wait=true",
        Some(json!({"image": format!("{addr}/acme/api"), "tag": "1.2.0"})),
    );
    let ((first, a), (second, b)) = tokio::join!(first, second);
    assert_eq!((first, second), (200, 200), "{a} {b}");
    assert_eq!(remote.show("dev/app.yaml"), current);
    let commits_after: usize = git(&remote.bare, &["rev-list", "--count", "main"])
        .parse()
        .unwrap();
    assert_eq!(commits_after, commits_before + 2);
    // Deploying the newest tag ended the deploy hold.
    let (_, holds) = send(port, reqwest::Method::GET, "/api/v1/holds", None).await;
    assert_eq!(holds["holds"], json!([]), "{holds}");
}

fn laminar(port: u16, args: &[&str]) -> (bool, String) {
    let output = Command::new(assert_cmd::cargo::cargo_bin("laminar"))
        .args(args)
        .env("LAMINAR_URL", format!("http://127.0.0.1:{port}"))
        .env("LAMINAR_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn a_rollback_by_hand_is_held_until_a_newer_tag_and_cli_holds_survive_a_restart() {
    let registry = RegistryServer::start().await;
    for tag in ["1.3.2", "1.4.0"] {
        registry.push("acme/app", tag, OLD).await;
    }
    let addr = registry.addr.clone();
    let image = format!("{addr}/acme/app");
    let remote = BareRepo::new(&[("dev/app.yaml", &format!("app: {image}:1.3.2\n"))]);
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let dir = Dir::new();
    dir.write("notify-key", "notify-secret");
    let port = free_port();
    let notifications = format!(
        "notifications:\n- name: hook\n  kind: webhook\n  url: {}/laminar\n  secretFile: notify-key\n  events: [rolled-back]\n",
        receiver.uri()
    );
    dir.write("laminar.yaml", config(port, &addr, &remote, &notifications));
    let mut daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    assert_eq!(remote.show("dev/app.yaml"), format!("app: {image}:1.4.0"));

    // Someone rolls back by hand.
    git(&remote.outside, &["pull", "-q", "origin", "main"]);
    remote.write("dev/app.yaml", &format!("app: {image}:1.3.2\n"));
    let rolled_back = remote.commit_and_push("roll back app: 1.4.0 is broken");
    cycle(&daemon, port).await;
    cycle(&daemon, port).await;
    assert_eq!(remote.head(), rolled_back, "laminar rolled forward again");
    let reason = kept(&daemon, 1).await;
    assert!(
        reason.starts_with("rolled back from 1.4.0 by a commit not made by laminar"),
        "{reason}"
    );
    // People hear of it, once.
    daemon
        .wait_for(|| async { !receiver.received_requests().await.unwrap().is_empty() })
        .await;
    let sent = receiver.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    let event: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(event["event"], "rolled-back", "{event}");

    // A tag newer than the one rolled back from ends the hold.
    registry.push("acme/app", "1.4.1", OLD).await;
    cycle(&daemon, port).await;
    assert_eq!(remote.show("dev/app.yaml"), format!("app: {image}:1.4.1"));

    // A hold from the command line keeps the image where it is…
    let (ok, out) = laminar(
        port,
        &[
            "hold",
            &image,
            "--repo",
            "manifests",
            "--reason",
            "release freeze",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("manual") && out.contains("release freeze"),
        "{out}"
    );
    registry.push("acme/app", "1.5.0", OLD).await;
    cycle(&daemon, port).await;
    assert_eq!(remote.show("dev/app.yaml"), format!("app: {image}:1.4.1"));
    assert!(kept(&daemon, 1).await.contains("release freeze"));

    // …through a restart…
    daemon.terminate();
    let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    assert_eq!(remote.show("dev/app.yaml"), format!("app: {image}:1.4.1"));
    let (ok, out) = laminar(port, &["holds"]);
    assert!(ok && out.contains("release freeze"), "{out}");
    let (ok, out) = laminar(port, &["status", "--repo", "manifests"]);
    assert!(ok, "{out}");
    assert!(out.starts_with("manifests: unchanged at "), "{out}");
    assert!(
        out.contains(&format!(
            "  dev/app.yaml:1 {image}:1.4.1 [semver:^1] held by hold "
        )),
        "{out}"
    );
    let (ok, out) = laminar(port, &["status", "--json"]);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert!(
        ok && json["holds"][0]["reason"] == "release freeze",
        "{out}"
    );

    // …until it is released, and the repo catches up without waiting for its poll.
    let (ok, out) = laminar(port, &["release", &image]);
    assert!(ok && out.starts_with("released "), "{out}");
    daemon
        .wait_for(|| async { remote.show("dev/app.yaml") == format!("app: {image}:1.5.0") })
        .await;

    // A deploy from the command line, waited for.
    let (ok, out) = laminar(
        port,
        &[
            "deploy",
            &format!("{image}:1.4.0"),
            "--wait",
            "--reason",
            "canary failed",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("manifests: pushed"), "{out}");
    assert!(out.contains("dev/app.yaml:1 1.5.0 → 1.4.0"), "{out}");
    assert_eq!(remote.show("dev/app.yaml"), format!("app: {image}:1.4.0"));
    let (ok, out) = laminar(port, &["deploy", &format!("{image}:7.7.7"), "--wait"]);
    assert!(!ok && out.contains("refused"), "{out}");
}
