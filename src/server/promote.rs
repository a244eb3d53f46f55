//! The API's explicit promotion: deploy requests (`/api/v1/deploy`) and holds
//! (`/api/v1/holds`). Every handler is authorised with the API token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Authorized, error, shards};
use crate::deploy::{DeployRequest, check_image, checked_reason};
use crate::holds::{Hold, HoldError, HoldKind, parse_until};
use crate::image::hub::ImageKey;
use crate::shards::FORWARDED;

/// `?wait=true` answers by then at the latest; the request carries on, and `GET` follows it.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `POST /api/v1/deploy[?wait=true]`: queues the request in every repo that references the
/// image (or in those named), and answers at once with its id — or, waiting, with the outcome.
/// With shards, each shard's part is handed to it under the same id, and the answers merged.
pub(super) async fn deploy(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    _: Authorized,
    body: Bytes,
) -> Response {
    let request: DeployRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("bad request: {err}")),
    };
    if request.id.is_some() && !headers.contains_key(FORWARDED) {
        return error(
            StatusCode::BAD_REQUEST,
            "a deploy request's id is laminar's to choose",
        );
    }
    let named = request.repos.clone();
    let order = match request.order() {
        Ok(order) => order,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let handing_on = shards::handing_on(&state, &headers);
    let Targets {
        mut here,
        elsewhere,
    } = match targets(&state, handing_on, &named, &order.image) {
        Ok(targets) => targets,
        Err(unknown) => return error(StatusCode::NOT_FOUND, format!("no repo named {unknown:?}")),
    };
    here.sort();
    here.dedup();
    for repo in &here {
        if state.triggers.can_deploy(repo, 1) == Some(false) {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{repo} has too many deploy requests waiting; try again later"),
            );
        }
    }
    let (mut parts, unreached) = match handing_on {
        Some(shards) => {
            let broadcast = named.is_empty();
            match shards::deploy_elsewhere(shards, &body, &order.id, &elsewhere, broadcast).await {
                Ok(answers) => answers,
                Err(refusal) => return shards::relay(refusal),
            }
        }
        None => (Vec::new(), Vec::new()),
    };
    if here.is_empty() && parts.is_empty() {
        return match unreached.is_empty() {
            true => error(
                StatusCode::NOT_FOUND,
                format!("no repo references {}", order.image),
            ),
            false => error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no answering shard has a repo referencing {}; {} did not answer",
                    order.image,
                    unreached.len()
                ),
            ),
        };
    }
    let deploys = state.triggers.deploys.clone();
    if !here.is_empty() {
        let queued = deploys.queued(&order, &here);
        tracing::info!(deploy = %order.id, image = %order.image, tag = %order.tag, repos = ?here, "deploy requested");
        for repo in &here {
            state.triggers.deploy(repo, order.clone());
        }
        parts.push((json!(queued), 202));
    }
    let location = format!("/api/v1/deploy/{}", order.id);
    let wait = query_value(query.as_deref(), "wait").is_some_and(|v| v == "true" || v == "1");
    if wait {
        let _ = tokio::time::timeout(WAIT_LIMIT, async {
            if !here.is_empty() {
                deploys.done(&order.id).await;
            }
            if let Some(shards) = handing_on {
                parts = shards::await_deploy(&state, shards, &order.id).await;
            }
        })
        .await;
        if handing_on.is_none() {
            let done = deploys.get(&order.id).map(|d| (json!(d), d.http_status()));
            parts = done.into_iter().collect();
        }
    }
    let Some((mut answer, status)) = shards::merge_deploys(parts) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no deploy request {:?}", order.id),
        );
    };
    if !unreached.is_empty() {
        answer["unreached"] = Value::Array(unreached);
    }
    let status = match wait {
        true => StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        false => StatusCode::ACCEPTED,
    };
    (status, [(header::LOCATION, location)], Json(answer)).into_response()
}

/// Where a deploy request goes.
struct Targets {
    /// The repos here.
    here: Vec<String>,
    /// Each other shard's repos (empty: the repos there that reference the image).
    elsewhere: BTreeMap<usize, Vec<String>>,
}

/// The named repos by their owner, else every repo here that references the image and every
/// other shard; `Err` names a repo no shard has.
fn targets(
    state: &AppState,
    handing_on: Option<&shards::ShardPeers>,
    named: &[String],
    image: &str,
) -> Result<Targets, String> {
    let mut here: Vec<String> = Vec::new();
    let mut elsewhere: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for repo in named {
        match handing_on.and_then(|s| s.sharding.owner(repo)) {
            _ if state.triggers.knows(repo) => here.push(repo.clone()),
            Some(owner) => elsewhere.entry(owner).or_default().push(repo.clone()),
            None => return Err(repo.clone()),
        }
    }
    if named.is_empty() {
        here = state.status.repos_using(image);
        if let Some(shards) = handing_on {
            elsewhere = shards
                .sharding
                .others()
                .map(|(n, _)| (n, Vec::new()))
                .collect();
        }
    }
    Ok(Targets { here, elsewhere })
}

