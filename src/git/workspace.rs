//! A persistent working copy of one branch of one remote: follow the remote exactly, commit
//! what changed, push as a compare-and-swap. Blocking: run it off the runtime.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};
use std::sync::Once;

use git2::build::{CheckoutBuilder, TreeUpdateBuilder};
use git2::{
    Delta, ErrorClass, ErrorCode, FetchOptions, FileMode, Oid, PushOptions, Repository, Signature,
    Status, StatusOptions, StatusShow, Statuses,
};
use sha2::{Digest, Sha256};

use super::GitError;
use super::auth::{GitAuth, Trouble};
use super::coverage::Coverage;
use super::local_push::{self, LocalPushError};
use super::lock::WorkspaceLock;
use super::memo::{self, Memo};
use super::signing::Signer;
use super::tree_move;
use crate::config::git_url::{Remote, redact};
use crate::config::{Repo, Signing};

/// How long connecting to a remote, and then each read or write, may take.
const CONNECT_TIMEOUT_MS: i32 = 15_000;
const IO_TIMEOUT_MS: i32 = 120_000;

/// The commit author, and the key that signs the commits, if any.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub email: String,
    pub signing: Option<Signing>,
}

/// The remote head after a sync, and how the working tree got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    pub head: Oid,
    /// The head the working tree held before (`None` on a first sync or after a rebuild).
    pub previous: Option<Oid>,
    /// The files (relative to the root) that differ between `previous` and `head`, when the
    /// tree was moved by applying that difference; `None` when it was reset whole.
    pub changed: Option<Vec<PathBuf>>,
}

impl Synced {
    /// Whether the head differs from the previous sync's (always true for the first).
    pub fn moved(&self) -> bool {
        self.previous != Some(self.head)
    }
}

/// How a push ended, when the remote answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// The remote branch now points at the commit.
    Pushed,
    /// The remote branch moved since the last sync: sync, redo the change, try again.
    Rejected(String),
}

pub struct Workspace {
    repo: Repository,
    /// The working tree's root, `dataDir/workspaces/<name>-<hash>`.
    dir: PathBuf,
    /// Held while this handle lives: no other process works in the tree meanwhile.
    _lock: WorkspaceLock,
    name: String,
    url: String,
    branch: String,
    auth: GitAuth,
    identity: Identity,
    last_head: Option<Oid>,
    /// The tree is exactly `last_head`: nothing has been written since the last reset, so an
    /// unchanged remote needs no reset (a checkout of a big tree is not free).
    clean: bool,
    /// Hard resets this handle made: a no-op cycle makes none.
    resets: u32,
    /// Times the tree was moved to a new head by writing only the files that differ.
    tree_moves: u32,
    /// The head the memo file beside the workspace records, if there is one.
    saved: Option<Oid>,
    /// Just created: nothing has been checked out yet.
    fresh: bool,
    /// The identity's signing key, unlocked at the first signed commit.
    signer: RefCell<Option<Signer>>,
    /// The remote is on this machine (`file://` or a path).
    local: bool,
    /// The part of the tree on disk.
    coverage: Coverage,
    /// The part of the tree the next sync must bring to disk.
    wanted: Coverage,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("dir", &self.dir())
            .field("url", &redact(&self.url))
            .field("branch", &self.branch)
            .finish()
    }
}

impl Workspace {
    /// The working copy of `repo` under `data_dir`, created or reused, locked against other
    /// processes. One that is corrupt or tracks another URL is moved aside (with a warning)
    /// and started afresh.
    pub fn open(
        data_dir: &Path,
        repo: &Repo,
        identity: Identity,
        home: Option<&Path>,
    ) -> Result<Workspace, GitError> {
        set_timeouts();
        let dir = data_dir.join("workspaces").join(dir_name(repo));
        let lock = WorkspaceLock::acquire(&dir)?;
        let (git, fresh) = reuse_or_create(&dir, &repo.url, &repo.branch)?;
        Ok(Workspace {
            repo: git,
            dir,
            _lock: lock,
            name: repo.name.clone(),
            url: repo.url.clone(),
            branch: repo.branch.clone(),
            auth: GitAuth::new(repo, home),
            identity,
            last_head: None,
            clean: false,
            resets: 0,
            tree_moves: 0,
            saved: None,
            fresh,
            signer: RefCell::new(None),
            local: Remote::parse(&repo.url) == Remote::Local,
            coverage: Coverage::Full,
            wanted: Coverage::Full,
        })
    }

