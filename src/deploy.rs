//! Deploy requests: `POST /api/v1/deploy` asks for one exact tag of one image in the repos
//! that use it. Each repo's part runs as a cycle of that repo's own (so requests for one repo
//! take turns with each other and with its other cycles); this module reads the request,
//! keeps every request's state for `GET`, and tells waiting callers when it is done.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::cycle::{CycleError, CycleReport, CycleResult};
use crate::image::reference::{Reference, is_valid_tag};
use crate::plan::{DeployOrder, DeployRefusal};

/// Requests whose state is kept for `GET`; older ones are forgotten.
const KEPT: usize = 200;
/// The longest reason accepted: it goes into a commit message.
const MAX_REASON: usize = 2000;
/// At most this many files or directories per request.
const MAX_FILES: usize = 100;

/// A deploy request as it arrives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub image: String,
    pub tag: String,
    #[serde(default)]
    pub repos: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Set the tag even where the rule's pattern would never pick it.
    #[serde(default)]
    pub force: bool,
    /// The id another shard gave the request it handed on (so every shard's part of it is
    /// one request); a client may not choose one.
    #[serde(default)]
    pub id: Option<String>,
}

impl DeployRequest {
    /// The order for the repos, once the request is known to be well formed.
    pub fn order(mut self) -> Result<DeployOrder, String> {
        // A chart in an OCI registry may be named by its URL.
        if let Some(name) = self.image.strip_prefix("oci://") {
            self.image = name.to_string();
        }
        check_image(&self.image)?;
        // A chart's version may carry build metadata (`+`), which no OCI tag can.
        if !is_valid_tag(&self.tag.replace('+', "_")) {
            return Err(format!(
                "{:?} is not a valid tag or chart version",
                self.tag
            ));
        }
        if self.files.len() > MAX_FILES {
            return Err(format!("at most {MAX_FILES} files may be named"));
        }
        for file in &self.files {
            let parts_ok = file
                .split('/')
                .all(|part| part != ".." && !part.contains('\0'));
            if file.is_empty() || file.starts_with('/') || !parts_ok {
                return Err(format!("{file:?} is not a path inside the repo"));
            }
        }
        let reason = checked_reason(self.reason)?;
        let id = match self.id {
            Some(id) if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id,
            Some(id) => return Err(format!("{id:?} is not a deploy request id")),
            None => format!("{:016x}", rand::random::<u64>()),
        };
        Ok(DeployOrder {
            id,
            image: self.image,
            tag: self.tag,
            files: self.files,
            reason,
            force: self.force,
        })
    }
}

/// An image name as references write it: registry host (and port) and path, no tag or digest.
pub(crate) fn check_image(image: &str) -> Result<(), String> {
    match Reference::parse(image) {
        Some(name) if name.tag.is_none() && name.digest.is_none() => Ok(()),
        _ => Err(format!("{image:?} is not a valid image name")),
    }
}

/// A reason given with a request, trimmed; it ends up in commit messages and the status.
pub(crate) fn checked_reason(reason: Option<String>) -> Result<Option<String>, String> {
    let Some(reason) = reason.map(|r| r.trim().to_string()) else {
        return Ok(None);
    };
    if reason.len() > MAX_REASON {
        return Err(format!("the reason is longer than {MAX_REASON} bytes"));
    }
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("the reason holds control characters".into());
    }
    Ok(Some(reason).filter(|r| !r.is_empty()))
}

/// What became of a request in one repo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RepoOutcome {
    Queued,
    Running,
    /// The commit was pushed; `hold` keeps an older tag from being moved on.
    Pushed {
        commit: String,
        changes: Vec<Moved>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hold: Option<String>,
    },
    /// Pull-request mode: the change was pushed to a branch of its own and proposed.
    Proposed {
        pull_request: String,
        number: u64,
        branch: String,
        changes: Vec<Moved>,
    },
    /// Every reference already has the tag.
    Unchanged,
    /// The request cannot be carried out here (the tag is unknown, excluded, …).
    Refused {
        error: String,
        #[serde(skip)]
        status: u16,
    },
    /// The cycle failed (a push, a registry, an exec action).
    Failed {
        error: String,
    },
}

/// One reference a deploy moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub file: String,
    pub line: usize,
    pub from: String,
    pub to: String,
}

