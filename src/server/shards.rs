//! Any pod answers: requests for repos other shards own are handed to them over the headless
//! Service, with the API token; answers are merged. A request another shard handed on
//! (marked with [`FORWARDED`]) is answered from this shard alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};

use super::AppState;
use crate::shards::{FORWARDED, PeerAnswer, Peers, Sharding};
use crate::status::RepoStatus;

/// This pod's place among the shards, and the client to the others.
pub(crate) struct ShardPeers {
    pub sharding: Sharding,
    pub peers: Peers,
    /// Every repo of the config, this shard's or not: name and branch, for the status page.
    pub repos: Vec<(String, String)>,
}

/// What the other shards report of their repos, for the status page.
#[derive(Default)]
pub(super) struct Elsewhere {
    /// Every other shard's repo: its branch, its status (when its shard answered), and the
    /// shard that owns it.
    pub repos: Vec<(String, String, Option<RepoStatus>, usize)>,
    /// The shards that did not answer.
    pub unreached: Vec<usize>,
}

/// The other shards' repos as their statuses say.
pub(super) async fn elsewhere(shards: &ShardPeers) -> Elsewhere {
    let reached = to_others(shards, Method::GET, "/api/v1/status", None).await;
    let mut statuses: BTreeMap<String, RepoStatus> = BTreeMap::new();
    let mut unreached = Vec::new();
    for r in &reached {
        match r.body_if(|s| s == 200).and_then(|b| b["repos"].as_object()) {
            Some(repos) => statuses.extend(repos.iter().filter_map(|(name, status)| {
                Some((name.clone(), serde_json::from_value(status.clone()).ok()?))
            })),
            None => unreached.push(r.shard),
        }
    }
    let repos = shards
        .repos
        .iter()
        .filter_map(|(name, branch)| {
            let owner = shards
                .sharding
                .owner(name)
                .filter(|o| *o != shards.sharding.me)?;
            Some((name.clone(), branch.clone(), statuses.remove(name), owner))
        })
        .collect();
    Elsewhere { repos, unreached }
}

/// The shards to hand a request on to: none when there are no shards, or when the request
/// was itself handed on.
pub(super) fn handing_on<'a>(state: &'a AppState, headers: &HeaderMap) -> Option<&'a ShardPeers> {
    state
        .shards
        .as_deref()
        .filter(|_| !headers.contains_key(FORWARDED))
}

/// One shard's answer, or why there was none.
pub(super) struct Reached {
    pub shard: usize,
    pub url: String,
    pub answer: Result<PeerAnswer, String>,
}

impl Reached {
    /// `{shard, url, error}` for a shard that did not answer.
    pub(super) fn unreached(&self) -> Option<Value> {
        let error = self.answer.as_ref().err()?;
        Some(json!({ "shard": self.shard, "url": self.url, "error": error }))
    }

    /// The answer's body when the shard answered with `ok`.
    pub(super) fn body_if(&self, ok: impl Fn(u16) -> bool) -> Option<&Value> {
        self.answer
            .as_ref()
            .ok()
            .filter(|a| ok(a.status))
            .map(|a| &a.body)
    }
}

/// Sends the request to every other shard at once.
pub(super) async fn to_others(
    shards: &ShardPeers,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Vec<Reached> {
    let sends = shards.sharding.others().map(|(shard, url)| {
        let method = method.clone();
        async move {
            let answer = shards.peers.send(method, url, path, body).await;
            if let Err(err) = &answer {
                tracing::warn!(shard, %url, error = %err, "a shard did not answer");
            }
            Reached {
                shard,
                url: url.to_string(),
                answer,
            }
        }
    });
    futures::future::join_all(sends).await
}

/// Hands the request to the shard that owns `repo` and relays its answer; 503 when it does
/// not answer.
pub(super) async fn to_owner(
    shards: &ShardPeers,
    repo: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Option<Response> {
    let owner = shards.sharding.owner(repo)?;
    let url = &shards.sharding.peers[owner];
    Some(match shards.peers.send(method, url, path, body).await {
        Ok(answer) => relay(answer),
        Err(err) => super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{repo} is on shard {owner} ({url}), which did not answer: {err}"),
        ),
    })
}

/// A peer's answer, passed on as it came.
pub(super) fn relay(answer: PeerAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, Json(answer.body)).into_response()
}

