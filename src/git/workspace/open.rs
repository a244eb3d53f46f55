//! Opening a workspace: reuse the working copy on disk if it is healthy and tracks the same
//! remote, else set it aside and start afresh; stale git locks from a crash are removed.

use super::*;

impl Workspace {
    /// The working copy of `repo` under `data_dir`, created or reused, locked against other
    /// processes. One that is corrupt or tracks another URL is moved aside (with a warning)
    /// and started afresh.
    pub fn open(
        data_dir: &Path,
        repo: &Repo,
        identity: Identity,
        home: Option<&Path>,
    ) -> Result<Workspace, GitError> {
        set_timeouts();
        let dir = data_dir.join("workspaces").join(dir_name(repo));
        let lock = WorkspaceLock::acquire(&dir)?;
        let (git, fresh) = reuse_or_create(&dir, &repo.url, &repo.branch)?;
        Ok(Workspace {
            repo: git,
            dir,
            _lock: lock,
            name: repo.name.clone(),
            url: repo.url.clone(),
            branch: repo.branch.clone(),
            auth: GitAuth::new(repo, home),
            identity,
            last_head: None,
            clean: false,
            resets: 0,
            tree_moves: 0,
            saved: None,
            fresh,
            signer: RefCell::new(None),
            local: Remote::parse(&repo.url) == Remote::Local,
            coverage: Coverage::Full,
            wanted: Coverage::Full,
            depth: 1,
        })
    }
}

/// Opens the workspace at `dir` if it is healthy and tracks `url`; otherwise moves it aside
/// and initialises an empty one (then `true`: its tree is empty).
pub(super) fn reuse_or_create(
    dir: &Path,
    url: &str,
    branch: &str,
) -> Result<(Repository, bool), GitError> {
    let local = |e: &dyn std::fmt::Display| GitError::Workspace {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let existing = match Repository::open(dir) {
        Ok(existing) if !healthy(&existing) => {
            move_aside(dir, "is corrupt").map_err(|e| local(&e))?;
            None
        }
        Ok(existing) if tracks(&existing, url) => Some(existing),
        Ok(_) => {
            move_aside(dir, "tracks another remote URL").map_err(|e| local(&e))?;
            None
        }
        Err(_) if dir.exists() => {
            move_aside(dir, "is not a usable git repository").map_err(|e| local(&e))?;
            None
        }
        Err(_) => None,
    };
    match existing {
        Some(git) => Ok((git, false)),
        None => {
            std::fs::create_dir_all(dir).map_err(|e| local(&e))?;
            let git = Repository::init(dir).map_err(|e| local(&e.message()))?;
            git.remote_with_fetch("origin", url, &refspec(branch))
                .map_err(|e| local(&e.message()))?;
            if Remote::parse(url) == Remote::Local {
                borrow_objects(&git, url);
            }
            Ok((git, true))
        }
    }
}

/// A remote on this machine lends its object store (git's "alternates", as `git clone
/// --shared` does), so fetching copies no objects: libgit2 would otherwise pack the whole
/// history in-process. Objects laminar creates are still written here. Should the remote
/// ever prune one this workspace still needs, the workspace is found damaged and rebuilt.
fn borrow_objects(git: &Repository, url: &str) {
    let lent = Repository::open(local_push::remote_path(url))
        .ok()
        .map(|remote| remote.path().join("objects"))
        .and_then(|objects| objects.canonicalize().ok());
    let Some(objects) = lent else {
        return;
    };
    let alternates = git.path().join("objects/info/alternates");
    let written = std::fs::create_dir_all(git.path().join("objects/info"))
        .and_then(|()| std::fs::write(&alternates, format!("{}\n", objects.display())));
    if let Err(err) = written {
        tracing::debug!(error = %err, "cannot borrow the local remote's objects; fetching them");
    }
}

/// Git's own lock files (`index.lock`, `HEAD.lock`, `refs/…/<branch>.lock`, …) left by a
/// process that died mid-write. Only called under the workspace lock, when no other process
/// can be writing them.
pub(super) fn remove_stale_locks(git_dir: &Path) {
    let mut pending = vec![git_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && path.starts_with(git_dir.join("refs")) {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "removed a stale git lock file left by an interrupted run")
                    }
                    Err(err) => {
                        tracing::warn!(file = %path.display(), error = %err, "cannot remove a stale git lock file")
                    }
                }
            }
        }
    }
}

/// Can HEAD, its commit and that commit's tree be read? (An unborn branch is fine: a sync
/// never completed.) Blobs and the index are not read here — for a big tree that costs more
/// than a whole no-op cycle; a broken one is found by the next reset.
fn healthy(repo: &Repository) -> bool {
    match repo.head() {
        Ok(head) => head.peel_to_commit().and_then(|c| c.tree()).is_ok(),
        Err(e) => matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound),
    }
}

fn tracks(repo: &Repository, url: &str) -> bool {
    !repo.is_bare()
        && repo
            .find_remote("origin")
            .is_ok_and(|remote| remote.url().is_ok_and(|u| u == url))
}

/// A readable, collision-free directory name for a (url, branch) working copy.
fn dir_name(repo: &Repo) -> String {
    let hash = Sha256::digest(format!("{}\n{}", repo.url, repo.branch));
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{short}", repo.name)
}

pub(super) fn move_aside(dir: &Path, why: &str) -> std::io::Result<()> {
    crate::store::set_aside(dir, "old", &format!("workspace {why}; cloning afresh")).map(drop)
}

/// libgit2's server timeouts are process-wide; set them once.
fn set_timeouts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: called once, before any git operation of this process runs.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS);
            let _ = git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS);
        }
    });
}

/// How long connecting to a remote, and then each read or write, may take.
const CONNECT_TIMEOUT_MS: i32 = 15_000;

const IO_TIMEOUT_MS: i32 = 120_000;
