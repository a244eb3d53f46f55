//! Committing what the cycle changed (signed when configured), and what laminar can tell of
//! commits: whether it made one, whether one is in a branch's history.

use super::*;

impl Workspace {
    /// Stages every change on disk (new, modified, deleted; `.gitignore` respected) and
    /// commits it on top of the synced head with `message`. Only what changed on disk goes in:
    /// files a partial tree never held stay as the head has them. `None` when nothing changed.
    pub fn commit(&mut self, message: &str) -> Result<Option<Oid>, GitError> {
        self.touched();
        let local = |e: git2::Error| self.local(e);
        let Some(head) = self.last_head else {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        };
        let parent = self.repo.find_commit(head).map_err(local)?;
        let tree_id = self
            .stage_changes(&parent.tree().map_err(local)?)
            .map_err(local)?;
        if parent.tree_id() == tree_id {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id).map_err(local)?;
        let signature = Signature::now(&self.identity.name, &self.identity.email).map_err(local)?;
        let Some(signing) = self.identity.signing.clone() else {
            let oid = self
                .repo
                .commit(
                    Some("HEAD"),
                    &signature,
                    &signature,
                    message,
                    &tree,
                    &[&parent],
                )
                .map_err(local)?;
            return Ok(Some(oid));
        };
        let buffer = self
            .repo
            .commit_create_buffer(&signature, &signature, message, &tree, &[&parent])
            .map_err(local)?;
        let unsigned = String::from_utf8(buffer.to_vec()).map_err(|_| GitError::Workspace {
            path: self.dir().to_path_buf(),
            message: "the commit message or author is not UTF-8".into(),
        })?;
        let gpgsig = sign(&self.signer, &signing, unsigned.as_bytes()).map_err(|source| {
            GitError::Signing {
                key: signing.key_file.clone(),
                source,
            }
        })?;
        let oid = self
            .repo
            .commit_signed(&unsigned, &gpgsig, Some("gpgsig"))
            .map_err(local)?;
        // `commit_signed` writes the object only: HEAD moves as `commit` would move it.
        self.repo
            .head()
            .and_then(|mut head| head.set_target(oid, "laminar: signed commit"))
            .map_err(local)?;
        Ok(Some(oid))
    }

    /// Brings every change on disk into the index and returns the head's tree with those
    /// changes.
    fn stage_changes(&self, head: &git2::Tree) -> Result<Oid, git2::Error> {
        let mut index = self.repo.index()?;
        let mut update = TreeUpdateBuilder::new();
        let statuses = workdir_statuses(&self.repo, true)?;
        for entry in statuses.iter() {
            let Some(path) = entry.path().ok().map(Path::new) else {
                return Err(git2::Error::from_str("a changed file's name is not UTF-8"));
            };
            if entry.status().contains(Status::WT_DELETED) {
                index.remove_path(path)?;
                update.remove(path);
                continue;
            }
            index.add_path(path)?;
            let Some(staged) = index.get_path(path, 0) else {
                return Err(git2::Error::from_str(
                    "a staged file is missing from the index",
                ));
            };
            update.upsert(path, staged.id, file_mode(staged.mode));
        }
        index.write()?;
        update.create_updated(&self.repo, head)
    }

    /// Did laminar make `commit`, as far as the commit says: its author and committer are
    /// laminar's identity (a commit amended by someone else names them as committer).
    pub fn made_by_laminar(&self, commit: Oid) -> bool {
        let Ok(commit) = self.repo.find_commit(commit) else {
            return false;
        };
        let ours = |who: git2::Signature| {
            who.name().ok() == Some(self.identity.name.as_str())
                && who.email().ok() == Some(self.identity.email.as_str())
        };
        ours(commit.author()) && ours(commit.committer())
    }

    /// Is `commit` `head` or one of its ancestors? `false` when this workspace cannot tell
    /// (the commit was never fetched, or history was rewritten without it).
    pub fn in_history(&self, head: Oid, commit: Oid) -> bool {
        head == commit || self.repo.graph_descendant_of(head, commit).unwrap_or(false)
    }

    /// Do two commits make the same change: the same parents and the same tree?
    pub fn same_change(&self, a: Oid, b: Oid) -> bool {
        let (Ok(a), Ok(b)) = (self.repo.find_commit(a), self.repo.find_commit(b)) else {
            return false;
        };
        a.tree_id() == b.tree_id() && a.parent_ids().eq(b.parent_ids())
    }
}

fn file_mode(mode: u32) -> FileMode {
    match mode {
        0o120000 => FileMode::Link,
        0o100755 => FileMode::BlobExecutable,
        _ => FileMode::Blob,
    }
}

/// The `gpgsig` value for `buffer`, from the signer in `slot`: read once, and again when its
/// key file changes.
fn sign(
    slot: &RefCell<Option<Signer>>,
    signing: &Signing,
    buffer: &[u8],
) -> Result<String, SigningError> {
    let mut slot = slot.borrow_mut();
    let signer = match slot.take() {
        Some(signer) if !signer.stale(&signing.key_file) => signer,
        _ => Signer::load(signing)?,
    };
    slot.insert(signer).sign(buffer)
}
