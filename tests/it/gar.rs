//! Google Artifact Registry: push times from the Artifact Registry API, with the access token
//! from the GCE/GKE metadata server — both scripted with wiremock after Google's documented
//! requests and responses (Artifact Registry REST v1,
//! "projects.locations.repositories.dockerImages.list"; Compute Engine, "Access tokens from
//! the metadata server").

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{CloudIdentity, Registry, RegistryAuth, RegistryKind};
use laminar::registry::{Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

const IMAGES: &str = "/v1/projects/proj/locations/europe/repositories/repo/dockerImages";

fn image(name: &str, n: u8, tags: &[&str], uploaded: &str, updated: &str) -> serde_json::Value {
    json!({
        "name": format!("projects/proj/locations/europe/repositories/repo/dockerImages/{}@{}",
            name.replace('/', "%2F"), digest(n)),
        "uri": format!("europe-docker.pkg.dev/proj/repo/{name}@{}", digest(n)),
        "tags": tags,
        "imageSizeBytes": "2824",
        "uploadTime": uploaded,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "buildTime": "1970-01-01T00:00:00Z",
        "updateTime": updated,
    })
}

fn gar(server: &MockServer) -> Registry {
    let registry = Registry::new("europe-docker.pkg.dev/proj");
    assert_eq!(registry.kind, RegistryKind::Gar, "known by its host");
    scripted(registry, "gar", server)
}

#[tokio::test]
async fn push_times_come_from_the_api_with_the_metadata_servers_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/computeMetadata/v1/instance/service-accounts/default/token",
        ))
        .and(header("metadata-flavor", "Google"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(IMAGES))
        .and(query_param("pageToken", "page-2"))
        .and(header("authorization", "Bearer ya29.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "dockerImages": [
                image("team/app", 1, &["v1"], "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(IMAGES))
        .and(query_param("pageSize", "1000"))
        .and(header("authorization", "Bearer ya29.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "dockerImages": [
                // Built at the epoch (a reproducible build), uploaded in February, then
                // promoted by a retag in March: the update time orders it.
                image("team/app", 2, &["v2", "stable"], "2024-02-01T00:00:00Z", "2024-03-01T00:00:00.123456Z"),
                // Another image of the same repository is not this image's.
                image("team/app-sidecar", 3, &["v9"], "2024-04-01T00:00:00Z", "2024-04-01T00:00:00Z"),
                image("team/app", 4, &[], "2024-05-01T00:00:00Z", "2024-05-01T00:00:00Z"),
            ],
            "nextPageToken": "page-2",
        })))
        .mount(&server)
        .await;
    let data = Dir::new();
    let mut registry = gar(&server);
    registry.auth = Some(RegistryAuth::Identity(CloudIdentity::Gcp {
        metadata_host: server.address().to_string(),
    }));
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let id = &registries.ids()[0];
    let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
    for _ in 0..2 {
        let tags = registries
            .tags(id, "europe-docker.pkg.dev/proj/repo/team/app", true)
            .await
            .unwrap();
        let seen: Vec<_> = tags
            .iter()
            .map(|t| (t.tag.as_str(), t.pushed, t.digest.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                ("v2", at(1_709_251_200), Some(digest(2))),
                ("stable", at(1_709_251_200), Some(digest(2))),
                ("v1", at(1_704_067_200), Some(digest(1))),
            ]
        );
    }
    let counters = registries.counters();
    assert_eq!(
        counters.total("gar", RequestKind::Tags),
        4,
        "two pages, twice"
    );
    assert_eq!(counters.total("gar", RequestKind::Manifest), 0);
    // The metadata token is kept until it is due (`expect(1)` above).
}

#[tokio::test]
async fn without_a_token_the_error_says_what_to_configure() {
    let server = MockServer::start().await;
    let data = Dir::new();
    let mut registry = gar(&server);
    registry.auth = Some(RegistryAuth::Anonymous);
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let err = registries
        .tags(
            &registries.ids()[0],
            "europe-docker.pkg.dev/proj/repo/app",
            true,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("identity: gcp") && err.contains("timeSource: created"),
        "{err}"
    );
}

#[tokio::test]
async fn a_rule_without_times_lists_through_the_registry_protocol() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/proj/repo/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "proj/repo/app", "tags": ["1.0.0", "1.1.0"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let data = Dir::new();
    let mut registry = gar(&server);
    registry.auth = Some(RegistryAuth::Anonymous);
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(
            &registries.ids()[0],
            "europe-docker.pkg.dev/proj/repo/app",
            false,
        )
        .await
        .unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, ["1.0.0", "1.1.0"]);
}
