//! The git layer: persistent workspaces that follow their remote branch exactly, commits of
//! exactly the changes made, fast-forward pushes with race retries, SSH with verified host
//! keys, HTTPS with tokens.

pub mod auth;
pub mod known_hosts;
pub mod message;
pub mod url;
mod workspace;

use std::path::PathBuf;

pub use workspace::{Identity, Memo, Outcome, Synced, Workspace};

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
        "{url}: push rejected {attempts} times (the branch keeps moving); giving up for this cycle"
    )]
    RetriesExhausted { url: String, attempts: u32 },
    #[error("workspace {path}: {message}")]
    Workspace { path: PathBuf, message: String },
    #[error("{0}")]
    Apply(String),
}

impl GitError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            GitError::HostKey { .. } => "host_key",
            GitError::Auth { .. } => "auth",
            GitError::Network { .. } => "network",
            GitError::NoBranch { .. } => "no_branch",
            GitError::RetriesExhausted { .. } => "push_retries_exhausted",
            GitError::Workspace { .. } => "workspace",
            GitError::Apply(_) => "apply",
        }
    }
}
