//! What a local registry cannot be made to do: Bearer token challenges, 429 with
//! `Retry-After`, opaque `Link` cursors, garbage bodies. Scripted with wiremock.

use std::time::Duration;

use laminar::config::ListLimits;
use laminar::config::Registry;
use laminar::registry::http::RetryPolicy;
use laminar::registry::{Failure, Options, Registries, RequestKind};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::util::Dir;

fn registry(server: &MockServer) -> Registry {
    let mut registry = Registry::new(&server.address().to_string());
    registry.name = "mock".into();
    registry.insecure = true;
    registry.rate_limit = 1000.0;
    registry
}

async fn registries(server: &MockServer, data: &Dir) -> Registries {
    let options = Options {
        retry: RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max_wait: Duration::from_secs(5),
        },
    };
    Registries::new(&[registry(server)], data.path(), options).await
}

/// The error a listing of the server's `acme/app` ends in.
async fn listing_error(server: &MockServer) -> laminar::registry::RegistryError {
    let data = Dir::new();
    registries(server, &data)
        .await
        .tags(&registry(server).id(), &image(server), false)
        .await
        .unwrap_err()
}

fn image(server: &MockServer) -> String {
    format!("{}/acme/app", server.address())
}

fn page(tags: &[&str]) -> serde_json::Value {
    serde_json::json!({"name": "acme/app", "tags": tags})
}

#[tokio::test]
async fn bearer_challenges_are_answered_and_tokens_reused() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let digest = format!("sha256:{}", "a".repeat(64));
    let config = format!("sha256:{}", "c".repeat(64));
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("scope", "repository:acme/app:pull"))
        .and(query_param("service", "mock-registry"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token": "t0k3n", "expires_in": 300})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let authorised = |verb: &str, at: String| {
        Mock::given(method(verb))
            .and(path(at))
            .and(header("authorization", "Bearer t0k3n"))
    };
    authorised("GET", "/v2/acme/app/tags/list".into())
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["v1"])))
        .mount(&server)
        .await;
    authorised("GET", "/v2/acme/app/manifests/v1".into())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("docker-content-digest", digest.as_str())
                .set_body_json(serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"digest": config, "size": 2},
                    "layers": [],
                })),
        )
        .mount(&server)
        .await;
    authorised("GET", format!("/v2/acme/app/blobs/{config}"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"created": "2024-05-01T00:00:00Z"})),
        )
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            format!(r#"Bearer realm="{realm}",service="mock-registry",scope="repository:acme/app:pull""#).as_str(),
        ))
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = registries(&server, &data).await;
    let tags = registries
        .tags(&registries.ids()[0], &image(&server), true)
        .await
        .unwrap();
    assert_eq!(tags[0].digest.as_deref(), Some(digest.as_str()));
    assert!(tags[0].pushed.is_some());
    // One token served the listing, the manifest and the config.
    assert_eq!(registries.counters().total("mock", RequestKind::Auth), 1);
    assert_eq!(registries.counters().total("mock", RequestKind::Blob), 1);
}

