//! What a workspace knows about itself between cycles — the head its tree holds, whether the
//! tree is exactly that head, and which part of it is on disk — in memory for the daemon and in a file beside the workspace
//! (`<workspace>.memo.json`) so that `laminar once` and a restarted daemon start warm.
//!
//! The file is written only while the tree is clean at its head, and removed before anything
//! writes to the tree: a process killed mid-cycle leaves no file, and the next one resets. It
//! is trusted only if the branch still points at its head and git's index is the one laminar
//! last wrote (same size and time), and the workspace then checks the tree against that index:
//! a git command or a file edited in the workspace by hand makes the next cycle reset.

use std::path::Path;
use std::time::UNIX_EPOCH;

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::coverage::Coverage;
use crate::store::write_atomically;

/// The workspace's state between cycles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memo {
    pub(super) last_head: Option<Oid>,
    /// The tree is exactly `last_head`: nothing has been written since.
    pub(super) clean: bool,
    /// The part of the tree on disk.
    pub(super) coverage: Coverage,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    head: String,
    index_len: u64,
    index_modified_ns: u128,
    /// Absent in memos written before partial workspaces: those were whole.
    #[serde(default)]
    coverage: Coverage,
}

/// The memo file's suffix, after the workspace's directory name.
pub(super) const SUFFIX: &str = ".memo.json";

/// The saved memo, if it still describes the workspace; otherwise the file is removed.
pub(super) fn load(file: &Path, repo: &Repository, branch: &str) -> Memo {
    let Ok(text) = std::fs::read(file) else {
        return Memo::default();
    };
    let saved: Option<Saved> = serde_json::from_slice(&text).ok();
    let head = saved.and_then(|saved| {
        let head = Oid::from_str(&saved.head).ok()?;
        let branch_head = repo.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
        let (len, modified) = index_stamp(repo)?;
        (branch_head == head && len == saved.index_len && modified == saved.index_modified_ns)
            .then_some((head, saved.coverage))
    });
    match head {
        Some((head, coverage)) => Memo {
            last_head: Some(head),
            clean: true,
            coverage,
        },
        None => {
            forget(file);
            Memo::default()
        }
    }
}

/// Records that the tree is clean at `head`; a failure only costs the next process a reset.
pub(super) fn save(file: &Path, repo: &Repository, head: Oid, coverage: &Coverage) {
    let Some((index_len, index_modified_ns)) = index_stamp(repo) else {
        return;
    };
    let saved = Saved {
        head: head.to_string(),
        index_len,
        index_modified_ns,
        coverage: coverage.clone(),
    };
    let written = serde_json::to_vec(&saved)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomically(file, &bytes));
    if let Err(err) = written {
        tracing::debug!(file = %file.display(), error = %err, "cannot save the workspace memo");
    }
}

/// Removes the file: the tree is about to be written to.
pub(super) fn forget(file: &Path) {
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(file = %file.display(), error = %err, "cannot remove the workspace memo")
        }
    }
}

/// The size and modification time of git's index.
fn index_stamp(repo: &Repository) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(repo.path().join("index")).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), modified.as_nanos()))
}
