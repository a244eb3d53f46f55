//! The branch's first-parent history of a few files: when each version of them landed on the
//! branch. A merge lands what it brings at its own time, which is what first parents give.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use git2::{ObjectType, Oid};

use super::Workspace;
use crate::git::GitError;

/// One commit on the branch, and the blob each asked file has in it (`None`: no such file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Landed {
    pub commit: Oid,
    /// The committer's time: when the commit was made on, or merged into, the branch.
    pub time: SystemTime,
    pub blobs: Vec<Option<Oid>>,
}

impl Workspace {
    /// From `head` back along first parents: at most `limit` commits, none older than
    /// `since`, newest first. Ends quietly where the fetched history ends.
    pub fn first_parent_history(
        &self,
        head: Oid,
        paths: &[PathBuf],
        limit: usize,
        since: SystemTime,
    ) -> Result<Vec<Landed>, GitError> {
        let mut out = Vec::new();
        let mut commit = self.repo.find_commit(head).map_err(|e| self.local(e))?;
        loop {
            let seconds = commit.time().seconds();
            let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64);
            let tree = commit.tree().map_err(|e| self.local(e))?;
            let blobs = paths
                .iter()
                .map(|path| {
                    let entry = tree.get_path(path).ok()?;
                    (entry.kind() == Some(ObjectType::Blob)).then(|| entry.id())
                })
                .collect();
            out.push(Landed {
                commit: commit.id(),
                time,
                blobs,
            });
            if out.len() >= limit || time < since {
                return Ok(out);
            }
            // A shallow fetch's oldest commit has no parent to read.
            match commit.parent(0) {
                Ok(parent) => commit = parent,
                Err(_) => return Ok(out),
            }
        }
    }

    /// A blob's bytes; `None` when it is bigger than `cap` or cannot be read.
    pub fn blob(&self, id: Oid, cap: usize) -> Option<Vec<u8>> {
        let blob = self.repo.find_blob(id).ok()?;
        (blob.size() <= cap).then(|| blob.content().to_vec())
    }
}
