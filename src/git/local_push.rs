//! Pushing to a remote on this machine (`file://` URLs and plain paths) as a compare-and-swap.
//!
//! libgit2's local transport writes the remote ref without checking its old value, so a push
//! racing another writer would silently drop that writer's commits. Here the objects are
//! copied into the remote's object store as a pack, and the ref is moved only if it still
//! points at the commit this workspace last fetched — under the remote's own ref lock, the one
//! `git push` and `git receive-pack` take.

use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository};

use super::workspace::Push;

/// Why a local push could not be made (the caller maps it to a [`super::GitError`]).
pub enum LocalPushError {
    /// Another writer holds the remote ref's lock.
    Locked(String),
    Other(git2::Error),
}

impl From<git2::Error> for LocalPushError {
    fn from(e: git2::Error) -> LocalPushError {
        LocalPushError::Other(e)
    }
}

/// The remote repository's path for a local URL.
pub fn remote_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

/// Moves `branch` on the repository at `remote` from `expected` to `new`, copying what it lacks.
pub fn push(
    local: &Repository,
    remote: &Path,
    branch: &str,
    expected: Oid,
    new: Oid,
) -> Result<Push, LocalPushError> {
    let target = Repository::open(remote)?;
    let refname = format!("refs/heads/{branch}");
    copy_objects(local, &target, expected, new)?;
    match target.reference_matching(&refname, new, true, expected, "laminar: push") {
        Ok(_) => Ok(Push::Pushed),
        Err(e) if e.code() == ErrorCode::Modified => Ok(Push::Rejected(
            "the remote branch moved since the last fetch (non-fast-forward)".into(),
        )),
        Err(e) if e.code() == ErrorCode::Locked => {
            Err(LocalPushError::Locked(e.message().to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes every object reachable from `new` but not from `expected` into `target` as one pack.
fn copy_objects(
    local: &Repository,
    target: &Repository,
    expected: Oid,
    new: Oid,
) -> Result<(), git2::Error> {
    let mut walk = local.revwalk()?;
    walk.push(new)?;
    if target.odb()?.exists(expected) {
        walk.hide(expected)?;
    }
    let mut builder = local.packbuilder()?;
    builder.insert_walk(&mut walk)?;
    let odb = target.odb()?;
    let mut writer = odb.packwriter()?;
    let mut failed = None;
    builder.foreach(|chunk| match writer.write_all(chunk) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    if let Some(e) = failed {
        return Err(git2::Error::from_str(&format!(
            "cannot write to the remote: {e}"
        )));
    }
    writer.commit()?;
    Ok(())
}
