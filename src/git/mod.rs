//! The git layer: persistent workspaces that follow their remote branch exactly, commits of
//! exactly the changes made, compare-and-swap pushes on every transport, SSH with verified
//! host keys, HTTPS with tokens. It offers primitives and knows nothing of plans: the cycle
//! decides what to commit and when to retry.

pub(crate) mod auth;
mod coverage;
pub(crate) mod known_hosts;
mod local_push;
mod lock;
mod memo;
mod openpgp;
mod signing;
mod tree_move;
mod trust;
mod workspace;

use std::path::PathBuf;

pub use coverage::Coverage;
pub use memo::Memo;
pub use signing::Signer;
pub use trust::defer_system_roots;
pub use workspace::{Identity, Landed, Push, Synced, Workspace};

/// A git failure; URLs in it are redacted.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{url}: {message}")]
    HostKey { url: String, message: String },
    #[error("{url}: authentication failed: {message}")]
    Auth { url: String, message: String },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: branch {branch} does not exist on the remote")]
    NoBranch { url: String, branch: String },
    #[error(
        "{url}: the remote branch is locked ({message}); another push is under way or was interrupted there"
    )]
    RemoteLocked { url: String, message: String },
    #[error("workspace {path}: {message}")]
    Workspace { path: PathBuf, message: String },
    #[error(
        "workspace {path} is in use by another process (a second laminar on the same dataDir?); not touching it"
    )]
    Busy { path: PathBuf },
    #[error("signing key {}: {source}; nothing was committed", key.display())]
    Signing {
        key: PathBuf,
        source: signing::SigningError,
    },
}

impl GitError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            GitError::HostKey { .. } => "host_key",
            GitError::Auth { .. } => "auth",
            GitError::Network { .. } => "network",
            GitError::NoBranch { .. } => "no_branch",
            GitError::RemoteLocked { .. } => "remote_locked",
            GitError::Workspace { .. } => "workspace",
            GitError::Busy { .. } => "workspace_busy",
            GitError::Signing { .. } => "signing",
        }
    }
}
