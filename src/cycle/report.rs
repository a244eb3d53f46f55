//! What a cycle found and did: for the log, the metrics, `laminar once` and the status board.

use std::path::PathBuf;
use std::time::SystemTime;

use git2::Oid;
use serde::Serialize;

use crate::forge::PullRequestRef;
use crate::holds::Hold;
use crate::image::scanner::Unmanaged;
use crate::plan::{ChainWait, Change, Kept, KeptReason, Plan};

use super::CycleError;

/// How a cycle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleResult {
    /// Nothing needed changing (or, in a dry run, the plan was only shown).
    Unchanged,
    Updated,
    Failed,
}

impl CycleResult {
    pub fn label(self) -> &'static str {
        match self {
            CycleResult::Unchanged => "unchanged",
            CycleResult::Updated => "updated",
            CycleResult::Failed => "failed",
        }
    }
}

/// What a cycle did with one of laminar's pull-request branches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub branch: String,
    pub title: String,
    pub action: ProposalAction,
    pub pull: Option<PullRequestRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalAction {
    /// Dry runs: what a cycle would do.
    WouldOpen,
    WouldUpdate,
    WouldClose,
    /// The branch was built and pushed, and a pull request opened for it.
    Opened,
    /// The branch was rebuilt (a newer tag, or the watched branch moved) and its pull request
    /// updated.
    Updated,
    /// The branch already proposes the plan.
    UpToDate,
    /// Someone closed the pull request without merging it; the same change is not proposed
    /// again (a newer tag is).
    Declined,
    /// The plan became empty: the pull request was closed with a comment.
    Closed,
    /// A registry this branch's images come from did not answer: the branch stays as it is.
    Waiting,
}

impl ProposalAction {
    pub fn describe(self) -> &'static str {
        match self {
            ProposalAction::WouldOpen => "would open",
            ProposalAction::WouldUpdate => "would update",
            ProposalAction::WouldClose => "would close",
            ProposalAction::Opened => "opened",
            ProposalAction::Updated => "updated",
            ProposalAction::UpToDate => "up to date",
            ProposalAction::Declined => "declined (not proposed again until a newer tag)",
            ProposalAction::Closed => "closed",
            ProposalAction::Waiting => "waiting for a registry",
        }
    }
}

/// What a cycle did.
#[derive(Debug)]
pub struct CycleReport {
    pub result: CycleResult,
    /// Every problem met; a cycle can update some images and still fail on others.
    pub errors: Vec<CycleError>,
    /// The remote head the cycle worked on (after a push, the pushed commit); `None` when the
    /// workspace could not be synced.
    pub head: Option<Oid>,
    /// Planned changes; after the cycle, the ones pushed (none if nothing was pushed).
    pub changes: Vec<Change>,
    pub kept: Vec<Kept>,
    pub references: usize,
    /// Push attempts made (1 without a race).
    pub push_attempts: u32,
    /// Dry runs: a unified diff per changed file.
    pub diff: String,
    /// Dry runs: images found that are not kept current, by file.
    pub unmanaged: Vec<(PathBuf, Unmanaged)>,
    /// Pull-request mode: each branch laminar keeps, and what became of it.
    pub proposals: Vec<Proposal>,
    /// Pull-request mode: the open pull requests after the cycle, by branch; `None` when the
    /// cycle did not get as far as the forge.
    pub open_pulls: Option<Vec<(String, PullRequestRef)>>,
    /// Holds the plan made (rollbacks noticed, older tags deployed) and ended, by id.
    pub holds_made: Vec<Hold>,
    pub holds_ended: Vec<String>,
    /// (file, image) whose tag laminar wrote other hands have since replaced.
    pub forgotten: Vec<(String, String)>,
    /// What a rule others follow holds has changed: its followers may have something to do.
    pub lineage_moved: bool,
}

impl Default for CycleReport {
    fn default() -> CycleReport {
        CycleReport {
            result: CycleResult::Unchanged,
            errors: Vec::new(),
            head: None,
            changes: Vec::new(),
            kept: Vec::new(),
            references: 0,
            push_attempts: 0,
            diff: String::new(),
            unmanaged: Vec::new(),
            lineage_moved: false,
            proposals: Vec::new(),
            open_pulls: None,
            holds_made: Vec::new(),
            holds_ended: Vec::new(),
            forgotten: Vec::new(),
        }
    }
}

impl CycleReport {
    /// When something a kept reference waits for is due by the clock alone — a soak runs out,
    /// a window opens — if before `poll` from `now`: a cycle then need not wait for the poll.
    pub fn next_due(&self, now: SystemTime) -> Option<SystemTime> {
        self.kept
            .iter()
            .filter_map(|kept| match &kept.reason {
                KeptReason::OutsideWindow { until } => Some(*until),
                KeptReason::Chain(ChainWait::Soaking { left, .. }) => Some(now + *left),
                _ => None,
            })
            .min()
    }

    /// Records the plan a cycle is about to carry out.
    pub(super) fn planned(&mut self, plan: &Plan) {
        self.changes = plan.changes.clone();
        self.kept = plan.kept.clone();
        self.holds_made = plan.holds_made.clone();
        self.holds_ended = plan.holds_ended.clone();
        self.forgotten = plan.forgotten.clone();
    }

    /// Settles the result once the pipeline has ended. `changes` then lists what was
    /// pushed, or for a dry run what would have been.
    pub(super) fn settle(&mut self, pushed: bool, dry_run: bool) {
        if !pushed && !dry_run {
            self.changes.clear();
        }
        self.result = if !self.errors.is_empty() {
            CycleResult::Failed
        } else if pushed {
            CycleResult::Updated
        } else {
            CycleResult::Unchanged
        };
    }
}