    /// Which part of the tree the next sync brings to disk (the whole tree unless told).
    /// A workspace that already holds more keeps it until its next reset.
    pub fn want(&mut self, coverage: Coverage) {
        self.wanted = coverage;
    }

    /// Picks up where a previous handle of this process left off (see [`Workspace::memo`]).
    /// A process without one starts from the memo saved beside the workspace, once the tree
    /// is seen to match it.
    pub fn resume(mut self, memo: Memo) -> Workspace {
        let memo = match memo.last_head {
            Some(_) => memo,
            None => self.saved_memo(),
        };
        self.last_head = memo.last_head;
        self.clean = memo.clean;
        // A clean memo is always on disk too (see `remember`).
        self.saved = memo.last_head.filter(|_| memo.clean);
        self.coverage = memo.coverage;
        self
    }

    fn saved_memo(&self) -> Memo {
        let mut saved = memo::load(&self.sidecar(memo::SUFFIX), &self.repo, &self.branch);
        if saved.clean && !tree_matches_index(&self.repo) {
            tracing::info!(workspace = %self.dir.display(), "the working tree was changed outside laminar; resetting it");
            saved.clean = false;
        }
        saved
    }

    pub fn memo(&self) -> Memo {
        Memo {
            last_head: self.last_head,
            clean: self.clean,
            coverage: self.coverage.clone(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file kept beside the workspace (its name plus `suffix`), for state that must not be
    /// part of the tree.
    pub fn sidecar(&self, suffix: &str) -> PathBuf {
        sidecar(&self.dir, suffix)
    }

    /// Hard resets made through this handle.
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Moves to a new head made by writing only the files that differ.
    pub fn tree_moves(&self) -> u32 {
        self.tree_moves
    }

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
            other => other.map_err(|failed| self.failure(failed)),
        }
    }

    fn fetch_and_reset(&mut self) -> Result<Synced, Failed> {
        let trouble = RefCell::new(Trouble::default());
        let fetched = {
            let mut remote = self.repo.find_remote("origin")?;
            let mut options = FetchOptions::new();
            options.remote_callbacks(self.auth.callbacks(&trouble));
            // Only the branch's tip is needed: history is never read. (libgit2's local
            // transport cannot fetch shallow; it copies objects on disk instead.)
            if !self.local {
                options.depth(1);
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
    fn remember(&mut self) {
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
        let gpgsig = sign(&self.signer, &signing, unsigned.as_bytes()).map_err(|message| {
            GitError::Signing {
                key: signing.key_file.clone(),
                message,
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

    /// Pushes `commit` to the branch, never forced: the remote branch moves only if it still
    /// points at the last synced head. Once pushed, the workspace is in step with the remote
    /// at `commit`, so the next sync of an unchanged remote costs nothing.
    pub fn push(&mut self, commit: Oid) -> Result<Push, GitError> {
        let Some(expected) = self.last_head else {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        };
        let pushed = match self.local {
            true => self.push_local(expected, commit)?,
            false => {
                let spec = format!("refs/heads/{0}:refs/heads/{0}", self.branch);
                self.push_over_network(&spec, None)?
            }
        };
        if pushed == Push::Pushed {
            self.repo
                .reference(&self.remote_ref(), commit, true, "laminar: pushed")
                .map_err(|e| self.local(e))?;
            self.last_head = Some(commit);
            self.clean = true;
            self.remember();
        }
        Ok(pushed)
    }

    fn push_local(&self, expected: Oid, commit: Oid) -> Result<Push, GitError> {
        let remote = local_push::remote_path(&self.url);
        local_push::push(&self.repo, &remote, &self.branch, expected, commit)
            .map_err(|e| self.local_push_error(e))
    }

    fn local_push_error(&self, e: LocalPushError) -> GitError {
        match e {
            LocalPushError::Locked(message) => GitError::RemoteLocked {
                url: redact(&self.url),
                message,
            },
            LocalPushError::Other(e) => GitError::Network {
                url: redact(&self.url),
                message: e.message().to_string(),
            },
        }
    }

    /// Over SSH and HTTPS the server checks the old value itself: a push that is not a fast
    /// forward of what it holds is refused. A forced `spec` comes with a `lease`, the value the
    /// remote branch must hold (`None`: it must not exist): the push is called off before
    /// anything is sent if the server advertises another, and the server moves the branch
    /// only from the value it advertised.
    fn push_over_network(&self, spec: &str, lease: Option<Option<Oid>>) -> Result<Push, GitError> {
        let trouble = RefCell::new(Trouble::default());
        let rejected = RefCell::new(None);
        // What the server says on the side: a ref it cannot lock is only named there.
        let remote_said = RefCell::new(String::new());
        let result = {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut callbacks = self.auth.callbacks(&trouble);
            callbacks.push_update_reference(|_refname, status| {
                if let Some(status) = status {
                    *rejected.borrow_mut() = Some(status.to_string());
                }
                Ok(())
            });
            callbacks.sideband_progress(|text| {
                let mut said = remote_said.borrow_mut();
                if said.len() < 4096 {
                    said.push_str(&String::from_utf8_lossy(text));
                }
                true
            });
            let refused = &rejected;
            if let Some(lease) = lease {
                callbacks.push_negotiation(move |updates| {
                    let held = updates.first().map(|u| u.src()).filter(|o| !o.is_zero());
                    if held == lease {
                        return Ok(());
                    }
                    *refused.borrow_mut() = Some(format!(
                        "the remote branch holds {}, not {} (lease)",
                        held.map_or("nothing".into(), |o| o.to_string()),
                        lease.map_or("nothing".into(), |o| o.to_string()),
                    ));
                    Err(git2::Error::from_str("lease"))
                });
            }
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            remote.push(&[spec], Some(&mut options))
        };
        let why = match result {
            Ok(()) => rejected.into_inner(),
            Err(_) if rejected.borrow().is_some() => rejected.into_inner(),
            Err(e) if is_rejection(&e) => Some(e.message().to_string()),
            Err(e) => return Err(self.failure(Failed::Remote(e, trouble.into_inner()))),
        };
        let remote_said = remote_said.into_inner();
        match why {
            None => Ok(Push::Pushed),
            Some(_) if remote_said.contains(".lock': File exists") => Err(GitError::RemoteLocked {
                url: redact(&self.url),
                message: remote_said.trim().to_string(),
            }),
            Some(why) => Ok(Push::Rejected(why)),
        }
    }

    /// Where another branch of the remote points (`None`: it does not exist), its tip
    /// fetched. For laminar's own branches, next to the watched one.
    pub fn branch_tip(&mut self, branch: &str) -> Result<Option<Oid>, GitError> {
        let tracking = format!("refs/remotes/origin/{branch}");
        if let Ok(mut stale) = self.repo.find_reference(&tracking) {
            stale.delete().map_err(|e| self.local(e))?;
        }
        let trouble = RefCell::new(Trouble::default());
        let fetched = {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut options = FetchOptions::new();
            options.remote_callbacks(self.auth.callbacks(&trouble));
            if !self.local {
                options.depth(1);
            }
            remote.fetch(&[refspec(branch)], Some(&mut options), None)
        };
        if let Err(e) = fetched {
            return Err(self.remote_error(e, trouble.into_inner()));
        }
        Ok(self.repo.refname_to_id(&tracking).ok())
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

    /// Points `branch` on the remote at `commit`, forced, but only if the branch still holds
    /// `lease` (`None`: it must not exist yet) — never over commits laminar has not seen.
    /// For laminar's own branches; the watched branch is only ever pushed by [`Workspace::push`].
    pub fn push_branch(
        &mut self,
        commit: Oid,
        branch: &str,
        lease: Option<Oid>,
    ) -> Result<Push, GitError> {
        let Some(base) = self.last_head else {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        };
        let pushed = match self.local {
            true => {
                let remote = local_push::remote_path(&self.url);
                local_push::push_with_lease(&self.repo, &remote, branch, base, lease, commit)
                    .map_err(|e| self.local_push_error(e))?
            }
            false => {
                // libgit2 pushes from a ref: a private one, never a branch of the workspace.
                let outgoing = "refs/laminar/outgoing";
                self.repo
                    .reference(outgoing, commit, true, "laminar: outgoing")
                    .map_err(|e| self.local(e))?;
                let spec = format!("+{outgoing}:refs/heads/{branch}");
                self.push_over_network(&spec, Some(lease))?
            }
        };
        if pushed == Push::Pushed {
            let tracking = format!("refs/remotes/origin/{branch}");
            self.repo
                .reference(&tracking, commit, true, "laminar: pushed")
                .map_err(|e| self.local(e))?;
        }
        Ok(pushed)
    }

    fn remote_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
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

    fn local(&self, e: git2::Error) -> GitError {
        GitError::Workspace {
            path: self.dir().to_path_buf(),
            message: e.message().to_string(),
        }
    }

    fn local_io(&self, e: std::io::Error) -> GitError {
        GitError::Workspace {
            path: self.dir().to_path_buf(),
            message: e.to_string(),
        }
    }

    /// A sync or push failure as the error the caller sees; URLs are redacted.
    fn failure(&self, failed: Failed) -> GitError {
        match failed {
            Failed::Local(e) | Failed::Corrupt(e) => self.local(e),
            Failed::NoBranch => GitError::NoBranch {
                url: redact(&self.url),
                branch: self.branch.clone(),
            },
            Failed::Remote(e, trouble) => self.remote_error(e, trouble),
        }
    }

    /// Classifies a libgit2 error from talking to the remote, preferring what the callbacks
    /// learnt (libgit2 keeps only a short message).
    fn remote_error(&self, e: git2::Error, trouble: Trouble) -> GitError {
        let url = redact(&self.url);
        if let Some(message) = trouble.host_key {
            return GitError::HostKey { url, message };
        }
        if let Some(message) = trouble.credentials {
            return GitError::Auth { url, message };
        }
        let message = e.message().replace(&self.url, &url);
        match (e.code(), e.class()) {
            (ErrorCode::Auth, _) | (_, ErrorClass::Ssh) if message.contains("auth") => {
                GitError::Auth { url, message }
            }
            (ErrorCode::Locked, _) => GitError::RemoteLocked { url, message },
            _ => GitError::Network { url, message },
        }
    }
}

/// Relative, with only normal components, none of them `.git`: safe to join to the root.
fn plain_relative(path: &Path) -> bool {
    path.components().all(|c| match c {
        Component::Normal(part) => !part.eq_ignore_ascii_case(".git"),
        _ => false,
    })
}

/// Why a sync step failed, before it is turned into a [`GitError`].
enum Failed {
    Local(git2::Error),
    /// Objects are missing or unreadable: the workspace must be rebuilt.
    Corrupt(git2::Error),
    NoBranch,
    Remote(git2::Error, Trouble),
}

impl From<git2::Error> for Failed {
    fn from(e: git2::Error) -> Failed {
        if is_corruption(&e) {
            Failed::Corrupt(e)
        } else {
            Failed::Local(e)
        }
    }
}

/// Objects that should be there are not, or cannot be read.
fn is_corruption(e: &git2::Error) -> bool {
    matches!(
        e.class(),
        ErrorClass::Odb | ErrorClass::Object | ErrorClass::Zlib
    ) || (e.code() == ErrorCode::NotFound && e.class() == ErrorClass::Tree)
}

fn sidecar(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the working tree holds exactly what the index says: no file changed, none left
/// over (git's own stat check: files whose size and time match the index are not read).
fn tree_matches_index(repo: &Repository) -> bool {
    workdir_statuses(repo, false).is_ok_and(|statuses| statuses.is_empty())
}

/// How the files on disk differ from the index (`.gitignore` respected); untracked
/// directories listed file by file when `each_file`. The index is never compared with the
/// head: a partial tree's index holds only what is on disk.
fn workdir_statuses(repo: &Repository, each_file: bool) -> Result<Statuses<'_>, git2::Error> {
    let mut options = StatusOptions::new();
    options
        .show(StatusShow::Workdir)
        .include_untracked(true)
        .recurse_untracked_dirs(each_file)
        .include_ignored(false)
        .exclude_submodules(true);
    repo.statuses(Some(&mut options))
}

fn file_mode(mode: u32) -> FileMode {
    match mode {
        0o120000 => FileMode::Link,
        0o100755 => FileMode::BlobExecutable,
        _ => FileMode::Blob,
    }
}

/// Opens the workspace at `dir` if it is healthy and tracks `url`; otherwise moves it aside
/// and initialises an empty one (then `true`: its tree is empty).
fn reuse_or_create(dir: &Path, url: &str, branch: &str) -> Result<(Repository, bool), GitError> {
    let local = |e: &dyn std::fmt::Display| GitError::Workspace {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let existing = match Repository::open(dir) {
        Ok(existing) if !healthy(&existing) => {
            move_aside(dir, "is corrupt").map_err(|e| local(&e))?;
            None
        }
        Ok(existing) if tracks(&existing, url) => Some(existing),
        Ok(_) => {
            move_aside(dir, "tracks another remote URL").map_err(|e| local(&e))?;
            None
        }
        Err(_) if dir.exists() => {
            move_aside(dir, "is not a usable git repository").map_err(|e| local(&e))?;
            None
        }
        Err(_) => None,
    };
    match existing {
        Some(git) => Ok((git, false)),
        None => {
            std::fs::create_dir_all(dir).map_err(|e| local(&e))?;
            let git = Repository::init(dir).map_err(|e| local(&e.message()))?;
            git.remote_with_fetch("origin", url, &refspec(branch))
                .map_err(|e| local(&e.message()))?;
            if Remote::parse(url) == Remote::Local {
                borrow_objects(&git, url);
            }
            Ok((git, true))
        }
    }
}

/// A remote on this machine lends its object store (git's "alternates", as `git clone
/// --shared` does), so fetching copies no objects: libgit2 would otherwise pack the whole
/// history in-process. Objects laminar creates are still written here. Should the remote
/// ever prune one this workspace still needs, the workspace is found damaged and rebuilt.
fn borrow_objects(git: &Repository, url: &str) {
    let lent = Repository::open(local_push::remote_path(url))
        .ok()
        .map(|remote| remote.path().join("objects"))
        .and_then(|objects| objects.canonicalize().ok());
    let Some(objects) = lent else {
        return;
    };
    let alternates = git.path().join("objects/info/alternates");
    let written = std::fs::create_dir_all(git.path().join("objects/info"))
        .and_then(|()| std::fs::write(&alternates, format!("{}\n", objects.display())));
    if let Err(err) = written {
        tracing::debug!(error = %err, "cannot borrow the local remote's objects; fetching them");
    }
}

/// Git's own lock files (`index.lock`, `HEAD.lock`, `refs/…/<branch>.lock`, …) left by a
/// process that died mid-write. Only called under the workspace lock, when no other process
/// can be writing them.
fn remove_stale_locks(git_dir: &Path) {
    let mut pending = vec![git_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && path.starts_with(git_dir.join("refs")) {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "removed a stale git lock file left by an interrupted run")
                    }
                    Err(err) => {
                        tracing::warn!(file = %path.display(), error = %err, "cannot remove a stale git lock file")
                    }
                }
            }
        }
    }
}

fn refspec(branch: &str) -> String {
    format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")
}

fn is_rejection(e: &git2::Error) -> bool {
    let message = e.message();
    e.code() == ErrorCode::NotFastForward
        || message.contains("non-fast-forward")
        || message.contains("fetch first")
        || message.contains("rejected")
}

/// Can HEAD, its commit and that commit's tree be read? (An unborn branch is fine: a sync
/// never completed.) Blobs and the index are not read here — for a big tree that costs more
/// than a whole no-op cycle; a broken one is found by the next reset.
fn healthy(repo: &Repository) -> bool {
    match repo.head() {
        Ok(head) => head.peel_to_commit().and_then(|c| c.tree()).is_ok(),
        Err(e) => matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound),
    }
}

fn tracks(repo: &Repository, url: &str) -> bool {
    !repo.is_bare()
        && repo
            .find_remote("origin")
            .is_ok_and(|remote| remote.url().is_ok_and(|u| u == url))
}

/// A readable, collision-free directory name for a (url, branch) working copy.
fn dir_name(repo: &Repo) -> String {
    let hash = Sha256::digest(format!("{}\n{}", repo.url, repo.branch));
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{short}", repo.name)
}

fn move_aside(dir: &Path, why: &str) -> std::io::Result<()> {
    crate::store::set_aside(dir, "old", &format!("workspace {why}; cloning afresh")).map(drop)
}

/// libgit2's server timeouts are process-wide; set them once.
fn set_timeouts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: called once, before any git operation of this process runs.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS);
            let _ = git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS);
        }
    });
}

/// The `gpgsig` value for `buffer`, from the signer in `slot`: read once, and again when its
/// key file changes.
fn sign(
    slot: &RefCell<Option<Signer>>,
    signing: &Signing,
    buffer: &[u8],
) -> Result<String, String> {
    let mut slot = slot.borrow_mut();
    let signer = match slot.take() {
        Some(signer) if !signer.stale(&signing.key_file) => signer,
        _ => Signer::load(signing)?,
    };
    slot.insert(signer).sign(buffer)
}
