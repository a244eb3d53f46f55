//! What each repo's last cycle found and did, for `/api/v1/status` and `/readyz`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::cycle::{CycleReport, CycleResult};

/// One repo's latest state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepoStatus {
    /// RFC 3339 time the last cycle ended.
    pub last_cycle: Option<String>,
    /// `unchanged`, `updated` or `failed`.
    pub result: Option<CycleResult>,
    pub error: Option<String>,
    /// The remote head the last cycle saw.
    pub head: Option<String>,
    /// `head` and `references` are from an earlier cycle: the last one could not sync.
    pub stale: bool,
    pub cycles: u64,
    /// How long the last cycle took, in seconds.
    pub duration_seconds: Option<f64>,
    /// RFC 3339 time the next polled cycle is due (a trigger or a push event may come first).
    pub next_cycle: Option<String>,
    pub references: Vec<ReferenceStatus>,
    /// Pull-request mode: the open pull requests laminar keeps.
    pub pull_requests: Vec<PullRequestStatus>,
}

/// An open pull request of laminar's.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PullRequestStatus {
    pub branch: String,
    pub number: u64,
    pub url: String,
    /// RFC 3339 time it was opened, as the forge gave it.
    pub created_at: Option<String>,
}

/// A managed reference and where its rule would take it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReferenceStatus {
    pub file: String,
    pub line: usize,
    pub image: String,
    pub tag: String,
    /// The newest tag the rule allows (the current one when nothing is newer); `None` when the
    /// registry could not be asked.
    pub newest: Option<String>,
    /// Why the reference stays where it is (up to date, held, ordering incomplete, …);
    /// `None` when the cycle moved it.
    pub kept: Option<String>,
    /// The pattern of the rule that manages it.
    pub rule: String,
}

/// One reference laminar moved: the status page's list of latest updates.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UpdateRecord {
    /// RFC 3339 time of the cycle that made it.
    pub time: String,
    pub repo: String,
    pub file: String,
    pub line: usize,
    pub image: String,
    pub old: String,
    pub new: String,
    /// The pushed commit, or in pull-request mode the pull request's URL.
    pub commit: String,
}

impl RepoStatus {
    /// A repo's status after the cycle `report` tells of, given the one before. When the cycle
    /// could not even sync, the head and references the previous cycle saw are kept, marked
    /// stale, next to the error.
    pub fn after(previous: &RepoStatus, report: &CycleReport) -> RepoStatus {
        let error = (!report.errors.is_empty()).then(|| {
            report
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        });
        let pull_requests = match &report.open_pulls {
            Some(open) => open
                .iter()
                .map(|(branch, pull)| PullRequestStatus {
                    branch: branch.clone(),
                    number: pull.number,
                    url: pull.url.clone(),
                    created_at: pull.created_at.clone(),
                })
                .collect(),
            None => previous.pull_requests.clone(),
        };
        let common = RepoStatus {
            last_cycle: Some(jiff::Timestamp::now().to_string()),
            result: Some(report.result),
            error,
            cycles: previous.cycles + 1,
            pull_requests,
            ..RepoStatus::default()
        };
        let Some(head) = report.head else {
            return RepoStatus {
                head: previous.head.clone(),
                references: previous.references.clone(),
                stale: previous.head.is_some(),
                ..common
            };
        };
        let mut references: Vec<ReferenceStatus> = report
            .changes
            .iter()
            .map(|c| ReferenceStatus {
                file: c.site.path.display().to_string(),
                line: c.site.line,
                image: c.image.clone(),
                tag: c.old_tag.clone(),
                newest: Some(c.new_tag.clone()),
                kept: None,
                rule: c.rule.clone(),
            })
            .chain(report.kept.iter().map(|k| ReferenceStatus {
                file: k.site.path.display().to_string(),
                line: k.site.line,
                image: k.image.clone(),
                tag: k.tag.clone(),
                newest: k.up_to_date().then(|| k.tag.clone()),
                kept: Some(k.reason.to_string()),
                rule: k.rule.clone(),
            }))
            .collect();
        references.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        RepoStatus {
            head: Some(head.to_string()),
            references,
            ..common
        }
    }
}

/// Updates kept for the status page.
pub const KEPT_UPDATES: usize = 50;

#[derive(Debug, Default)]
pub struct StatusBoard {
    repos: Mutex<BTreeMap<String, RepoStatus>>,
    updates: Mutex<VecDeque<UpdateRecord>>,
}

impl StatusBoard {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> StatusBoard {
        let repos = names
            .into_iter()
            .map(|n| (n.to_string(), RepoStatus::default()))
            .collect();
        StatusBoard {
            repos: Mutex::new(repos),
            updates: Mutex::default(),
        }
    }

    /// Records the references a cycle moved, newest first.
    pub fn updated(&self, repo: &str, report: &CycleReport) {
        if report.result != CycleResult::Updated {
            return;
        }
        let commit = report
            .proposals
            .iter()
            .find_map(|p| p.pull.as_ref().map(|pull| pull.url.clone()))
            .or_else(|| report.head.map(|h| h.to_string()))
            .unwrap_or_default();
        let time = jiff::Timestamp::now().to_string();
        let mut updates = self.updates.lock().unwrap_or_else(|p| p.into_inner());
        for change in &report.changes {
            updates.push_front(UpdateRecord {
                time: time.clone(),
                repo: repo.to_string(),
                file: change.site.path.display().to_string(),
                line: change.site.line,
                image: change.image.clone(),
                old: change.old_tag.clone(),
                new: change.new_tag.clone(),
                commit: commit.clone(),
            });
        }
        updates.truncate(KEPT_UPDATES);
    }

    /// The latest updates, newest first.
    pub fn updates(&self) -> Vec<UpdateRecord> {
        let updates = self.updates.lock().unwrap_or_else(|p| p.into_inner());
        updates.iter().cloned().collect()
    }

    /// Replaces a repo's status with one built from its previous status.
    pub fn update(&self, repo: &str, next: impl FnOnce(&RepoStatus) -> RepoStatus) {
        let mut repos = self.lock();
        let status = repos.entry(repo.to_string()).or_default();
        *status = next(status);
    }

    pub fn snapshot(&self) -> BTreeMap<String, RepoStatus> {
        self.lock().clone()
    }

    /// Every repo has finished (or failed) a first cycle.
    pub fn ready(&self) -> bool {
        self.lock().values().all(|s| s.cycles > 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RepoStatus>> {
        self.repos.lock().unwrap_or_else(|p| p.into_inner())
    }
}