impl RepoOutcome {
    /// What a deploy cycle's report says.
    pub fn of(report: &CycleReport) -> RepoOutcome {
        if let Some(refusal) = report.errors.iter().find_map(|e| match e {
            CycleError::Refused(refusal) => Some(refusal),
            _ => None,
        }) {
            return RepoOutcome::Refused {
                error: refusal.to_string(),
                status: refusal_status(refusal),
            };
        }
        if !report.errors.is_empty() {
            let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
            return RepoOutcome::Failed {
                error: errors.join("; "),
            };
        }
        let changes = || {
            report
                .changes
                .iter()
                .map(|c| Moved {
                    file: c.site.path.display().to_string(),
                    line: c.site.line,
                    from: c.old_tag.clone(),
                    to: c.new_tag.clone(),
                })
                .collect()
        };
        let proposed = report
            .proposals
            .iter()
            .find_map(|p| Some((&p.branch, p.pull.as_ref()?)));
        match (report.result, report.head, proposed) {
            (CycleResult::Updated, _, Some((branch, pull))) => RepoOutcome::Proposed {
                pull_request: pull.url.clone(),
                number: pull.number,
                branch: branch.clone(),
                changes: changes(),
            },
            (CycleResult::Updated, Some(head), None) => RepoOutcome::Pushed {
                commit: head.to_string(),
                changes: changes(),
                hold: report.holds_made.first().map(|h| h.id.clone()),
            },
            _ => RepoOutcome::Unchanged,
        }
    }

    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            RepoOutcome::Queued => "queued",
            RepoOutcome::Running => "running",
            RepoOutcome::Pushed { .. } => "pushed",
            RepoOutcome::Proposed { .. } => "proposed",
            RepoOutcome::Unchanged => "unchanged",
            RepoOutcome::Refused { .. } => "refused",
            RepoOutcome::Failed { .. } => "failed",
        }
    }

    fn finished(&self) -> bool {
        !matches!(self, RepoOutcome::Queued | RepoOutcome::Running)
    }
}

fn refusal_status(refusal: &DeployRefusal) -> u16 {
    match refusal {
        DeployRefusal::NotReferenced(_) | DeployRefusal::UnknownTag { .. } => 404,
        DeployRefusal::Unlisted(_) => 502,
        DeployRefusal::Excluded { .. }
        | DeployRefusal::OutsidePattern { .. }
        | DeployRefusal::DigestUnknown { .. }
        | DeployRefusal::Untrusted { .. }
        | DeployRefusal::Chain { .. } => 422,
        DeployRefusal::OutsideWindow { .. } => 409,
    }
}

/// A request and what became of it in each repo.
#[derive(Clone, Debug, Serialize)]
pub struct DeployState {
    pub id: String,
    pub image: String,
    pub tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `queued`, `running` or `done`.
    pub state: &'static str,
    pub repos: BTreeMap<String, RepoOutcome>,
    /// RFC 3339 time the request came.
    pub created: String,
}

impl DeployState {
    /// The HTTP status of a finished request: 502 when a repo failed, 200 when a commit was
    /// pushed, else the refusal's (404 for an unknown tag, 422 for a forbidden one), and 409
    /// when nothing needed to change.
    pub fn http_status(&self) -> u16 {
        let outcomes = || self.repos.values();
        let refusals = || {
            outcomes().filter_map(|o| match o {
                RepoOutcome::Refused { status, .. } => Some(*status),
                _ => None,
            })
        };
        if outcomes().any(|o| matches!(o, RepoOutcome::Failed { .. }))
            || refusals().any(|s| s == 502)
        {
            502
        } else if self.state != "done" {
            202
        } else if outcomes()
            .any(|o| matches!(o, RepoOutcome::Pushed { .. } | RepoOutcome::Proposed { .. }))
        {
            200
        } else {
            refusals().max_by_key(|s| *s == 422).unwrap_or(409)
        }
    }
}

/// Every recent request's state.
#[derive(Debug, Default)]
pub struct Deploys {
    states: Mutex<VecDeque<DeployState>>,
    changed: Notify,
}

impl Deploys {
    /// Records a new request, queued in `repos`.
    pub fn queued(&self, order: &DeployOrder, repos: &[String]) -> DeployState {
        let state = DeployState {
            id: order.id.clone(),
            image: order.image.clone(),
            tag: order.tag.clone(),
            reason: order.reason.clone(),
            state: "queued",
            repos: repos
                .iter()
                .map(|r| (r.clone(), RepoOutcome::Queued))
                .collect(),
            created: jiff::Timestamp::now().to_string(),
        };
        let mut states = self.lock();
        if states.len() == KEPT {
            states.pop_front();
        }
        states.push_back(state.clone());
        state
    }

