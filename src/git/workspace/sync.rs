//! Following the remote: fetch the branch and make the working copy exactly its head, moving
//! only the files that changed when it can.

use super::open::remove_stale_locks;
use super::*;

impl Workspace {
    /// Fetches the branch (forced: a rewritten remote history is followed) and makes the
    /// working tree exactly the remote head, removing leftovers of an interrupted cycle. Git
    /// lock files left by a crash are removed first (the workspace lock says nobody else is
    /// working here); a workspace whose objects turn out missing or unreadable is moved aside
    /// and fetched afresh.
    pub fn sync(&mut self) -> Result<Synced, GitError> {
        if self.auth.skips_host_keys() {
            tracing::warn!(repo = %self.name, "SSH host key verification is disabled for this repo (insecureSkipHostKeyVerification)");
        }
        remove_stale_locks(self.repo.path());
        match self.fetch_and_reset() {
            Err(Failed::Corrupt(e)) => {
                let dir = self.dir().to_path_buf();
                tracing::warn!(workspace = %dir.display(), error = %e.message(), "workspace has missing or unreadable objects");
                self.touched();
                move_aside(&dir, "has missing or unreadable objects")
                    .map_err(|e| self.local_io(e))?;
                (self.repo, self.fresh) = reuse_or_create(&dir, &self.url, &self.branch)?;
                self.last_head = None;
                self.clean = false;
                self.fetch_and_reset()
                    .map_err(|failed| self.failure(failed))
            }
            Err(Failed::TooShallow) => {
                let dir = self.dir().to_path_buf();
                tracing::info!(workspace = %dir.display(), commits = self.depth, "fetching the branch's history, which a promotion chain reads");
                self.touched();
                // The lock is a sibling file: the directory is this handle's to remove.
                std::fs::remove_dir_all(&dir).map_err(|e| self.local_io(e))?;
                (self.repo, self.fresh) = reuse_or_create(&dir, &self.url, &self.branch)?;
                self.last_head = None;
                self.clean = false;
                self.fetch_and_reset()
                    .map_err(|failed| self.failure(failed))
            }
            other => other.map_err(|failed| self.failure(failed)),
        }
    }

    /// A shallow clone whose first-parent history from `tip` ends before `depth` commits.
    fn too_shallow(&self, tip: Oid) -> Result<bool, Failed> {
        if self.depth <= 1 || !self.repo.is_shallow() {
            return Ok(false);
        }
        let mut commit = self.repo.find_commit(tip)?;
        for _ in 1..self.depth {
            match commit.parent(0) {
                Ok(parent) => commit = parent,
                Err(_) => return Ok(true),
            }
        }
        Ok(false)
    }

    fn fetch_and_reset(&mut self) -> Result<Synced, Failed> {
        // Checked before fetching: libgit2 asked to deepen a clone whose tip it has fetches
        // nothing, and forgets that the clone is shallow.
        let fetched = self.repo.refname_to_id(&self.remote_ref());
        if let Ok(tip) = fetched
            && self.too_shallow(tip)?
        {
            return Err(Failed::TooShallow);
        }
        let trouble = RefCell::new(Trouble::default());
        let fetched = {
            let mut remote = self.repo.find_remote("origin")?;
            let mut options = FetchOptions::new();
            options.remote_callbacks(self.auth.callbacks(&trouble));
            // Only the branch's tip is needed unless a followed rule's history is read.
            // (libgit2's local transport cannot fetch shallow; it copies objects on disk.)
            if !self.local {
                options.depth(self.depth);
            }
            remote.fetch(&[refspec(&self.branch)], Some(&mut options), None)
        };
        fetched.map_err(|e| Failed::Remote(e, trouble.into_inner()))?;
        let Ok(head) = self.repo.refname_to_id(&self.remote_ref()) else {
            return Err(Failed::NoBranch);
        };
        // The head commit and its tree must be readable, even when nothing needs checking out.
        let tree = self.repo.find_commit(head)?.tree()?;
        // A tree that lacks files now wanted is reset to bring them.
        let covered = self.coverage.includes(&self.wanted.for_tree(&tree));
        drop(tree);
        let previous = self.last_head;
        let mut changed = Some(Vec::new());
        if previous != Some(head) || !self.clean || !covered {
            changed = match (previous, self.clean && covered) {
                (Some(old), true) => self.move_tree(old, head)?,
                _ => None,
            };
            if changed.is_none() {
                self.reset_or_rebuild(head)?;
            }
        }
        self.last_head = Some(head);
        self.remember();
        Ok(Synced {
            head,
            previous,
            changed,
        })
    }

