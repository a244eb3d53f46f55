//! Registry webhooks end to end: the real `docker-registry` sends its notifications to a
//! running laminar, which commits the pushed tag; senders that cannot run here are scripted
//! with their documented payloads against the same daemon.

use hmac::{Hmac, Mac};
use wiremock::matchers::{method, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::daemon::{Daemon, TOKEN};
use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::{Dir, signed_generic};

const HOOK_SECRET: &str = "registry-hook-secret";

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(daemon: &Daemon) -> String {
    daemon.get("/metrics").await.unwrap().text().await.unwrap()
}

/// A daemon whose registry sends it push events, with the registry's first events (for the
/// tags the manifests already hold) received and acted on.
struct Hooked {
    registry: RegistryServer,
    remote: BareRepo,
    sns: MockServer,
    daemon: Daemon,
    port: u16,
    _dir: Dir,
}

impl Hooked {
    async fn start() -> Hooked {
        let port = free_port();
        let hook = format!("http://127.0.0.1:{port}/api/v1/webhooks/local");
        let registry = RegistryServer::start_notifying(&hook, HOOK_SECRET).await;
        registry
            .push("acme/app", "develop-1", "2024-01-01T00:00:00Z")
            .await;
        registry
            .push("acme/api", "1.0.0", "2024-01-01T00:00:00Z")
            .await;
        let addr = &registry.addr;
        let remote = BareRepo::new(&[(
            "dev/app.yaml",
            &format!("app: {addr}/acme/app:develop-1\napi: {addr}/acme/api:1.0.0\n"),
        )]);
        let sns = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("Action", "ConfirmSubscription"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string("<ConfirmSubscriptionResponse/>"),
            )
            .mount(&sns)
            .await;
        let dir = Dir::new();
        dir.write("hook-secret", format!("{HOOK_SECRET}\n"));
        dir.write("github-secret", "github-key");
        dir.write(
            "laminar.yaml",
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
  - pattern: glob:develop-*
    files: [dev/]
  - pattern: semver:^1
    files: [dev/]
webhooks:
- name: local
  kind: distribution
  secretFile: hook-secret
- name: gh
  kind: github
  secretFile: github-secret
- name: ecr
  kind: ecr
  secretFile: hook-secret
  snsEndpoint: {sns}
"#,
                url = remote.bare.display(),
                sns = sns.uri(),
            ),
        );
        let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
        // The registry kept the events of the first pushes for the receiver it could not reach
        // yet, and delivers them now.
        let woke = "laminar_webhook_events_total{webhook=\"local\",result=\"woke\"}";
        daemon
            .wait_for(|| async { metric(&metrics(&daemon).await, woke) == 2.0 })
            .await;
        daemon.wait_idle().await;
        Hooked {
            registry,
            remote,
            sns,
            daemon,
            port,
            _dir: dir,
        }
    }

    /// A POST to webhook receiver `path` (a name, and perhaps a query).
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().post(format!(
            "http://127.0.0.1:{}/api/v1/webhooks/{path}",
            self.port
        ))
    }
}

#[tokio::test]
async fn a_registry_push_event_wakes_the_repo_and_lists_only_that_image() {
    let hooked = Hooked::start().await;
    let (registry, remote, daemon) = (&hooked.registry, &hooked.remote, &hooked.daemon);
    let woke = "laminar_webhook_events_total{webhook=\"local\",result=\"woke\"}";
    let lists_before = metric(
        &metrics(daemon).await,
        "laminar_registry_requests_total{registry=\"local\",kind=\"tags\"",
    );
    let head = remote.head();

    // The push alone brings the commit: nothing polls for an hour.
    registry
        .push("acme/app", "develop-2", "2024-02-01T00:00:00Z")
        .await;
    daemon.wait_for(|| async { remote.head() != head }).await;
    assert!(remote.show("dev/app.yaml").contains("acme/app:develop-2"));
    assert!(remote.show("dev/app.yaml").contains("acme/api:1.0.0"));
    let text = metrics(daemon).await;
    assert_eq!(metric(&text, woke), 3.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "laminar_event_to_commit_seconds_count{repo=\"manifests\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "laminar_registry_requests_total{registry=\"local\",kind=\"tags\""
        ) - lists_before,
        1.0,
        "only the pushed image is listed again"
    );
}

