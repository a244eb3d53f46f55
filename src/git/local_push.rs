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
pub(super) enum LocalPushError {
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
pub(super) fn remote_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

/// Moves `branch` on the repository at `remote` from `expected` to `new`, copying what it lacks.
pub(super) fn push(
    local: &Repository,
    remote: &Path,
    branch: &str,
    expected: Oid,
    new: Oid,
) -> Result<Push, LocalPushError> {
    if !local.graph_descendant_of(new, expected)? {
        return Ok(Push::Rejected(format!(
            "{new} does not build on {expected} (non-fast-forward)"
        )));
    }
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

/// A branch to move under a lease.
pub(super) struct Leased<'a> {
    pub branch: &'a str,
    /// What the branch must still hold (`None`: it must not exist).
    pub lease: Option<Oid>,
    pub new: Oid,
}

/// Points `update.branch` on the repository at `remote` at `update.new`, forced, if it still
/// holds its lease. `base`, a commit the remote has, bounds what is copied.
pub(super) fn push_with_lease(
    local: &Repository,
    remote: &Path,
    base: Oid,
    update: Leased,
) -> Result<Push, LocalPushError> {
    let Leased { branch, lease, new } = update;
    let target = Repository::open(remote)?;
    let refname = format!("refs/heads/{branch}");
    copy_objects(local, &target, base, new)?;
    let moved = match lease {
        Some(old) => target.reference_matching(&refname, new, true, old, "laminar: push"),
        None => target.reference(&refname, new, false, "laminar: push"),
    };
    match moved {
        Ok(_) => Ok(Push::Pushed),
        Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists) => Ok(
            Push::Rejected("the remote branch moved since laminar last saw it (lease)".into()),
        ),
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
    if target.odb()?.exists(expected) && local.odb()?.exists(expected) {
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

#[cfg(test)]
mod tests {
    use git2::Signature;

    use super::*;

    /// Commits a file on top of `parent` (or as a root commit) without touching any ref.
    fn commit(repo: &Repository, parent: Option<Oid>, content: &str) -> Oid {
        let blob = repo.blob(content.as_bytes()).unwrap();
        let mut tree = repo.treebuilder(None).unwrap();
        tree.insert("app.yaml", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent
            .map(|p| repo.find_commit(p).unwrap())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        let who = Signature::now("t", "t@example.org").unwrap();
        repo.commit(None, &who, &who, content, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn the_ref_moves_only_from_the_value_last_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Repository::init_bare(dir.path().join("remote.git")).unwrap();
        let local = Repository::init(dir.path().join("local")).unwrap();
        let base = commit(&local, None, "base");
        push_base(&local, &remote, base);

        // Someone else moves the remote branch after laminar's last fetch…
        let theirs = commit(&remote, Some(base), "theirs");
        remote
            .reference("refs/heads/main", theirs, true, "outside push")
            .unwrap();
        // …so laminar's push, made on top of what it fetched, must not land.
        let ours = commit(&local, Some(base), "ours");
        let pushed = push(&local, remote.path(), "main", base, ours);
        assert!(matches!(pushed, Ok(Push::Rejected(_))));
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), theirs);

        // After a sync: never a push that drops their commit, even told it is current…
        copy_objects(&remote, &local, base, theirs).unwrap();
        let pushed = push(&local, remote.path(), "main", theirs, ours);
        assert!(matches!(pushed, Ok(Push::Rejected(_))));
        // …and the change redone on top of theirs goes through.
        let redone = commit(&local, Some(theirs), "ours, again");
        let pushed = push(&local, remote.path(), "main", theirs, redone);
        assert!(matches!(pushed, Ok(Push::Pushed)));
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), redone);
        remote.find_commit(redone).unwrap().tree().unwrap();
    }

    fn push_base(local: &Repository, remote: &Repository, base: Oid) {
        copy_objects(local, remote, base, base).unwrap();
        remote
            .reference("refs/heads/main", base, true, "first push")
            .unwrap();
    }
}
