//! The GitHub Packages API for ghcr.io, scripted with wiremock after its documented requests
//! and responses (docs.github.com/rest/packages, "List package versions for a package owned
//! by an organization" and "… by a user").

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{Registry, RegistryAuth, RegistryKind, SecretSource};
use laminar::registry::{Failure, Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

fn version(n: u8, updated: &str, tags: &[&str]) -> serde_json::Value {
    json!({
        "id": n, "name": digest(n), "created_at": "2024-01-01T00:00:00Z", "updated_at": updated,
        "metadata": {"package_type": "container", "container": {"tags": tags}},
    })
}

fn ghcr(server: &MockServer, token: Option<std::path::PathBuf>) -> Registry {
    let mut registry = Registry::new("ghcr.io/acme");
    registry.kind = RegistryKind::Ghcr;
    let mut registry = scripted(registry, "ghcr", server);
    registry.auth = token.map(|file| RegistryAuth::Basic {
        username: "bot".into(),
        password: SecretSource::File(file),
    });
    registry
}

#[tokio::test]
async fn versions_of_a_users_package_give_each_tag_a_time_across_pages() {
    let server = MockServer::start().await;
    // Not an organization: the user path answers.
    Mock::given(method("GET"))
        .and(path("/orgs/acme/packages/container/tools%2Fapp/versions"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let versions = "/users/acme/packages/container/tools%2Fapp/versions";
    Mock::given(method("GET"))
        .and(path(versions))
        .and(query_param("page", "2"))
        .and(header("authorization", "Bearer ghp_test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([version(
            1,
            "2024-01-01T00:00:00Z",
            &["v1"]
        ),])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(versions))
        .and(query_param("state", "active"))
        .and(header("authorization", "Bearer ghp_test"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!(
                        "<{}{versions}?state=active&per_page=100&page=2>; rel=\"next\"",
                        server.uri()
                    )
                    .as_str(),
                )
                .set_body_json(json!([
                    version(2, "2024-03-01T00:00:00Z", &["v2", "latest"]),
                    version(3, "2024-02-01T00:00:00Z", &[]),
                ])),
        )
        .mount(&server)
        .await;
    let data = Dir::new();
    let registry = ghcr(&server, Some(data.write("token", "ghp_test")));
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], "ghcr.io/acme/tools/app", true)
        .await
        .unwrap();
    let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
    let seen: Vec<(&str, Option<std::time::SystemTime>, Option<String>)> = tags
        .iter()
        .map(|t| (t.tag.as_str(), t.pushed, t.digest.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("v2", at(1_709_251_200), Some(digest(2))),
            ("latest", at(1_709_251_200), Some(digest(2))),
            ("v1", at(1_704_067_200), Some(digest(1))),
        ]
    );
    assert_eq!(registries.counters().total("ghcr", RequestKind::Tags), 3);
}

#[tokio::test]
async fn without_a_token_the_packages_api_is_not_asked() {
    let server = MockServer::start().await;
    let data = Dir::new();
    let registries = Registries::new(&[ghcr(&server, None)], data.path(), Options::default()).await;
    let err = registries
        .tags(&registries.ids()[0], "ghcr.io/acme/app", false)
        .await
        .unwrap_err();
    assert!(matches!(err.failure, Failure::Credentials(_)), "{err}");
    assert!(err.to_string().contains("read:packages"), "{err}");
}