    /// Saves the memo beside the workspace when the tree is clean at a new head.
    pub(super) fn remember(&mut self) {
        if let Some(head) = self.last_head.filter(|_| self.clean)
            && self.saved != Some(head)
        {
            memo::save(
                &self.sidecar(memo::SUFFIX),
                &self.repo,
                head,
                &self.coverage,
            );
            self.saved = Some(head);
        }
    }

    /// A hard reset to `head`; a damaged index (the usual cause of a failing reset) is
    /// rebuilt from the tree.
    fn reset_or_rebuild(&mut self, head: Oid) -> Result<(), Failed> {
        let Err(err) = self.reset_to(head) else {
            return Ok(());
        };
        if is_corruption(&err) {
            return Err(Failed::Corrupt(err));
        }
        tracing::warn!(error = %err.message(), "reset failed; rebuilding the index");
        let _ = std::fs::remove_file(self.repo.path().join("index"));
        Ok(self.reset_to(head)?)
    }

    /// Moves a clean tree from `old` to `new` by writing only the files on disk that differ,
    /// and returns them. `None` when a path is not plain (the caller resets instead).
    fn move_tree(&mut self, old: Oid, new: Oid) -> Result<Option<Vec<PathBuf>>, Failed> {
        let Some(mut changed) = self.diff_paths(old, new)? else {
            return Ok(None);
        };
        // Files outside a partial tree stay off disk, unless laminar or an action wrote one.
        if self.coverage != Coverage::Full {
            let index = self.repo.index()?;
            changed
                .retain(|path| self.coverage.contains(path) || index.get_path(path, 0).is_some());
        }
        // Known clean no more until the move is complete, here or in a process after a crash.
        self.touched();
        let old_tree = self.repo.find_commit(old)?.tree()?;
        let new_tree = self.repo.find_commit(new)?.tree()?;
        let written = !changed.is_empty()
            && tree_move::write_changes(&self.repo, &self.dir, &old_tree, &new_tree, &changed)?;
        if !changed.is_empty() && !written {
            let mut checkout = CheckoutBuilder::new();
            // Exact paths: without them a checkout would visit the whole tree.
            checkout.force().disable_pathspec_match(true);
            for path in &changed {
                checkout.path(path);
            }
            self.repo
                .checkout_tree(new_tree.as_object(), Some(&mut checkout))?;
        }
        let branch_ref = format!("refs/heads/{}", self.branch);
        self.repo
            .reference(&branch_ref, new, true, "laminar: follow remote")?;
        self.repo.set_head(&branch_ref)?;
        self.tree_moves += 1;
        self.clean = true;
        Ok(Some(changed))
    }

