//! `laminar once` tells people what it did, as a cycle of the daemon would: notifications
//! delivered before it exits, a failing repo announced once across runs, and its recovery.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};

use crate::fixtures::daemon::setup;

/// A local HTTP receiver keeping every (headers, body) it is sent; answers `status`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Receiver {
        let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let kept = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push((headers, body));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, received }
    }

    /// The events received, as `repo event`, each checked against its signature.
    fn events(&self, key: &[u8]) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|(headers, body)| {
                let header = |name: &str| headers[name].to_str().unwrap().to_string();
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                mac.update(header("x-laminar-timestamp").as_bytes());
                mac.update(b".");
                mac.update(body);
                let expected: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(header("x-laminar-signature"), format!("sha256={expected}"));
                let json: serde_json::Value = serde_json::from_slice(body).unwrap();
                format!(
                    "{} {}",
                    json["repo"].as_str().unwrap(),
                    json["event"].as_str().unwrap()
                )
            })
            .collect()
    }
}

// The receivers answer while the test blocks on `laminar once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_delivers_signed_notifications_and_announces_a_failure_once() {
    let receiver = Receiver::start(StatusCode::NO_CONTENT).await;
    let refusing = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let s = setup("", "").await;
    let secret = s.dir.write("hook-secret", "hmac-key\n");
    let missing = s.dir.path().join("later.git");
    let config = s.dir.path().join("laminar.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "- name: broken\n  url: {}\n  branch: main\n  updates:\n  - pattern: glob:develop-*\n    \
         files: [dev/]\nnotifications:\n- name: hook\n  kind: webhook\n  url: {}\n  secretFile: {}\n",
        missing.display(),
        receiver.url,
        secret.display()
    ));
    std::fs::write(&config, &text).unwrap();

    let once = |args: &[&str]| s.dir.laminar().arg("once").args(args).output().unwrap();
    let first = once(&[]);
    assert_eq!(first.status.code(), Some(1), "broken fails: {first:?}");
    let mut events = receiver.events(b"hmac-key");
    events.sort();
    assert_eq!(events, ["broken failed", "manifests updated"]);

    // Failing again is no news; recovering is.
    assert_eq!(once(&[]).status.code(), Some(1));
    assert_eq!(receiver.events(b"hmac-key").len(), 2);
    crate::fixtures::git::git(
        s.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            s.remote.bare.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
    );
    let recovered = once(&[]);
    assert!(recovered.status.success(), "{recovered:?}");
    assert_eq!(
        receiver.events(b"hmac-key").last().map(String::as_str),
        Some("broken recovered")
    );

    // A target that cannot be reached is reported; only --strict-notify makes it fail.
    std::fs::write(&config, text.replace(&receiver.url, &refusing.url)).unwrap();
    std::fs::remove_dir_all(&missing).unwrap();
    let lenient = once(&["--notify-timeout", "1"]);
    assert_eq!(
        lenient.status.code(),
        Some(1),
        "broken fails again: {lenient:?}"
    );
    let said = String::from_utf8_lossy(&lenient.stderr);
    assert!(
        said.contains("notification hook: still sending when the time ran out"),
        "{said}"
    );
    // Forgetting the last results makes the failure news again.
    std::fs::remove_file(s.dir.path().join("state/once-results.json")).unwrap();
    let strict = once(&[
        "--notify-timeout",
        "1",
        "--strict-notify",
        "--repo",
        "manifests",
    ]);
    assert_eq!(strict.status.code(), Some(0), "nothing to tell: {strict:?}");
    let strict = once(&[
        "--notify-timeout",
        "1",
        "--strict-notify",
        "--repo",
        "broken",
    ]);
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    assert!(refusing.received.lock().unwrap().len() >= 2);
}
