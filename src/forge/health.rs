//! Whether an environment runs well: an Argo CD application's health and sync state (its
//! REST API, `GET /api/v1/applications/{name}`), or any URL's status code.

use std::time::Duration;

use serde::Deserialize;

use crate::http::{USER_AGENT, read_capped};
use crate::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(10);
/// An application's JSON, resource tree left out, is far smaller.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What Argo CD says of an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoApp {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`.
    pub health: String,
    /// `Synced`, `OutOfSync`, `Unknown`.
    pub sync: String,
    /// The revisions it is synced to (one per source).
    pub revisions: Vec<String>,
}

#[derive(Deserialize)]
struct Application {
    #[serde(default)]
    status: Status,
}

#[derive(Default, Deserialize)]
struct Status {
    #[serde(default)]
    health: State,
    #[serde(default)]
    sync: Sync,
}

#[derive(Default, Deserialize)]
struct State {
    #[serde(default)]
    status: String,
}

#[derive(Default, Deserialize)]
struct Sync {
    #[serde(default)]
    status: String,
    revision: Option<String>,
    #[serde(default)]
    revisions: Vec<String>,
}

/// The client health lookups share: bounded in time, never redirected elsewhere.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Asks Argo CD at `url` about `application` (`name`, or `namespace/name` for an application
/// outside Argo CD's own namespace).
pub async fn argocd(
    client: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    application: &str,
) -> Result<ArgoApp, String> {
    let (namespace, name) = match application.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, application),
    };
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let mut address = format!("{url}/api/v1/applications/{name}");
    if let Some(namespace) = namespace {
        let namespace: String = form_urlencoded::byte_serialize(namespace.as_bytes()).collect();
        address.push_str(&format!("?appNamespace={namespace}"));
    }
    let mut request = client.get(&address);
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("Argo CD: {}", e.without_url()))?;
    let status = response.status();
    let body = read_capped(response, MAX_BODY)
        .await
        .map_err(|e| format!("Argo CD: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "Argo CD answered {status} for application {application}"
        ));
    }
    let app: Application = serde_json::from_slice(&body)
        .map_err(|e| format!("Argo CD: unreadable application: {e}"))?;
    let sync = app.status.sync;
    let mut revisions = sync.revisions;
    revisions.extend(sync.revision);
    Ok(ArgoApp {
        health: app.status.health.status,
        sync: sync.status,
        revisions,
    })
}

/// The status code `url` answers a GET with (the body is not read).
pub async fn status(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{}", e.without_url()))?;
    Ok(response.status().as_u16())
}
