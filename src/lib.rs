//! laminar keeps container image tags in git repositories current.
//!
//! Data flows one way. The daemon ([`scheduler`]) runs one [`cycle`] per repo at a time:
//! [`git`] brings the workspace in step with the remote → [`image`] finds references in it →
//! [`registry`] says which tags exist → [`plan`] decides, purely, with [`policy`], which tags to
//! change → [`image::rewrite`] applies the plan → [`exec`] actions run → [`git`] commits and
//! pushes. The cycle returns a [`cycle::CycleReport`], plain data; the scheduler's one publish
//! step turns it into the [`status`], deploy outcomes ([`deploy`]), [`metrics`] and
//! notifications ([`notify`]). `server` serves them.
//!
//! ## Layers
//!
//! One layer a line, the highest first. A module imports from its own line or the lines below
//! it, never from above, and never in a circle (`tests/it/layers.rs` holds the code to it):
//!
//! ```text
//! cli
//! server
//! scheduler
//! status notify deploy chains
//! cycle
//! plan holds git registry forge exec metrics webhook shards
//! config
//! image policy trust
//! store secret diff http
//! ```
//!
//! - [`cli`]: command-line definitions and the commands behind them; `cli/run.rs` puts the
//!   daemon together.
//! - `server`: HTTP — the API, webhooks in, the status page, `/metrics` — behind one
//!   `Authorized` extractor; its own accept loop bounds slow and idle clients.
//! - [`scheduler`]: one task per repo (wake-ups, turns, shutdown) and the one publish step.
//! - [`chains`]: the promotion chains as people read them (which tag is where, what waits).
//! - [`status`]: each repo's latest cycle and the image → repos index, for the API, the page
//!   and readiness. [`notify`]: events of finished cycles, queued and delivered to Slack,
//!   Teams, Discord or a signed webhook. [`deploy`]: deploy requests' bookkeeping.
//! - [`cycle`]: one repo's cycle as a typed pipeline, from fetch to push, with push-race
//!   retries; its report and errors.
//! - [`plan`]: from references, rules, known tags and holds to a list of changes, and the
//!   changes a deploy request asks for. Pure. [`holds`]: holds the daemon keeps (API,
//!   rollbacks, deploys). [`git`]: workspaces (locked, self-healing), commits,
//!   compare-and-swap pushes, SSH host keys. [`registry`]: tag listings, digests and creation
//!   times from OCI registries and ECR, chart versions from Helm repositories' indexes. [`forge`]: pull requests on GitHub, GitLab and Gitea.
//!   [`exec`]: exec actions run in the checkout before a commit, in a clean environment.
//!   [`metrics`]: the Prometheus families. [`webhook`]: registry push events, authenticated
//!   and read. [`shards`]: which pod owns which repo, and the client pods hand requests on
//!   with.
//! - [`config`]: the YAML config, decoded with located errors into compiled rules.
//! - [`image`]: the reference grammar, the prefix scanner, the forms files write images and
//!   chart versions in, the file walker, the rewriter.
//!   [`policy`]: tag patterns and orderings; picks the newest allowed tag. Pure. [`trust`]:
//!   trust gates — signatures, attestations, platforms — judged offline from what a registry
//!   holds for a digest. Pure.
//! - Shared helpers: `store` (the files laminar keeps, locks), `secret` (secrets read when
//!   needed, never shown), `diff` (unified diffs for dry runs), `http` (what every HTTP
//!   client shares).

#![warn(unreachable_pub)]

pub mod chains;
pub mod cli;
pub mod config;
pub mod cycle;
pub mod deploy;
pub(crate) mod diff;
pub(crate) mod exec;
pub mod forge;
pub mod git;
pub(crate) mod holds;
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
pub mod shards;
pub mod status;
pub(crate) mod store;
pub mod trust;
pub(crate) mod webhook;
