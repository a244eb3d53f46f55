//! A persistent working copy of one branch of one remote: follow the remote exactly, commit
//! what changed, push fast-forward only and retry on races. Blocking: run it off the runtime.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use git2::build::CheckoutBuilder;
use git2::{
    ErrorClass, ErrorCode, FetchOptions, IndexAddOption, Oid, PushOptions, Repository, Signature,
    Status, StatusOptions,
};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::auth::{GitAuth, Trouble};
use super::url::redact;
use super::{GitError, message};
use crate::config::Repo;
use crate::plan::Change;

/// How long connecting to a remote, and then each read or write, may take.
const CONNECT_TIMEOUT_MS: i32 = 15_000;
const IO_TIMEOUT_MS: i32 = 120_000;

/// The commit author and message settings.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// Commit message template (see [`message::render`]).
    pub template: Option<String>,
}

/// The remote head after a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    pub head: Oid,
    /// Whether the head differs from the previous sync's (always true for the first).
    pub moved: bool,
}

/// How a commit-and-push ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change, or the change is already upstream: no commit.
    Unchanged,
    Pushed {
        commit: Oid,
        /// Push attempts it took (1 without a race).
        attempts: u32,
        changes: Vec<Change>,
    },
}

/// What a workspace knows about itself between cycles, so the git handle (and libgit2's caches)
/// need not stay open while a repo sleeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memo {
    last_head: Option<Oid>,
    clean: bool,
}

pub struct Workspace {
    repo: Repository,
    name: String,
    url: String,
    branch: String,
    auth: GitAuth,
    identity: Identity,
    last_head: Option<Oid>,
    /// The tree is exactly `last_head`: nothing has been written since the last reset, so an
    /// unchanged remote needs no reset (a checkout of a big tree is not free).
    clean: bool,
    /// Backoff before retrying a rejected push.
    retry_base: Duration,
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
    /// The working copy of `repo` under `data_dir`, created or reused. One that is corrupt or
    /// tracks another URL is moved aside (with a warning) and started afresh.
    pub fn open(
        data_dir: &Path,
        repo: &Repo,
        identity: Identity,
        home: Option<&Path>,
    ) -> Result<Workspace, GitError> {
        set_timeouts();
        let dir = data_dir.join("workspaces").join(dir_name(repo));
        let local = |e: &dyn std::fmt::Display| GitError::Workspace {
            path: dir.clone(),
            message: e.to_string(),
        };
        let existing = match Repository::open(&dir) {
            Ok(existing) if !healthy(&existing) => {
                move_aside(&dir, "is corrupt").map_err(|e| local(&e))?;
                None
            }
            Ok(existing) if tracks(&existing, &repo.url) => Some(existing),
            Ok(_) => {
                move_aside(&dir, "tracks another remote URL").map_err(|e| local(&e))?;
                None
            }
            Err(_) if dir.exists() => {
                move_aside(&dir, "is not a usable git repository").map_err(|e| local(&e))?;
                None
            }
            Err(_) => None,
        };
        let git = match existing {
            Some(git) => git,
            None => {
                std::fs::create_dir_all(&dir).map_err(|e| local(&e))?;
                let git = Repository::init(&dir).map_err(|e| local(&e.message()))?;
                git.remote_with_fetch("origin", &repo.url, &refspec(&repo.branch))
                    .map_err(|e| local(&e.message()))?;
                git
            }
        };
        Ok(Workspace {
            repo: git,
            name: repo.name.clone(),
            url: repo.url.clone(),
            branch: repo.branch.clone(),
            auth: GitAuth::new(repo, home),
            identity,
            last_head: None,
            clean: false,
            retry_base: Duration::from_millis(300),
        })
    }

    /// Picks up where a previous handle on this workspace left off (see [`Workspace::memo`]).
    pub fn resume(mut self, memo: Memo) -> Workspace {
        self.last_head = memo.last_head;
        self.clean = memo.clean;
        self
    }

    pub fn memo(&self) -> Memo {
        Memo {
            last_head: self.last_head,
            clean: self.clean,
        }
    }

    pub fn dir(&self) -> &Path {
        self.repo.workdir().unwrap_or_else(|| self.repo.path())
    }

