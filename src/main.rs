use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use laminar::cli::{Cli, CliError, GlobalArgs, LogFormat};
use laminar::config::ConfigError;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if cli.opens_remotes() {
        laminar::git::defer_system_roots();
    }
    init_logging(&cli.global);
    match laminar::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", error_text(&err));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Config errors already read `file:line:col: message`; other errors get an `error:` prefix.
fn error_text(err: &CliError) -> String {
    match err {
        CliError::Config(ConfigError::Invalid(_)) => err.to_string(),
        _ => format!("error: {err}"),
    }
}

/// `RUST_LOG` wins when set; otherwise -v / -q pick the level.
fn init_logging(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colour codes only for a person at a terminal, never in files or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// glibc gives each thread that allocates its own arena, and memory freed in one is not reused
/// by another; a daemon whose cycles hop between blocking threads keeps least resident with one
/// (each thread's cache still spares most allocations the arena's lock).
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