/// `GET /api/v1/deploy/{id}`: a request's state, with each repo's outcome (every shard's).
pub(super) async fn deploy_state(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    _: Authorized,
) -> Response {
    let parts = match shards::handing_on(&state, &headers) {
        Some(shards) => shards::deploy_parts(&state, shards, &id).await,
        None => state
            .triggers
            .deploys
            .get(&id)
            .map(|d| (json!(d), d.http_status()))
            .into_iter()
            .collect(),
    };
    match shards::merge_deploys(parts) {
        Some((mut found, status)) => {
            found["httpStatus"] = json!(status);
            Json(found).into_response()
        }
        None => error(StatusCode::NOT_FOUND, format!("no deploy request {id:?}")),
    }
}

/// `GET /api/v1/holds`: the holds in force (every shard's).
pub(super) async fn holds(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    _: Authorized,
) -> Response {
    let mut holds = json!(state.holds.list());
    if let Some(shards) = shards::handing_on(&state, &headers) {
        let reached = shards::to_others(shards, Method::GET, "/api/v1/holds", None).await;
        for body in reached.iter().filter_map(|r| r.body_if(|s| s == 200)) {
            shards::union_by_id(&mut holds, &body["holds"]);
        }
    }
    Json(json!({ "holds": holds })).into_response()
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
    /// The id the shard that took the request gave the hold, when it hands it on.
    #[serde(default)]
    id: Option<String>,
}

/// `POST /api/v1/holds`: stops automatic updates of an image (in one repo, until a time).
/// With shards, a hold on one repo is made by the shard that owns it; a hold on an image in
/// every repo by every shard, under one id — and is answered 503, naming the shards that did
/// not answer, unless every shard has it.
pub(super) async fn hold(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
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
    let handing_on = shards::handing_on(&state, &headers);
    if request.id.is_some() && !headers.contains_key(FORWARDED) {
        return error(
            StatusCode::BAD_REQUEST,
            "a hold's id is laminar's to choose",
        );
    }
    if let Some(repo) = &request.repo
        && !state.triggers.knows(repo)
    {
        let owner = match handing_on {
            Some(shards) => {
                shards::to_owner(
                    shards,
                    repo,
                    Method::POST,
                    "/api/v1/holds",
                    serde_json::from_slice(&body).ok().as_ref(),
                )
                .await
            }
            None => None,
        };
        return owner
            .unwrap_or_else(|| error(StatusCode::NOT_FOUND, format!("no repo named {repo:?}")));
    }
    let mut hold = Hold::new(HoldKind::Manual, &request.image);
    if let Some(id) = request
        .id
        .filter(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        hold.id = id;
    }
    hold.repo = request.repo;
    hold.until = until;
    hold.reason = reason;
    if let Err(refused) = state.holds.change(std::slice::from_ref(&hold), &[]) {
        return hold_error(refused);
    }
    tracing::info!(hold = %hold.id, image = %hold.image, repo = ?hold.repo, until = ?hold.until, "hold made");
    if let Some(shards) = handing_on.filter(|_| hold.repo.is_none()) {
        let mut forwarded: Value = serde_json::from_slice(&body).unwrap_or_default();
        forwarded["id"] = json!(hold.id);
        let reached =
            shards::to_others(shards, Method::POST, "/api/v1/holds", Some(&forwarded)).await;
        let missing: Vec<Value> = reached
            .iter()
            .filter(|r| r.body_if(|s| s == 201).is_none())
            .map(|r| json!({ "shard": r.shard, "url": r.url, "error": r.answer.as_ref().map(|a| a.body.clone()).unwrap_or_else(|e| json!(e)) }))
            .collect();
        if !missing.is_empty() {
            let answer = json!({
                "error": "the hold is not on every shard yet: ask again (a repeat makes it on the shards that lack it)",
                "hold": hold,
                "missing": missing,
            });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response();
        }
    }
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

/// `DELETE /api/v1/holds/{id}`: ends one hold (on every shard).
pub(super) async fn release_one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    _: Authorized,
) -> Response {
    let path = format!("/api/v1/holds/{id}");
    let here = released(&state, state.holds.release(|h| h.id == id), &id);
    shards::release_everywhere(&state, &headers, &path, here).await
}

/// `DELETE /api/v1/holds?image=…[&repo=…]`: ends every hold on an image (in one repo), of
/// any kind — a rollback's too.
pub(super) async fn release_image(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
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
    let here = released(&state, gone, &image);
    let path = format!("/api/v1/holds?{}", query.unwrap_or_default());
    shards::release_everywhere(&state, &headers, &path, here).await
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
