//! Scripted forges for the pull-request tests. No GitHub, GitLab or Gitea runs here, so each
//! fake answers as the provider's REST API reference documents it — paths, bodies, status
//! codes and answer fields (GitHub "REST API endpoints for pull requests / issues / labels /
//! assignees / review requests", "Authenticating as a GitHub App installation", GraphQL
//! `enablePullRequestAutoMerge`; GitLab "Merge requests API", "Notes API", "Users API"; Gitea
//! API v1 swagger: `repoListPullRequests`, `repoCreatePullRequest`, `repoEditPullRequest`,
//! `repoMergePullRequest`, `issueCreateComment`, `issueListLabels`). The fake keeps the pull
//! requests it was asked for, so a test reads the calls laminar made, in order, and what they
//! left behind.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[derive(Clone, Debug, Default)]
pub(crate) struct FakePull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub open: bool,
    pub merged: bool,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub comments: Vec<String>,
    pub auto_merge: bool,
}

#[derive(Default)]
pub(crate) struct ForgeState {
    pub pulls: Vec<FakePull>,
    /// `METHOD /path` of every call, in order.
    pub calls: Vec<String>,
    /// Installation tokens handed out (GitHub App).
    pub tokens_issued: u32,
    /// The token API calls must carry.
    pub token: String,
    /// When the installation tokens handed out end (GitHub answers an hour ahead).
    pub token_expires_at: Option<String>,
    /// Commit checks by commit: (kind, name, state), kind `status` or `run` (GitHub's check
    /// runs; GitLab's pipeline), state `success`, `pending` or `failure`.
    pub checks: std::collections::HashMap<String, Vec<(String, String, String)>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Github,
    Gitlab,
    Gitea,
}

pub(crate) struct FakeForge {
    pub server: MockServer,
    pub state: Arc<Mutex<ForgeState>>,
}

impl FakeForge {
    pub(crate) async fn start(kind: Kind, token: &str) -> FakeForge {
        FakeForge::start_with(kind, token, None).await
    }

    /// A GitHub that hands out installation tokens to JWTs this public key verifies.
    pub(crate) async fn github_app(app_public_pem: &[u8]) -> FakeForge {
        FakeForge::start_with(Kind::Github, "none yet", Some(app_public_pem.to_vec())).await
    }

    async fn start_with(kind: Kind, token: &str, app_key: Option<Vec<u8>>) -> FakeForge {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(ForgeState {
            token: token.to_string(),
            ..ForgeState::default()
        }));
        let shared = state.clone();
        let base = server.uri();
        Mock::given(any())
            .respond_with(move |request: &Request| {
                let mut state = shared.lock().unwrap();
                let path = request.url.path().to_string();
                state.calls.push(format!("{} {path}", request.method));
                match kind {
                    Kind::Github => github(request, &mut state, &base, app_key.as_deref()),
                    Kind::Gitlab => gitlab(request, &mut state, &base),
                    Kind::Gitea => gitea(request, &mut state, &base),
                }
            })
            .mount(&server)
            .await;
        FakeForge { server, state }
    }

    pub(crate) fn uri(&self) -> String {
        self.server.uri()
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub(crate) fn forget_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub(crate) fn pulls(&self) -> Vec<FakePull> {
        self.state.lock().unwrap().pulls.clone()
    }

    /// A CI system reports on `sha`: `kind` is `status`, or `run` (a GitHub check run, a
    /// GitLab pipeline); `state` is `success`, `pending` or `failure`.
    pub(crate) fn report(&self, sha: &str, kind: &str, name: &str, state: &str) {
        let mut forge = self.state.lock().unwrap();
        let checks = forge.checks.entry(sha.to_string()).or_default();
        checks.push((kind.into(), name.into(), state.into()));
    }

    /// Someone closes (or merges) a pull request on the forge.
    pub(crate) fn close(&self, number: u64, merged: bool) {
        let mut state = self.state.lock().unwrap();
        let pull = state.pulls.iter_mut().find(|p| p.number == number).unwrap();
        pull.open = false;
        pull.merged = merged;
    }
}

/// The (name, state) reports of one kind on `sha`, oldest first.
fn checks_of(state: &ForgeState, sha: &str, kind: &str) -> Vec<(String, String)> {
    let reported = state.checks.get(sha).cloned().unwrap_or_default();
    reported
        .into_iter()
        .filter(|(k, _, _)| k == kind)
        .map(|(_, name, s)| (name, s))
        .collect()
}

