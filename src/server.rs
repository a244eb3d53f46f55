//! HTTP: the status page, `/metrics`, `/healthz`, `/readyz`, and the API to trigger cycles, read status,
//! receive registry webhooks, request deploys and hold images. Handlers never run a cycle:
//! they wake the scheduler (a deploy request may wait for its cycles' outcome).

mod page;
mod promote;
mod serve;
mod shards;

pub(crate) use serve::serve;
pub(crate) use shards::ShardPeers;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use reqwest::Method;
use serde_json::{Value, json};

use crate::config::{Config, MetricsAuth};
use crate::holds::HoldBook;
use crate::metrics::Metrics;
use crate::registry::Registries;
use crate::scheduler::Triggers;
use crate::secret::Secret;
use crate::status::StatusBoard;
use crate::webhook::{self, Parsed, Receivers, Rejection};

/// Request bodies are never needed; anything bigger than this is refused.
const MAX_BODY: usize = 4096;

pub(crate) struct AppState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<StatusBoard>,
    pub triggers: Arc<Triggers>,
    /// `None`: the API is disabled.
    pub token: Option<Secret>,
    pub receivers: Arc<Receivers>,
    /// Push events drop the pushed image's listings here.
    pub registries: Arc<Registries>,
    pub holds: Arc<HoldBook>,
    /// For the status page: the repos, the registries and who may see it.
    pub config: Arc<Config>,
    pub started: tokio::time::Instant,
    /// The lineages chains follow, for `/api/v1/chains` and the page.
    pub chains: Arc<crate::cycle::Chains>,
    /// With `global.shards`: this pod's place and the client to the others.
    pub shards: Option<Arc<ShardPeers>>,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page::overview))
        .route("/repos/{name}", get(page::repo))
        .route("/images/{*name}", get(page::image))
        .route("/login", post(page::login))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/sync", post(sync_all))
        .route("/api/v1/sync/{repo}", post(sync_repo))
        .route("/api/v1/status", get(status))
        .route("/api/v1/chains", get(chains))
        .route("/api/v1/deploy", post(promote::deploy))
        .route("/api/v1/deploy/{id}", get(promote::deploy_state))
        .route(
            "/api/v1/holds",
            get(promote::holds)
                .post(promote::hold)
                .delete(promote::release_image),
        )
        .route("/api/v1/holds/{id}", delete(promote::release_one))
        .route("/api/v1/shard/pushes", post(shard_pushes))
        .route(
            "/api/v1/webhooks/{name}",
            // The webhook reads its body itself, against its own, larger limit.
            post(receive_webhook).layer(DefaultBodyLimit::disable()),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// OpenMetrics for clients that ask for it (Prometheus does), the classic text format otherwise.
async fn metrics(
    State(state): State<Arc<AppState>>,
    _: MetricsReader,
    headers: HeaderMap,
) -> impl IntoResponse {
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.render(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render_prometheus(),
        )
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.status.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "first cycles still running\n",
        )
            .into_response()
    }
}

async fn sync_all(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    _: Authorized,
) -> Response {
    let mut repos = state.triggers.trigger_all();
    let mut answer = json!({});
    if let Some(shards) = shards::handing_on(&state, &headers) {
        let reached = shards::to_others(shards, Method::POST, "/api/v1/sync", None).await;
        shards::gather(&reached, "triggered", &mut repos);
        let unreached: Vec<Value> = reached.iter().filter_map(|r| r.unreached()).collect();
        answer["unreached"] = Value::Array(unreached);
    }
    repos.sort();
    answer["triggered"] = json!(repos);
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

async fn sync_repo(
    State(state): State<Arc<AppState>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    _: Authorized,
) -> Response {
    if state.triggers.trigger(&repo) {
        return (StatusCode::ACCEPTED, Json(json!({ "triggered": [repo] }))).into_response();
    }
    if let Some(shards) = shards::handing_on(&state, &headers) {
        let path = format!("/api/v1/sync/{repo}");
        if let Some(answer) = shards::to_owner(shards, &repo, Method::POST, &path, None).await {
            return answer;
        }
    }
    error(StatusCode::NOT_FOUND, format!("no repo named {repo:?}"))
}

/// Every repo's status, every hold; with shards, every shard's, and which did not answer
/// (`shards[].answered`).
async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap, _: Authorized) -> Response {
    let mut answer = json!({
        "repos": state.status.snapshot(),
        "holds": state.holds.list(),
        "setAside": crate::store::set_aside_files(),
        "idle": state.triggers.idle(),
    });
    if let Some(shards) = shards::handing_on(&state, &headers) {
        let reached = shards::to_others(shards, Method::GET, "/api/v1/status", None).await;
        shards::merge_status(shards, &mut answer, &reached);
        answer["shards"] = shards::shard_rows(&state, shards, &reached);
    }
    Json(answer).into_response()
}