#[tokio::test]
async fn opaque_link_cursors_are_followed_on_the_same_host() {
    let server = MockServer::start().await;
    let absolute = format!("{}/v2/acme/app/tags/list?cursor=Zm9v%3D%3D", server.uri());
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .and(query_param("n", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&["a", "b"]))
                .insert_header(
                    "link",
                    r#"</v2/acme/app/tags/list?next_page=opaque%2Fcursor&x=1>; rel="next""#,
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .and(query_param("next_page", "opaque/cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&["c", "bad tag!", "-x"]))
                .insert_header(
                    "link",
                    format!(r#"<{absolute}>; rel="next", </first>; rel="first""#).as_str(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .and(query_param("cursor", "Zm9v=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["d"])))
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = registries(&server, &data).await;
    let tags = registries
        .tags(&registries.ids()[0], &image(&server), false)
        .await
        .unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"], "invalid tags are dropped");
    assert_eq!(registries.counters().total("mock", RequestKind::Tags), 3);
}

#[tokio::test]
async fn a_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&["a"]))
                .insert_header(
                    "link",
                    r#"<http://elsewhere.example/v2/acme/app/tags/list?last=a>; rel="next""#,
                ),
        )
        .mount(&server)
        .await;
    let err = listing_error(&server).await;
    assert!(
        matches!(&err.failure, Failure::Malformed(m) if m.contains("another host")),
        "{err}"
    );
}

#[tokio::test]
async fn page_caps_are_per_registry_and_refuse_partial_lists() {
    let server = MockServer::start().await;
    // Every page links to the next one: an endless listing.
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(|request: &Request| {
            let n: u32 = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let next = format!("</v2/acme/app/tags/list?page={}>; rel=\"next\"", n + 1);
            ResponseTemplate::new(200)
                .set_body_json(page(&[&format!("t{n}")]))
                .insert_header("link", next.as_str())
        })
        .mount(&server)
        .await;
    let data = Dir::new();
    let mut capped = registry(&server);
    capped.limits = ListLimits {
        max_pages: 5,
        max_tags: 1000,
        ..ListLimits::default()
    };
    let registries = Registries::new(&[capped], data.path(), Options::default()).await;
    let err = registries
        .tags(&registries.ids()[0], &image(&server), false)
        .await
        .unwrap_err();
    assert_eq!(err.failure, Failure::TooManyPages(5));
    assert!(err.to_string().contains("raise maxPages"), "{err}");
    assert_eq!(registries.counters().total("mock", RequestKind::Tags), 5);
}

#[tokio::test]
async fn a_link_back_to_a_fetched_page_is_a_loop_reported_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&["a"]))
                .insert_header("link", r#"</v2/acme/app/tags/list?again=1>; rel="next""#),
        )
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = registries(&server, &data).await;
    let err = registries
        .tags(&registries.ids()[0], &image(&server), false)
        .await
        .unwrap_err();
    assert_eq!(err.failure, Failure::PageLoop);
    assert_eq!(registries.counters().total("mock", RequestKind::Tags), 2);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["v1"])))
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = registries(&server, &data).await;
    let started = std::time::Instant::now();
    let tags = registries
        .tags(&registries.ids()[0], &image(&server), false)
        .await
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let snapshot = registries.counters().snapshot();
    let outcome = |label| {
        snapshot
            .iter()
            .find(|((_, _, o), _)| *o == label)
            .map(|(_, n)| *n)
    };
    assert_eq!(outcome("rate_limited"), Some(1));
    assert_eq!(outcome("ok"), Some(1));
}

#[tokio::test]
async fn server_errors_429_and_long_retry_after_fail_the_image_with_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = listing_error(&server).await;
    assert_eq!(
        err.failure,
        Failure::ServerError {
            status: 503,
            attempts: 3
        },
        "a 503 is a server error, not a rate limit"
    );
    assert!(err.to_string().contains("acme/app"), "{err}");

    let limited = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&limited)
        .await;
    let err = listing_error(&limited).await;
    assert_eq!(
        err.failure,
        Failure::RateLimited {
            status: 429,
            attempts: 3
        }
    );

    let huge = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("retry-after", "99999999999999999999999"),
        )
        .mount(&huge)
        .await;
    let err = listing_error(&huge).await;
    assert!(
        matches!(err.failure, Failure::WaitTooLong { status: 429, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("longer than a cycle waits"),
        "{err}"
    );

    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&slow)
        .await;
    let err = listing_error(&slow).await;
    assert_eq!(
        err.failure,
        Failure::WaitTooLong {
            status: 429,
            after: "3600 s".into()
        },
        "an hour is not waited for"
    );
}

#[tokio::test]
async fn garbage_bodies_and_unexpected_statuses_are_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>not json</html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/gone/tags/list"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/teapot/tags/list"))
        .respond_with(ResponseTemplate::new(418))
        .mount(&server)
        .await;
    let data = Dir::new();
    let registries = registries(&server, &data).await;
    let err = registries
        .tags(&registries.ids()[0], &image(&server), false)
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "malformed");
    let gone = format!("{}/acme/gone", server.address());
    assert_eq!(
        registries
            .tags(&registries.ids()[0], &gone, false)
            .await
            .unwrap_err()
            .failure,
        Failure::NotFound
    );
    let teapot = format!("{}/acme/teapot", server.address());
    assert_eq!(
        registries
            .tags(&registries.ids()[0], &teapot, false)
            .await
            .unwrap_err()
            .metric_label(),
        "http_status"
    );
}

#[tokio::test]
async fn a_dead_registry_is_a_network_error_not_a_hang() {
    let port = crate::fixtures::registry::free_port();
    let mut registry = Registry::new(&format!("127.0.0.1:{port}"));
    registry.insecure = true;
    let data = Dir::new();
    let options = Options {
        retry: RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(10),
            max_wait: Duration::from_secs(1),
        },
    };
    let registries = Registries::new(&[registry], data.path(), options).await;
    let err = registries
        .tags(
            &registries.ids()[0],
            &format!("127.0.0.1:{port}/acme/app"),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "network");
}