fn gitlab_state(state: &str) -> &'static str {
    match state {
        "success" => "success",
        "pending" => "running",
        _ => "failed",
    }
}

fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn number(segment: Option<&str>) -> u64 {
    segment.and_then(|s| s.parse().ok()).unwrap_or(0)
}

const CREATED_AT: &str = "2026-11-20T10:00:00Z";

fn github_pull(base: &str, pull: &FakePull) -> Value {
    json!({
        "url": format!("{base}/repos/acme/manifests/pulls/{}", pull.number),
        "id": 1000 + pull.number,
        "node_id": format!("PR_kw{}", pull.number),
        "html_url": format!("https://github.com/acme/manifests/pull/{}", pull.number),
        "number": pull.number,
        "state": if pull.open { "open" } else { "closed" },
        "title": pull.title,
        "body": pull.body,
        "created_at": CREATED_AT,
        "merged": pull.merged,
        "merged_at": if pull.merged { Value::from(CREATED_AT) } else { Value::Null },
        "draft": false,
        "head": {"ref": pull.head, "label": format!("acme:{}", pull.head)},
        "base": {"ref": pull.base},
    })
}

fn github(
    request: &Request,
    state: &mut ForgeState,
    base: &str,
    app_key: Option<&[u8]>,
) -> ResponseTemplate {
    let method = request.method.as_str();
    let path = request.url.path();
    let auth = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Some(installation) = path
        .strip_prefix("/app/installations/")
        .and_then(|rest| rest.strip_suffix("/access_tokens"))
    {
        let jwt = auth.strip_prefix("Bearer ").unwrap_or_default();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(app_key.unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.set_issuer(&["12345"]);
        if installation != "678" || jsonwebtoken::decode::<Value>(jwt, &key, &validation).is_err() {
            return ResponseTemplate::new(401).set_body_json(json!({
                "message": "A JSON web token could not be decoded",
                "documentation_url": "https://docs.github.com/rest",
            }));
        }
        state.tokens_issued += 1;
        state.token = format!("ghs_installation{}", state.tokens_issued);
        return ResponseTemplate::new(201).set_body_json(json!({
            "token": state.token,
            "expires_at": state.token_expires_at.clone().unwrap_or_else(|| "2099-01-01T00:00:00Z".into()),
            "permissions": {"pull_requests": "write", "contents": "write"},
        }));
    }
    if auth != format!("Bearer {}", state.token)
        || request.headers.get("accept").and_then(|v| v.to_str().ok())
            != Some("application/vnd.github+json")
    {
        return ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
        }));
    }
    if path == "/graphql" {
        let id = body(request)["variables"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let number = number(id.strip_prefix("PR_kw"));
        return match state.pulls.iter_mut().find(|p| p.number == number) {
            Some(pull) => {
                pull.auto_merge = true;
                ResponseTemplate::new(200).set_body_json(json!({
                    "data": {"enablePullRequestAutoMerge": {"clientMutationId": null}}
                }))
            }
            None => ResponseTemplate::new(200).set_body_json(json!({
                "data": null,
                "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node"}],
            })),
        };
    }
    let Some(rest) = path.strip_prefix("/repos/acme/manifests/") else {
        return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let input = body(request);
    match (method, parts.as_slice()) {
        // "REST API endpoints for commit statuses": the combined status, newest per context.
        ("GET", ["commits", sha, "status"]) => {
            let statuses: Vec<Value> = checks_of(state, sha, "status")
                .iter()
                .rev()
                .map(|(name, s)| json!({"context": name, "state": s, "description": null}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "state": "pending", "sha": sha, "total_count": statuses.len(), "statuses": statuses,
            }))
        }
        // "REST API endpoints for check runs": `status` and, once completed, `conclusion`.
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = checks_of(state, sha, "run")
                .iter()
                .rev()
                .map(|(name, s)| match s.as_str() {
                    "pending" => json!({"name": name, "status": "in_progress", "conclusion": null}),
                    done => json!({"name": name, "status": "completed", "conclusion": done}),
                })
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("GET", ["pulls"]) => {
            let head = query(request, "head").unwrap_or_default();
            let wanted_base = query(request, "base");
            let open: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| p.open && format!("acme:{}", p.head) == head)
                .filter(|p| wanted_base.as_ref().is_none_or(|b| &p.base == b))
                .map(|p| github_pull(base, p))
                .collect();
            ResponseTemplate::new(200).set_body_json(Value::Array(open))
        }
        ("POST", ["pulls"]) => {
            let head = input["head"].as_str().unwrap_or_default().to_string();
            if state.pulls.iter().any(|p| p.open && p.head == head) {
                return ResponseTemplate::new(422).set_body_json(json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "code": "custom",
                        "message": format!("A pull request already exists for acme:{head}.")}],
                }));
            }
            let pull = FakePull {
                number: state.pulls.len() as u64 + 1,
                head,
                base: input["base"].as_str().unwrap_or_default().to_string(),
                title: input["title"].as_str().unwrap_or_default().to_string(),
                body: input["body"].as_str().unwrap_or_default().to_string(),
                open: true,
                ..FakePull::default()
            };
            let answer = github_pull(base, &pull);
            state.pulls.push(pull);
            ResponseTemplate::new(201).set_body_json(answer)
        }
        (method, ["pulls", n]) => {
            let Some(pull) = state.pulls.iter_mut().find(|p| p.number == number(Some(n))) else {
                return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
            };
            if method == "PATCH" {
                if let Some(title) = input["title"].as_str() {
                    pull.title = title.to_string();
                }
                if let Some(text) = input["body"].as_str() {
                    pull.body = text.to_string();
                }
                if input["state"] == "closed" {
                    pull.open = false;
                }
            }
            ResponseTemplate::new(200).set_body_json(github_pull(base, pull))
        }
        ("POST", ["pulls", n, "requested_reviewers"]) => {
            let pull = state
                .pulls
                .iter_mut()
                .find(|p| p.number == number(Some(n)))
                .unwrap();
            pull.reviewers.extend(strings(&input["reviewers"]));
            pull.reviewers.extend(
                strings(&input["team_reviewers"])
                    .iter()
                    .map(|t| format!("team:{t}")),
            );
            ResponseTemplate::new(201).set_body_json(github_pull(base, pull))
        }
        ("POST", ["issues", n, what]) => {
            let Some(pull) = state.pulls.iter_mut().find(|p| p.number == number(Some(n))) else {
                return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
            };
            match *what {
                "labels" => pull.labels.extend(strings(&input["labels"])),
                "assignees" => pull.assignees.extend(strings(&input["assignees"])),
                "comments" => pull
                    .comments
                    .push(input["body"].as_str().unwrap_or_default().into()),
                _ => return ResponseTemplate::new(404),
            }
            ResponseTemplate::new(if *what == "labels" { 200 } else { 201 })
                .set_body_json(json!({}))
        }
        _ => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
    }
}

