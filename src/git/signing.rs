//! Commit signatures, kept in the commit's `gpgsig` header as git writes them: an SSH
//! signature (an armored SSHSIG over the commit in the `git` namespace, as `git commit -S` with
//! `gpg.format=ssh` makes) or an OpenPGP one (a detached armored signature over the commit).

use std::path::Path;
use std::time::SystemTime;

use crate::config::{Signing, SigningFormat};

/// Why a commit could not be signed. Messages never hold key material.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("passphrase: {0}")]
    Passphrase(#[from] crate::secret::SecretError),
    #[error("{0}")]
    Unreadable(#[from] std::io::Error),
    #[error("not an {0}")]
    NotAKey(String),
    #[error("the passphrase does not unlock the key")]
    WrongPassphrase,
    #[error("the key is encrypted: give passphraseEnv or passphraseFile")]
    Encrypted,
    #[error("{0}")]
    Sign(String),
}

/// A key, unlocked, ready to sign; with the key file's modification time when it was read, so
/// a replaced key is read again.
pub struct Signer {
    key: Key,
    read_at: Option<SystemTime>,
}

enum Key {
    Ssh(Box<ssh_key::PrivateKey>),
    OpenPgp(Box<super::openpgp::SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self.key {
            Key::Ssh(_) => "Signer(ssh)",
            Key::OpenPgp(_) => "Signer(openpgp)",
        })
    }
}

impl Signer {
    /// Reads and unlocks the key `signing` names. Messages never hold key material.
    pub fn load(signing: &Signing) -> Result<Signer, SigningError> {
        let passphrase = signing
            .passphrase
            .as_ref()
            .map(|source| source.read())
            .transpose()?;
        let text = std::fs::read_to_string(&signing.key_file)?;
        let key = match signing.format {
            SigningFormat::Ssh => {
                let key = ssh_key::PrivateKey::from_openssh(&text)
                    .map_err(|e| SigningError::NotAKey(format!("OpenSSH private key ({e})")))?;
                let key = match (key.is_encrypted(), passphrase) {
                    (false, _) => key,
                    (true, Some(passphrase)) => key
                        .decrypt(passphrase.expose())
                        .map_err(|_| SigningError::WrongPassphrase)?,
                    (true, None) => return Err(SigningError::Encrypted),
                };
                Key::Ssh(Box::new(key))
            }
            SigningFormat::OpenPgp => Key::OpenPgp(Box::new(super::openpgp::SigningKey::read(
                &text,
                passphrase.as_ref().map(|p| p.expose()),
            )?)),
        };
        Ok(Signer {
            key,
            read_at: modified(&signing.key_file),
        })
    }

    /// Whether the key file changed since it was read.
    pub fn stale(&self, key_file: &Path) -> bool {
        modified(key_file) != self.read_at
    }

    /// The `gpgsig` header's value for the commit `buffer`.
    pub fn sign(&self, buffer: &[u8]) -> Result<String, SigningError> {
        match &self.key {
            Key::Ssh(key) => key
                .sign("git", ssh_key::HashAlg::Sha512, buffer)
                .and_then(|signature| signature.to_pem(ssh_key::LineEnding::LF))
                .map_err(|e| SigningError::Sign(format!("SSH signature: {e}"))),
            Key::OpenPgp(key) => key.sign(buffer),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
