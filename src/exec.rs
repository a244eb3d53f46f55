//! Exec actions: shell commands run in the checkout after the rewrite and before the commit
//! (to re-render templates, say). Each runs as `sh -c` with a timeout, told what changed
//! through the environment; its output goes to the log, truncated.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
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
}

/// What the actions are told about the cycle.
pub struct ExecContext<'a> {
    pub repo: &'a str,
    pub branch: &'a str,
    pub changes: &'a [Change],
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    file: String,
    line: usize,
    image: &'a str,
    from: &'a str,
    to: &'a str,
}

/// Runs `commands` in order in `dir`; the first failure stops the rest.
pub fn run_actions(
    commands: &[String],
    dir: &Path,
    timeout: Duration,
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
    for command in commands {
        run_one(
            command,
            dir,
            timeout,
            &[
                ("LAMINAR_REPO", context.repo),
                ("LAMINAR_BRANCH", context.branch),
                ("LAMINAR_CHANGES", &changes_json),
                ("LAMINAR_CHANGED_FILES", &files.join("\n")),
            ],
        )?;
    }
    Ok(())
}

fn run_one(
    command: &str,
    dir: &Path,
    timeout: Duration,
    env: &[(&str, &str)],
) -> Result<(), ExecError> {
    let spawn_failed = |e: std::io::Error| ExecError::Spawn {
        command: command.to_string(),
        reason: e.to_string(),
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(spawn_failed)?;
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
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(spawn_failed)? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let Some(status) = status else {
        // SAFETY: signals the process group created above; no memory is touched.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        return Err(ExecError::TimedOut {
            command: command.to_string(),
            timeout,
        });
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

    fn context() -> ExecContext<'static> {
        ExecContext {
            repo: "manifests",
            branch: "main",
            changes: &[],
        }
    }

    #[test]
    fn actions_run_in_the_checkout_with_the_change_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let commands =
            vec!["echo \"$LAMINAR_REPO@$LAMINAR_BRANCH $LAMINAR_CHANGES\" > out.txt".to_string()];
        run_actions(&commands, dir.path(), Duration::from_secs(10), &context()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
            "manifests@main []\n"
        );
    }

    #[test]
    fn a_failing_action_stops_the_rest_and_reports_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let commands = vec![
            "echo broken >&2; exit 3".to_string(),
            "touch never".to_string(),
        ];
        let err =
            run_actions(&commands, dir.path(), Duration::from_secs(10), &context()).unwrap_err();
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
        let commands = vec!["sleep 30 & sleep 30".to_string()];
        let err = run_actions(
            &commands,
            dir.path(),
            Duration::from_millis(300),
            &context(),
        )
        .unwrap_err();
        assert!(matches!(err, ExecError::TimedOut { .. }));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_is_truncated() {
        assert!(read_capped(&[b'x'; 10_000][..]).ends_with("…[truncated]"));
        assert_eq!(read_capped(&b"short"[..]), "short");
    }
}
