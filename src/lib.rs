//! laminar keeps container image tags in git repositories current.
//!
//! Data flows one way. The daemon ([`scheduler`]) runs one [`cycle`] per repo at a time:
//! [`git`] brings the workspace in step with the remote → [`image`] finds references in it →
//! [`registry`] says which tags exist → [`plan`] decides, purely, with [`policy`], which tags to
//! change → [`image::rewrite`] applies the plan → [`exec`] actions run → [`git`] commits and
//! pushes. [`server`] exposes [`metrics`] and the [`status`] the cycles record; [`notify`]
//! tells people what the cycles did.
//!
//! - [`config`]: the YAML config, decoded with located errors into compiled rules.
//! - [`image`]: the reference grammar, the prefix scanner, the file walker, the rewriter.
//! - [`policy`]: tag patterns and orderings; picks the newest allowed tag. Pure.
//! - [`plan`]: from references, rules, known tags and holds to a list of changes, and the
//!   changes a deploy request asks for. Pure.
//! - [`holds`]: holds the daemon keeps (API, rollbacks, deploys), saved in the data dir.
//! - [`registry`]: tag listings, digests and creation times from OCI registries and ECR.
//! - [`git`]: workspaces (locked, self-healing), commits, compare-and-swap pushes, SSH host keys.
//! - [`exec`]: exec actions run in the checkout before a commit, in a clean environment.
//! - [`forge`]: pull requests on GitHub, GitLab and Gitea, for repos that deliver by review.
//! - [`cycle`]: one repo's cycle as a typed pipeline, from fetch to push, with push-race
//!   retries; its report and errors.
//! - [`scheduler`]: poll intervals, triggers, concurrency, shutdown.
//! - [`server`]: HTTP metrics, health and API. [`metrics`]: the Prometheus families.
//! - [`status`]: each repo's latest cycle, for the API and readiness.
//! - [`webhook`]: registry push events, authenticated and read, waking the repos that use the
//!   pushed image.
//! - [`notify`]: events of finished cycles, queued and delivered to Slack, Teams, Discord or a
//!   signed webhook.
//! - [`secret`]: secrets read when needed, never shown.
//! - [`diff`]: unified diffs for dry runs.
//! - [`cli`]: command-line definitions and the commands behind them.

pub mod cli;
pub mod config;
pub mod cycle;
pub mod deploy;
pub(crate) mod diff;
pub mod exec;
pub mod forge;
pub mod git;
pub mod holds;
pub(crate) mod http;
pub mod image;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod registry;
pub mod scheduler;
pub(crate) mod secret;
pub(crate) mod server;
pub mod status;
pub(crate) mod store;
pub mod webhook;
