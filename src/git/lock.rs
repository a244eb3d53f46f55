//! The workspace lock: one process at a time in a working copy. Held (as an advisory `flock`
//! on a file beside the workspace) for as long as a [`super::Workspace`] is open, so a second
//! laminar on the same `dataDir`, or a `laminar once` beside a running daemon, fails clearly
//! instead of sharing the tree. The kernel drops it when the holder dies, so a crash never
//! leaves it behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::GitError;

/// How long to wait for a lock another process holds: long enough for a `once` to outlast a
/// short cycle, short enough not to stall a cycle.
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct WorkspaceLock {
    /// Closing the file releases the lock.
    _file: File,
}

impl WorkspaceLock {
    /// Locks `dir` (through `dir.lock`), waiting a little if another process holds it.
    pub(super) fn acquire(dir: &Path) -> Result<WorkspaceLock, GitError> {
        let mut path = dir.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let local = |e: std::io::Error| GitError::Workspace {
            path: path.clone(),
            message: format!("cannot open the workspace lock: {e}"),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(local)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(local)?;
        let deadline = Instant::now() + WAIT;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if locked == 0 {
                return Ok(WorkspaceLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(local(err));
            }
            if Instant::now() >= deadline {
                return Err(GitError::Busy {
                    path: dir.to_path_buf(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        let first = WorkspaceLock::acquire(&workspace).unwrap();
        let err = WorkspaceLock::acquire(&workspace).unwrap_err();
        assert!(matches!(err, GitError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"));
        drop(first);
        WorkspaceLock::acquire(&workspace).unwrap();
    }
}
