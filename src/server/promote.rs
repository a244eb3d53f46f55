//! The API's explicit promotion: deploy requests (`/api/v1/deploy`) and holds
//! (`/api/v1/holds`). Every handler is authorised with the API token.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, Authorized, error};
use crate::deploy::{DeployRequest, check_image, checked_reason};
use crate::holds::{Hold, HoldError, HoldKind, parse_until};
use crate::image::hub::ImageKey;

/// `?wait=true` answers by then at the latest; the request carries on, and `GET` follows it.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `POST /api/v1/deploy[?wait=true]`: queues the request in every repo that references the
/// image (or in those named), and answers at once with its id — or, waiting, with the outcome.
pub(super) async fn deploy(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    _: Authorized,
    body: Bytes,
) -> Response {
    let request: DeployRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("bad request: {err}")),
    };
    let mut repos = request.repos.clone();
    let order = match request.order() {
        Ok(order) => order,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if repos.is_empty() {
        repos = state.status.repos_using(&order.image);
    }
    repos.sort();
    repos.dedup();
    if repos.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no repo references {}", order.image),
        );
    }
    for repo in &repos {
        match state.triggers.can_deploy(repo, 1) {
            None => return error(StatusCode::NOT_FOUND, format!("no repo named {repo:?}")),
            Some(false) => {
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{repo} has too many deploy requests waiting; try again later"),
                );
            }
            Some(true) => {}
        }
    }
    let deploys = state.triggers.deploys.clone();
    let queued = deploys.queued(&order, &repos);
    tracing::info!(deploy = %order.id, image = %order.image, tag = %order.tag, ?repos, "deploy requested");
    for repo in &repos {
        state.triggers.deploy(repo, order.clone());
    }
    let location = format!("/api/v1/deploy/{}", order.id);
    let wait = query_value(query.as_deref(), "wait").is_some_and(|v| v == "true" || v == "1");
    let answer = match wait {
        true => match tokio::time::timeout(WAIT_LIMIT, deploys.done(&order.id)).await {
            Ok(Some(done)) => done,
            _ => deploys.get(&order.id).unwrap_or(queued),
        },
        false => queued,
    };
    let status = match wait {
        true => StatusCode::from_u16(answer.http_status()).unwrap_or(StatusCode::BAD_GATEWAY),
        false => StatusCode::ACCEPTED,
    };
    (status, [(header::LOCATION, location)], Json(answer)).into_response()
}

/// `GET /api/v1/deploy/{id}`: a request's state, with each repo's outcome.
pub(super) async fn deploy_state(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    _: Authorized,
) -> Response {
    match state.triggers.deploys.get(&id) {
        Some(found) => Json(found).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no deploy request {id:?}")),
    }
}

/// `GET /api/v1/holds`: the holds in force.
pub(super) async fn holds(State(state): State<Arc<AppState>>, _: Authorized) -> Response {
    Json(json!({ "holds": state.holds.list() })).into_response()
}

/// A hold as `POST /api/v1/holds` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    image: String,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/holds`: stops automatic updates of an image (in one repo, until a time).
pub(super) async fn hold(
    State(state): State<Arc<AppState>>,
    _: Authorized,
    body: Bytes,
) -> Response {
    let request: HoldRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("bad request: {err}")),
    };
    let checked = check_image(&request.image)
        .and_then(|()| request.until.as_deref().map(parse_until).transpose())
        .and_then(|until| Ok((until, checked_reason(request.reason)?)));
    let (until, reason) = match checked {
        Ok(checked) => checked,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if let Some(repo) = &request.repo
        && !state.triggers.knows(repo)
    {
        return error(StatusCode::NOT_FOUND, format!("no repo named {repo:?}"));
    }
    let mut hold = Hold::new(HoldKind::Manual, &request.image);
    hold.repo = request.repo;
    hold.until = until;
    hold.reason = reason;
    if let Err(refused) = state.holds.change(std::slice::from_ref(&hold), &[]) {
        return hold_error(refused);
    }
    tracing::info!(hold = %hold.id, image = %hold.image, repo = ?hold.repo, until = ?hold.until, "hold made");
    (StatusCode::CREATED, Json(hold)).into_response()
}

/// 507 when the holds are full (`global.maxHolds`), 500 when they cannot be saved.
fn hold_error(refused: HoldError) -> Response {
    let status = match refused {
        HoldError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        HoldError::Save { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, refused.to_string())
}

/// `DELETE /api/v1/holds/{id}`: ends one hold.
pub(super) async fn release_one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    _: Authorized,
) -> Response {
    released(&state, state.holds.release(|h| h.id == id), &id)
}

/// `DELETE /api/v1/holds?image=…[&repo=…]`: ends every hold on an image (in one repo), of
/// any kind — a rollback's too.
pub(super) async fn release_image(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    _: Authorized,
) -> Response {
    let Some(image) = query_value(query.as_deref(), "image") else {
        return error(
            StatusCode::BAD_REQUEST,
            "name the hold: /holds/{id} or ?image=",
        );
    };
    let repo = query_value(query.as_deref(), "repo");
    let key = ImageKey::of(&image);
    let gone = state.holds.release(|h| {
        ImageKey::of(&h.image) == key && repo.as_ref().is_none_or(|r| h.repo.as_ref() == Some(r))
    });
    released(&state, gone, &image)
}

/// Answers a release, and wakes the repos it frees so they catch up without waiting for
/// their next poll.
fn released(state: &AppState, gone: Result<Vec<Hold>, HoldError>, named: &str) -> Response {
    let gone = match gone {
        Ok(gone) if gone.is_empty() => {
            return error(StatusCode::NOT_FOUND, format!("no hold matches {named:?}"));
        }
        Ok(gone) => gone,
        Err(refused) => return hold_error(refused),
    };
    let mut woken: Vec<String> = Vec::new();
    for hold in &gone {
        let repos = match &hold.repo {
            Some(repo) => vec![repo.clone()],
            None => state.status.repos_using(&hold.image),
        };
        for repo in repos {
            if state.triggers.nudge(&repo) && !woken.contains(&repo) {
                woken.push(repo);
            }
        }
        tracing::info!(hold = %hold.id, image = %hold.image, "hold released");
    }
    Json(json!({ "released": gone, "woken": woken })).into_response()
}