/// The strings of `key` in each answering shard's body, added to `into`.
pub(super) fn gather(reached: &[Reached], key: &str, into: &mut Vec<String>) {
    for body in reached.iter().filter_map(|r| r.body_if(|s| s < 300)) {
        let items = body
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        into.extend(items.filter_map(Value::as_str).map(str::to_string));
    }
}

/// Adds the other shards' statuses to this one's `answer`: their repos and holds, whether
/// every shard is idle; the repos of a shard that did not answer are listed as unserved, not
/// left out.
pub(super) fn merge_status(shards: &ShardPeers, answer: &mut Value, reached: &[Reached]) {
    for body in reached.iter().filter_map(|r| r.body_if(|s| s == 200)) {
        if let (Some(mine), Some(theirs)) =
            (answer["repos"].as_object_mut(), body["repos"].as_object())
        {
            mine.extend(theirs.clone());
        }
        union_by_id(&mut answer["holds"], &body["holds"]);
        let idle =
            answer["idle"].as_bool().unwrap_or(true) && body["idle"].as_bool().unwrap_or(true);
        answer["idle"] = json!(idle);
    }
    for r in reached.iter().filter(|r| r.body_if(|s| s == 200).is_none()) {
        for repo in shards.sharding.repos_of(r.shard) {
            answer["repos"][repo] = json!({ "unserved": true, "shard": r.shard });
        }
    }
}

/// What the status says of the shards: each one's ordinal, URL, whether it answered and how
/// many repos it reported.
pub(super) fn shard_rows(state: &Arc<AppState>, shards: &ShardPeers, reached: &[Reached]) -> Value {
    let mut rows = vec![json!({
        "shard": shards.sharding.me,
        "url": shards.sharding.peers[shards.sharding.me],
        "answered": true,
        "repos": state.status.snapshot().len(),
    })];
    for r in reached {
        let repos = r
            .body_if(|s| s == 200)
            .and_then(|b| b.get("repos"))
            .and_then(Value::as_object)
            .map(|m| m.len());
        rows.push(json!({
            "shard": r.shard,
            "url": r.url,
            "answered": repos.is_some(),
            "repos": repos,
            "error": r.answer.as_ref().err(),
        }));
    }
    rows.sort_by_key(|row| row["shard"].as_u64());
    Value::Array(rows)
}

/// This shard's part of deploy request `id` and every other's that answers: each state with
/// the HTTP status it stands for.
pub(super) async fn deploy_parts(
    state: &AppState,
    shards: &ShardPeers,
    id: &str,
) -> Vec<(Value, u16)> {
    let mut parts: Vec<(Value, u16)> = state
        .triggers
        .deploys
        .get(id)
        .map(|d| (json!(d), d.http_status()))
        .into_iter()
        .collect();
    let path = format!("/api/v1/deploy/{id}");
    for reached in to_others(shards, Method::GET, &path, None).await {
        if let Some(body) = reached.body_if(|s| s == 200) {
            let status = body["httpStatus"].as_u64().unwrap_or(502) as u16;
            parts.push((body.clone(), status));
        }
    }
    parts
}