fn gitlab_request(base: &str, pull: &FakePull) -> Value {
    json!({
        "id": 5000 + pull.number,
        "iid": pull.number,
        "project_id": 3,
        "title": pull.title,
        "description": pull.body,
        "state": if pull.merged { "merged" } else if pull.open { "opened" } else { "closed" },
        "created_at": CREATED_AT,
        "source_branch": pull.head,
        "target_branch": pull.base,
        "web_url": format!("{base}/group/sub/deploy/-/merge_requests/{}", pull.number),
        "labels": pull.labels,
    })
}

fn gitlab(request: &Request, state: &mut ForgeState, base: &str) -> ResponseTemplate {
    if request
        .headers
        .get("private-token")
        .and_then(|v| v.to_str().ok())
        != Some(state.token.as_str())
    {
        return ResponseTemplate::new(401).set_body_json(json!({"message": "401 Unauthorized"}));
    }
    let path = request.url.path();
    let input = body(request);
    if path == "/api/v4/users" {
        let known = [("alice", 11), ("bob", 12)];
        let name = query(request, "username").unwrap_or_default();
        let users: Vec<Value> = known
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(n, id)| json!({"id": id, "username": n, "state": "active"}))
            .collect();
        return ResponseTemplate::new(200).set_body_json(Value::Array(users));
    }
    let project = "/api/v4/projects/group%2Fsub%2Fdeploy";
    // "Commits API: list the statuses of a commit" and "Pipelines API: list project pipelines".
    if let Some(sha) = path
        .strip_prefix(&format!("{project}/repository/commits/"))
        .and_then(|rest| rest.strip_suffix("/statuses"))
    {
        let statuses: Vec<Value> = checks_of(state, sha, "status")
            .iter()
            .enumerate()
            .map(|(id, (name, s))| json!({"id": id + 1, "sha": sha, "name": name, "status": gitlab_state(s)}))
            .collect();
        return ResponseTemplate::new(200).set_body_json(Value::Array(statuses));
    }
    if path == format!("{project}/pipelines") {
        let sha = query(request, "sha").unwrap_or_default();
        let pipelines: Vec<Value> = checks_of(state, &sha, "run")
            .iter()
            .enumerate()
            .map(|(id, (_, s))| json!({"id": id + 1, "sha": sha, "ref": "main", "status": gitlab_state(s)}))
            .collect();
        return ResponseTemplate::new(200).set_body_json(Value::Array(pipelines));
    }
    let Some(rest) = path.strip_prefix("/api/v4/projects/group%2Fsub%2Fdeploy/merge_requests")
    else {
        return ResponseTemplate::new(404)
            .set_body_json(json!({"message": "404 Project Not Found"}));
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", []) => {
            let source = query(request, "source_branch");
            let target = query(request, "target_branch");
            let found: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| {
                    p.open && Some(&p.head) == source.as_ref() && Some(&p.base) == target.as_ref()
                })
                .map(|p| gitlab_request(base, p))
                .collect();
            ResponseTemplate::new(200).set_body_json(Value::Array(found))
        }
        ("POST", []) => {
            let head = input["source_branch"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(existing) = state.pulls.iter().find(|p| p.open && p.head == head) {
                return ResponseTemplate::new(409).set_body_json(json!({
                    "message": [format!("Another open merge request already exists for this source branch: !{}", existing.number)]
                }));
            }
            let ids = |key: &str| -> Vec<String> {
                input[key]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.to_string()).collect())
                    .unwrap_or_default()
            };
            let pull = FakePull {
                number: state.pulls.len() as u64 + 1,
                head,
                base: input["target_branch"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                title: input["title"].as_str().unwrap_or_default().to_string(),
                body: input["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                open: true,
                labels: input["labels"]
                    .as_str()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
                assignees: ids("assignee_ids"),
                reviewers: ids("reviewer_ids"),
                ..FakePull::default()
            };
            let answer = gitlab_request(base, &pull);
            state.pulls.push(pull);
            ResponseTemplate::new(201).set_body_json(answer)
        }
        (method, [iid, rest @ ..]) => {
            let Some(pull) = state
                .pulls
                .iter_mut()
                .find(|p| p.number == number(Some(iid)))
            else {
                return ResponseTemplate::new(404)
                    .set_body_json(json!({"message": "404 Not found"}));
            };
            match (method, rest) {
                ("GET", []) => {}
                ("PUT", []) => {
                    if let Some(title) = input["title"].as_str() {
                        pull.title = title.to_string();
                    }
                    if let Some(text) = input["description"].as_str() {
                        pull.body = text.to_string();
                    }
                    if input["state_event"] == "close" {
                        pull.open = false;
                    }
                }
                ("PUT", ["merge"]) => {
                    pull.auto_merge = input["auto_merge"] == true
                        || input["merge_when_pipeline_succeeds"] == true;
                }
                ("POST", ["notes"]) => {
                    pull.comments
                        .push(input["body"].as_str().unwrap_or_default().into());
                    return ResponseTemplate::new(201)
                        .set_body_json(json!({"id": 1, "body": input["body"]}));
                }
                _ => return ResponseTemplate::new(404),
            }
            ResponseTemplate::new(200).set_body_json(gitlab_request(base, pull))
        }
        _ => ResponseTemplate::new(404),
    }
}

