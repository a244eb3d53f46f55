//! A compiled gate: who may sign, which attestations must be there, which platforms, and the
//! trust root signatures chain to.

use std::fmt;
use std::sync::Arc;

use regex::Regex;
use sha2::{Digest, Sha256};
use sigstore_verify::crypto::verification::VerificationKey;
use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
use sigstore_verify::types::bundle::VerificationMaterialContent;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey};
use sigstore_verify::{
    Error as SigstoreError, PublicKeyVerificationPolicy, VerificationPolicy, Verifier,
};

/// Who may sign.
#[derive(Clone, Debug)]
pub enum Signer {
    /// A public key (ECDSA P-256, Ed25519 or RSA), named by its file.
    Key { key: DerPublicKey, name: String },
    /// A Fulcio certificate for this OIDC issuer and subject.
    Keyless { issuer: String, subject: Identity },
}

/// The certificate subject a keyless signer must have.
#[derive(Clone, Debug)]
pub enum Identity {
    Exact(String),
    /// Anchored at both ends.
    Regex(Regex),
}

impl Identity {
    fn matches(&self, subject: &str) -> bool {
        match self {
            Identity::Exact(exact) => exact == subject,
            Identity::Regex(regex) => regex.is_match(subject),
        }
    }
}

/// An attestation a digest must carry.
#[derive(Clone, Debug)]
pub struct AttestationRule {
    pub predicate_type: String,
    /// Who may make it; the gate's signers when `None`.
    pub signers: Option<Vec<Signer>>,
    pub fields: Vec<FieldMatch>,
}

/// `builder.id: https://…`: a dotted path into the predicate and the string it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldMatch {
    pub path: String,
    pub expected: String,
}

impl FieldMatch {
    pub(super) fn matches(&self, predicate: &serde_json::Value) -> bool {
        let found = self
            .path
            .split('.')
            .try_fold(predicate, |value, key| value.get(key));
        found.and_then(serde_json::Value::as_str) == Some(self.expected.as_str())
    }
}

impl fmt::Display for FieldMatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} is not {:?}", self.path, self.expected)
    }
}

/// Everything one `verify:` block demands.
#[derive(Clone)]
pub struct Gate {
    pub signers: Vec<Signer>,
    pub attestations: Vec<AttestationRule>,
    /// `os/architecture[/variant]`, each of which an index must offer.
    pub platforms: Vec<String>,
    verifier: Arc<Verifier>,
    /// A trust root without CT logs (a private sigstore) cannot vouch for certificate
    /// timestamps, so none are asked for.
    verify_sct: bool,
    /// Names this gate's demands and trust material, for the verdict cache: a changed key,
    /// identity or root is a new gate whose verdicts are made afresh.
    pub id: String,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Gate").field("id", &self.id).finish()
    }
}

/// A trust root or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("trusted root: {0}")]
    Root(String),
    #[error("public key {0}: {1}")]
    Key(String, String),
}

impl Gate {
    /// A gate whose signatures chain to `root` (a `trusted_root.json`; sigstore's public-good
    /// root when `None`).
    pub fn new(
        root: Option<&str>,
        signers: Vec<Signer>,
        attestations: Vec<AttestationRule>,
        platforms: Vec<String>,
    ) -> Result<Gate, GateError> {
        let root_json = root.unwrap_or(SIGSTORE_PRODUCTION_TRUSTED_ROOT);
        let trusted =
            TrustedRoot::from_json(root_json).map_err(|e| GateError::Root(e.to_string()))?;
        let verifier = Verifier::new(&trusted).map_err(|e| GateError::Root(e.to_string()))?;
        let mut id = Sha256::new();
        id.update(format!("{signers:?}{attestations:?}{platforms:?}").as_bytes());
        id.update(root_json.as_bytes());
        Ok(Gate {
            signers,
            attestations,
            platforms,
            verifier: Arc::new(verifier),
            verify_sct: !trusted.ctlogs.is_empty(),
            id: format!("{:x}", id.finalize())[..16].to_string(),
        })
    }

    /// Reads a PEM public key (SPKI: ECDSA, Ed25519 or RSA).
    pub fn key(pem: &str, name: &str) -> Result<Signer, GateError> {
        let refused = |e: &dyn std::fmt::Display| GateError::Key(name.into(), e.to_string());
        let key = DerPublicKey::from_pem(pem).map_err(|e| refused(&e))?;
        // The PEM's bytes must be a key of a kind signatures can be checked with.
        VerificationKey::from_spki(&key).map_err(|e| refused(&e))?;
        Ok(Signer::Key {
            key,
            name: name.into(),
        })
    }

    /// The signer of `bundle` over `artifact` among `signers`, or why none is: the signature,
    /// its certificate chain and log entry are checked first, the identity last, so a valid
    /// signature by someone else says who signed.
    pub(super) fn verify<'a>(
        &self,
        artifact: impl Into<Artifact<'a>> + Clone,
        bundle: &Bundle,
        signers: &[Signer],
    ) -> Result<String, String> {
        let keyed = matches!(
            bundle.verification_material.content,
            VerificationMaterialContent::PublicKey(_)
        );
        if keyed {
            for signer in signers {
                let Signer::Key { key, name } = signer else {
                    continue;
                };
                let policy = PublicKeyVerificationPolicy::new(key.clone());
                if self
                    .verifier
                    .verify(artifact.clone(), bundle, &policy)
                    .is_ok()
                {
                    return Ok(format!("key {name}"));
                }
            }
            return Err("signed with a key that is not trusted".into());
        }
        let mut policy = VerificationPolicy::any_identity();
        if !self.verify_sct {
            policy = policy.skip_sct();
        }
        let result = self
            .verifier
            .verify(artifact, bundle, &policy)
            .map_err(|e| refusal(&e))?;
        let subject = result
            .identity()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let issuer = result.issuer().unwrap_or_default();
        let trusted = signers.iter().any(|signer| match signer {
            Signer::Keyless {
                issuer: wanted,
                subject: identity,
            } => wanted == issuer && identity.matches(&subject),
            Signer::Key { .. } => false,
        });
        match trusted {
            true => Ok(subject),
            false => Err(format!("signed by {subject} ({issuer})")),
        }
    }
}

/// A failed verification the way the status says it.
fn refusal(error: &SigstoreError) -> String {
    let text = error.to_string();
    let text: Vec<&str> = text.split_whitespace().collect();
    format!("bad signature: {}", text.join(" "))
}