/// Push events another shard received: the repos here whose references name the images are
/// woken, as for a webhook of this shard's own.
async fn shard_pushes(
    State(state): State<Arc<AppState>>,
    _: Authorized,
    Json(pushes): Json<Vec<webhook::Pushed>>,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let well_formed = pushes.iter().all(|p| {
        crate::deploy::check_image(&p.image).is_ok()
            && p.tag
                .as_deref()
                .is_none_or(crate::image::reference::is_valid_tag)
    });
    if !well_formed {
        return error(
            StatusCode::BAD_REQUEST,
            "a pushed image or tag is malformed",
        );
    }
    let (woken, unmanaged) = wake(&state, None, &pushes, arrived);
    let answer = json!({ "woken": woken, "unmanaged": unmanaged });
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

async fn chains(State(state): State<Arc<AppState>>, _: Authorized) -> Response {
    let views = crate::chains::views(
        &state.config,
        &state.status.snapshot(),
        &state.chains,
        std::time::SystemTime::now(),
    );
    Json(json!({ "chains": views })).into_response()
}

/// A push event: the repos whose references name the pushed image are woken, and that image
/// alone is listed afresh. Answers before any cycle runs.
async fn receive_webhook(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let received = match axum::body::to_bytes(body, webhook::MAX_BODY).await {
        Ok(bytes) => {
            state
                .receivers
                .receive(&name, &headers, query.as_deref(), &bytes)
                .await
        }
        Err(_) => Err((
            Rejection::TooLarge,
            format!("body larger than {} bytes", webhook::MAX_BODY),
        )),
    };
    let pushes = match received {
        Ok(Parsed::Pushes(pushes)) => pushes,
        Ok(Parsed::Ping | Parsed::ConfirmSubscription { .. }) => {
            return (StatusCode::OK, Json(json!({ "ok": true }))).into_response();
        }
        Err((rejection, message)) => {
            // A name no receiver has is not a label: requests could make up any number.
            let label = match rejection {
                Rejection::Unknown => "(unknown)",
                _ => name.as_str(),
            };
            state.metrics.webhook_rejected(label, rejection.label());
            tracing::warn!(
                webhook = label,
                reason = rejection.label(),
                "webhook request refused: {message}"
            );
            let status = match rejection {
                Rejection::Unknown => StatusCode::NOT_FOUND,
                Rejection::Malformed => StatusCode::BAD_REQUEST,
                Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                Rejection::Replayed => StatusCode::CONFLICT,
                _ => StatusCode::UNAUTHORIZED,
            };
            return error(status, message);
        }
    };
    let (mut woken, mut unmanaged) = wake(&state, Some(&name), &pushes, arrived);
    // The other shards' repos may use the images too: each lists only what its repos use.
    if let Some(shards) = state.shards.as_deref() {
        let body = serde_json::to_value(&pushes).unwrap_or_default();
        let reached =
            shards::to_others(shards, Method::POST, "/api/v1/shard/pushes", Some(&body)).await;
        shards::gather(&reached, "woken", &mut woken);
        // Unmanaged: by no shard that answered.
        for reached in &reached {
            let mut theirs = Vec::new();
            shards::gather(std::slice::from_ref(reached), "unmanaged", &mut theirs);
            if reached.body_if(|s| s < 300).is_some() {
                unmanaged.retain(|image| theirs.contains(image));
            }
        }
    }
    tracing::info!(webhook = %name, events = pushes.len(), repos = ?woken, "push events received");
    (
        StatusCode::ACCEPTED,
        Json(json!({ "woken": woken, "unmanaged": unmanaged })),
    )
        .into_response()
}

/// Wakes this shard's repos whose references name a pushed image, and has that image listed
/// afresh; counted under the webhook `name` when it came in here. The repos woken, and the
/// images no repo here uses.
fn wake(
    state: &AppState,
    name: Option<&str>,
    pushes: &[webhook::Pushed],
    arrived: tokio::time::Instant,
) -> (Vec<String>, Vec<String>) {
    let mut woken: Vec<String> = Vec::new();
    let mut unmanaged: Vec<String> = Vec::new();
    for pushed in pushes {
        let targets = state.status.repos_using(&pushed.image);
        if let Some(name) = name {
            state
                .metrics
                .webhook_event(name, !targets.is_empty(), targets.len());
        }
        if targets.is_empty() {
            unmanaged.push(pushed.image.clone());
            continue;
        }
        state.registries.forget(&pushed.image);
        for repo in targets {
            state
                .triggers
                .pushed(&repo, arrived, &pushed.image, pushed.tag.as_deref());
            if !woken.contains(&repo) {
                woken.push(repo);
            }
        }
    }
    (woken, unmanaged)
}

/// An API error: the status and `{"error": message}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Why an API request was turned away.
pub(crate) enum Denied {
    /// No token is configured.
    Disabled,
    /// The bearer token is missing or wrong.
    Unauthorized,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Disabled => error(
                StatusCode::FORBIDDEN,
                "the API is disabled: set LAMINAR_API_TOKEN or global.apiTokenFile to enable it",
            ),
            Denied::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": "missing or wrong bearer token" })),
            )
                .into_response(),
        }
    }
}

/// A request that presented the API token. Protected handlers take one, so a route cannot be
/// written that forgets to check.
pub(crate) struct Authorized;

impl FromRequestParts<Arc<AppState>> for Authorized {
    type Rejection = Denied;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Authorized, Denied> {
        let token = state.token.as_ref().ok_or(Denied::Disabled)?;
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        match token.matches(presented.as_bytes()) {
            true => Ok(Authorized),
            false => Err(Denied::Unauthorized),
        }
    }
}

/// May this request read `/metrics`? Anyone with `metricsAuth: public`, else the API token's
/// holder.
pub(crate) struct MetricsReader;

impl FromRequestParts<Arc<AppState>> for MetricsReader {
    type Rejection = Denied;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<MetricsReader, Denied> {
        match state.config.global.metrics_auth {
            MetricsAuth::Public => Ok(MetricsReader),
            MetricsAuth::Token => Authorized::from_request_parts(parts, state)
                .await
                .map(|_| MetricsReader),
        }
    }
}
