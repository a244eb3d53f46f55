//! Registry credentials from the platform's workload identity, without credential helpers.
//!
//! - GCP: the GCE/GKE metadata server hands out the service account's access token
//!   ("Access tokens from the metadata server": `GET /computeMetadata/v1/instance/
//!   service-accounts/default/token` with `Metadata-Flavor: Google` → `{"access_token",
//!   "expires_in", "token_type"}`). Artifact Registry takes it as the password of
//!   `oauth2accesstoken`, and its API as a bearer.
//! - Azure workload identity: the federated token the AKS webhook mounts is traded at Entra ID
//!   for an access token (client credentials flow with a client assertion, "Microsoft identity
//!   platform and the OAuth 2.0 client credentials flow", third case), which the registry
//!   trades for a refresh token (ACR "authentication" REST docs: `POST /oauth2/exchange` with
//!   `grant_type=access_token` → `{"refresh_token"}`); the refresh token is the password of the
//!   null-GUID user in the registry's own token flow.
//!
//! Tokens are kept until shortly before they expire, shared by every source of the process.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use tokio::time::Instant;

use super::auth::{Credentials, Secret};
use super::counters::RequestKind;
use super::error::Failure;
use super::http::{Fetched, Http};
use crate::config::CloudIdentity;

/// The user Artifact Registry expects with an access token.
const GCP_USER: &str = "oauth2accesstoken";
/// The user ACR expects with a refresh token.
const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";
const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// When the answer gives no lifetime: an hour is what both platforms hand out.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

type Key = (CloudIdentity, String);
static TOKENS: LazyLock<Mutex<HashMap<Key, (Credentials, Instant)>>> =
    LazyLock::new(Default::default);

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct RefreshToken {
    refresh_token: String,
}

/// Credentials for the registry at `base` (`scheme://host[:port]`, whose host is `host`),
/// from `identity`: cached, fetched anew when due or when `renew` says the registry refused
/// the last ones.
pub(super) async fn credentials(
    identity: &CloudIdentity,
    http: &Http,
    host: &str,
    base: &str,
    renew: bool,
) -> Result<Credentials, Failure> {
    let key = (identity.clone(), host.to_string());
    if !renew && let Some(fresh) = cached(&key) {
        return Ok(fresh);
    }
    let (credentials, lifetime) = match identity {
        CloudIdentity::Gcp { metadata_host } => gcp(http, metadata_host).await?,
        CloudIdentity::Azure {
            client_id,
            tenant_id,
            token_file,
            authority,
        } => {
            let federated = std::fs::read_to_string(token_file).map_err(|e| {
                Failure::Credentials(format!(
                    "federated token file {}: {e}",
                    token_file.display()
                ))
            })?;
            let (entra, lifetime) =
                entra_token(http, authority, tenant_id, client_id, federated.trim()).await?;
            let refresh = acr_exchange(http, base, host, tenant_id, &entra).await?;
            (refresh, lifetime)
        }
    };
    // Renew early, so a token never runs out in the middle of a cycle.
    let due = Instant::now() + lifetime.mul_f64(0.8);
    crate::store::lock(&TOKENS).insert(key, (credentials.clone(), due));
    Ok(credentials)
}

fn cached(key: &Key) -> Option<Credentials> {
    let tokens = crate::store::lock(&TOKENS);
    let (credentials, due) = tokens.get(key)?;
    (Instant::now() < *due).then(|| credentials.clone())
}

async fn gcp(http: &Http, metadata_host: &str) -> Result<(Credentials, Duration), Failure> {
    let url = format!(
        "http://{metadata_host}/computeMetadata/v1/instance/service-accounts/default/token"
    );
    let fetched = http
        .send(RequestKind::Auth, || {
            http.client().get(&url).header("metadata-flavor", "Google")
        })
        .await?;
    let token: AccessToken = answer(&fetched, "the GCP metadata server")?;
    Ok((
        Credentials::Basic {
            username: GCP_USER.into(),
            password: Secret::new(token.access_token),
        },
        lifetime(token.expires_in),
    ))
}

async fn entra_token(
    http: &Http,
    authority: &str,
    tenant: &str,
    client_id: &str,
    federated: &str,
) -> Result<(Secret, Duration), Failure> {
    let url = format!("{authority}{tenant}/oauth2/v2.0/token");
    let body = form(&[
        ("client_id", client_id),
        ("scope", ACR_SCOPE),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", federated),
        ("grant_type", "client_credentials"),
    ]);
    let token: AccessToken = answer(&post_form(http, &url, body).await?, "Entra ID")?;
    Ok((Secret::new(token.access_token), lifetime(token.expires_in)))
}

async fn acr_exchange(
    http: &Http,
    base: &str,
    host: &str,
    tenant: &str,
    entra: &Secret,
) -> Result<Credentials, Failure> {
    let url = format!("{base}/oauth2/exchange");
    let body = form(&[
        ("grant_type", "access_token"),
        ("service", host),
        ("tenant", tenant),
        ("access_token", entra.expose()),
    ]);
    let token: RefreshToken = answer(
        &post_form(http, &url, body).await?,
        "the registry's token exchange",
    )?;
    Ok(Credentials::Basic {
        username: ACR_USER.into(),
        password: Secret::new(token.refresh_token),
    })
}

async fn post_form(http: &Http, url: &str, body: String) -> Result<Fetched, Failure> {
    http.send(RequestKind::Auth, || {
        http.client()
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.clone())
    })
    .await
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A token answer; a refusal names who refused, never what was sent.
fn answer<T: serde::de::DeserializeOwned>(fetched: &Fetched, from: &str) -> Result<T, Failure> {
    if !fetched.status.is_success() {
        return Err(Failure::Credentials(format!(
            "{from} refused the identity (HTTP {})",
            fetched.status.as_u16()
        )));
    }
    serde_json::from_slice(&fetched.body)
        .map_err(|_| Failure::Malformed(format!("{from} answered without a token")))
}

fn lifetime(expires_in: Option<u64>) -> Duration {
    expires_in
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
}
