//! Exec actions: shell commands run in the checkout after the rewrite and before the commit
//! (to re-render templates, say). Each runs as `sh -c` with a timeout, told what changed
//! through the environment; its output goes to the log, truncated.
//!
//! An action sees only what it needs: it starts from an empty environment plus `PATH`, `HOME`,
//! the locale, the `LAMINAR_*` change description and the variables the operator lists in
//! `execEnv` — never laminar's API token, cloud credentials or registry passwords. It never
//! outlives its run: it runs in its own process group, which is killed when the action ends,
//! times out, when the cycle is abandoned, and when laminar itself dies (the group leader
//! gets a parent-death signal and takes the group down with it).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::plan::Change;

/// Output kept for the log and for errors.
const MAX_OUTPUT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec action `{command}` failed ({status}): {output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
    #[error("exec action `{command}` timed out after {}s and was killed", timeout.as_secs())]
    TimedOut { command: String, timeout: Duration },
    #[error("exec action `{command}` could not run: {reason}")]
    Spawn { command: String, reason: String },
    #[error("exec action `{command}` was stopped: laminar is shutting down")]
    Abandoned { command: String },
}

impl ExecError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            ExecError::Failed { .. } => "exec_failed",
            ExecError::TimedOut { .. } => "exec_timeout",
            ExecError::Spawn { .. } => "exec_spawn",
            ExecError::Abandoned { .. } => "abandoned",
        }
    }
}

/// What the actions are told about the cycle, and what they may see and how long they run.
pub(crate) struct ExecContext<'a> {
    pub repo: &'a str,
    pub branch: &'a str,
    pub changes: &'a [Change],
    /// Names of variables passed through from laminar's environment (`execEnv`).
    pub pass_env: &'a [String],
    pub timeout: Duration,
    /// Set when laminar shuts down: a running action is killed.
    pub abort: &'a AtomicBool,
}

/// Variables every action gets from laminar's environment when set: enough to find
/// programs and write text, nothing secret.
const BASE_ENV: [&str; 5] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

/// Runs the action as `$1` of a shell that kills its whole process group when it gets
/// SIGTERM — the parent-death signal — so what the action started dies with laminar too.
const GUARD: &str = r#"trap 'kill -KILL 0' TERM; sh -c "$1" & wait $!"#;

#[derive(Serialize)]
struct ChangeJson<'a> {
    file: String,
    line: usize,
    image: &'a str,
    from: &'a str,
    to: &'a str,
}

/// Runs `commands` in order in `dir`; the first failure stops the rest.
pub(crate) fn run_actions(
    commands: &[String],
    dir: &Path,
    context: &ExecContext,
) -> Result<(), ExecError> {
    let changes: Vec<ChangeJson> = context
        .changes
        .iter()
        .map(|c| ChangeJson {
            file: c.site.path.display().to_string(),
            line: c.site.line,
            image: &c.image,
            from: &c.old_tag,
            to: &c.new_tag,
        })
        .collect();
    let changes_json = serde_json::to_string(&changes).unwrap_or_else(|_| "[]".into());
    let mut files: Vec<String> = changes.iter().map(|c| c.file.clone()).collect();
    files.dedup();
    let mut env: Vec<(String, String)> = BASE_ENV
        .iter()
        .copied()
        .chain(context.pass_env.iter().map(String::as_str))
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect();
    env.extend([
        ("LAMINAR_REPO".into(), context.repo.into()),
        ("LAMINAR_BRANCH".into(), context.branch.into()),
        ("LAMINAR_CHANGES".into(), changes_json),
        ("LAMINAR_CHANGED_FILES".into(), files.join("\n")),
    ]);
    for command in commands {
        run_one(command, dir, &env, context)?;
    }
    Ok(())
}

