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
use super::local_push::{self, Leased, LocalPushError};
use super::lock::WorkspaceLock;
use super::memo::{self, Memo};
use super::signing::{Signer, SigningError};
use super::tree_move;
use crate::config::git_url::{Remote, redact};
use crate::config::{Repo, Signing};

mod commit;
mod history;
mod open;
mod push;
mod sync;

pub use history::Landed;
use open::{move_aside, reuse_or_create};
use sync::{refspec, tree_matches_index, workdir_statuses};

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
    /// Commits of history fetched from a remote: the tip alone, unless someone follows a rule
    /// of this repo and reads its history.
    depth: i32,
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
    /// Which part of the tree the next sync brings to disk (the whole tree unless told).
    /// A workspace that already holds more keeps it until its next reset.
    pub fn want(&mut self, coverage: Coverage) {
        self.wanted = coverage;
    }
    /// Fetches `commits` of the branch's history from now on, not only its tip.
    pub fn keep_history(&mut self, commits: i32) {
        self.depth = commits.max(1);
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
            Failed::TooShallow => GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: format!(
                    "the remote sent less than the {} commits of history asked for",
                    self.depth
                ),
            },
        }
    }
    /// Classifies a libgit2 error from talking to the remote, preferring what the callbacks
    /// learnt (libgit2 keeps only a short message).
    fn remote_error(&self, e: git2::Error, trouble: Trouble) -> GitError {
        let url = redact(&self.url);
        if let Some(why) = trouble.host_key {
            let message = why.to_string();
            return GitError::HostKey { url, message };
        }
        if let Some(why) = trouble.credentials {
            let message = why.to_string();
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

/// Why a sync step failed, before it is turned into a [`GitError`].
enum Failed {
    Local(git2::Error),
    /// Objects are missing or unreadable: the workspace must be rebuilt.
    Corrupt(git2::Error),
    NoBranch,
    Remote(git2::Error, Trouble),
    /// A shallow clone ends closer to the tip than the history asked for: libgit2 cannot
    /// deepen it (it wants nothing it has), so it is cloned afresh at the depth asked.
    TooShallow,
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
