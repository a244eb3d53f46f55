//! Walks the configured paths of a checkout and scans every text file in parallel.
//!
//! Owns the file-level rules: skip `.git/`, binary files and oversized files, never follow a
//! symlink (a configured path may itself be one, but must resolve inside the root).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use super::forms::{Form, NamedRepository};
use super::scanner::{FileScan, ImageRef, PendingChart, Scanner, Unmanaged};

/// Files larger than this are skipped unless the caller says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

/// A NUL byte within this many leading bytes marks a file as binary, as in git and ripgrep.
const BINARY_PROBE_LEN: usize = 8 * 1024;

/// The references in one file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRefs {
    /// Relative to the scanned root.
    pub path: PathBuf,
    pub refs: Vec<ImageRef>,
    /// Images the file's structure shows that are not kept current, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// Charts whose repository another file may define (see [`link_charts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingChart>,
    /// The Flux `HelmRepository` objects the file defines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<NamedRepository>,
}

impl FileRefs {
    /// What the scan of the file at `path` (relative to the scanned root) found.
    pub fn of(path: PathBuf, scan: FileScan) -> FileRefs {
        FileRefs {
            path,
            refs: scan.refs,
            unmanaged: scan.unmanaged,
            pending: scan.pending,
            repositories: scan.repositories,
        }
    }

    /// The relative path with `/` separators, as printed and matched against rule paths.
    pub fn display_path(&self) -> String {
        slash_path(&self.path)
    }
}

/// Joins path components with `/` whatever the platform.
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("cannot scan {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
}

/// Scans `paths` (files or directories, relative to `root`) and returns the files that hold
/// references, sorted by path. A path that does not exist or leaves the root is skipped with
/// a warning; an unreadable file is skipped with a warning.
pub fn scan_paths(
    root: &Path,
    paths: &[PathBuf],
    scanner: &Scanner,
    max_file_size: u64,
) -> Result<Vec<FileRefs>, WalkError> {
    let starts = Starts::resolve(root, paths)?;
    scan_starts(&starts, scanner, max_file_size)
}

/// Where a scan of some configured paths begins: the canonical root and the canonical form of
/// each path that exists inside it. Two scans with equal starts visit the same files.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Starts {
    root: PathBuf,
    starts: Vec<PathBuf>,
}

impl Starts {
    /// Resolves `paths` (relative to `root`); those missing or leading outside are skipped
    /// with a warning.
    pub fn resolve(root: &Path, paths: &[PathBuf]) -> Result<Starts, WalkError> {
        let root = root.canonicalize().map_err(|source| WalkError::Root {
            path: root.to_path_buf(),
            source,
        })?;
        let starts = paths
            .iter()
            .filter_map(|rel| resolve_inside(&root, rel))
            .collect();
        Ok(Starts { root, starts })
    }

    /// Whether a full scan from these starts would visit the file at `rel` (relative to the
    /// root, reached through no symlink): it lies under a start, outside any `.git`.
    fn covers(&self, rel: &Path) -> bool {
        !rel.components().any(|c| c.as_os_str() == ".git")
            && self
                .starts
                .iter()
                .any(|s| self.root.join(rel).starts_with(s))
    }
}

/// An earlier scan brought up to date after the files at `changed` (relative to the root:
/// added, modified or deleted) changed on disk: only those are read again. Gives what a full
/// scan from `starts` would.
pub fn patch_scan(
    starts: &Starts,
    earlier: &[FileRefs],
    changed: &[PathBuf],
    scanner: &Scanner,
    max_file_size: u64,
) -> Vec<FileRefs> {
    let changed: std::collections::HashSet<&Path> = changed.iter().map(PathBuf::as_path).collect();
    let mut visitor = Visitor {
        root: &starts.root,
        scanner,
        max_file_size,
        found: &Mutex::new(Vec::new()),
        buffer: Vec::new(),
        local: Vec::new(),
    };
    for rel in changed.iter().filter(|rel| starts.covers(rel)) {
        let path = starts.root.join(rel);
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            visitor.visit_file(&path, meta.file_type());
        }
    }
    let mut files: Vec<FileRefs> = earlier
        .iter()
        .filter(|f| !changed.contains(f.path.as_path()))
        .cloned()
        .chain(std::mem::take(&mut visitor.local))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    link_charts(&mut files, scanner);
    files
}

