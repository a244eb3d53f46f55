//! Holds kept by the daemon: set through the API (`laminar hold`), made when someone rolls a
//! reference back by hand, or when a deploy request sets an older tag. They live in
//! `dataDir/holds.json`, so they survive restarts. (Holds written in git are comments in the
//! files themselves: [`crate::image::hold`].)

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::image::hub::ImageKey;
use crate::store;

/// Why a hold exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldKind {
    /// Asked for through the API.
    Manual,
    /// A commit not made by laminar moved the reference to an older tag than laminar wrote.
    Rollback,
    /// A deploy request set a tag the rule would move away from.
    Deploy,
}

/// A hold on an image's references: all of them, one repo's, or one file's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub id: String,
    pub kind: HoldKind,
    /// The image as it was named.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Only the references in this file (a path in the repo, with `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The tag the reference was held at when the hold was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The hold ends once the rule finds a tag newer than this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_after: Option<String>,
    /// A forced deploy set `tag` outside this rule's pattern: the rule (named by its pattern)
    /// still manages the reference, and moves it once the hold ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// RFC 3339 time the hold ends by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339 time it was made.
    pub created: String,
}

impl Hold {
    /// A hold with a fresh id, made now.
    pub fn new(kind: HoldKind, image: &str) -> Hold {
        Hold {
            id: format!("{:08x}", rand::random::<u32>()),
            kind,
            image: image.to_string(),
            repo: None,
            file: None,
            tag: None,
            release_after: None,
            rule: None,
            until: None,
            reason: None,
            created: jiff::Timestamp::now().to_string(),
        }
    }

    /// Does the hold cover the references to `image` in `file` of `repo`?
    pub fn covers(&self, repo: &str, file: &str, image: &str) -> bool {
        ImageKey::of(&self.image) == ImageKey::of(image)
            && self.repo.as_deref().is_none_or(|r| r == repo)
            && self.file.as_deref().is_none_or(|f| f == file)
    }

    /// Has `until` passed?
    pub fn expired(&self, now: jiff::Timestamp) -> bool {
        self.until
            .as_deref()
            .and_then(|until| until.parse::<jiff::Timestamp>().ok())
            .is_some_and(|until| until <= now)
    }
}

/// `until` as people write it, as the RFC 3339 time it means (see
/// [`crate::image::hold::parse_until`]).
pub(crate) fn parse_until(text: &str) -> Result<String, String> {
    crate::image::hold::parse_until(text).map(|at| at.to_string())
}

