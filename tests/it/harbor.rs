//! Harbor's API, scripted with wiremock after its documented requests and responses (Harbor
//! v2.0 REST API, "List artifacts").

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{Registry, RegistryAuth, RegistryKind, SecretSource};
use laminar::registry::{Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

/// `team/app` below the project `acme`: the `/` is encoded twice.
const ARTIFACTS: &str = "/api/v2.0/projects/acme/repositories/team%252Fapp/artifacts";

#[tokio::test]
async fn harbor_gives_each_tag_its_own_push_time_across_pages() {
    let server = MockServer::start().await;
    // "robot$ci:secret" in base64.
    let basic = "Basic cm9ib3QkY2k6c2VjcmV0";
    Mock::given(method("GET"))
        .and(path(ARTIFACTS))
        .and(query_param("page", "2"))
        .and(header("authorization", basic))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"digest": digest(1), "push_time": "2024-01-01T00:00:00.000Z", "tags": [
                {"name": "v1", "push_time": "2024-01-01T00:00:00.000Z", "immutable": false}]},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ARTIFACTS))
        .and(query_param("page", "1"))
        .and(query_param("with_tag", "true"))
        .and(header("authorization", basic))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "2")
                .insert_header(
                    "link",
                    format!("<{ARTIFACTS}?with_tag=true&page=2&page_size=100>; rel=\"next\"")
                        .as_str(),
                )
                // One artifact, tagged twice: v2 pushed first, then retagged as stable.
                .set_body_json(json!([
                    {"digest": digest(2), "push_time": "2024-02-01T00:00:00.000Z", "tags": [
                        {"name": "v2", "push_time": "2024-02-01T00:00:00.000Z"},
                        {"name": "stable", "push_time": "2024-03-01T00:00:00.000Z"}]},
                    {"digest": digest(3), "push_time": "2024-02-02T00:00:00.000Z", "tags": null},
                ])),
        )
        .mount(&server)
        .await;
    let data = Dir::new();
    let mut registry = Registry::new("harbor.example/acme");
    assert_eq!(
        registry.kind,
        RegistryKind::Oci,
        "Harbor is said with type: harbor"
    );
    registry.kind = RegistryKind::Harbor;
    let mut registry = scripted(registry, "harbor", &server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "robot$ci".into(),
        password: SecretSource::File(data.write("secret", "secret")),
    });
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], "harbor.example/acme/team/app", true)
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
            ("v2", at(1_706_745_600), Some(digest(2))),
            ("stable", at(1_709_251_200), Some(digest(2))),
            ("v1", at(1_704_067_200), Some(digest(1))),
        ]
    );
    assert_eq!(registries.counters().total("harbor", RequestKind::Tags), 2);
}
