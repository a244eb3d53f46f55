//! The last scan of a repo, kept in memory between cycles and in a file beside the workspace
//! (`<workspace>.scan.json`) so `laminar once` and a restarted daemon need not read every file
//! again. A scan describes the tree at one head; the workspace's own memo says which head the
//! tree holds, so a scan for any other head is never used as it is.

use std::path::Path;
use std::sync::Arc;

use git2::Oid;
use serde::{Deserialize, Serialize};

use crate::image::walk::{FileRefs, Starts};
use crate::store::write_atomically;

/// A scan of the tree at `head` from `starts`: reused while both stand still, patched with
/// the files that changed when only the head moved.
pub(super) struct ScanMemo {
    pub head: Oid,
    pub starts: Starts,
    pub files: Arc<Vec<FileRefs>>,
}

/// Raised when what a scan records changes: an older file is not read (a full scan instead).
const FORMAT: u32 = 5;

#[derive(Deserialize)]
struct Saved {
    format: u32,
    head: String,
    starts: Starts,
    files: Vec<FileRefs>,
}

/// [`Saved`], borrowed from a memo for writing.
#[derive(Serialize)]
struct ToSave<'a> {
    format: u32,
    head: String,
    starts: &'a Starts,
    files: &'a [FileRefs],
}

impl ScanMemo {
    /// The suffix of the file beside the workspace.
    pub(super) const SUFFIX: &str = ".scan.json";

    /// The saved scan, if there is a readable one.
    pub(super) fn load(file: &Path) -> Option<ScanMemo> {
        let saved: Saved = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
        if saved.format != FORMAT {
            return None;
        }
        Some(ScanMemo {
            head: Oid::from_str(&saved.head).ok()?,
            starts: saved.starts,
            files: Arc::new(saved.files),
        })
    }

    /// Saves the scan; a failure only costs the next process a full scan.
    pub(super) fn save(&self, file: &Path) {
        let saved = ToSave {
            format: FORMAT,
            head: self.head.to_string(),
            starts: &self.starts,
            files: &self.files,
        };
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomically(file, &bytes));
        if let Err(err) = written {
            tracing::debug!(file = %file.display(), error = %err, "cannot save the scan");
        }
    }
}
