//! Everything that can go wrong in a repo's cycle, typed, with a label for metrics.

use crate::config::ConfigError;
use crate::exec::ExecError;
use crate::forge::ForgeError;
use crate::git::GitError;
use crate::image::rewrite::RewriteError;
use crate::image::walk::WalkError;
use crate::plan::DeployRefusal;
use crate::registry::RegistryError;

use super::repo_rules::RepoFileError;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The repo's own `.laminar.yaml` is unreadable or invalid; the last valid one stays.
    #[error("{0} (the last valid .laminar.yaml stays in force)")]
    RepoFile(#[from] RepoFileError),
    #[error("{0} (the last valid .laminar.yaml stays in force)")]
    RepoRules(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Scan(#[from] WalkError),
    #[error("cannot apply the plan: {0}")]
    Apply(#[from] RewriteError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("push rejected {attempts} times (the branch keeps moving); giving up for this cycle")]
    PushRaces { attempts: u32 },
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(
        "branch {branch} has commits laminar did not make; leaving it and its pull request alone"
    )]
    BranchTaken { branch: String },
    #[error("branch {branch} moved while laminar pushed to it ({why}); trying again next cycle")]
    LeaseLost { branch: String, why: String },
    #[error("deploy refused: {0}")]
    Refused(#[from] DeployRefusal),
    #[error("shutting down: cycle abandoned before its push")]
    Abandoned,
    #[error("a cycle task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl CycleError {
    /// A short, stable label for metrics and the status API.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CycleError::Git(e) => e.metric_label(),
            CycleError::RepoFile(_) | CycleError::RepoRules(_) => "repo_rules",
            CycleError::Registry(e) => e.metric_label(),
            CycleError::Scan(_) => "scan",
            CycleError::Apply(_) => "apply",
            CycleError::Exec(e) => e.metric_label(),
            CycleError::PushRaces { .. } => "push_retries_exhausted",
            CycleError::Forge(e) => e.metric_label(),
            CycleError::BranchTaken { .. } => "branch_taken",
            CycleError::LeaseLost { .. } => "lease_lost",
            CycleError::Refused(_) => "deploy_refused",
            CycleError::Abandoned => "abandoned",
            CycleError::Task(_) => "internal",
        }
    }
}
