//! Docker Hub's own API, scripted with wiremock after its documented requests and responses
//! (docs.docker.com/reference/api/hub/latest: "List repository tags", "Create access token").

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{Registry, RegistryAuth, RegistryKind, SecretSource};
use laminar::registry::{Failure, Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

const TAGS: &str = "/v2/namespaces/library/repositories/nginx/tags";

fn hub(server: &MockServer) -> Registry {
    let mut registry = Registry::new("docker.io");
    assert_eq!(
        registry.kind,
        RegistryKind::Dockerhub,
        "docker.io speaks Hub's API"
    );
    registry.rate_limit = 1000.0;
    scripted(registry, "hub", server)
}

/// One tag as the API lists it (fields laminar reads, and some it does not).
fn tag(name: &str, pushed: &str, n: u8) -> serde_json::Value {
    json!({
        "creator": 1, "id": n, "full_size": 1234, "name": name, "digest": digest(n),
        "last_updated": pushed, "tag_last_pushed": pushed, "tag_status": "active",
        "images": [{"architecture": "amd64", "os": "linux", "digest": digest(n + 100)}],
    })
}

fn at(text: &str) -> std::time::SystemTime {
    let ts: jiff::Timestamp = text.parse().unwrap();
    UNIX_EPOCH + Duration::from_secs(ts.as_second() as u64)
}

#[tokio::test]
async fn tags_come_with_push_times_and_digests_in_pages_without_manifest_reads() {
    let server = MockServer::start().await;
    let next = format!("{}{TAGS}?page=2&page_size=100", server.uri());
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3, "next": null, "previous": TAGS,
            "results": [tag("1.25.0", "2024-01-01T00:00:00.000000Z", 1)],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(query_param("page_size", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3, "next": next, "previous": null,
            "results": [
                tag("1.26.0", "2024-03-01T00:00:00.000000Z", 3),
                tag("1.25.1", "2024-02-01T00:00:00.000000Z", 2),
            ],
        })))
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = Registries::new(&[hub(&server)], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], "nginx", true)
        .await
        .unwrap();
    let seen: Vec<(&str, Option<std::time::SystemTime>, Option<&str>)> = tags
        .iter()
        .map(|t| (t.tag.as_str(), t.pushed, t.digest.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "1.26.0",
                Some(at("2024-03-01T00:00:00Z")),
                Some(digest(3).as_str())
            ),
            (
                "1.25.1",
                Some(at("2024-02-01T00:00:00Z")),
                Some(digest(2).as_str())
            ),
            (
                "1.25.0",
                Some(at("2024-01-01T00:00:00Z")),
                Some(digest(1).as_str())
            ),
        ]
    );
    let counters = registries.counters();
    assert_eq!(counters.total("hub", RequestKind::Tags), 2);
    assert_eq!(counters.total("hub", RequestKind::Manifest), 0);
    assert_eq!(counters.total("hub", RequestKind::Blob), 0);
}

#[tokio::test]
async fn a_private_repository_gets_a_token_and_a_rotated_secret_is_read_again() {
    let server = MockServer::start().await;
    let data = Dir::new();
    let secret = data.write("hub-pat", "pat-1");
    for (pat, token) in [("pat-1", "tok-1"), ("pat-2", "tok-2")] {
        Mock::given(method("POST"))
            .and(path("/v2/auth/token"))
            .and(body_partial_json(
                json!({"identifier": "bot", "secret": pat}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": token})))
            .mount(&server)
            .await;
    }
    // The first token works once; then the secret is rotated and the token revoked.
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1, "next": null, "previous": null,
            "results": [tag("1.0.0", "2024-01-01T00:00:00Z", 1)],
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 2, "next": null, "previous": null,
            "results": [tag("1.1.0", "2024-02-01T00:00:00Z", 2), tag("1.0.0", "2024-01-01T00:00:00Z", 1)],
        })))
        .mount(&server)
        .await;
    let mut registry = hub(&server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(secret.clone()),
    });
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let id = registries.ids()[0].clone();
    let first = registries.tags(&id, "nginx", false).await.unwrap();
    assert_eq!(first.len(), 1);
    std::fs::write(&secret, "pat-2").unwrap();
    // A later cycle: the revoked token gets a 401, the secret is read again, one more try.
    let later = registries
        .tags_since(&id, "nginx", false, tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(registries.counters().total("hub", RequestKind::Auth), 2);
}

#[tokio::test]
async fn a_refused_secret_and_a_next_page_elsewhere_are_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/auth/token"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let data = Dir::new();
    let mut registry = hub(&server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(data.write("pat", "wrong")),
    });
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let err = registries
        .tags(&registries.ids()[0], "nginx", false)
        .await
        .unwrap_err();
    assert!(matches!(err.failure, Failure::Auth(_)), "{err}");

    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 2, "next": "https://attacker.example/page2", "previous": null,
            "results": [tag("1.0.0", "2024-01-01T00:00:00Z", 1)],
        })))
        .mount(&elsewhere)
        .await;
    let registries = Registries::new(&[hub(&elsewhere)], data.path(), Options::default()).await;
    let err = registries
        .tags(&registries.ids()[0], "nginx", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another host"), "{err}");
}
