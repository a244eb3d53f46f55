//! Which part of the branch's tree a workspace writes to disk. A repo's rules usually name a
//! few directories of a big tree; checking out only those (and the repo's own config file)
//! makes a cold start cost what those files cost, not the whole tree.
//!
//! A partial workspace's git index holds only the entries it checked out. Commits are built
//! on the head's tree from what changed on disk, so a file that was never checked out is
//! never seen as deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::{
    Index, IndexEntry, IndexTime, ObjectType, Repository, Tree, TreeWalkMode, TreeWalkResult,
};
use serde::{Deserialize, Serialize};

/// The part of the tree on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    /// Every file.
    #[default]
    Full,
    /// These files and directories (relative, plain), and everything under them.
    Paths(BTreeSet<PathBuf>),
}

impl Coverage {
    /// The files and directories `paths` name; the whole tree if one of them is the root.
    pub fn of(paths: impl IntoIterator<Item = PathBuf>) -> Coverage {
        let mut set = BTreeSet::new();
        for path in paths {
            if path.as_os_str().is_empty() || path == Path::new(".") {
                return Coverage::Full;
            }
            set.insert(path);
        }
        Coverage::Paths(set)
    }

    /// Whether every file `other` covers is covered here.
    pub fn includes(&self, other: &Coverage) -> bool {
        match (self, other) {
            (Coverage::Full, _) => true,
            (Coverage::Paths(_), Coverage::Full) => false,
            (Coverage::Paths(_), Coverage::Paths(theirs)) => {
                theirs.iter().all(|p| self.contains(p))
            }
        }
    }

    /// Whether the file at `path` (relative to the root) is covered.
    pub fn contains(&self, path: &Path) -> bool {
        match self {
            Coverage::Full => true,
            Coverage::Paths(paths) => paths.iter().any(|p| path.starts_with(p)),
        }
    }

    /// What must be on disk for `tree`: the whole tree when a covered path lies under a
    /// symlink or is one (its target may be anywhere in the tree) or is a submodule.
    pub(super) fn for_tree(&self, tree: &Tree) -> Coverage {
        let Coverage::Paths(paths) = self else {
            return Coverage::Full;
        };
        let indirect = paths.iter().any(|path| {
            path.ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| match tree.get_path(a) {
                    Ok(entry) => entry.filemode() == 0o120000 || entry.filemode() == 0o160000,
                    Err(_) => false,
                })
        });
        match indirect {
            true => Coverage::Full,
            false => self.clone(),
        }
    }

    /// Fills `index` with `tree`'s entries under the covered paths (stat data empty: a checkout
    /// of the index writes them all and records it).
    pub(super) fn fill_index(
        &self,
        repo: &Repository,
        tree: &Tree,
        index: &mut Index,
    ) -> Result<(), git2::Error> {
        let Coverage::Paths(paths) = self else {
            return index.read_tree(tree);
        };
        index.clear()?;
        for path in paths {
            let Ok(entry) = tree.get_path(path) else {
                continue;
            };
            let prefix = path.to_string_lossy();
            match entry.kind() {
                Some(ObjectType::Blob) => {
                    add(index, prefix.as_bytes(), entry.id(), entry.filemode())?
                }
                Some(ObjectType::Tree) => {
                    let subtree = repo.find_tree(entry.id())?;
                    let mut failed = None;
                    subtree.walk(TreeWalkMode::PreOrder, |dir, entry| {
                        if entry.kind() != Some(ObjectType::Blob) {
                            return TreeWalkResult::Ok;
                        }
                        let mut full = format!("{prefix}/{dir}").into_bytes();
                        full.extend_from_slice(entry.name_bytes());
                        match add(index, &full, entry.id(), entry.filemode()) {
                            Ok(()) => TreeWalkResult::Ok,
                            Err(e) => {
                                failed = Some(e);
                                TreeWalkResult::Abort
                            }
                        }
                    })?;
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn add(index: &mut Index, path: &[u8], id: git2::Oid, mode: i32) -> Result<(), git2::Error> {
    let zero = IndexTime::new(0, 0);
    index.add(&IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode: mode as u32,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Coverage {
        Coverage::of(list.iter().map(PathBuf::from))
    }

    #[test]
    fn the_root_means_everything() {
        assert_eq!(paths(&["deploy", "."]), Coverage::Full);
        assert_eq!(Coverage::of([PathBuf::new()]), Coverage::Full);
    }

    #[test]
    fn paths_cover_what_lies_under_them_only() {
        let deploy = paths(&["deploy", ".laminar.yaml"]);
        assert!(deploy.contains(Path::new("deploy/app.yaml")));
        assert!(deploy.contains(Path::new(".laminar.yaml")));
        assert!(!deploy.contains(Path::new("deployx/app.yaml")));
        assert!(!deploy.contains(Path::new("src/main.rs")));
        assert!(deploy.includes(&paths(&["deploy/prod"])));
        assert!(!deploy.includes(&paths(&["deploy", "charts"])));
        assert!(!deploy.includes(&Coverage::Full));
        assert!(Coverage::Full.includes(&deploy));
    }
}
