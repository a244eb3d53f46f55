//! Azure Container Registry: push times from its `/acr/v1` tag API, authorised through the
//! registry's token flow with credentials from Azure workload identity — scripted with
//! wiremock after the documented requests and responses (ACR REST, "Tag - Get List" and
//! "Authentication"; Microsoft identity platform, "client credentials flow" with a federated
//! client assertion).

use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{CloudIdentity, Registry, RegistryAuth, RegistryKind};
use laminar::registry::{Options, Registries, RequestKind};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Dir, digest, scripted};

const TAGS: &str = "/acr/v1/team/app/_tags";

fn tag(name: &str, n: u8, created: &str, updated: &str) -> serde_json::Value {
    json!({
        "name": name, "digest": digest(n), "createdTime": created, "lastUpdateTime": updated,
        "signed": false,
        "changeableAttributes": {"deleteEnabled": true, "writeEnabled": true,
            "readEnabled": true, "listEnabled": true},
    })
}

#[tokio::test]
async fn workload_identity_gets_a_refresh_token_and_tags_carry_their_update_times() {
    let server = MockServer::start().await;
    let challenge = format!(
        "Bearer realm=\"http://{}/oauth2/token\",service=\"acme.azurecr.io\",scope=\"repository:team/app:metadata_read\"",
        server.address()
    );
    // Entra ID: the federated token, read from the file, as the client assertion.
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(body_string_contains("client_assertion=federated-jwt"))
        .and(body_string_contains("client_id=client-1"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "entra-token"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // The registry trades it for a refresh token.
    Mock::given(method("POST"))
        .and(path("/oauth2/exchange"))
        .and(body_string_contains("grant_type=access_token"))
        .and(body_string_contains("access_token=entra-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"refresh_token": "acr-refresh"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // … which the token flow takes as the null-GUID user's password.
    let basic = "Basic MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOmFjci1yZWZyZXNo";
    Mock::given(method("GET"))
        .and(path("/oauth2/token"))
        .and(query_param("scope", "repository:team/app:metadata_read"))
        .and(query_param("service", "acme.azurecr.io"))
        .and(header("authorization", basic))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "acr-access"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(query_param("last", "v2"))
        .and(header("authorization", "Bearer acr-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "registry": "acme.azurecr.io", "imageName": "team/app",
            "tags": [tag("v1", 1, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .and(query_param("orderby", "timedesc"))
        .and(header("authorization", "Bearer acr-access"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{TAGS}?last=v2&n=100&orderby=timedesc>; rel=\"next\"").as_str(),
                )
                .set_body_json(json!({
                    "registry": "acme.azurecr.io", "imageName": "team/app",
                    "tags": [
                        // Created in February, retagged in March.
                        tag("stable", 2, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00.8834962Z"),
                        tag("v2", 2, "2024-02-01T00:00:00Z", "2024-02-01T00:00:00Z"),
                    ],
                })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .respond_with(
            ResponseTemplate::new(401).insert_header("www-authenticate", challenge.as_str()),
        )
        .with_priority(10)
        .mount(&server)
        .await;

    let data = Dir::new();
    let token_file = data.write("azure-identity-token", "federated-jwt\n");
    let registry = Registry::new("acme.azurecr.io");
    assert_eq!(registry.kind, RegistryKind::Acr, "known by its host");
    let mut registry = scripted(registry, "acr", &server);
    registry.auth = Some(RegistryAuth::Identity(CloudIdentity::Azure {
        client_id: "client-1".into(),
        tenant_id: "tenant-1".into(),
        token_file,
        authority: format!("http://{}/", server.address()),
    }));
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], "acme.azurecr.io/team/app", true)
        .await
        .unwrap();
    let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
    let seen: Vec<_> = tags
        .iter()
        .map(|t| (t.tag.as_str(), t.pushed, t.digest.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("stable", at(1_709_251_200), Some(digest(2))),
            ("v2", at(1_706_745_600), Some(digest(2))),
            ("v1", at(1_704_067_200), Some(digest(1))),
        ]
    );
    let counters = registries.counters();
    assert_eq!(counters.total("acr", RequestKind::Manifest), 0);
    assert_eq!(counters.total("acr", RequestKind::Blob), 0);
    // Entra ID and the exchange were asked once (`expect(1)`); the token flow once.
    assert_eq!(counters.total("acr", RequestKind::Auth), 3);
}

#[tokio::test]
async fn a_refused_identity_is_a_credentials_error_that_names_who_refused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "AADSTS700024: Client assertion is not within its valid time range."}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TAGS))
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "www-authenticate",
                format!(
                    "Bearer realm=\"http://{}/oauth2/token\",service=\"acme.azurecr.io\"",
                    server.address()
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    let data = Dir::new();
    let token_file = data.write("azure-identity-token", "expired-jwt");
    let mut registry = scripted(Registry::new("acme.azurecr.io"), "acr", &server);
    registry.auth = Some(RegistryAuth::Identity(CloudIdentity::Azure {
        client_id: "client-1".into(),
        tenant_id: "tenant-1".into(),
        token_file,
        authority: format!("http://{}/", server.address()),
    }));
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let err = registries
        .tags(&registries.ids()[0], "acme.azurecr.io/team/app", true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Entra ID refused the identity (HTTP 401)"),
        "{err}"
    );
    assert!(!err.contains("expired-jwt"), "{err}");
}
