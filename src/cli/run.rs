//! `laminar run` (the default): the daemon — scheduler, HTTP server, signal handling.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, load_config};
use crate::config::Config;
use crate::cycle::{RepoCycle, Shared};
use crate::notify::Notifier;
use crate::scheduler::{self, Outlets, Triggers};
use crate::secret::{Secret, SecretSource};
use crate::server::{AppState, ShardPeers, router};
use crate::shards::{Peers, Sharding};
use crate::status::StatusBoard;

pub(super) fn run(path: &Path) -> Result<(), CliError> {
    let mut config = load_config(path)?.config;
    let token = api_token(&config)?;
    let shards = sharding(&mut config, token.as_ref())?;
    // A shard runs its own repos; the others' it knows only to hand requests on.
    let config = match &shards {
        Some(shards) => Config {
            repos: config
                .repos
                .iter()
                .filter(|r| shards.sharding.owns(&r.name))
                .cloned()
                .collect(),
            ..config
        },
        None => config,
    };
    super::block_on(serve(Arc::new(config), token, shards.map(Arc::new)))
}

/// With `global.shards`: this pod's place and the client to its peers (which needs the API
/// token: shards hand each other requests with it).
fn sharding(config: &mut Config, token: Option<&Secret>) -> Result<Option<ShardPeers>, CliError> {
    let Some(shards) = config.global.shards.as_mut() else {
        return Ok(None);
    };
    let token = token.cloned().ok_or_else(|| {
        CliError::Usage(
            "global.shards needs the API token (LAMINAR_API_TOKEN or global.apiTokenFile): shards hand each other requests with it".into(),
        )
    })?;
    let shard = std::env::var("LAMINAR_SHARD").ok();
    let hostname = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok());
    let me =
        crate::shards::ordinal(shard.as_deref(), hostname.as_deref()).map_err(CliError::Usage)?;
    shards.me = me;
    let shards = shards.clone();
    let sharding = Sharding::new(config, &shards, me).map_err(CliError::Usage)?;
    let peers = Peers::new(token, me).map_err(CliError::Serve)?;
    let repos = config
        .repos
        .iter()
        .map(|r| (r.name.clone(), r.branch.clone()))
        .collect();
    tracing::info!(
        shard = me,
        shards = shards.peers.len(),
        repos = config
            .repos
            .iter()
            .filter(|r| sharding.owns(&r.name))
            .count(),
        "running as one shard"
    );
    Ok(Some(ShardPeers {
        sharding,
        peers,
        repos,
    }))
}

async fn serve(
    config: Arc<Config>,
    token: Option<Secret>,
    shards: Option<Arc<ShardPeers>>,
) -> Result<(), CliError> {
    let shared = Arc::new(Shared::new(config.clone()).await?);
    let names = || config.repos.iter().map(|r| r.name.as_str());
    let status = Arc::new(StatusBoard::new(names()));
    let triggers = Arc::new(Triggers::new(names()));
    let listener = tokio::net::TcpListener::bind(config.global.listen)
        .await
        .map_err(|e| CliError::Serve(format!("cannot listen on {}: {e}", config.global.listen)))?;
    if token.is_none() {
        tracing::info!(
            "API triggers are disabled: set LAMINAR_API_TOKEN or global.apiTokenFile to enable them"
        );
    }
    tracing::info!(listen = %config.global.listen, repos = config.repos.len(), "laminar running");
    let state = Arc::new(AppState {
        metrics: shared.metrics.clone(),
        status: status.clone(),
        triggers: triggers.clone(),
        token,
        receivers: Arc::new(crate::webhook::Receivers::new(&config.webhooks)),
        registries: shared.registries.clone(),
        holds: shared.holds.clone(),
        config: config.clone(),
        started: tokio::time::Instant::now(),
        chains: shared.chains.clone(),
        shards,
    });
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let drain = config.global.shutdown_grace.min(SERVER_DRAIN);
    let server = tokio::spawn(crate::server::serve(
        listener,
        router(state),
        config.global.http,
        drain,
        async {
            let _ = server_stopped.await;
        },
    ));
    let repos = config.repos.iter().cloned().map(RepoCycle::new).collect();
    let deadline = config.global.shutdown_grace + SHUTDOWN_SLACK;
    let shutdown = async move {
        shutdown_signal().await;
        exit_after(deadline);
    };
    let outlets = Outlets {
        status,
        notifier: Arc::new(Notifier::start(
            &config.notifications,
            shared.metrics.clone(),
        )),
    };
    scheduler::run(shared, outlets, repos, triggers, shutdown).await;
    let _ = stop_server.send(());
    // The server stops within `drain` whatever its clients do.
    server.await.map_err(|e| CliError::Serve(e.to_string()))
}

/// How long requests still being answered at shutdown may take (a waiting deploy request has
/// its answer by then: the scheduler has stopped); no longer than the grace period.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// On top of the grace period, what shutdown may take before the process exits regardless.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(10);

/// The last resort once shutdown began: whatever is still running after `deadline` (a git
/// call that ignores its timeouts, say), the process exits.
fn exit_after(deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        tracing::error!(?deadline, "shutdown did not finish in time; exiting now");
        std::process::exit(1);
    });
}

/// `LAMINAR_API_TOKEN`, else the file `global.apiTokenFile` names; neither disables the API.
fn api_token(config: &Config) -> Result<Option<Secret>, CliError> {
    let from_env = SecretSource::Env("LAMINAR_API_TOKEN".into()).read().ok();
    let token = match (from_env, &config.global.api_token_file) {
        (Some(token), _) => Some(token),
        (None, Some(file)) => Some(
            SecretSource::File(file.clone())
                .read()
                .map_err(|e| CliError::Usage(e.to_string()))?,
        ),
        (None, None) => None,
    };
    Ok(token.filter(|t| !t.expose().is_empty()))
}

/// SIGTERM (Kubernetes) or SIGINT (a terminal).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
