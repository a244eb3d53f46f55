//! Secrets: where the config says to find them, and a holder that never shows its value.

use std::fmt;
use std::path::PathBuf;

/// Where a secret is read from; the config names the place, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    /// Written in the config itself (a webhook URL given as `url:`).
    Inline(Secret),
}

/// Why a secret could not be read; it names the place, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("cannot read {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SecretSource {
    /// Reads the secret now (so a rotated file or variable is picked up). A trailing newline
    /// in a file is not part of the secret.
    pub fn read(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => std::env::var(var)
                .map(Secret)
                .map_err(|_| SecretError::Unset(var.clone())),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
            SecretSource::Inline(secret) => Ok(secret.clone()),
        }
    }
}

/// A secret that never shows itself in logs, errors or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Is `presented` this secret? Compared without leaking, through timing, how much of it
    /// was right.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        let mut diff = presented.len() ^ secret.len();
        for i in 0..presented.len().max(secret.len()) {
            let x = presented.get(i).copied().unwrap_or(0);
            let y = secret.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_exact() {
        let secret = Secret::new("abc");
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abd"));
        assert!(!secret.matches(b"abcd"));
        assert!(!Secret::new("a").matches(b""));
    }

    #[test]
    fn files_lose_their_trailing_newline_and_debug_hides_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "hunter2\n").unwrap();
        let secret = SecretSource::File(path).read().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        let missing = SecretSource::Env("LAMINAR_TEST_NEVER_SET".into())
            .read()
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable LAMINAR_TEST_NEVER_SET is not set"
        );
    }
}
