//! OpenPGP signing keys: an armored transferable secret key, unlocked once with its
//! passphrase (as the SSH key is). It signs with its signing subkey when it has one, else with
//! its primary key, as gpg does.

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SecretKey, SecretSubkey};
use pgp::types::Password;
use rand_core::OsRng;

use super::signing::SigningError;

pub(super) enum SigningKey {
    Primary(SecretKey),
    Subkey(SecretSubkey),
}

impl SigningKey {
    /// Reads the armored key and unlocks the part that signs with `passphrase` (or without
    /// one).
    pub(super) fn read(
        armored: &str,
        passphrase: Option<&str>,
    ) -> Result<SigningKey, SigningError> {
        let (key, _) = SignedSecretKey::from_string(armored)
            .map_err(|e| SigningError::NotAKey(format!("armored OpenPGP secret key ({e})")))?;
        let password = passphrase
            .map(Password::from)
            .unwrap_or_else(Password::empty);
        let wrong = |_| SigningError::WrongPassphrase;
        let signing_subkey = key
            .secret_subkeys
            .into_iter()
            .find(|sub| sub.signatures.iter().any(|s| s.key_flags().sign()));
        let key = match signing_subkey {
            Some(mut sub) => {
                sub.key.remove_password(&password).map_err(wrong)?;
                SigningKey::Subkey(sub.key)
            }
            None => {
                let mut primary = key.primary_key;
                primary.remove_password(&password).map_err(wrong)?;
                SigningKey::Primary(primary)
            }
        };
        key.sign(b"")
            .map_err(|e| SigningError::Sign(format!("the key cannot sign ({e})")))?;
        Ok(key)
    }

    /// A detached, armored signature over `data`.
    pub(super) fn sign(&self, data: &[u8]) -> Result<String, SigningError> {
        let unlocked = Password::empty();
        let signature = match self {
            SigningKey::Subkey(key) => DetachedSignature::sign_binary_data(
                OsRng,
                key,
                &unlocked,
                HashAlgorithm::Sha256,
                data,
            ),
            SigningKey::Primary(key) => DetachedSignature::sign_binary_data(
                OsRng,
                key,
                &unlocked,
                HashAlgorithm::Sha256,
                data,
            ),
        };
        signature
            .and_then(|signature| signature.to_armored_string(ArmorOptions::default()))
            .map_err(|e| SigningError::Sign(format!("OpenPGP signature: {e}")))
    }
}