/// Scans every file under `starts`, in parallel.
pub fn scan_starts(
    starts: &Starts,
    scanner: &Scanner,
    max_file_size: u64,
) -> Result<Vec<FileRefs>, WalkError> {
    let root = &starts.root;
    let Some((first, rest)) = starts.starts.split_first() else {
        return Ok(Vec::new());
    };
    let mut builder = WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    builder
        .standard_filters(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git");
    let found = Mutex::new(Vec::new());
    let mut visitors = VisitorBuilder {
        root,
        scanner,
        max_file_size,
        found: &found,
    };
    builder.build_parallel().visit(&mut visitors);
    // A visitor that panicked left what it had found consistent.
    let mut files = found
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    files.sort_by(|a: &FileRefs, b| a.path.cmp(&b.path));
    // Overlapping configured paths (`dev/` and `dev/app.yaml`) visit a file twice.
    files.dedup_by(|a, b| a.path == b.path);
    link_charts(&mut files, scanner);
    Ok(files)
}

/// Gives each file's pending charts (Flux `HelmRelease`s) the repository the
/// `HelmRepository` objects of all the files say: the scan of one file cannot know them.
/// Run again on a patched scan, it gives the same result as on a full one.
fn link_charts(files: &mut [FileRefs], scanner: &Scanner) {
    if files.iter().all(|f| f.pending.is_empty()) {
        return;
    }
    let defined: Vec<NamedRepository> = files
        .iter()
        .flat_map(|f| f.repositories.iter().cloned())
        .collect();
    let defined: Vec<&NamedRepository> = defined.iter().collect();
    for file in files.iter_mut().filter(|f| !f.pending.is_empty()) {
        // Only linking makes these: drop the last linking's.
        file.refs.retain(|r| r.form != Form::HelmRelease);
        file.unmanaged.retain(|u| u.form != Form::HelmRelease);
        for linked in file
            .pending
            .iter()
            .filter_map(|p| scanner.link(p, &defined))
        {
            match linked {
                Ok(reference) => file.refs.push(reference),
                Err(unmanaged) => file.unmanaged.push(unmanaged),
            }
        }
        file.refs.sort_by_key(|r| (r.line, r.column));
        file.unmanaged.sort_by_key(|u| (u.line, u.column));
    }
}

/// The canonical form of `root/rel`, if it exists and stays inside `root`.
fn resolve_inside(root: &Path, rel: &Path) -> Option<PathBuf> {
    let joined = root.join(rel);
    match joined.canonicalize() {
        Ok(real) if real.starts_with(root) => Some(real),
        Ok(real) => {
            tracing::warn!(path = %rel.display(), target = %real.display(), "path leads outside the checkout; skipped");
            None
        }
        Err(err) => {
            tracing::warn!(path = %rel.display(), error = %err, "configured path not found; skipped");
            None
        }
    }
}

struct VisitorBuilder<'a> {
    root: &'a Path,
    scanner: &'a Scanner,
    max_file_size: u64,
    found: &'a Mutex<Vec<FileRefs>>,
}

impl<'s> ParallelVisitorBuilder<'s> for VisitorBuilder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            root: self.root,
            scanner: self.scanner,
            max_file_size: self.max_file_size,
            found: self.found,
            buffer: Vec::new(),
            local: Vec::new(),
        })
    }
}

/// One walker thread: reuses one read buffer and hands its results over when it is dropped.
struct Visitor<'a> {
    root: &'a Path,
    scanner: &'a Scanner,
    max_file_size: u64,
    found: &'a Mutex<Vec<FileRefs>>,
    buffer: Vec<u8>,
    local: Vec<FileRefs>,
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        match entry {
            Ok(entry) => self.visit_entry(&entry),
            Err(err) => tracing::warn!(error = %err, "cannot read directory entry; skipped"),
        }
        WalkState::Continue
    }
}

