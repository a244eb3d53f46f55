//! Commit checks: GitHub's commit statuses and check runs, GitLab's commit statuses and
//! pipelines, Gitea's (and Forgejo's) commit statuses — each reduced to a name and a state,
//! the newest report per name.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;

use super::{Forge, ForgeError, decode, query};
use crate::config::Provider;

/// Where one check stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckState {
    Success,
    /// Queued, running, or waiting for a person.
    Pending,
    Failure,
}

#[derive(Deserialize)]
struct GithubStatuses {
    #[serde(default)]
    statuses: Vec<GithubStatus>,
}

#[derive(Deserialize)]
struct GithubStatus {
    context: String,
    state: String,
}

#[derive(Deserialize)]
struct GithubCheckRuns {
    #[serde(default)]
    check_runs: Vec<GithubCheckRun>,
}

#[derive(Deserialize)]
struct GithubCheckRun {
    name: String,
    status: String,
    conclusion: Option<String>,
}

/// A GitLab commit status or a Gitea one (`name`/`status` or `context`/`status`).
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    id: u64,
    #[serde(alias = "context")]
    name: String,
    status: String,
}

#[derive(Deserialize)]
struct Pipeline {
    id: u64,
    status: String,
}

/// Check runs and statuses read per commit at most (one page each).
const PAGE: &str = "100";

impl Forge {
    /// The checks reported on `sha`, by name (the newest report of each).
    pub async fn checks(&self, sha: &str) -> Result<BTreeMap<String, CheckState>, ForgeError> {
        if !(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(ForgeError::Setup {
                forge: self.name(),
                message: format!("{sha:?} is not a commit id"),
            });
        }
        let mut out = BTreeMap::new();
        match self.config.provider {
            Provider::Github => {
                let path = format!(
                    "/repos/{}/commits/{sha}/status?per_page={PAGE}",
                    self.project()
                );
                let answer: GithubStatuses =
                    decode(self, &path, self.call(Method::GET, &path, None).await?)?;
                for s in answer.statuses {
                    out.entry(s.context).or_insert(github_status(&s.state));
                }
                let path = format!(
                    "/repos/{}/commits/{sha}/check-runs?per_page={PAGE}",
                    self.project()
                );
                let answer: GithubCheckRuns =
                    decode(self, &path, self.call(Method::GET, &path, None).await?)?;
                for run in answer.check_runs {
                    let state = match (run.status.as_str(), run.conclusion.as_deref()) {
                        ("completed", Some("success" | "neutral" | "skipped")) => {
                            CheckState::Success
                        }
                        ("completed", _) => CheckState::Failure,
                        _ => CheckState::Pending,
                    };
                    out.entry(run.name).or_insert(state);
                }
            }
            Provider::Gitlab => {
                let project = super::gitlab::project(self);
                let path = format!(
                    "{project}/repository/commits/{sha}/statuses?{}",
                    query(&[("per_page", PAGE), ("all", "true")])
                );
                let statuses: Vec<Status> =
                    decode(self, &path, self.call(Method::GET, &path, None).await?)?;
                newest_per_name(&mut out, statuses, gitlab_status);
                let path = format!(
                    "{project}/pipelines?{}",
                    query(&[("sha", sha), ("per_page", "20")])
                );
                let pipelines: Vec<Pipeline> =
                    decode(self, &path, self.call(Method::GET, &path, None).await?)?;
                if let Some(newest) = pipelines.iter().max_by_key(|p| p.id) {
                    out.insert("pipeline".to_string(), gitlab_status(&newest.status));
                }
            }
            Provider::Gitea => {
                let path = format!(
                    "/repos/{}/commits/{sha}/statuses?{}",
                    self.project(),
                    query(&[("limit", "50")])
                );
                let statuses: Vec<Status> =
                    decode(self, &path, self.call(Method::GET, &path, None).await?)?;
                newest_per_name(&mut out, statuses, gitea_status);
            }
        }
        Ok(out)
    }
}

/// Keeps each name's report with the highest id: forges keep a status's history.
fn newest_per_name(
    out: &mut BTreeMap<String, CheckState>,
    mut statuses: Vec<Status>,
    state: fn(&str) -> CheckState,
) {
    statuses.sort_by_key(|s| std::cmp::Reverse(s.id));
    for s in statuses {
        out.entry(s.name).or_insert(state(&s.status));
    }
}

fn github_status(state: &str) -> CheckState {
    match state {
        "success" => CheckState::Success,
        "pending" => CheckState::Pending,
        _ => CheckState::Failure,
    }
}

fn gitlab_status(state: &str) -> CheckState {
    match state {
        "success" | "skipped" => CheckState::Success,
        "failed" | "canceled" | "canceling" => CheckState::Failure,
        _ => CheckState::Pending,
    }
}

fn gitea_status(state: &str) -> CheckState {
    match state {
        "success" | "warning" => CheckState::Success,
        "pending" => CheckState::Pending,
        _ => CheckState::Failure,
    }
}