    /// The files that differ between two commits, relative to the root.
    pub fn changed_files(&self, from: Oid, to: Oid) -> Result<Vec<PathBuf>, GitError> {
        match self.diff_paths(from, to) {
            Ok(Some(paths)) => Ok(paths),
            Ok(None) => Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "the commits hold a path that is not plain".into(),
            }),
            Err(failed) => Err(self.failure(failed)),
        }
    }

    /// The paths that differ between two commits' trees; `None` if one is not plain.
    fn diff_paths(&self, old: Oid, new: Oid) -> Result<Option<Vec<PathBuf>>, Failed> {
        let old_tree = self.repo.find_commit(old)?.tree()?;
        let new_tree = self.repo.find_commit(new)?.tree()?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None)?;
        let mut changed = Vec::new();
        for delta in diff.deltas() {
            let file = match delta.status() {
                Delta::Deleted => delta.old_file(),
                _ => delta.new_file(),
            };
            match file.path().filter(|p| plain_relative(p)) {
                Some(path) => changed.push(path.to_path_buf()),
                None => return Ok(None),
            }
        }
        Ok(Some(changed))
    }

    /// Throws away uncommitted work (after a failed exec action, say): back to the last synced
    /// head.
    pub fn discard(&mut self) -> Result<(), GitError> {
        let Some(head) = self.last_head else {
            return Ok(());
        };
        self.reset_to(head).map_err(|e| self.local(e))?;
        self.remember();
        Ok(())
    }

    /// Marks the tree as about to be written to: the next sync resets it even if the remote
    /// stands still, in this process or the next.
    pub fn touched(&mut self) {
        self.clean = false;
        if self.saved.take().is_some() {
            memo::forget(&self.sidecar(memo::SUFFIX));
        }
    }

    /// Points the branch at `head` and makes index and tree match the wanted part of it,
    /// untracked files removed.
    fn reset_to(&mut self, head: Oid) -> Result<(), git2::Error> {
        let commit = self.repo.find_commit(head)?;
        let tree = commit.tree()?;
        let coverage = self.wanted.for_tree(&tree);
        let branch_ref = format!("refs/heads/{}", self.branch);
        self.repo
            .reference(&branch_ref, head, true, "laminar: follow remote")?;
        self.repo.set_head(&branch_ref)?;
        match &coverage {
            Coverage::Full => self.repo.reset(
                commit.as_object(),
                git2::ResetType::Hard,
                Some(CheckoutBuilder::new().force()),
            )?,
            Coverage::Paths(_) => {
                let mut index = self.repo.index()?;
                coverage.fill_index(&self.repo, &tree, &mut index)?;
                self.repo
                    .checkout_index(Some(&mut index), Some(CheckoutBuilder::new().force()))?;
                // Files the checkout found already right keep no stat data; record it, so
                // later checks of the tree need not read them.
                index.update_all(["*"], None)?;
                index.write()?;
            }
        }
        self.coverage = coverage;
        // A tree just created holds nothing untracked; looking would read every file.
        if !std::mem::take(&mut self.fresh) {
            self.remove_untracked()?;
        }
        self.resets += 1;
        self.clean = true;
        Ok(())
    }

    fn remove_untracked(&self) -> Result<(), git2::Error> {
        // Untracked directories come back whole ("rendered/"), and go whole.
        let statuses = workdir_statuses(&self.repo, false)?;
        let root = self.dir().to_path_buf();
        for entry in statuses.iter() {
            if !entry.status().contains(Status::WT_NEW) {
                continue;
            }
            let Ok(path) = entry.path() else {
                continue;
            };
            let full = root.join(path);
            // symlink_metadata: a leftover symlink to a directory goes, not what it points at.
            let removed = match std::fs::symlink_metadata(&full) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&full),
                _ => std::fs::remove_file(&full),
            };
            if let Err(err) = removed {
                return Err(git2::Error::from_str(&format!(
                    "cannot remove leftover file {}: {err}",
                    full.display()
                )));
            }
        }
        Ok(())
    }
}

/// Whether the working tree holds exactly what the index says: no file changed, none left
/// over (git's own stat check: files whose size and time match the index are not read).
pub(super) fn tree_matches_index(repo: &Repository) -> bool {
    workdir_statuses(repo, false).is_ok_and(|statuses| statuses.is_empty())
}

/// How the files on disk differ from the index (`.gitignore` respected); untracked
/// directories listed file by file when `each_file`. The index is never compared with the
/// head: a partial tree's index holds only what is on disk.
pub(super) fn workdir_statuses(
    repo: &Repository,
    each_file: bool,
) -> Result<Statuses<'_>, git2::Error> {
    let mut options = StatusOptions::new();
    options
        .show(StatusShow::Workdir)
        .include_untracked(true)
        .recurse_untracked_dirs(each_file)
        .include_ignored(false)
        .exclude_submodules(true);
    repo.statuses(Some(&mut options))
}

pub(super) fn refspec(branch: &str) -> String {
    format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")
}

/// Relative, with only normal components, none of them `.git`: safe to join to the root.
fn plain_relative(path: &Path) -> bool {
    path.components().all(|c| match c {
        Component::Normal(part) => !part.eq_ignore_ascii_case(".git"),
        _ => false,
    })
}
