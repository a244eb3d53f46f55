//! What laminar last proposed on each of a repo's pull-request branches, kept beside the
//! workspace so a restart neither opens a second pull request nor rebuilds a branch that is
//! already right. Losing it costs one rebuild: a branch whose tip laminar made is still
//! recognised as its own.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::forge::PullRequestRef;

/// laminar's branches of one repo, by branch name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Delivered {
    pub branches: BTreeMap<String, Proposed>,
}

/// One branch as laminar last pushed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Proposed {
    pub group: String,
    /// The watched branch's head the commit was built on.
    pub base: String,
    /// The plan's fingerprint ([`super::proposal::Group::fingerprint`]).
    pub fingerprint: String,
    /// The commit laminar pushed: the lease for the next push.
    pub pushed: String,
    pub images: Vec<String>,
    pub pull: Option<PullRequestRef>,
    /// Someone closed the pull request unmerged: this plan is not proposed again.
    #[serde(default)]
    pub declined: bool,
}

impl Delivered {
    pub(super) const SUFFIX: &'static str = ".pulls.json";

    /// The saved record; an unreadable one reads as empty (the branches' tips still say which
    /// are laminar's).
    pub(super) fn load(file: &Path) -> Delivered {
        crate::store::load_record(file, "record of pull-request branches")
    }

    pub(super) fn save(&self, file: &Path) {
        crate::store::save_record(file, self, "pull-request record");
    }

    /// The open pull requests, by branch.
    pub(super) fn open(&self) -> impl Iterator<Item = (&String, &PullRequestRef)> {
        self.branches
            .iter()
            .filter_map(|(branch, p)| p.pull.as_ref().map(|pull| (branch, pull)))
    }
}