impl Visitor<'_> {
    fn visit_entry(&mut self, entry: &DirEntry) {
        if let Some(file_type) = entry.file_type() {
            self.visit_file(entry.path(), file_type);
        }
    }

    /// Scans one regular file; symlinks are never followed.
    fn visit_file(&mut self, path: &Path, file_type: std::fs::FileType) {
        if file_type.is_symlink() {
            tracing::debug!(path = %path.display(), "symlink not followed");
            return;
        }
        if !file_type.is_file() {
            return;
        }
        match self.read(path) {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read file; skipped");
                return;
            }
        }
        let rel = path.strip_prefix(self.root).unwrap_or(path).to_path_buf();
        let scan = self.scanner.scan_file(&rel, &self.buffer);
        let empty = scan.refs.is_empty()
            && scan.unmanaged.is_empty()
            && scan.pending.is_empty()
            && scan.repositories.is_empty();
        if empty {
            return;
        }
        self.local.push(FileRefs::of(rel, scan));
    }

    /// Reads the file into the buffer; `false` when it is to be skipped (too big, binary).
    fn read(&mut self, path: &Path) -> io::Result<bool> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        if size > self.max_file_size {
            tracing::info!(path = %path.display(), size, limit = self.max_file_size, "file over the size limit; skipped");
            return Ok(false);
        }
        self.buffer.clear();
        // `take` guards against a file that grows while it is read.
        (&mut file)
            .take(self.max_file_size + 1)
            .read_to_end(&mut self.buffer)?;
        let probe = &self.buffer[..self.buffer.len().min(BINARY_PROBE_LEN)];
        Ok(memchr::memchr(0, probe).is_none() && self.buffer.len() as u64 <= self.max_file_size)
    }
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        if self.local.is_empty() {
            return;
        }
        let mut found = crate::store::lock(self.found);
        found.append(&mut self.local);
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn scan(root: &Path, paths: &[&str]) -> Vec<(String, Vec<String>)> {
        let scanner = Scanner::new(["reg.io"]).unwrap();
        let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        scan_paths(root, &paths, &scanner, 64)
            .unwrap()
            .into_iter()
            .map(|f| {
                let tags = f
                    .refs
                    .iter()
                    .map(|r| format!("{}:{}", r.image, r.tag))
                    .collect();
                (f.display_path(), tags)
            })
            .collect()
    }

    #[test]
    fn walks_files_and_directories_skipping_git_binary_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("dev/nested")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("dev/a.yaml"), "image: reg.io/a:1\n").unwrap();
        fs::write(root.join("dev/nested/b.yaml"), "image: reg.io/b:2\n").unwrap();
        fs::write(root.join("dev/bin"), b"reg.io/c:3\0").unwrap();
        fs::write(
            root.join("dev/big"),
            format!("reg.io/d:4{}", " ".repeat(64)),
        )
        .unwrap();
        fs::write(root.join(".git/config"), "reg.io/e:5").unwrap();
        fs::write(root.join("top.yaml"), "reg.io/f:6").unwrap();
        assert_eq!(
            scan(root, &["dev", "dev/a.yaml", "missing", "."]),
            [
                ("dev/a.yaml".to_string(), vec!["reg.io/a:1".to_string()]),
                (
                    "dev/nested/b.yaml".to_string(),
                    vec!["reg.io/b:2".to_string()]
                ),
                ("top.yaml".to_string(), vec!["reg.io/f:6".to_string()]),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.yaml"), "reg.io/x:1").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("dev")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("dev/out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), root.join("dev/s.yaml"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("linked")).unwrap();
        std::os::unix::fs::symlink(root.join("dev"), root.join("alias")).unwrap();
        fs::write(root.join("dev/own.yaml"), "reg.io/o:1").unwrap();
        assert_eq!(
            scan(root, &["dev", "linked"]),
            [("dev/own.yaml".to_string(), vec!["reg.io/o:1".to_string()])]
        );
        // A configured path that is a symlink inside the root is scanned at its real place.
        assert_eq!(
            scan(root, &["alias"]),
            [("dev/own.yaml".to_string(), vec!["reg.io/o:1".to_string()])]
        );
    }
}