/// Why holds could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("at most {0} holds can be kept (global.maxHolds)")]
    Full(usize),
    #[error("cannot save holds to {}: {source}", file.display())]
    Save {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// The daemon's holds, saved on every change.
#[derive(Debug)]
pub struct HoldBook {
    file: PathBuf,
    /// At most this many are kept (`global.maxHolds`): each is a line in every plan's lookups,
    /// and requests could otherwise add them without end.
    max: usize,
    holds: Mutex<Vec<Hold>>,
}

impl HoldBook {
    pub const FILE: &'static str = "holds.json";

    /// The holds saved in `data_dir`, written back on change; at most `max` of them.
    pub fn open(data_dir: &Path, max: usize) -> HoldBook {
        let file = data_dir.join(HoldBook::FILE);
        HoldBook {
            max,
            holds: Mutex::new(read(&file)),
            file,
        }
    }

    /// Holds in force, oldest first.
    pub fn list(&self) -> Vec<Hold> {
        let now = jiff::Timestamp::now();
        let holds = self.lock();
        holds.iter().filter(|h| !h.expired(now)).cloned().collect()
    }

    /// Holds in force that could cover references of `repo`.
    pub fn for_repo(&self, repo: &str) -> Vec<Hold> {
        let mut holds = self.list();
        holds.retain(|h| h.repo.as_deref().is_none_or(|r| r == repo));
        holds
    }

    /// Adds `made` and drops the holds `released` names (a plan ends the holds a new one
    /// replaces); one save for both.
    pub fn change(&self, made: &[Hold], released: &[String]) -> Result<(), HoldError> {
        if made.is_empty() && released.is_empty() {
            return Ok(());
        }
        let now = jiff::Timestamp::now();
        let mut holds = self.lock();
        let mut next: Vec<Hold> = holds
            .iter()
            .filter(|h| !h.expired(now) && !released.contains(&h.id))
            .cloned()
            .collect();
        next.extend(made.iter().cloned());
        if next.len() > self.max {
            return Err(HoldError::Full(self.max));
        }
        self.save(&next)?;
        *holds = next;
        Ok(())
    }

    /// Drops the holds `matches` picks; returns them.
    pub fn release(&self, matches: impl Fn(&Hold) -> bool) -> Result<Vec<Hold>, HoldError> {
        let mut holds = self.lock();
        let (gone, kept): (Vec<Hold>, Vec<Hold>) = holds.iter().cloned().partition(|h| matches(h));
        if !gone.is_empty() {
            self.save(&kept)?;
            *holds = kept;
        }
        Ok(gone)
    }

    fn save(&self, holds: &[Hold]) -> Result<(), HoldError> {
        store::save_json(&self.file, holds).map_err(|source| HoldError::Save {
            file: self.file.clone(),
            source,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Hold>> {
        store::lock(&self.holds)
    }
}

/// The saved holds. A file that cannot be read is set aside under a name of its own, not
/// overwritten: holds someone made must not vanish silently.
fn read(file: &Path) -> Vec<Hold> {
    store::load_json(file, "saved holds").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_survive_a_restart_and_expire_by_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let book = HoldBook::open(dir.path(), 1000);
        let mut app = Hold::new(HoldKind::Manual, "registry.example/acme/app");
        app.repo = Some("manifests".into());
        let mut gone = Hold::new(HoldKind::Manual, "nginx");
        gone.until = Some(parse_until("2001-01-01").unwrap());
        book.change(&[app.clone(), gone], &[]).unwrap();
        let again = HoldBook::open(dir.path(), 1000);
        assert_eq!(again.list(), vec![app.clone()]);
        assert_eq!(again.for_repo("manifests"), vec![app.clone()]);
        assert!(again.for_repo("other").is_empty());
        assert!(app.covers("manifests", "dev/app.yaml", "REGISTRY.example/acme/app"));
        assert!(!app.covers("manifests", "dev/app.yaml", "registry.example/acme/api"));
        let released = again.release(|h| h.id == app.id).unwrap();
        assert_eq!(released, vec![app]);
        assert!(HoldBook::open(dir.path(), 1000).list().is_empty());
    }

    #[test]
    fn docker_hub_names_match_however_written() {
        let hold = Hold::new(HoldKind::Manual, "nginx");
        assert!(hold.covers("r", "f", "docker.io/library/nginx"));
    }

    #[test]
    fn a_change_adds_and_ends_holds_in_one_save() {
        let dir = tempfile::tempdir().unwrap();
        let book = HoldBook::open(dir.path(), 1000);
        let first = Hold::new(HoldKind::Rollback, "reg/app");
        book.change(std::slice::from_ref(&first), &[]).unwrap();
        let second = Hold::new(HoldKind::Deploy, "reg/app");
        book.change(
            std::slice::from_ref(&second),
            std::slice::from_ref(&first.id),
        )
        .unwrap();
        assert_eq!(HoldBook::open(dir.path(), 1000).list(), vec![second]);
    }

    #[test]
    fn two_unreadable_files_are_both_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        for content in [&b"{not json"[..], b"[{\"id\": 1}]"] {
            std::fs::write(dir.path().join(HoldBook::FILE), content).unwrap();
            assert!(HoldBook::open(dir.path(), 1000).list().is_empty());
        }
        let mut kept: Vec<Vec<u8>> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains("holds.json.unreadable-"))
            .map(|path| std::fs::read(path).unwrap())
            .collect();
        kept.sort();
        assert_eq!(kept, [b"[{\"id\": 1}]".to_vec(), b"{not json".to_vec()]);
    }

    #[test]
    fn until_accepts_dates_and_times() {
        assert_eq!(parse_until("2026-12-01").unwrap(), "2026-12-01T00:00:00Z");
        assert_eq!(
            parse_until("2026-12-01T10:00:00+02:00").unwrap(),
            "2026-12-01T08:00:00Z"
        );
        assert!(parse_until("soon").is_err());
        // A time without a zone is no date: never read as its midnight.
        for zoneless in [
            "2031-12-01 18:00",
            "2031-12-01T18:00:00",
            "2031-12-01T18:00",
        ] {
            let refused = parse_until(zoneless).unwrap_err();
            assert!(refused.contains("with a zone"), "{zoneless}: {refused}");
        }
    }
}