    /// Fetches the branch (forced: a rewritten remote history is followed) and makes the
    /// working tree exactly the remote head, removing leftovers of an interrupted cycle.
    pub fn sync(&mut self) -> Result<Synced, GitError> {
        if self.auth.skips_host_keys() {
            tracing::warn!(repo = %self.name, "SSH host key verification is disabled for this repo (insecureSkipHostKeyVerification)");
        }
        let _ = std::fs::remove_file(self.repo.path().join("index.lock"));
        let trouble = RefCell::new(Trouble::default());
        {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut options = FetchOptions::new();
            options.remote_callbacks(self.auth.callbacks(&trouble));
            remote
                .fetch(&[refspec(&self.branch)], Some(&mut options), None)
                .map_err(|e| self.remote_error(e, &trouble))?;
        }
        let remote_ref = format!("refs/remotes/origin/{}", self.branch);
        let head = self
            .repo
            .refname_to_id(&remote_ref)
            .map_err(|_| GitError::NoBranch {
                url: redact(&self.url),
                branch: self.branch.clone(),
            })?;
        let moved = self.last_head != Some(head);
        if (moved || !self.clean)
            && let Err(err) = self.reset_to(head)
        {
            // A damaged index is the usual cause; a hard reset rebuilds it from the tree.
            tracing::warn!(error = %err, "reset failed; rebuilding the index");
            let _ = std::fs::remove_file(self.repo.path().join("index"));
            self.reset_to(head)?;
        }
        self.last_head = Some(head);
        Ok(Synced { head, moved })
    }

    /// Throws away uncommitted work (after a failed exec action, say): back to the last synced
    /// head.
    pub fn discard(&mut self) -> Result<(), GitError> {
        match self.last_head {
            Some(head) => self.reset_to(head),
            None => Ok(()),
        }
    }

    /// Runs `apply` on the working tree, commits what changed and pushes it. If the push is
    /// rejected because the remote moved, syncs to the new head and runs `apply` again (it
    /// must recompute its change from the tree it is given), up to `attempts` times. Never
    /// force-pushes.
    pub fn commit_and_push<E: std::fmt::Display>(
        &mut self,
        attempts: u32,
        mut apply: impl FnMut(&Path) -> Result<Vec<Change>, E>,
    ) -> Result<Outcome, GitError> {
        if self.last_head.is_none() {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        }
        for attempt in 1..=attempts.max(1) {
            self.clean = false;
            let dir = self.dir().to_path_buf();
            let changes = apply(&dir).map_err(|e| GitError::Apply(e.to_string()))?;
            if changes.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            let text = message::render(self.identity.template.as_deref(), &self.name, &changes);
            let Some(commit) = self.commit(&text)? else {
                return Ok(Outcome::Unchanged);
            };
            match self.push()? {
                None => {
                    return Ok(Outcome::Pushed {
                        commit,
                        attempts: attempt,
                        changes,
                    });
                }
                Some(why) => {
                    tracing::info!(repo = %self.name, attempt, reason = %why, "push rejected; rebasing the change on the new remote head");
                    if attempt < attempts {
                        std::thread::sleep(self.backoff(attempt));
                    }
                    self.sync()?;
                }
            }
        }
        Err(GitError::RetriesExhausted {
            url: redact(&self.url),
            attempts,
        })
    }

