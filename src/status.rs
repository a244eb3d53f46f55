//! What each repo's last cycle found and did, for `/api/v1/status` and `/readyz`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cycle::{CycleReport, CycleResult};
use crate::image::hub::ImageKey;
use crate::plan::KeptReason;
use crate::store;

/// One repo's latest state (read back from another shard's status, too).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PullRequestStatus {
    pub branch: String,
    pub number: u64,
    pub url: String,
    /// RFC 3339 time it was opened, as the forge gave it.
    pub created_at: Option<String>,
}

/// A managed reference and where its rule would take it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
    /// A hold keeps it: a `# laminar:hold` comment, a hold made through the API, a rollback,
    /// a deploy request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
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
                held: false,
            })
            .chain(report.kept.iter().map(|k| ReferenceStatus {
                file: k.site.path.display().to_string(),
                line: k.site.line,
                image: k.image.clone(),
                tag: k.tag.clone(),
                newest: k.up_to_date().then(|| k.tag.clone()),
                kept: Some(k.reason.to_string()),
                rule: k.rule.clone(),
                held: matches!(k.reason, KeptReason::Held { .. } | KeptReason::OnHold(_)),
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
/// How far back the timeline of updates and failures goes, and how many moments it keeps.
pub const TIMELINE: Duration = Duration::from_secs(24 * 3600);
const KEPT_MOMENTS: usize = 5000;

/// A cycle worth a mark on the timeline: one that updated, or one that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    pub repo: String,
    pub at: SystemTime,
    /// `None`: it failed; else the references it moved.
    pub updated: Option<usize>,
}

#[derive(Debug, Default)]
pub struct StatusBoard {
    repos: Mutex<Repos>,
    updates: Mutex<VecDeque<UpdateRecord>>,
    /// The last day's moments, oldest first.
    moments: Mutex<VecDeque<Moment>>,
}

/// Every repo's status, and which repos' references name each image.
#[derive(Debug, Default)]
struct Repos {
    statuses: BTreeMap<String, RepoStatus>,
    /// Image (by [`ImageKey`]) → the repos whose last cycle saw a reference to it: a push
    /// event or a deploy finds its repos here without reading every status.
    using: HashMap<ImageKey, BTreeSet<String>>,
}

impl Repos {
    fn set(&mut self, repo: &str, status: RepoStatus) {
        let keys = |status: &RepoStatus| -> BTreeSet<ImageKey> {
            status
                .references
                .iter()
                .map(|r| ImageKey::of(&r.image))
                .collect()
        };
        let old = self.statuses.get(repo).map(keys).unwrap_or_default();
        let new = keys(&status);
        for gone in old.difference(&new) {
            if let Some(repos) = self.using.get_mut(gone) {
                repos.remove(repo);
                if repos.is_empty() {
                    self.using.remove(gone);
                }
            }
        }
        for added in new.difference(&old) {
            self.using
                .entry(added.clone())
                .or_default()
                .insert(repo.to_string());
        }
        self.statuses.insert(repo.to_string(), status);
    }
}

impl StatusBoard {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> StatusBoard {
        let statuses = names
            .into_iter()
            .map(|n| (n.to_string(), RepoStatus::default()))
            .collect();
        StatusBoard {
            repos: Mutex::new(Repos {
                statuses,
                using: HashMap::new(),
            }),
            updates: Mutex::default(),
            moments: Mutex::default(),
        }
    }

    /// Records the references a cycle moved, newest first, and its mark on the timeline.
    pub fn updated(&self, repo: &str, report: &CycleReport) {
        let updated = match report.result {
            CycleResult::Unchanged => return,
            CycleResult::Failed => None,
            CycleResult::Updated => Some(report.changes.len()),
        };
        let now = SystemTime::now();
        let mut moments = store::lock(&self.moments);
        while moments
            .front()
            .is_some_and(|m| now.duration_since(m.at).unwrap_or_default() > TIMELINE)
            || moments.len() >= KEPT_MOMENTS
        {
            moments.pop_front();
        }
        moments.push_back(Moment {
            repo: repo.to_string(),
            at: now,
            updated,
        });
        drop(moments);
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
        let mut updates = store::lock(&self.updates);
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

    /// The last day's updates and failures, oldest first.
    pub fn moments(&self) -> Vec<Moment> {
        store::lock(&self.moments).iter().cloned().collect()
    }

    /// The latest updates, newest first.
    pub fn updates(&self) -> Vec<UpdateRecord> {
        store::lock(&self.updates).iter().cloned().collect()
    }

    /// Replaces a repo's status with one built from its previous status.
    pub fn update(&self, repo: &str, next: impl FnOnce(&RepoStatus) -> RepoStatus) {
        let mut repos = store::lock(&self.repos);
        let status = next(repos.statuses.get(repo).unwrap_or(&RepoStatus::default()));
        repos.set(repo, status);
    }

    pub fn snapshot(&self) -> BTreeMap<String, RepoStatus> {
        store::lock(&self.repos).statuses.clone()
    }

    /// One repo's status.
    pub fn get(&self, repo: &str) -> Option<RepoStatus> {
        store::lock(&self.repos).statuses.get(repo).cloned()
    }

    /// Every repo has finished (or failed) a first cycle.
    pub fn ready(&self) -> bool {
        store::lock(&self.repos)
            .statuses
            .values()
            .all(|s| s.cycles > 0)
    }

    /// The repos whose managed references (as their last cycles saw them) name `image`, and
    /// those whose first cycle has not ended: what they manage is not known yet.
    pub fn repos_using(&self, image: &str) -> Vec<String> {
        let repos = store::lock(&self.repos);
        let mut found: BTreeSet<&String> = repos
            .using
            .get(&ImageKey::of(image))
            .map(|using| using.iter().collect())
            .unwrap_or_default();
        found.extend(
            repos
                .statuses
                .iter()
                .filter(|(_, status)| status.cycles == 0)
                .map(|(name, _)| name),
        );
        found.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referencing(images: &[&str]) -> RepoStatus {
        RepoStatus {
            cycles: 1,
            references: images
                .iter()
                .map(|i| ReferenceStatus {
                    file: "f".into(),
                    line: 1,
                    image: i.to_string(),
                    tag: "1".into(),
                    newest: None,
                    kept: None,
                    rule: "glob:*".into(),
                    held: false,
                })
                .collect(),
            ..RepoStatus::default()
        }
    }

    #[test]
    fn the_repos_using_an_image_are_found_however_it_is_written() {
        let board = StatusBoard::new(["a", "b", "c", "d"]);
        board.update("a", |_| referencing(&["nginx", "reg.io/acme/app"]));
        board.update("b", |_| referencing(&["docker.io/library/nginx"]));
        board.update("c", |_| referencing(&["reg.io/acme/api"]));
        assert_eq!(
            board.repos_using("reg.io/acme/other"),
            ["d"],
            "not known yet: woken"
        );
        board.update("d", |_| referencing(&[]));
        assert_eq!(board.repos_using("docker.io/library/nginx"), ["a", "b"]);
        assert_eq!(board.repos_using("reg.io/acme/app"), ["a"]);
        assert!(board.repos_using("reg.io/acme/other").is_empty());
        // A repo whose references moved on is found under its new images only.
        board.update("a", |_| referencing(&["reg.io/acme/api"]));
        assert_eq!(board.repos_using("nginx"), ["b"]);
        assert_eq!(board.repos_using("reg.io/acme/api"), ["a", "c"]);
    }
}
