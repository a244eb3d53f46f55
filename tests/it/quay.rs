//! Quay's API, scripted with wiremock after its documented requests and responses (docs.quay.io,
//! "listRepoTags"; Red Hat Quay, "Viewing image tag information by using the API").

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{Registry, RegistryAuth, RegistryKind, SecretSource};
use laminar::registry::{Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

const TAGS: &str = "/api/v1/repository/acme/app/tag/";

fn tag(name: &str, pushed: u64, n: u8) -> serde_json::Value {
    json!({
        "name": name, "reversion": false, "start_ts": pushed, "manifest_digest": digest(n),
        "is_manifest_list": false, "size": 1234, "last_modified": "Tue, 14 May 2024 14:48:51 -0000",
    })
}

#[tokio::test]
async fn quay_tags_come_with_push_times_page_by_page_and_a_bearer_for_private_repos() {
    let server = MockServer::start().await;
    for (page, tags, more) in [
        ("1", vec![tag("v2", 1_710_000_000, 2)], true),
        ("2", vec![tag("v1", 1_700_000_000, 1)], false),
    ] {
        Mock::given(method("GET"))
            .and(path(TAGS))
            .and(query_param("page", page))
            .and(query_param("onlyActiveTags", "true"))
            .and(header("authorization", "Bearer oauth-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"tags": tags, "page": page.parse::<u32>().unwrap(), "has_additional": more}),
            ))
            .mount(&server)
            .await;
    }
    let data = Dir::new();
    assert_eq!(Registry::new("quay.io/acme").kind, RegistryKind::Quay);
    let mut registry = scripted(Registry::new("quay.io/acme"), "quay", &server);
    registry.auth = Some(RegistryAuth::Basic {
        username: "$oauthtoken".into(),
        password: SecretSource::File(data.write("token", "oauth-token")),
    });
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], "quay.io/acme/app", true)
        .await
        .unwrap();
    let seen: Vec<(&str, Option<std::time::SystemTime>, Option<String>)> = tags
        .iter()
        .map(|t| (t.tag.as_str(), t.pushed, t.digest.clone()))
        .collect();
    let at = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
    assert_eq!(
        seen,
        [
            ("v2", at(1_710_000_000), Some(digest(2))),
            ("v1", at(1_700_000_000), Some(digest(1)))
        ]
    );
    assert_eq!(registries.counters().total("quay", RequestKind::Tags), 2);
    assert_eq!(
        registries.counters().total("quay", RequestKind::Manifest),
        0
    );
}
