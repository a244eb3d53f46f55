//! The command line: clap definitions and the commands behind them.
//!
//! Commands print their results to stdout and diagnostics to stderr, and return an
//! error carrying its exit code instead of exiting, so `main` stays a thin shell.

mod api;
mod check;
mod docs;
mod once;
mod run;
mod scan;
mod schema;
mod tags;

use std::io;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError, Loaded};
use crate::image::scanner::ScannerError;
use crate::image::walk::WalkError;
use crate::registry::RegistryError;

#[derive(Debug, Parser)]
#[command(
    name = "laminar",
    version,
    about = "Keeps container image tags in git repositories current"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do [default: run]
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Whether the command talks to git remotes (the daemon and `once`): only those are worth
    /// deferring libgit2's CA bundle for, the others start nothing of libgit2 at start-up.
    pub fn opens_remotes(&self) -> bool {
        matches!(self.command, None | Some(Command::Run | Command::Once(_)))
    }
}

/// Options accepted before or after the command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file [default: laminar.yaml]
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "LAMINAR_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "LAMINAR_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only log errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: keep every repo current, serve metrics and the API (the default)
    Run,
    /// One cycle of every (or one) repo, then exit
    Once(once::OnceArgs),
    /// Validate the config file (or each file given) and print a summary
    Check(check::CheckArgs),
    /// List the image references laminar would manage under a directory
    Scan(scan::ScanArgs),
    /// List an image's tags as a rule orders them, and the tag it would select
    Tags(tags::TagsArgs),
    /// Show the running daemon's repos, references and holds
    Status(api::StatusArgs),
    /// Show the running daemon's promotion chains: which tag is where, what waits and why
    Chains(api::ChainsArgs),
    /// Ask the running daemon to set an exact tag (a rollback, say) and commit it
    Deploy(api::DeployArgs),
    /// Ask the running daemon to stop updating an image (in one repo, until a time)
    Hold(api::HoldArgs),
    /// End holds on an image (or one hold, by id), a rollback's too
    Release(api::ReleaseArgs),
    /// List the running daemon's holds
    Holds(api::HoldsArgs),
    /// Print the JSON Schema of laminar.yaml (or, with --remote, of a repo's .laminar.yaml)
    Schema(schema::SchemaArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff)
    Man,
    /// Print the version
    Version,
}

/// Why a command failed, and so which exit code it gets.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Scanner(#[from] ScannerError),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("{0}")]
    Serve(String),
    #[error("{0} repo(s) failed")]
    CyclesFailed(usize),
    #[error("{0} notification target(s) did not get every event")]
    Undelivered(usize),
}

impl CliError {
    /// 2 for bad usage or an invalid config, 1 for failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(ConfigError::Invalid(_)) | CliError::Usage(_) => 2,
            CliError::Config(ConfigError::Read { .. }) => 2,
            CliError::Walk(_)
            | CliError::Scanner(_)
            | CliError::Registry(_)
            | CliError::Output(_)
            | CliError::Runtime(_)
            | CliError::Serve(_)
            | CliError::CyclesFailed(_)
            | CliError::Undelivered(_) => 1,
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run::run(&config_path(&cli.global)),
        Command::Once(args) => once::run(&args, &config_path(&cli.global)),
        Command::Check(args) => check::run(&args, &config_path(&cli.global)),
        Command::Scan(args) => scan::run(&args, cli.global.config.as_deref()),
        Command::Tags(args) => tags::run(&args, cli.global.config.as_deref()),
        Command::Status(args) => api::status(&args),
        Command::Chains(args) => api::chains(&args),
        Command::Deploy(args) => api::deploy(&args),
        Command::Hold(args) => api::hold(&args),
        Command::Release(args) => api::release(&args),
        Command::Holds(args) => api::holds(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man => docs::man(),
        Command::Version => {
            println!("laminar {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        // A closed pipe (`laminar scan … | head`) is the reader's choice, not a failure.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn config_path(global: &GlobalArgs) -> PathBuf {
    global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

/// How long blocking work still running when a command ends (a git call stuck on the
/// network, say) may delay the exit; it is abandoned after that.
const LEFTOVER_WORK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an idle blocking thread is kept for the next piece of work.
const IDLE_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `work` on a multi-threaded runtime, for the commands that talk to the network. The
/// runtime never waits for leftover blocking work beyond [`LEFTOVER_WORK_WAIT`], so the
/// process ends when the command does.
fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Git and file work hops between blocking threads; an idle daemon keeps none of them
        // (nor their stacks) for long.
        .thread_keep_alive(IDLE_THREAD_KEEP_ALIVE)
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(LEFTOVER_WORK_WAIT);
    result
}

/// Loads the config and prints its warnings to stderr.
fn load_config(path: &std::path::Path) -> Result<Loaded, CliError> {
    let loaded = config::load(path)?;
    if let Some(warnings) = &loaded.warnings {
        for line in warnings.to_string().lines() {
            eprintln!("warning: {line}");
        }
    }
    Ok(loaded)
}