    /// Records what became of request `id` in `repo`.
    pub fn update(&self, id: &str, repo: &str, outcome: RepoOutcome) {
        let mut states = self.lock();
        if let Some(state) = states.iter_mut().find(|s| s.id == id) {
            state.repos.insert(repo.to_string(), outcome);
            state.state = if state.repos.values().all(RepoOutcome::finished) {
                "done"
            } else if state.repos.values().all(|o| *o == RepoOutcome::Queued) {
                "queued"
            } else {
                "running"
            };
        }
        drop(states);
        self.changed.notify_waiters();
    }

    pub fn get(&self, id: &str) -> Option<DeployState> {
        self.lock().iter().find(|s| s.id == id).cloned()
    }

    /// Waits until request `id` is done (or forgotten) and returns its state.
    pub async fn done(&self, id: &str) -> Option<DeployState> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.get(id) {
                Some(state) if state.state != "done" => changed.await,
                other => return other,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<DeployState>> {
        crate::store::lock(&self.states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<DeployOrder, String> {
        serde_json::from_str::<DeployRequest>(json)
            .map_err(|e| e.to_string())?
            .order()
    }

    #[test]
    fn requests_are_checked_before_anything_runs() {
        let order = request(r#"{"image":"reg.io/acme/app","tag":"1.3.2","reason":" rollback \n"}"#)
            .unwrap();
        assert_eq!(order.reason.as_deref(), Some("rollback"));
        assert_eq!(order.id.len(), 16);
        for bad in [
            r#"{"image":"reg.io/acme/app","tag":"-x"}"#,
            r#"{"image":"reg.io/acme/app","tag":"a/b"}"#,
            r#"{"image":"reg io/app","tag":"1"}"#,
            r#"{"image":"reg.io/app","tag":"1","files":["../etc"]}"#,
            r#"{"image":"reg.io/app","tag":"1","files":["/etc"]}"#,
            r#"{"image":"reg.io/app","tag":"1","reason":"a\u001b[31m"}"#,
            r#"{"image":"reg.io/app","tag":"1","force":"yes"}"#,
            r#"{"image":"reg.io/app","tag":"1","forced":true}"#,
        ] {
            assert!(request(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_chart_is_named_as_scan_shows_it_or_by_its_oci_url_with_its_version() {
        let order =
            request(r#"{"image":"oci://reg.io/charts/api","tag":"1.2.0+build.7"}"#).unwrap();
        assert_eq!(
            (order.image.as_str(), order.tag.as_str()),
            ("reg.io/charts/api", "1.2.0+build.7")
        );
        for bad in [
            r#"{"image":"https://charts.io/web","tag":"1.0.0"}"#,
            r#"{"image":"reg.io/charts/api","tag":"1.0.0+a+b/c"}"#,
        ] {
            assert!(request(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tag_outside_the_pattern_is_unprocessable_without_force() {
        let refusal = DeployRefusal::OutsidePattern {
            tag: "hotfix-1".into(),
            rule: "semver:^1".into(),
            site: "prod/app.yaml:1:4".into(),
        };
        assert_eq!(refusal_status(&refusal), 422);
        assert!(refusal.to_string().contains("ask with force"));
        let forced = request(r#"{"image":"reg.io/app","tag":"hotfix-1","force":true}"#).unwrap();
        assert!(forced.force);
    }

    #[tokio::test]
    async fn a_request_is_done_when_every_repo_has_finished() {
        let deploys = Deploys::default();
        let order = request(r#"{"image":"reg.io/app","tag":"1"}"#).unwrap();
        let repos = ["a".to_string(), "b".to_string()];
        assert_eq!(deploys.queued(&order, &repos).http_status(), 202);
        deploys.update(&order.id, "a", RepoOutcome::Unchanged);
        assert_eq!(deploys.get(&order.id).unwrap().state, "running");
        let waiting = deploys.done(&order.id);
        deploys.update(
            &order.id,
            "b",
            RepoOutcome::Refused {
                error: "unknown".into(),
                status: 404,
            },
        );
        let done = waiting.await.unwrap();
        assert_eq!(done.state, "done");
        assert_eq!(done.http_status(), 404);
        assert_eq!(
            serde_json::to_value(&done.repos["b"]).unwrap(),
            serde_json::json!({"state": "refused", "error": "unknown"})
        );
    }
}
