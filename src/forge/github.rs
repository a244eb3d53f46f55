//! GitHub's REST API (`api.github.com`, or `https://host/api/v3` on GitHub Enterprise), and
//! its GraphQL API for the one thing REST cannot do: turning on auto-merge.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Forge, ForgeError, NewPullRequest, PullRequestRef, PullState, decode, query};

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    created_at: Option<String>,
    node_id: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
    merged_at: Option<String>,
}

impl Pull {
    fn reference(&self) -> PullRequestRef {
        PullRequestRef {
            number: self.number,
            url: self.html_url.clone(),
            created_at: self.created_at.clone(),
        }
    }
}

pub(super) async fn find_open(
    forge: &Forge,
    branch: &str,
    base: &str,
) -> Result<Option<PullRequestRef>, ForgeError> {
    let owner = forge.project().split('/').next().unwrap_or_default();
    let head = format!("{owner}:{branch}");
    let path = format!(
        "/repos/{}/pulls?{}",
        forge.project(),
        query(&[("state", "open"), ("head", &head), ("base", base)])
    );
    let answer = forge.call(Method::GET, &path, None).await?;
    let pulls: Vec<Pull> = decode(forge, &path, answer)?;
    Ok(pulls.first().map(Pull::reference))
}

pub(super) async fn state(forge: &Forge, number: u64) -> Result<PullState, ForgeError> {
    let path = format!("/repos/{}/pulls/{number}", forge.project());
    let answer = forge.call(Method::GET, &path, None).await?;
    let pull: Pull = decode(forge, &path, answer)?;
    Ok(
        match (pull.state.as_str(), pull.merged || pull.merged_at.is_some()) {
            ("open", _) => PullState::Open,
            (_, true) => PullState::Merged,
            _ => PullState::Closed,
        },
    )
}

pub(super) async fn open(
    forge: &Forge,
    asked: &NewPullRequest<'_>,
) -> Result<(PullRequestRef, Vec<ForgeError>), ForgeError> {
    let config = &forge.config;
    let path = format!("/repos/{}/pulls", forge.project());
    let body = json!({
        "title": asked.title,
        "body": asked.body,
        "head": asked.branch,
        "base": asked.base,
        "draft": config.draft,
    });
    let pull: Pull = match forge.call(Method::POST, &path, Some(&body)).await {
        Ok(answer) => decode(forge, &path, answer)?,
        // Opened by an earlier attempt whose answer was lost: use that one.
        Err(err @ ForgeError::Refused { status: 422, .. }) => {
            return match find_open(forge, asked.branch, asked.base).await? {
                Some(open) => Ok((open, Vec::new())),
                None => Err(err),
            };
        }
        Err(err) => return Err(err),
    };
    let issue = format!("/repos/{}/issues/{}", forge.project(), pull.number);
    let mut problems = Vec::new();
    if !config.labels.is_empty() {
        let body = json!({ "labels": config.labels });
        let path = format!("{issue}/labels");
        problems.extend(forge.call(Method::POST, &path, Some(&body)).await.err());
    }
    if !config.assignees.is_empty() {
        let body = json!({ "assignees": config.assignees });
        let path = format!("{issue}/assignees");
        problems.extend(forge.call(Method::POST, &path, Some(&body)).await.err());
    }
    if !config.reviewers.is_empty() {
        // `org/team` asks a team; GitHub wants its slug.
        let (teams, users): (Vec<&String>, Vec<&String>) =
            config.reviewers.iter().partition(|r| r.contains('/'));
        let teams: Vec<&str> = teams.iter().filter_map(|t| t.rsplit('/').next()).collect();
        let body = json!({ "reviewers": users, "team_reviewers": teams });
        let path = format!(
            "/repos/{}/pulls/{}/requested_reviewers",
            forge.project(),
            pull.number
        );
        problems.extend(forge.call(Method::POST, &path, Some(&body)).await.err());
    }
    if config.auto_merge {
        problems.extend(enable_auto_merge(forge, &pull).await.err());
    }
    Ok((pull.reference(), problems))
}

/// GraphQL's `enablePullRequestAutoMerge`; the repository must allow auto-merge.
async fn enable_auto_merge(forge: &Forge, pull: &Pull) -> Result<(), ForgeError> {
    let Some(id) = &pull.node_id else {
        return Err(ForgeError::Transport {
            forge: forge.name(),
            call: "POST /graphql".into(),
            message: "the pull request came without a node_id".into(),
        });
    };
    let api = &forge.config.api_url;
    let url = match api.strip_suffix("/api/v3") {
        Some(root) => format!("{root}/api/graphql"),
        None => format!("{api}/graphql"),
    };
    let body = json!({
        "query": "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { clientMutationId } }",
        "variables": { "id": id },
    });
    let answer = forge
        .send(Method::POST, &url, "/graphql", Some(&body))
        .await?;
    // GraphQL answers 200 with `errors` when the mutation is refused.
    match answer.get("errors") {
        Some(errors) if !errors.is_null() => Err(ForgeError::Refused {
            forge: forge.name(),
            call: "POST /graphql (enablePullRequestAutoMerge)".into(),
            status: 200,
            message: super::error_message(answer.to_string().as_bytes()),
        }),
        _ => Ok(()),
    }
}

pub(super) async fn update(
    forge: &Forge,
    number: u64,
    title: &str,
    body: &str,
) -> Result<(), ForgeError> {
    let path = format!("/repos/{}/pulls/{number}", forge.project());
    let body = json!({ "title": title, "body": body });
    forge.call(Method::PATCH, &path, Some(&body)).await?;
    Ok(())
}
