//! A repo's own rules: `.laminar.yaml` at the checkout's root, read as hostile input.
//!
//! The file must be a regular file inside the checkout — never a symlink (it could point at a
//! secret outside, or at `/dev/zero`), a FIFO (reading it would hang the cycle) or a device —
//! and at most [`MAX_REPO_FILE`] bytes. It is read off the async workers, with a deadline.
//! Errors name the file and the problem, never its content.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{self, REMOTE_CONFIG_FILE, RemoteConfig, Repo};
use crate::git::Coverage;

use super::CycleError;

/// The largest `.laminar.yaml` read; real ones are a few hundred bytes.
pub const MAX_REPO_FILE: u64 = 1 << 20;

/// How long reading it may take.
const READ_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RepoFileError {
    #[error("{0} is not a regular file (a symlink, directory, FIFO or device); ignoring it")]
    NotRegular(String),
    #[error("{file} is larger than {limit} bytes; ignoring it", limit = MAX_REPO_FILE)]
    TooLarge { file: String },
    #[error("{0} could not be read in time; ignoring it")]
    TimedOut(String),
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// The rules a cycle works with: the configured ones plus the repo's own where enabled.
#[derive(Clone, Debug)]
pub(super) struct Rules {
    /// The configured repo, its `updates` extended with the repo's own.
    pub repo: Repo,
    /// Exec actions: the configured ones, plus the repo's own where the operator allows.
    pub exec: Vec<String>,
}

impl Rules {
    /// The part of the tree the cycle needs on disk: the rules' paths and the repo's own
    /// config file; with exec actions, also the paths they declare (`execPaths`), or else
    /// the whole tree — an action may read any file.
    pub(super) fn coverage(&self) -> Coverage {
        let exec_paths = match (&self.repo.exec_paths, self.exec.is_empty()) {
            (_, true) => Vec::new(),
            (Some(paths), false) => paths.clone(),
            (None, false) => return Coverage::Full,
        };
        let own_file = self
            .repo
            .remote_config
            .then(|| PathBuf::from(REMOTE_CONFIG_FILE));
        Coverage::of(
            self.repo
                .scan_paths()
                .into_iter()
                .chain(exec_paths)
                .chain(own_file),
        )
    }
}

/// Reads `.laminar.yaml` from the checkout at `root`: `Ok(None)` when there is none.
pub(super) async fn read(root: &Path) -> Result<Option<RemoteConfig>, CycleError> {
    let path = root.join(REMOTE_CONFIG_FILE);
    let reading = tokio::task::spawn_blocking(move || read_capped(&path, MAX_REPO_FILE));
    let bytes = match tokio::time::timeout(READ_DEADLINE, reading).await {
        Ok(joined) => joined??,
        Err(_) => return Err(RepoFileError::TimedOut(REMOTE_CONFIG_FILE.into()).into()),
    };
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let file = Path::new(REMOTE_CONFIG_FILE);
    let text = config::utf8(file, &bytes)?;
    let (remote, warnings) = config::parse_remote(file, text)?;
    if let Some(warnings) = warnings {
        tracing::warn!("{warnings}");
    }
    Ok(Some(remote))
}

/// The file's bytes if it is a regular file of at most `limit` bytes; `None` if it is absent.
fn read_capped(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, RepoFileError> {
    let name = || display_name(path);
    // O_NOFOLLOW: a symlink fails to open (ELOOP). O_NONBLOCK: opening a FIFO returns at once
    // instead of waiting for a writer; it is then refused as not regular.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(RepoFileError::NotRegular(name()));
        }
        Err(source) => {
            return Err(RepoFileError::Io {
                file: name(),
                source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| RepoFileError::Io {
        file: name(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(RepoFileError::NotRegular(name()));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| RepoFileError::Io {
            file: name(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(RepoFileError::TooLarge { file: name() });
    }
    Ok(Some(bytes))
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| PathBuf::from(path), PathBuf::from)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn checkout() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[tokio::test]
    async fn a_missing_file_means_no_rules() {
        assert!(read(checkout().path()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_symlink_to_a_file_outside_is_refused_without_echoing_it() {
        let outside = checkout();
        let secret = outside.path().join("secret.yaml");
        std::fs::write(&secret, "updates: [{pattern: 'glob:*', files: [s3cr3t]}]\n").unwrap();
        let dir = checkout();
        symlink(&secret, dir.path().join(REMOTE_CONFIG_FILE)).unwrap();
        let err = read(dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[tokio::test]
    async fn a_symlink_to_dev_zero_is_refused() {
        let dir = checkout();
        symlink("/dev/zero", dir.path().join(REMOTE_CONFIG_FILE)).unwrap();
        let err = read(dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[tokio::test]
    async fn a_fifo_is_refused_at_once() {
        let dir = checkout();
        let fifo = std::ffi::CString::new(
            dir.path()
                .join(REMOTE_CONFIG_FILE)
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = read(dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[tokio::test]
    async fn a_huge_file_is_refused() {
        let dir = checkout();
        let big = vec![b'#'; MAX_REPO_FILE as usize + 1];
        std::fs::write(dir.path().join(REMOTE_CONFIG_FILE), big).unwrap();
        let err = read(dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[tokio::test]
    async fn invalid_bytes_are_located() {
        let dir = checkout();
        std::fs::write(dir.path().join(REMOTE_CONFIG_FILE), b"exec:\n- ok \xff\n").unwrap();
        let err = read(dir.path()).await.unwrap_err().to_string();
        assert!(
            err.contains(".laminar.yaml:2:6: the file is not UTF-8 text"),
            "{err}"
        );
    }
}
