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
        .tags_since(&id, "nginx", None, tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(later.tags.len(), 2);
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

/// The first page of each listing, in turn; later pages are answered by `page=2`.
async fn first_pages(server: &MockServer, pages: Vec<serde_json::Value>) {
    for results in pages {
        let next = format!("{}{TAGS}?page=2&page_size=100", server.uri());
        Mock::given(method("GET"))
            .and(path(TAGS))
            .and(query_param("ordering", "last_updated"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "count": 9, "next": next, "previous": null, "results": results,
            })))
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn listings_stop_at_the_first_tag_already_known() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3, "next": null, "previous": TAGS,
            "results": [tag("a", "2024-01-01T00:00:00Z", 1)],
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    first_pages(
        &server,
        vec![
            json!([
                tag("c", "2024-03-01T00:00:00Z", 3),
                tag("b", "2024-02-01T00:00:00Z", 2)
            ]),
            // A new tag, then one already known: nothing after it is read.
            json!([
                tag("d", "2024-04-01T00:00:00Z", 4),
                tag("c", "2024-03-01T00:00:00Z", 3)
            ]),
            // `b` pushed again (a new image): it moves to the front.
            json!([
                tag("b", "2024-05-01T00:00:00Z", 5),
                tag("d", "2024-04-01T00:00:00Z", 4)
            ]),
            // Not newest first (say, the API ignored the ordering): read to the end.
            json!([
                tag("d", "2024-04-01T00:00:00Z", 4),
                tag("e", "2024-06-01T00:00:00Z", 6)
            ]),
        ],
    )
    .await;
    let data = Dir::new();
    let registries = Registries::new(&[hub(&server)], data.path(), Options::default()).await;
    let id = &registries.ids()[0];
    let mut listings = Vec::new();
    for _ in 0..4 {
        let tags = registries
            .tags(id, "docker.io/library/nginx", true)
            .await
            .unwrap();
        listings.push(
            tags.iter()
                .map(|t| format!("{}@{}", t.tag, &t.digest.as_deref().unwrap()[7..9]))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let short = |n: u8| digest(n)[7..9].to_string();
    assert_eq!(
        listings,
        [
            format!("c@{} b@{} a@{}", short(3), short(2), short(1)),
            format!(
                "d@{} c@{} b@{} a@{}",
                short(4),
                short(3),
                short(2),
                short(1)
            ),
            format!(
                "b@{} d@{} c@{} a@{}",
                short(5),
                short(4),
                short(3),
                short(1)
            ),
            // Read in full: `a` from page 2, and the full listing replaces the old one.
            format!("d@{} e@{} a@{}", short(4), short(6), short(1)),
        ]
    );
    // Pages: 2, then 1, then 1, then 2.
    assert_eq!(registries.counters().total("hub", RequestKind::Tags), 6);
}