fn gitea_pull(base: &str, pull: &FakePull) -> Value {
    json!({
        "id": 7000 + pull.number,
        "number": pull.number,
        "url": format!("{base}/ops/manifests/pulls/{}", pull.number),
        "html_url": format!("{base}/ops/manifests/pulls/{}", pull.number),
        "state": if pull.open { "open" } else { "closed" },
        "merged": pull.merged,
        "title": pull.title,
        "body": pull.body,
        "created_at": CREATED_AT,
        "head": {"ref": pull.head, "label": pull.head},
        "base": {"ref": pull.base, "label": pull.base},
    })
}

fn gitea(request: &Request, state: &mut ForgeState, base: &str) -> ResponseTemplate {
    if request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(format!("token {}", state.token).as_str())
    {
        return ResponseTemplate::new(401)
            .set_body_json(json!({"message": "token is required", "url": base}));
    }
    let Some(rest) = request
        .url
        .path()
        .strip_prefix("/api/v1/repos/ops/manifests/")
    else {
        return ResponseTemplate::new(404)
            .set_body_json(json!({"message": "The target couldn't be found."}));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let input = body(request);
    match (request.method.as_str(), parts.as_slice()) {
        // swagger `repoListStatusesByRef`: every status ever set, each with its id.
        ("GET", ["commits", sha, "statuses"]) => {
            let statuses: Vec<Value> = checks_of(state, sha, "status")
                .iter()
                .enumerate()
                .map(|(id, (name, s))| json!({"id": id + 1, "context": name, "status": s}))
                .collect();
            ResponseTemplate::new(200).set_body_json(Value::Array(statuses))
        }
        ("GET", ["labels"]) => ResponseTemplate::new(200).set_body_json(json!([
            {"id": 7, "name": "dependencies", "color": "00aabb"},
            {"id": 9, "name": "bug", "color": "ee0701"},
        ])),
        ("GET", ["pulls"]) => {
            let limit: usize = query(request, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(30);
            let page: usize = query(request, "page")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1);
            let open: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| p.open)
                .skip((page - 1) * limit)
                .take(limit)
                .map(|p| gitea_pull(base, p))
                .collect();
            ResponseTemplate::new(200).set_body_json(Value::Array(open))
        }
        ("POST", ["pulls"]) => {
            let head = input["head"].as_str().unwrap_or_default().to_string();
            let target = input["base"].as_str().unwrap_or_default().to_string();
            if state
                .pulls
                .iter()
                .any(|p| p.open && p.head == head && p.base == target)
            {
                return ResponseTemplate::new(409).set_body_json(
                    json!({"message": "pull request already exists for these targets"}),
                );
            }
            let labels = input["labels"]
                .as_array()
                .map(|a| a.iter().map(|v| v.to_string()).collect())
                .unwrap_or_default();
            let pull = FakePull {
                number: state.pulls.len() as u64 + 1,
                head,
                base: target,
                title: input["title"].as_str().unwrap_or_default().to_string(),
                body: input["body"].as_str().unwrap_or_default().to_string(),
                open: true,
                labels,
                assignees: strings(&input["assignees"]),
                ..FakePull::default()
            };
            let answer = gitea_pull(base, &pull);
            state.pulls.push(pull);
            ResponseTemplate::new(201).set_body_json(answer)
        }
        (method, ["pulls", n, rest @ ..]) => {
            let Some(pull) = state.pulls.iter_mut().find(|p| p.number == number(Some(n))) else {
                return ResponseTemplate::new(404)
                    .set_body_json(json!({"message": "The target couldn't be found."}));
            };
            match (method, rest) {
                ("GET", []) => ResponseTemplate::new(200).set_body_json(gitea_pull(base, pull)),
                ("PATCH", []) => {
                    if let Some(title) = input["title"].as_str() {
                        pull.title = title.to_string();
                    }
                    if let Some(text) = input["body"].as_str() {
                        pull.body = text.to_string();
                    }
                    if input["state"] == "closed" {
                        pull.open = false;
                    }
                    ResponseTemplate::new(201).set_body_json(gitea_pull(base, pull))
                }
                ("POST", ["requested_reviewers"]) => {
                    pull.reviewers.extend(strings(&input["reviewers"]));
                    ResponseTemplate::new(201).set_body_json(json!([]))
                }
                ("POST", ["merge"]) => {
                    pull.auto_merge =
                        input["Do"] == "merge" && input["merge_when_checks_succeed"] == true;
                    ResponseTemplate::new(200)
                }
                _ => ResponseTemplate::new(404),
            }
        }
        ("POST", ["issues", n, "comments"]) => {
            let Some(pull) = state.pulls.iter_mut().find(|p| p.number == number(Some(n))) else {
                return ResponseTemplate::new(404);
            };
            pull.comments
                .push(input["body"].as_str().unwrap_or_default().into());
            ResponseTemplate::new(201).set_body_json(json!({"id": 1, "body": input["body"]}))
        }
        _ => ResponseTemplate::new(404)
            .set_body_json(json!({"message": "The target couldn't be found."})),
    }
}