/// Starts `command` under `sh` in its own process group, which dies with laminar.
fn spawn(command: &str, dir: &Path, env: &[(String, String)]) -> std::io::Result<Child> {
    let parent = std::process::id();
    let mut spawn = Command::new("sh");
    spawn
        .args(["-c", GUARD, "laminar-exec", command])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        spawn.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // laminar died before the signal was armed: do not start at all.
            if libc::getppid() != parent as libc::pid_t {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    spawn.spawn()
}

/// Waits for the action to end, within its timeout and unless the cycle is abandoned.
fn wait(child: &mut Child, command: &str, context: &ExecContext) -> Result<ExitStatus, ExecError> {
    let deadline = Instant::now() + context.timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                break Err(ExecError::TimedOut {
                    command: command.to_string(),
                    timeout: context.timeout,
                });
            }
            Ok(None) if context.abort.load(Ordering::SeqCst) => {
                break Err(ExecError::Abandoned {
                    command: command.to_string(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                break Err(ExecError::Spawn {
                    command: command.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

fn run_one(
    command: &str,
    dir: &Path,
    env: &[(String, String)],
    context: &ExecContext,
) -> Result<(), ExecError> {
    let spawn_failed = |e: std::io::Error| ExecError::Spawn {
        command: command.to_string(),
        reason: e.to_string(),
    };
    let mut child = spawn(command, dir, env).map_err(spawn_failed)?;
    let group = child.id() as libc::pid_t;
    // SAFETY: signals the process group created above; no memory is touched.
    let kill_group = || unsafe {
        libc::kill(-group, libc::SIGKILL);
    };
    let readers = [
        child
            .stdout
            .take()
            .map(|out| std::thread::spawn(move || read_capped(out))),
        child
            .stderr
            .take()
            .map(|err| std::thread::spawn(move || read_capped(err))),
    ];
    let ended = wait(&mut child, command, context);
    // Whatever the action left running in the background goes with it.
    kill_group();
    let status = match ended {
        Ok(status) => status,
        Err(err) => {
            let _ = child.wait();
            return Err(err);
        }
    };
    let output: String = readers
        .into_iter()
        .flatten()
        .filter_map(|reader| reader.join().ok())
        .collect::<Vec<_>>()
        .join("");
    let output = output.trim().to_string();
    if status.success() {
        tracing::info!(command, output = %output, "exec action succeeded");
        Ok(())
    } else {
        Err(ExecError::Failed {
            command: command.to_string(),
            status: status.to_string(),
            output,
        })
    }
}

/// Reads a stream to its end (so the child never blocks on a full pipe), keeping the first
/// bytes only.
fn read_capped(mut stream: impl Read) -> String {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut truncated = false;
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        let room = MAX_OUTPUT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
        truncated |= n > room;
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if truncated {
        text.push_str("…[truncated]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    static NOT_ABORTED: AtomicBool = AtomicBool::new(false);

    fn context(pass_env: &'static [String], timeout: Duration) -> ExecContext<'static> {
        ExecContext {
            repo: "manifests",
            branch: "main",
            changes: &[],
            pass_env,
            timeout,
            abort: &NOT_ABORTED,
        }
    }

    fn run(commands: &[&str], dir: &Path, timeout: Duration) -> Result<(), ExecError> {
        let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
        run_actions(&commands, dir, &context(&[], timeout))
    }

    #[test]
    fn actions_run_in_the_checkout_with_the_change_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let command = "echo \"$LAMINAR_REPO@$LAMINAR_BRANCH $LAMINAR_CHANGES\" > out.txt";
        run(&[command], dir.path(), Duration::from_secs(10)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
            "manifests@main []\n"
        );
    }

    #[test]
    fn actions_see_only_the_base_environment_and_what_exec_env_lists() {
        // SAFETY: test-only variables no other test reads.
        unsafe {
            std::env::set_var("LAMINAR_TEST_SECRET", "hunter2");
            std::env::set_var("LAMINAR_TEST_PASSED", "visible");
        }
        static PASS: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["LAMINAR_TEST_PASSED".to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let commands = vec!["env > env.txt".to_string()];
        run_actions(
            &commands,
            dir.path(),
            &context(&PASS, Duration::from_secs(10)),
        )
        .unwrap();
        let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
        assert!(env.contains("LAMINAR_TEST_PASSED=visible"), "{env}");
        assert!(env.contains("PATH="), "{env}");
        assert!(env.contains("LAMINAR_REPO=manifests"), "{env}");
        assert!(!env.contains("hunter2"), "{env}");
    }

    #[test]
    fn a_failing_action_stops_the_rest_and_reports_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(
            &["echo broken >&2; exit 3", "touch never"],
            dir.path(),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ExecError::Failed { output, .. } if output == "broken"),
            "{err}"
        );
        assert!(!dir.path().join("never").exists());
    }

    #[test]
    fn a_slow_action_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let err = run(
            &["sleep 30 & sleep 30"],
            dir.path(),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(matches!(err, ExecError::TimedOut { .. }));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn nothing_an_action_starts_in_the_background_survives_it() {
        let dir = tempfile::tempdir().unwrap();
        let command = "(sleep 2; echo late > late.txt) >/dev/null 2>&1 &";
        run(&[command], dir.path(), Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!dir.path().join("late.txt").exists());
    }

    #[test]
    fn an_abandoned_cycle_stops_its_action() {
        static ABORT: AtomicBool = AtomicBool::new(true);
        let dir = tempfile::tempdir().unwrap();
        let context = ExecContext {
            abort: &ABORT,
            ..context(&[], Duration::from_secs(30))
        };
        let err = run_actions(&["sleep 30".to_string()], dir.path(), &context).unwrap_err();
        assert!(matches!(err, ExecError::Abandoned { .. }), "{err}");
    }

    #[test]
    fn output_is_truncated() {
        assert!(read_capped(&[b'x'; 10_000][..]).ends_with("…[truncated]"));
        assert_eq!(read_capped(&b"short"[..]), "short");
    }
}