#[tokio::test]
async fn refused_webhook_requests_change_nothing_and_are_counted_by_reason() {
    let hooked = Hooked::start().await;
    let (addr, daemon, remote) = (&hooked.registry.addr, &hooked.daemon, &hooked.remote);
    let post = |path: &str| hooked.post(path);
    let event = r#"{"events":[{"action":"push","target":{"repository":"acme/app","tag":"develop-9"},"request":{"host":"HOST"}}]}"#
        .replace("HOST", addr);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(post("local").body(event.clone()).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(
            post("local")
                .bearer_auth("wrong")
                .body(event.clone())
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            post("nobody")
                .bearer_auth(HOOK_SECRET)
                .body(event.clone())
                .send()
                .await
                .unwrap()
        ),
        404
    );
    assert_eq!(
        status(
            post("local")
                .bearer_auth(HOOK_SECRET)
                .body("{\"events\": 7}")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    // (Each request on a connection of its own: the server closes this one rather than read
    // the rest.)
    let huge = vec![b' '; 2 * 1024 * 1024];
    let alone = post("local").bearer_auth(HOOK_SECRET).body(huge);
    assert_eq!(status(alone.send().await.unwrap()), 413);
    // An image no repo manages is acknowledged, and wakes nobody.
    let other = event.replace("acme/app", "acme/unused");
    let answer = post(&format!("local?token={HOOK_SECRET}"))
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(body["woken"], serde_json::json!([]));
    assert_eq!(body["unmanaged"][0], format!("{addr}/acme/unused"));

    let text = metrics(daemon).await;
    for reason in [
        "missing_credentials",
        "bad_credentials",
        "malformed",
        "too_large",
    ] {
        let series =
            format!("laminar_webhook_rejected_total{{webhook=\"local\",reason=\"{reason}\"}}");
        assert_eq!(metric(&text, &series), 1.0, "{reason}: {text}");
    }
    assert_eq!(
        metric(
            &text,
            "laminar_webhook_rejected_total{webhook=\"(unknown)\",reason=\"unknown_webhook\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "laminar_webhook_events_total{webhook=\"local\",result=\"unmanaged\"}"
        ),
        1.0
    );
    daemon.wait_idle().await;
    assert_eq!(
        git(&remote.bare, &["rev-list", "--count", "main"]),
        "1",
        "no refused or unmanaged event led to a commit"
    );
}

#[tokio::test]
async fn pings_and_subscription_confirmations_are_answered_only_as_their_senders_make_them() {
    let hooked = Hooked::start().await;
    let (sns, daemon) = (&hooked.sns, &hooked.daemon);
    let post = |path: &str| hooked.post(path);
    // GitHub's ping, signed; SNS's subscription confirmation, fetched from SNS only.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"github-key").unwrap();
    mac.update(ping);
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let answer = post("gh")
        .header("x-github-event", "ping")
        .header("x-github-delivery", "d-1")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(ping.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let confirmation = |url: String| {
        serde_json::json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "t",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:ecr-pushes", "SubscribeURL": url})
        .to_string()
    };
    let answer = post("ecr")
        .basic_auth("sns", Some(HOOK_SECRET))
        .body(confirmation(format!(
            "{}/?Action=ConfirmSubscription&Token=t",
            sns.uri()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let elsewhere =
        confirmation("http://169.254.169.254/latest/meta-data/?Action=ConfirmSubscription".into());
    let answer = post("ecr")
        .basic_auth("sns", Some(HOOK_SECRET))
        .body(elsewhere)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let confirmed = sns.received_requests().await.unwrap_or_default();
    assert_eq!(confirmed.len(), 1, "SNS alone was called, once");
    let text = metrics(daemon).await;
    assert_eq!(
        metric(
            &text,
            "laminar_webhook_rejected_total{webhook=\"ecr\",reason=\"malformed\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn a_push_event_whose_registry_fails_a_read_is_tried_again_soon() {
    use wiremock::matchers::path;
    let registry = MockServer::start().await;
    let tags = |tags: &[&str]| {
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"name": "acme/app", "tags": tags}))
    };
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(tags(&["1.0.0"]))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&registry)
        .await;
    // The read right after the push fails once; every later one lists the pushed tag.
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(tags(&["1.0.0", "1.1.0"]))
        .with_priority(3)
        .mount(&registry)
        .await;
    let addr = registry.address().to_string();
    let remote = BareRepo::new(&[("dev/app.yaml", &format!("app: {addr}/acme/app:1.0.0\n"))]);
    let dir = Dir::new();
    dir.write("hook-secret", HOOK_SECRET);
    let port = free_port();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  listen: 127.0.0.1:{port}\ndockerRegistries:\n- reg: {addr}/acme\n  insecure: true\ngit:\n- name: manifests\n  url: {url}\n  branch: main\n  pollFreq: 3600\n  updates:\n  - pattern: semver:^1\n    files: [dev/]\nwebhooks:\n- name: ci\n  kind: generic\n  secretFile: hook-secret\n",
            url = remote.bare.display()
        ),
    );
    let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    let head = remote.head();
    let body = format!(r#"{{"image":"{addr}/acme/app","tag":"1.1.0"}}"#);
    let post = reqwest::Client::new().post(format!("http://127.0.0.1:{port}/api/v1/webhooks/ci"));
    let answer = signed_generic(post, HOOK_SECRET, body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    // Nothing polls for an hour: only the retry can bring the commit.
    daemon.wait_for(|| async { remote.head() != head }).await;
    assert!(remote.show("dev/app.yaml").contains("acme/app:1.1.0"));
    let failed = metric(
        &metrics(&daemon).await,
        "laminar_sync_total{repo=\"manifests\",result=\"failed\"}",
    );
    assert_eq!(failed, 1.0, "the failed read was seen, then tried again");
}
