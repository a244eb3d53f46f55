//! Moving a clean working tree to another commit by writing just the files that differ, and
//! updating git's index for just those: on a big tree, a libgit2 checkout — even limited to
//! the changed paths — costs far more than the files themselves.
//!
//! It applies only where git's content filters cannot apply (no `.gitattributes` above a
//! changed path, no `core.autocrlf`, no `info/attributes` or `core.attributesFile`) and every
//! entry is a plain file or a symlink reached through no symlink; anything else is left to a
//! libgit2 checkout. All of that is checked before the first byte is written.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository, Tree, TreeEntry};

/// Writes the files at `changed` (relative paths) as `new` holds them, removing those it does
/// not hold, and updates the index. `Ok(false)` when this cannot be done byte-exactly; nothing
/// has been written then.
pub(super) fn write_changes(
    repo: &Repository,
    root: &Path,
    old: &Tree,
    new: &Tree,
    changed: &[PathBuf],
) -> Result<bool, git2::Error> {
    if filters_may_apply(repo, old, new, changed)? {
        return Ok(false);
    }
    let mut writes = Vec::with_capacity(changed.len());
    for rel in changed {
        let entry = match new.get_path(rel) {
            Ok(entry) => Some(entry),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        let plain = entry
            .as_ref()
            .is_none_or(|e| e.kind() == Some(ObjectType::Blob));
        if !plain || through_symlink(root, rel) {
            return Ok(false);
        }
        writes.push((rel, entry));
    }
    let mut index = repo.index()?;
    for (rel, entry) in writes {
        let full = root.join(rel);
        remove_entry(&full).map_err(io)?;
        match entry {
            None => {
                index.remove_path(rel)?;
                remove_empty_parents(root, &full);
            }
            Some(entry) => {
                write_entry(repo, &full, &entry)?;
                index.add_path(rel)?;
            }
        }
    }
    index.write()?;
    Ok(true)
}

fn write_entry(repo: &Repository, full: &Path, entry: &TreeEntry) -> Result<(), git2::Error> {
    let blob = repo.find_blob(entry.id())?;
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    match entry.filemode() {
        0o120000 => {
            let target = std::ffi::OsStr::from_bytes(blob.content());
            std::os::unix::fs::symlink(target, full).map_err(io)
        }
        mode => {
            std::fs::write(full, blob.content()).map_err(io)?;
            let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
            std::fs::set_permissions(full, std::fs::Permissions::from_mode(mode)).map_err(io)
        }
    }
}

/// Whether git could transform the content of a changed file on its way to disk.
fn filters_may_apply(
    repo: &Repository,
    old: &Tree,
    new: &Tree,
    changed: &[PathBuf],
) -> Result<bool, git2::Error> {
    let config = repo.config()?;
    let autocrlf = config.get_string("core.autocrlf").ok();
    if autocrlf.is_some_and(|v| !v.eq_ignore_ascii_case("false"))
        || config.get_string("core.attributesFile").is_ok()
        || repo.path().join("info/attributes").exists()
    {
        return Ok(true);
    }
    let mut dirs: Vec<&Path> = changed
        .iter()
        .flat_map(|rel| rel.ancestors().skip(1))
        .collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs.iter().any(|dir| {
        let attributes = dir.join(".gitattributes");
        old.get_path(&attributes).is_ok() || new.get_path(&attributes).is_ok()
    }))
}

/// Whether a parent of `rel` inside `root` is a symlink (writing there would leave the tree).
fn through_symlink(root: &Path, rel: &Path) -> bool {
    rel.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| std::fs::symlink_metadata(root.join(a)).is_ok_and(|m| m.file_type().is_symlink()))
}

/// Removes a file, symlink or directory at `path`, if there is one.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the directories a deletion left empty, up to the root.
fn remove_empty_parents(root: &Path, removed: &Path) {
    for dir in removed.ancestors().skip(1) {
        if dir == root || !dir.starts_with(root) || std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

fn io(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}