    /// Stages every change (new, modified, deleted; `.gitignore` respected) and commits it on
    /// top of the remote head. `None` when the tree is unchanged.
    fn commit(&self, text: &str) -> Result<Option<Oid>, GitError> {
        let local = |e: git2::Error| self.local(e);
        let mut index = self.repo.index().map_err(local)?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .map_err(local)?;
        index.update_all(["*"], None).map_err(local)?;
        index.write().map_err(local)?;
        let tree_id = index.write_tree().map_err(local)?;
        let parent = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(local)?;
        if parent.tree_id() == tree_id {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id).map_err(local)?;
        let signature = Signature::now(&self.identity.name, &self.identity.email).map_err(local)?;
        let oid = self
            .repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                text,
                &tree,
                &[&parent],
            )
            .map_err(local)?;
        Ok(Some(oid))
    }

    /// Pushes the branch without force. `Some(reason)` when the remote rejected it.
    fn push(&self) -> Result<Option<String>, GitError> {
        let trouble = RefCell::new(Trouble::default());
        let rejected = RefCell::new(None);
        let result = {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut callbacks = self.auth.callbacks(&trouble);
            callbacks.push_update_reference(|_refname, status| {
                if let Some(status) = status {
                    *rejected.borrow_mut() = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let spec = format!("refs/heads/{0}:refs/heads/{0}", self.branch);
            remote.push(&[spec], Some(&mut options))
        };
        match result {
            Ok(()) => Ok(rejected.into_inner()),
            Err(e) if is_rejection(&e) => Ok(Some(e.message().to_string())),
            Err(e) => Err(self.remote_error(e, &trouble)),
        }
    }

    /// Points the branch at `head` and makes index and tree match it, untracked files removed.
    fn reset_to(&mut self, head: Oid) -> Result<(), GitError> {
        let local = |e: git2::Error| self.local(e);
        let commit = self.repo.find_commit(head).map_err(local)?;
        let branch_ref = format!("refs/heads/{}", self.branch);
        self.repo
            .reference(&branch_ref, head, true, "laminar: follow remote")
            .map_err(local)?;
        self.repo.set_head(&branch_ref).map_err(local)?;
        self.repo
            .reset(
                commit.as_object(),
                git2::ResetType::Hard,
                Some(CheckoutBuilder::new().force()),
            )
            .map_err(local)?;
        self.remove_untracked()?;
        self.clean = true;
        Ok(())
    }

    fn remove_untracked(&self) -> Result<(), GitError> {
        let mut options = StatusOptions::new();
        // Untracked directories come back whole ("rendered/"), and go whole.
        options
            .include_untracked(true)
            .recurse_untracked_dirs(false)
            .include_ignored(false);
        let statuses = self
            .repo
            .statuses(Some(&mut options))
            .map_err(|e| self.local(e))?;
        let root = self.dir().to_path_buf();
        for entry in statuses.iter() {
            if !entry.status().contains(Status::WT_NEW) {
                continue;
            }
            let Ok(path) = entry.path() else {
                continue;
            };
            let full = root.join(path);
            let removed = if full.is_dir() {
                std::fs::remove_dir_all(&full)
            } else {
                std::fs::remove_file(&full)
            };
            if let Err(err) = removed {
                return Err(GitError::Workspace {
                    path: full,
                    message: format!("cannot remove leftover file: {err}"),
                });
            }
        }
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry_base.saturating_mul(1 << attempt.min(6));
        exp.mul_f64(rand::rng().random_range(0.5..1.5))
    }

    fn local(&self, e: git2::Error) -> GitError {
        GitError::Workspace {
            path: self.dir().to_path_buf(),
            message: e.message().to_string(),
        }
    }

    /// Classifies a libgit2 error from talking to the remote, preferring what the callbacks
    /// learnt (libgit2 keeps only a short message).
    fn remote_error(&self, e: git2::Error, trouble: &RefCell<Trouble>) -> GitError {
        let url = redact(&self.url);
        let trouble = trouble.borrow();
        if let Some(message) = &trouble.host_key {
            return GitError::HostKey {
                url,
                message: message.clone(),
            };
        }
        if let Some(message) = &trouble.credentials {
            return GitError::Auth {
                url,
                message: message.clone(),
            };
        }
        let message = e.message().replace(&self.url, &url);
        match (e.code(), e.class()) {
            (ErrorCode::Auth, _) | (_, ErrorClass::Ssh) if message.contains("auth") => {
                GitError::Auth { url, message }
            }
            _ => GitError::Network { url, message },
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

/// Can HEAD be read? (An unborn branch is fine: a sync never completed.) The index is not
/// read here — for a big tree that costs more than a whole no-op cycle; a broken one is
/// rebuilt by the next reset.
fn healthy(repo: &Repository) -> bool {
    match repo.head() {
        Ok(_) => true,
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
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = (0..)
        .map(|n| {
            let mut name = dir.as_os_str().to_owned();
            name.push(format!(".old-{stamp}-{n}"));
            PathBuf::from(name)
        })
        .find(|candidate| !candidate.exists())
        .expect("an unused name exists");
    tracing::warn!(workspace = %dir.display(), moved_to = %aside.display(), "workspace {why}; moved aside, cloning afresh");
    std::fs::rename(dir, &aside)
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
