//! The files laminar keeps (holds, the registry cache, workspace records): written atomically,
//! read back forgivingly. A file that cannot be read is set aside under a name of its own,
//! time-stamped and never reused, so nothing someone made is overwritten; the log and the
//! status say where it went. Also the one poison-tolerant lock helper.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Set-aside files remembered for the status; older ones are only in the log.
const REMEMBERED: usize = 20;

/// A file laminar could not read and moved out of the way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetAside {
    /// Where it was.
    pub file: PathBuf,
    /// Where it is now.
    pub moved_to: PathBuf,
    /// Why it could not be used.
    pub why: String,
    /// RFC 3339 time it was moved.
    pub at: String,
}

/// Files set aside since start-up, newest last: the process's own record, shown by the status.
static SET_ASIDE: Mutex<Vec<SetAside>> = Mutex::new(Vec::new());

/// The files set aside since start-up, oldest first.
pub(crate) fn set_aside_files() -> Vec<SetAside> {
    lock(&SET_ASIDE).clone()
}

/// Locks `mutex`, also after a thread panicked while holding it: every value laminar keeps
/// behind a lock stays consistent between statements, so a panic elsewhere must not wedge it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Replaces `path` with `content` in one step (a temporary file in the same directory,
/// synced, then renamed), keeping the old file's permissions.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".laminar-")
        .tempfile_in(dir)?;
    temp.write_all(content)?;
    if let Some(permissions) = permissions {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Saves `value` as JSON at `path`, making its directory if needed (a first save may come
/// before anything else made the data dir).
pub(crate) fn save_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_atomically(path, &bytes)
}

/// A small JSON record (workspace records, a Helm index's last read): the saved one, or an
/// empty one. Losing one costs work or a missed notice, never a wrong change.
pub(crate) fn load_record<T: DeserializeOwned + Default>(file: &Path, what: &str) -> T {
    load_json(file, what).unwrap_or_default()
}

/// Saves a record, creating its directory; a failure is logged (`what` says which record).
pub(crate) fn save_record<T: Serialize>(file: &Path, record: &T, what: &str) {
    let written = std::fs::create_dir_all(file.parent().unwrap_or(file))
        .and_then(|()| serde_json::to_vec_pretty(record).map_err(io::Error::other))
        .and_then(|bytes| write_atomically(file, &bytes));
    if let Err(err) = written {
        tracing::warn!(file = %file.display(), error = %err, "cannot save the {what}");
    }
}

/// The JSON value at `path` (`what` names it in the log); `None` when there is no file, or
/// when it cannot be read or parsed — then it is set aside, so a later save overwrites
/// nothing.
pub(crate) fn load_json<T: DeserializeOwned>(path: &Path, what: &str) -> Option<T> {
    let parsed = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
        Err(err) => Err(err.to_string()),
    };
    let why = match parsed {
        Ok(value) => return Some(value),
        Err(why) => format!("the {what} cannot be read: {why}"),
    };
    if let Err(err) = set_aside(path, "unreadable", &why) {
        tracing::error!(file = %path.display(), error = %err, "{why}; cannot set it aside either");
    }
    None
}

/// Moves `path` (a file or a directory) to `<path>.<label>-<UTC time>[-n]`, a name no other
/// file has; logs and records where it went.
pub(crate) fn set_aside(path: &Path, label: &str, why: &str) -> io::Result<PathBuf> {
    let now = jiff::Timestamp::now();
    let moved = move_to_unused(path, &format!("{label}-{}", now.strftime("%Y%m%dT%H%M%SZ")))?;
    tracing::error!(file = %path.display(), moved_to = %moved.display(), "{why}; set aside");
    let mut remembered = lock(&SET_ASIDE);
    if remembered.len() == REMEMBERED {
        remembered.remove(0);
    }
    remembered.push(SetAside {
        file: path.to_path_buf(),
        moved_to: moved.clone(),
        why: why.to_string(),
        at: now.to_string(),
    });
    Ok(moved)
}

/// Renames `path` to `<path>.<tag>`, or `<path>.<tag>-<n>` for the first `n` not taken.
/// A file is linked to its new name first (a link never replaces an existing file), so two
/// processes setting files aside at once cannot overwrite each other's.
fn move_to_unused(path: &Path, tag: &str) -> io::Result<PathBuf> {
    let is_dir = std::fs::symlink_metadata(path)?.is_dir();
    for n in 0..1000 {
        let mut name = path.as_os_str().to_owned();
        match n {
            0 => name.push(format!(".{tag}")),
            n => name.push(format!(".{tag}-{n}")),
        }
        let candidate = PathBuf::from(name);
        if is_dir {
            if std::fs::symlink_metadata(&candidate).is_err() {
                std::fs::rename(path, &candidate)?;
                return Ok(candidate);
            }
            continue;
        }
        match std::fs::hard_link(path, &candidate) {
            Ok(()) => {
                std::fs::remove_file(path)?;
                return Ok(candidate);
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name to move {} to", path.display()),
    ))
}

/// A regular file's bytes, refused when larger than `cap` or not a regular file (a FIFO would
/// block, a device never end): for files an operator names, read as hostile input.
pub(crate) fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so opening a FIFO returns at once, to be refused below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_unreadable_file_keeps_the_first_one_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("holds.json");
        for content in [&b"{first"[..], b"{second"] {
            std::fs::write(&file, content).unwrap();
            assert_eq!(load_json::<Vec<String>>(&file, "holds"), None);
            assert!(!file.exists());
        }
        let mut kept: Vec<Vec<u8>> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        kept.sort();
        assert_eq!(kept, [b"{first".to_vec(), b"{second".to_vec()]);
        let recorded: Vec<SetAside> = set_aside_files()
            .into_iter()
            .filter(|s| s.file == file)
            .collect();
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        assert!(
            recorded
                .iter()
                .all(|s| s.moved_to.exists() && s.why.contains("holds"))
        );
    }

    #[test]
    fn a_missing_file_is_nothing_to_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.json");
        assert_eq!(load_json::<Vec<String>>(&none, "x"), None);
        assert!(set_aside_files().iter().all(|s| s.file != none));
    }

    #[test]
    fn saves_make_their_directory_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/c.json");
        save_json(&file, &vec!["x".to_string()]).unwrap();
        assert_eq!(load_json(&file, "x"), Some(vec!["x".to_string()]));
    }
}
