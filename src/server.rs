//! HTTP: `/metrics`, `/healthz`, `/readyz`, and the API to trigger cycles and read status.
//! Handlers never wait for a cycle: triggers only wake the scheduler.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::Metrics;
use crate::scheduler::Triggers;
use crate::secret::Secret;
use crate::status::StatusBoard;

/// Request bodies are never needed; anything bigger than this is refused.
const MAX_BODY: usize = 4096;

pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<StatusBoard>,
    pub triggers: Arc<Triggers>,
    /// `None`: the API is disabled.
    pub token: Option<Secret>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/sync", post(sync_all))
        .route("/api/v1/sync/{repo}", post(sync_repo))
        .route("/api/v1/status", get(status))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// OpenMetrics for clients that ask for it (Prometheus does), the classic text format otherwise.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
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

async fn sync_all(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    let repos = state.triggers.trigger_all();
    (StatusCode::ACCEPTED, Json(json!({ "triggered": repos }))).into_response()
}

async fn sync_repo(
    State(state): State<Arc<AppState>>,
    Path(repo): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    if state.triggers.trigger(&repo) {
        (StatusCode::ACCEPTED, Json(json!({ "triggered": [repo] }))).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no repo named {repo:?}") })),
        )
            .into_response()
    }
}

async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    Json(json!({ "repos": state.status.snapshot() })).into_response()
}

/// Why an API request was turned away.
enum Denied {
    /// No token is configured.
    Disabled,
    /// The bearer token is missing or wrong.
    Unauthorized,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Disabled => (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "the API is disabled: set LAMINAR_API_TOKEN or global.apiTokenFile to enable it" })),
            )
                .into_response(),
            Denied::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": "missing or wrong bearer token" })),
            )
                .into_response(),
        }
    }
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Denied> {
    let token = state.token.as_ref().ok_or(Denied::Disabled)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(Denied::Unauthorized)
    }
}

/// Compares without leaking, through timing, how much of the token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