/// Polls every shard's part of deploy request `id` until each is done.
pub(super) async fn await_deploy(
    state: &AppState,
    shards: &ShardPeers,
    id: &str,
) -> Vec<(Value, u16)> {
    loop {
        let parts = deploy_parts(state, shards, id).await;
        if parts.iter().all(|(part, _)| part["state"] == "done") {
            return parts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The shards' parts of one deploy request as one: every repo's outcome; `done` once every
/// part is, else `running` if one runs, else `queued`; the HTTP status the most telling of
/// theirs (a failure, then waiting, then a commit, then a refusal, then nothing to do).
pub(super) fn merge_deploys(parts: Vec<(Value, u16)>) -> Option<(Value, u16)> {
    let statuses: Vec<u16> = parts.iter().map(|(_, s)| *s).collect();
    let mut parts = parts.into_iter().map(|(part, _)| part);
    let mut merged = parts.next()?;
    let mut states = vec![merged["state"].as_str().unwrap_or("queued").to_string()];
    for part in parts {
        if let (Some(mine), Some(theirs)) =
            (merged["repos"].as_object_mut(), part["repos"].as_object())
        {
            mine.extend(theirs.clone());
        }
        states.push(part["state"].as_str().unwrap_or("queued").to_string());
    }
    let state = ["running", "queued"]
        .into_iter()
        .find(|s| states.iter().any(|t| t == s))
        .unwrap_or("done");
    merged["state"] = json!(state);
    let first = |wanted: &[u16]| wanted.iter().copied().find(|w| statuses.contains(w));
    let status = first(&[502, 202, 200, 422])
        .or_else(|| statuses.iter().copied().find(|s| *s != 409))
        .unwrap_or(409);
    Some((merged, status))
}

/// Adds the holds of `theirs` that `mine` (a JSON list) lacks, by id.
pub(super) fn union_by_id(mine: &mut Value, theirs: &Value) {
    let Some(list) = mine.as_array_mut() else {
        return;
    };
    for hold in theirs.as_array().into_iter().flatten() {
        if !list.iter().any(|known| known["id"] == hold["id"]) {
            list.push(hold.clone());
        }
    }
}

/// A release answered here (`here`), handed on to every other shard; the holds each ended
/// are merged. 503 while a shard does not answer (it may still hold), else refused only when
/// no shard ended one.
pub(super) async fn release_everywhere(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    here: Response,
) -> Response {
    let Some(shards) = handing_on(state, headers) else {
        return here;
    };
    let status = here.status();
    let bytes = axum::body::to_bytes(here.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mine: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let reached = to_others(shards, Method::DELETE, path, None).await;
    let answered: Vec<&Value> = reached
        .iter()
        .filter_map(|r| r.body_if(|s| s == 200))
        .collect();
    let unreached: Vec<Value> = reached.iter().filter_map(Reached::unreached).collect();
    let ended_here = status.is_success();
    let mut answer = match (status.is_success(), answered.is_empty()) {
        (false, true) => mine,
        (true, _) => mine,
        (false, false) => json!({ "released": [], "woken": [] }),
    };
    for body in &answered {
        union_by_id(&mut answer["released"], &body["released"]);
        if let (Some(woken), Some(more)) =
            (answer["woken"].as_array_mut(), body["woken"].as_array())
        {
            woken.extend(more.iter().cloned());
        }
    }
    // A shard that did not answer may still hold: the caller must know, and ask again.
    let status = match (unreached.is_empty(), ended_here || !answered.is_empty()) {
        (false, _) => StatusCode::SERVICE_UNAVAILABLE,
        (true, true) => StatusCode::OK,
        (true, false) => status,
    };
    if !unreached.is_empty() {
        answer["error"] = json!("not every shard answered: ask again to end the hold there too");
        answer["unreached"] = Value::Array(unreached);
    }
    (status, Json(answer)).into_response()
}

/// Hands each other shard its part of deploy request `id` (`body` as it came, with the id
/// and that shard's repos): the parts queued, and the shards that did not answer. A shard
/// with no repo using the image answers 404, which only a request naming its repos
/// (`broadcast` false) passes on; `Err` is a shard's refusal, to pass on.
pub(super) async fn deploy_elsewhere(
    shards: &ShardPeers,
    body: &[u8],
    id: &str,
    elsewhere: &BTreeMap<usize, Vec<String>>,
    broadcast: bool,
) -> Result<(Vec<(Value, u16)>, Vec<Value>), PeerAnswer> {
    let mut forwarded: Value = serde_json::from_slice(body).unwrap_or_default();
    forwarded["id"] = json!(id);
    let sends = elsewhere.iter().map(|(shard, repos)| {
        let mut body = forwarded.clone();
        body["repos"] = json!(repos);
        let url = shards.sharding.peers[*shard].clone();
        async move {
            let answer = shards
                .peers
                .send(Method::POST, &url, "/api/v1/deploy", Some(&body))
                .await;
            (*shard, url, answer)
        }
    });
    let mut parts = Vec::new();
    let mut unreached = Vec::new();
    for (shard, url, answer) in futures::future::join_all(sends).await {
        match answer {
            Ok(a) if a.status < 300 => parts.push((a.body, a.status)),
            Ok(a) if a.status == 404 && broadcast => {}
            Ok(a) => return Err(a),
            Err(err) => unreached.push(json!({ "shard": shard, "url": url, "error": err })),
        }
    }
    Ok((parts, unreached))
}
