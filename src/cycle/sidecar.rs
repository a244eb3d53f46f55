//! Small JSON records kept beside a repo's workspace between cycles and restarts. Losing one
//! costs work or a missed notice, never a wrong change, so an unreadable one reads as empty
//! (and is set aside, see [`crate::store`]).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{self, write_atomically};

/// The saved record, or an empty one.
pub(super) fn load<T: DeserializeOwned + Default>(file: &Path, what: &str) -> T {
    store::load_json(file, what).unwrap_or_default()
}

/// Saves `record`; a failure is logged (`what` says which record).
pub(super) fn save<T: Serialize>(file: &Path, record: &T, what: &str) {
    let written = serde_json::to_vec_pretty(record)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomically(file, &bytes));
    if let Err(err) = written {
        tracing::warn!(file = %file.display(), error = %err, "cannot save the {what}");
    }
}
