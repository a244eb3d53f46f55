//! GitLab's REST API (v4): merge requests of a project named by its URL-encoded path.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Forge, ForgeError, NewPullRequest, PullRequestRef, PullState, decode, query};

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    created_at: Option<String>,
    state: String,
}

impl MergeRequest {
    fn reference(&self) -> PullRequestRef {
        PullRequestRef {
            number: self.iid,
            url: self.web_url.clone(),
            created_at: self.created_at.clone(),
        }
    }
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

/// `/projects/group%2Fproject`.
pub(super) fn project(forge: &Forge) -> String {
    let id: String = form_urlencoded::byte_serialize(forge.project().as_bytes()).collect();
    format!("/projects/{id}")
}

pub(super) async fn find_open(
    forge: &Forge,
    branch: &str,
    base: &str,
) -> Result<Option<PullRequestRef>, ForgeError> {
    let path = format!(
        "{}/merge_requests?{}",
        project(forge),
        query(&[
            ("state", "opened"),
            ("source_branch", branch),
            ("target_branch", base),
        ])
    );
    let answer = forge.call(Method::GET, &path, None).await?;
    let requests: Vec<MergeRequest> = decode(forge, &path, answer)?;
    Ok(requests.first().map(MergeRequest::reference))
}

pub(super) async fn state(forge: &Forge, number: u64) -> Result<PullState, ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(forge));
    let answer = forge.call(Method::GET, &path, None).await?;
    let request: MergeRequest = decode(forge, &path, answer)?;
    Ok(match request.state.as_str() {
        "opened" | "locked" => PullState::Open,
        "merged" => PullState::Merged,
        _ => PullState::Closed,
    })
}

pub(super) async fn open(
    forge: &Forge,
    asked: &NewPullRequest<'_>,
) -> Result<(PullRequestRef, Vec<ForgeError>), ForgeError> {
    let config = &forge.config;
    let mut problems = Vec::new();
    let assignees = user_ids(forge, &config.assignees, &mut problems).await;
    let reviewers = user_ids(forge, &config.reviewers, &mut problems).await;
    let path = format!("{}/merge_requests", project(forge));
    let body = json!({
        "source_branch": asked.branch,
        "target_branch": asked.base,
        "title": title(forge, asked.title),
        "description": asked.body,
        "labels": config.labels.join(","),
        "assignee_ids": assignees,
        "reviewer_ids": reviewers,
        "remove_source_branch": true,
    });
    let request: MergeRequest = match forge.call(Method::POST, &path, Some(&body)).await {
        Ok(answer) => decode(forge, &path, answer)?,
        // Opened by an earlier attempt whose answer was lost: use that one.
        Err(err @ ForgeError::Refused { status: 409, .. }) => {
            return match find_open(forge, asked.branch, asked.base).await? {
                Some(open) => Ok((open, problems)),
                None => Err(err),
            };
        }
        Err(err) => return Err(err),
    };
    if config.auto_merge {
        let path = format!("{}/merge_requests/{}/merge", project(forge), request.iid);
        // `auto_merge` since GitLab 17; older versions know the other name.
        let body = json!({ "auto_merge": true, "merge_when_pipeline_succeeds": true });
        problems.extend(forge.call(Method::PUT, &path, Some(&body)).await.err());
    }
    Ok((request.reference(), problems))
}

/// GitLab assigns by user id: each name looked up; one that is not found is a problem, not
/// a reason to leave the merge request unopened.
async fn user_ids(forge: &Forge, names: &[String], problems: &mut Vec<ForgeError>) -> Vec<u64> {
    let mut ids = Vec::new();
    for name in names {
        let path = format!("/users?{}", query(&[("username", name)]));
        let found = match forge.call(Method::GET, &path, None).await {
            Ok(answer) => decode::<Vec<User>>(forge, &path, answer),
            Err(err) => Err(err),
        };
        match found {
            Ok(users) if !users.is_empty() => ids.push(users[0].id),
            Ok(_) => problems.push(ForgeError::NotFound {
                forge: forge.name(),
                call: "GET /users".into(),
                message: format!("no user named {name:?}"),
            }),
            Err(err) => problems.push(err),
        }
    }
    ids
}

/// GitLab marks drafts by the title.
fn title(forge: &Forge, title: &str) -> String {
    forge.draft_title("Draft:", title)
}

pub(super) async fn update(
    forge: &Forge,
    number: u64,
    title_text: &str,
    body: &str,
) -> Result<(), ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(forge));
    let body = json!({ "title": title(forge, title_text), "description": body });
    forge.call(Method::PUT, &path, Some(&body)).await?;
    Ok(())
}

pub(super) async fn close(forge: &Forge, number: u64, comment: &str) -> Result<(), ForgeError> {
    let request = format!("{}/merge_requests/{number}", project(forge));
    forge
        .call(
            Method::POST,
            &format!("{request}/notes"),
            Some(&json!({ "body": comment })),
        )
        .await?;
    forge
        .call(
            Method::PUT,
            &request,
            Some(&json!({ "state_event": "close" })),
        )
        .await?;
    Ok(())
}
