//! Splices new tags (and digests) into file bytes at exact spans, and writes files atomically.
//!
//! Every byte outside the spans is kept: quoting, comments, line endings, BOM, trailing
//! whitespace. Each span must still hold the bytes the scan saw; if the file changed in
//! between, nothing is written.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Replace `span` (which must hold `expected`) with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub expected: String,
    pub replacement: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(
        "{path}: expected {expected:?} at byte {offset}: the file changed since it was scanned"
    )]
    Stale {
        path: PathBuf,
        offset: usize,
        expected: String,
    },
    #[error("{path}: two edits overlap at byte {offset}")]
    Overlap { path: PathBuf, offset: usize },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Applies `edits` to `text`. Edits may come in any order but must not overlap.
pub fn splice(path: &Path, text: &[u8], edits: &[Edit]) -> Result<Vec<u8>, RewriteError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.span.start);
    let growth: usize = sorted.iter().map(|e| e.replacement.len()).sum();
    let mut out = Vec::with_capacity(text.len() + growth);
    let mut copied = 0;
    for edit in sorted {
        if edit.span.start < copied {
            return Err(RewriteError::Overlap {
                path: path.to_path_buf(),
                offset: edit.span.start,
            });
        }
        if text.get(edit.span.clone()) != Some(edit.expected.as_bytes()) {
            return Err(RewriteError::Stale {
                path: path.to_path_buf(),
                offset: edit.span.start,
                expected: edit.expected.clone(),
            });
        }
        out.extend_from_slice(&text[copied..edit.span.start]);
        out.extend_from_slice(edit.replacement.as_bytes());
        copied = edit.span.end;
    }
    out.extend_from_slice(&text[copied..]);
    Ok(out)
}

/// Reads `path`, applies `edits` and replaces the file atomically (temporary file in the same
/// directory, then rename), keeping its permissions. Returns whether the content changed.
pub fn rewrite_file(path: &Path, edits: &[Edit]) -> Result<bool, RewriteError> {
    let io_err = |source| RewriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = fs::read(path).map_err(io_err)?;
    let new = splice(path, &text, edits)?;
    if new == text {
        return Ok(false);
    }
    crate::store::write_atomically(path, &new).map_err(io_err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, at: &str, replacement: &str) -> Edit {
        let start = text.find(at).unwrap();
        Edit {
            span: start..start + at.len(),
            expected: at.to_string(),
            replacement: replacement.to_string(),
        }
    }

    #[test]
    fn only_the_span_changes() {
        let text = "\u{feff}a: 'reg.io/app:develop-1'  # keep\r\nb: reg.io/app:develop-12 \r\n";
        let e = edit(text, "develop-1'", "develop-2'");
        let out = splice(Path::new("f"), text.as_bytes(), &[e]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\u{feff}a: 'reg.io/app:develop-2'  # keep\r\nb: reg.io/app:develop-12 \r\n"
        );
    }

    #[test]
    fn edits_apply_in_any_order_and_may_change_length() {
        let text = "x:1 y:22 z:333";
        let edits = [edit(text, "333", "4"), edit(text, "1", "1111")];
        let out = splice(Path::new("f"), text.as_bytes(), &edits).unwrap();
        assert_eq!(out, b"x:1111 y:22 z:4");
    }

    #[test]
    fn stale_and_overlapping_edits_are_refused() {
        let text = "x:1 y:2";
        let mut stale = edit(text, "1", "3");
        stale.expected = "9".into();
        assert!(matches!(
            splice(Path::new("f"), text.as_bytes(), &[stale]),
            Err(RewriteError::Stale { offset: 2, .. })
        ));
        let a = Edit {
            span: 0..3,
            expected: "x:1".into(),
            replacement: String::new(),
        };
        let b = Edit {
            span: 2..3,
            expected: "1".into(),
            replacement: String::new(),
        };
        assert!(matches!(
            splice(Path::new("f"), text.as_bytes(), &[a, b]),
            Err(RewriteError::Overlap { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_replaced_keeping_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.sh");
        fs::write(&path, "IMAGE=reg.io/app:1\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o750)).unwrap();
        let e = edit("IMAGE=reg.io/app:1\n", "1\n", "2\n");
        assert!(rewrite_file(&path, std::slice::from_ref(&e)).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "IMAGE=reg.io/app:2\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o750
        );
        assert!(matches!(
            rewrite_file(&path, &[e]),
            Err(RewriteError::Stale { .. })
        ));
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
