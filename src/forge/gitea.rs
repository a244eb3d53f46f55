//! Gitea's REST API (v1), which Forgejo speaks too.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Forge, ForgeError, NewPullRequest, PullRequestRef, PullState, decode, query};

/// Pages of open pull requests read while looking for laminar's.
const MAX_PAGES: usize = 20;
const PAGE: usize = 50;

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    created_at: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
    head: Option<Branch>,
    base: Option<Branch>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct Label {
    id: u64,
    name: String,
}

impl Pull {
    fn reference(&self) -> PullRequestRef {
        PullRequestRef {
            number: self.number,
            url: self.html_url.clone(),
            created_at: self.created_at.clone(),
        }
    }

    fn joins(&self, branch: &str, base: &str) -> bool {
        self.head.as_ref().is_some_and(|h| h.name == branch)
            && self.base.as_ref().is_some_and(|b| b.name == base)
    }
}

/// Gitea cannot filter by branch: the open pull requests are read a page at a time.
pub(super) async fn find_open(
    forge: &Forge,
    branch: &str,
    base: &str,
) -> Result<Option<PullRequestRef>, ForgeError> {
    for page in 1..=MAX_PAGES {
        let path = format!(
            "/repos/{}/pulls?{}",
            forge.project(),
            query(&[
                ("state", "open"),
                ("limit", &PAGE.to_string()),
                ("page", &page.to_string()),
            ])
        );
        let answer = forge.call(Method::GET, &path, None).await?;
        let pulls: Vec<Pull> = decode(forge, &path, answer)?;
        if let Some(pull) = pulls.iter().find(|p| p.joins(branch, base)) {
            return Ok(Some(pull.reference()));
        }
        if pulls.len() < PAGE {
            break;
        }
    }
    Ok(None)
}

pub(super) async fn state(forge: &Forge, number: u64) -> Result<PullState, ForgeError> {
    let path = format!("/repos/{}/pulls/{number}", forge.project());
    let answer = forge.call(Method::GET, &path, None).await?;
    let pull: Pull = decode(forge, &path, answer)?;
    Ok(match (pull.state.as_str(), pull.merged) {
        ("open", _) => PullState::Open,
        (_, true) => PullState::Merged,
        _ => PullState::Closed,
    })
}

pub(super) async fn open(
    forge: &Forge,
    asked: &NewPullRequest<'_>,
) -> Result<(PullRequestRef, Vec<ForgeError>), ForgeError> {
    let config = &forge.config;
    let mut problems = Vec::new();
    let labels = match config.labels.is_empty() {
        true => Vec::new(),
        false => label_ids(forge, &mut problems).await,
    };
    let path = format!("/repos/{}/pulls", forge.project());
    let body = json!({
        "head": asked.branch,
        "base": asked.base,
        "title": title(forge, asked.title),
        "body": asked.body,
        "labels": labels,
        "assignees": config.assignees,
    });
    let pull: Pull = match forge.call(Method::POST, &path, Some(&body)).await {
        Ok(answer) => decode(forge, &path, answer)?,
        // Opened by an earlier attempt whose answer was lost: use that one.
        Err(
            err @ ForgeError::Refused {
                status: 409 | 422, ..
            },
        ) => {
            return match find_open(forge, asked.branch, asked.base).await? {
                Some(open) => Ok((open, problems)),
                None => Err(err),
            };
        }
        Err(err) => return Err(err),
    };
    let pulls = format!("/repos/{}/pulls/{}", forge.project(), pull.number);
    if !config.reviewers.is_empty() {
        let (teams, users): (Vec<&String>, Vec<&String>) =
            config.reviewers.iter().partition(|r| r.contains('/'));
        let teams: Vec<&str> = teams.iter().filter_map(|t| t.rsplit('/').next()).collect();
        let body = json!({ "reviewers": users, "team_reviewers": teams });
        let path = format!("{pulls}/requested_reviewers");
        problems.extend(forge.call(Method::POST, &path, Some(&body)).await.err());
    }
    if config.auto_merge {
        let body = json!({ "Do": "merge", "merge_when_checks_succeed": true });
        let path = format!("{pulls}/merge");
        problems.extend(forge.call(Method::POST, &path, Some(&body)).await.err());
    }
    Ok((pull.reference(), problems))
}

/// Gitea labels by id: the repository's labels, matched by name; a name it lacks is a
/// problem.
async fn label_ids(forge: &Forge, problems: &mut Vec<ForgeError>) -> Vec<u64> {
    let mut known: Vec<Label> = Vec::new();
    for page in 1..=MAX_PAGES {
        let path = format!(
            "/repos/{}/labels?{}",
            forge.project(),
            query(&[("limit", &PAGE.to_string()), ("page", &page.to_string())])
        );
        let labels = match forge.call(Method::GET, &path, None).await {
            Ok(answer) => decode::<Vec<Label>>(forge, &path, answer),
            Err(err) => Err(err),
        };
        match labels {
            Ok(labels) => {
                let last = labels.len() < PAGE;
                known.extend(labels);
                if last {
                    break;
                }
            }
            Err(err) => {
                problems.push(err);
                return Vec::new();
            }
        }
    }
    let mut ids = Vec::new();
    for name in &forge.config.labels {
        match known.iter().find(|l| &l.name == name) {
            Some(label) => ids.push(label.id),
            None => problems.push(ForgeError::NotFound {
                forge: forge.name(),
                call: "GET /labels".into(),
                message: format!("no label named {name:?} in the repository"),
            }),
        }
    }
    ids
}

/// Gitea marks drafts by the title.
fn title(forge: &Forge, title: &str) -> String {
    forge.draft_title("WIP:", title)
}

pub(super) async fn update(
    forge: &Forge,
    number: u64,
    title_text: &str,
    body: &str,
) -> Result<(), ForgeError> {
    let path = format!("/repos/{}/pulls/{number}", forge.project());
    let body = json!({ "title": title(forge, title_text), "body": body });
    forge.call(Method::PATCH, &path, Some(&body)).await?;
    Ok(())
}
