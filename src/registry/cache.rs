//! What registries told us that does not change: `digest → created` (a digest names immutable
//! content) and `tag → digest` (stable unless the registry is configured with mutable tags).
//!
//! Kept in one JSON file under `dataDir`, written atomically; a corrupt file is set aside
//! (see [`crate::store`]). Later cycles pay only for tags never seen before.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::store::{self, write_atomically};
use crate::trust::Verdict;

const FORMAT_VERSION: u32 = 1;
/// How long a refusal stands before the digest is judged again.
pub(super) const REFUSAL_KEPT: Duration = Duration::from_secs(600);

fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug)]
pub struct DiskCache {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Creation time (Unix seconds) by digest; `null` when the image does not say (or says
    /// something implausible), so it is not asked again.
    created: BTreeMap<String, Option<i64>>,
    /// Tag → digest, by image name as written.
    tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Trust verdicts by `<gate id> <digest>`, with when they were made (Unix seconds).
    #[serde(default)]
    verdicts: BTreeMap<String, (Verdict, i64)>,
    #[serde(skip)]
    dirty: bool,
}

impl DiskCache {
    /// Opens the cache at `path`; a missing file is an empty cache, a corrupt one is set aside.
    pub fn open(path: &Path) -> DiskCache {
        let state = match store::load_json::<State>(path, "registry cache") {
            Some(state) if state.version == FORMAT_VERSION => state,
            Some(_) => {
                tracing::warn!(path = %path.display(), "registry cache has another format; starting afresh");
                State::default()
            }
            None => State::default(),
        };
        DiskCache {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                version: FORMAT_VERSION,
                ..state
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        store::lock(&self.state)
    }

    /// Entries kept: creation times and tag digests.
    pub fn entries(&self) -> usize {
        let state = self.state();
        state.created.len() + state.tags.values().map(BTreeMap::len).sum::<usize>()
    }

    pub fn digest(&self, image: &str, tag: &str) -> Option<String> {
        self.state().tags.get(image)?.get(tag).cloned()
    }

    pub fn set_digest(&self, image: &str, tag: &str, digest: &str) {
        let mut state = self.state();
        let tags = state.tags.entry(image.to_string()).or_default();
        if tags.get(tag).map(String::as_str) != Some(digest) {
            tags.insert(tag.to_string(), digest.to_string());
            state.dirty = true;
        }
    }

    /// Forgets tags the registry no longer lists, so the file does not grow forever.
    pub fn retain_tags(&self, image: &str, listed: &HashSet<&str>) {
        let mut state = self.state();
        let Some(tags) = state.tags.get_mut(image) else {
            return;
        };
        let before = tags.len();
        tags.retain(|tag, _| listed.contains(tag.as_str()));
        if tags.len() != before {
            state.dirty = true;
        }
    }

    /// `None` when never asked; `Some(None)` when the image's creation time is unknown.
    pub fn created(&self, digest: &str) -> Option<Option<SystemTime>> {
        let seconds = *self.state().created.get(digest)?;
        Some(seconds.map(|s| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64)))
    }

    pub fn set_created(&self, digest: &str, created: Option<SystemTime>) {
        let seconds = created
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        let mut state = self.state();
        state.created.insert(digest.to_string(), seconds);
        state.dirty = true;
    }

    /// The verdict on `digest` under the gate `gate_id`: a trust verdict holds for good (the
    /// digest names fixed bytes, the gate id its demands and trust root); a refusal for
    /// [`REFUSAL_KEPT`], since a signature or attestation is often pushed after the image.
    pub fn verdict(&self, gate_id: &str, digest: &str, now: SystemTime) -> Option<Verdict> {
        let (verdict, at) = self
            .state()
            .verdicts
            .get(&format!("{gate_id} {digest}"))?
            .clone();
        let age = unix(now).saturating_sub(at);
        (verdict.trusted() || age < REFUSAL_KEPT.as_secs() as i64).then_some(verdict)
    }

    pub fn set_verdict(&self, gate_id: &str, digest: &str, verdict: &Verdict, now: SystemTime) {
        let mut state = self.state();
        let key = format!("{gate_id} {digest}");
        state.verdicts.insert(key, (verdict.clone(), unix(now)));
        // Refusals past their time are only clutter.
        let horizon = unix(now) - REFUSAL_KEPT.as_secs() as i64;
        state
            .verdicts
            .retain(|_, (verdict, at)| verdict.trusted() || *at >= horizon);
        state.dirty = true;
    }

    /// Writes the cache if it changed, atomically; after a failed write it stays marked as
    /// changed, so the next save tries again.
    pub fn save(&self) -> std::io::Result<()> {
        let bytes = {
            let mut state = self.state();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            serde_json::to_vec(&*state).map_err(std::io::Error::other)?
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_atomically(&self.path, &bytes).inspect_err(|_| self.state().dirty = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_restart_and_forgets_deleted_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/registry.json");
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cache = DiskCache::open(&path);
        cache.set_digest("reg/app", "v1", "sha256:a");
        cache.set_digest("reg/app", "v2", "sha256:b");
        cache.set_created("sha256:a", Some(at));
        cache.set_created("sha256:b", None);
        cache.save().unwrap();

        let cache = DiskCache::open(&path);
        assert_eq!(cache.digest("reg/app", "v1").as_deref(), Some("sha256:a"));
        assert_eq!(cache.created("sha256:a"), Some(Some(at)));
        assert_eq!(cache.created("sha256:b"), Some(None));
        assert_eq!(cache.created("sha256:c"), None);
        cache.retain_tags("reg/app", &HashSet::from(["v2"]));
        assert_eq!(cache.digest("reg/app", "v1"), None);
        assert_eq!(cache.digest("reg/app", "v2").as_deref(), Some("sha256:b"));
    }

    #[test]
    fn a_corrupt_file_is_discarded_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"{\"version\":1,\"created\":{\"sha256:a\":").unwrap();
        let cache = DiskCache::open(&path);
        assert_eq!(cache.created("sha256:a"), None);
        cache.set_created("sha256:a", None);
        cache.save().unwrap();
        assert_eq!(DiskCache::open(&path).created("sha256:a"), Some(None));
    }
}
