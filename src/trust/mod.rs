//! Trust gates: whether an image digest carries the signatures, attestations and platforms a
//! rule demands. Pure: the registry layer fetches what a digest carries ([`Evidence`]), this
//! module judges it, offline, with sigstore's verifier (certificate chain to a trusted Fulcio
//! root valid at signing time, identity, Rekor entry timestamp or inclusion proof, and the
//! signed content naming that very digest).
//!
//! Two places signatures live are read: cosign's `sha256-<hex>.sig` tag (one simple-signing
//! payload per layer, the certificate and Rekor entry in annotations), turned here into the
//! sigstore bundle it amounts to; and sigstore bundles attached through the OCI referrers API
//! (cosign 3), whose DSSE statement names the digest as its subject.

mod gate;
mod legacy;

use std::fmt;

use sigstore_verify::types::intoto::Statement;
use sigstore_verify::types::{Bundle, Sha256Hash, SignatureContent};

pub use gate::{AttestationRule, FieldMatch, Gate, GateError, Identity, Signer};
pub use legacy::LegacySignature;

/// The predicate type cosign 3 gives an image signature made as a bundle.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Artifact types of sigstore bundles attached as referrers.
pub const BUNDLE_ARTIFACT_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The layer media type of a cosign `.sig` signature.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// What a registry holds about one digest, as far as a gate asked for it.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// `os/architecture[/variant]` of each image an index lists; one entry for a single image.
    pub platforms: Vec<String>,
    /// Signatures under the `sha256-<hex>.sig` tag.
    pub legacy: Vec<LegacySignature>,
    /// Sigstore bundles attached to the digest (referrers API or its tag fallback), as JSON.
    pub bundles: Vec<Vec<u8>>,
}

/// Whether a digest may be deployed under a gate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Every requirement met; `by` names the signer, when the gate asks for a signature.
    Trusted { by: Option<String> },
    /// Why it is not eligible, the way a person would say it ("unsigned", "missing
    /// linux/arm64", "signed by repo:acme/other").
    Refused { why: String },
}

impl Verdict {
    pub fn trusted(&self) -> bool {
        matches!(self, Verdict::Trusted { .. })
    }

    fn refused(why: impl Into<String>) -> Verdict {
        Verdict::Refused { why: why.into() }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Verdict::Trusted { by: Some(by) } => write!(f, "trusted: signed by {by}"),
            Verdict::Trusted { by: None } => f.write_str("trusted"),
            Verdict::Refused { why } => f.write_str(why),
        }
    }
}

/// Judges `digest` (`sha256:<hex>`) by what the registry holds for it.
pub fn check(gate: &Gate, digest: &str, evidence: &Evidence) -> Verdict {
    if let Some(missing) = gate.platforms.iter().find(|wanted| {
        !evidence
            .platforms
            .iter()
            .any(|p| platform_matches(wanted, p))
    }) {
        return Verdict::refused(format!("missing {missing}"));
    }
    let Some(subject) = digest
        .strip_prefix("sha256:")
        .and_then(|hex| Sha256Hash::from_hex(hex).ok())
    else {
        return Verdict::refused(format!("cannot verify digest {digest:?}"));
    };
    let bundles: Vec<Bundle> = evidence
        .bundles
        .iter()
        .filter_map(|json| std::str::from_utf8(json).ok())
        .filter_map(|json| Bundle::from_json(json).ok())
        .collect();
    let mut by = None;
    if !gate.signers.is_empty() {
        match signature(gate, digest, subject, &bundles, &evidence.legacy) {
            Ok(signer) => by = Some(signer),
            Err(why) => return Verdict::refused(why),
        }
    }
    for rule in &gate.attestations {
        let signers = rule.signers.as_deref().unwrap_or(&gate.signers);
        if let Err(why) = attestation(gate, rule, signers, subject, &bundles) {
            return Verdict::refused(why);
        }
    }
    Verdict::Trusted { by }
}

/// The signer of a valid signature over `digest`, or why there is none: the first signature's
/// fault ("signed by …", "bad signature: …"), else "unsigned".
fn signature(
    gate: &Gate,
    digest: &str,
    subject: Sha256Hash,
    bundles: &[Bundle],
    legacy: &[LegacySignature],
) -> Result<String, String> {
    let mut why: Option<String> = None;
    let mut note = |reason: String| {
        if why.is_none() {
            why = Some(reason);
        }
    };
    for signature in legacy {
        match signature.verify(gate, digest) {
            Ok(by) => return Ok(by),
            Err(reason) => note(reason),
        }
    }
    for bundle in bundles
        .iter()
        .filter(|b| statement_type(b).as_deref() == Some(COSIGN_SIGN_PREDICATE))
    {
        match gate.verify(subject, bundle, &gate.signers) {
            Ok(by) => return Ok(by),
            Err(reason) => note(reason),
        }
    }
    Err(why.unwrap_or_else(|| "unsigned".into()))
}

/// An attestation of `rule`'s predicate type over `subject` by one of `signers`, whose
/// predicate has the fields `rule` asks for.
fn attestation(
    gate: &Gate,
    rule: &AttestationRule,
    signers: &[Signer],
    subject: Sha256Hash,
    bundles: &[Bundle],
) -> Result<(), String> {
    let mut why = format!("no {} attestation", rule.predicate_type);
    for bundle in bundles
        .iter()
        .filter(|b| statement_type(b).as_deref() == Some(rule.predicate_type.as_str()))
    {
        if let Err(reason) = gate.verify(subject, bundle, signers) {
            why = format!("{} attestation {reason}", rule.predicate_type);
            continue;
        }
        let Some(statement) = statement(bundle) else {
            continue;
        };
        match rule
            .fields
            .iter()
            .find(|field| !field.matches(&statement.predicate))
        {
            None => return Ok(()),
            Some(field) => why = format!("{} attestation: {field}", rule.predicate_type),
        }
    }
    Err(why)
}

/// The in-toto statement a DSSE bundle carries, unverified (read only to sort bundles and,
/// after verification, to match fields).
fn statement(bundle: &Bundle) -> Option<Statement> {
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return None;
    };
    serde_json::from_slice(envelope.payload.as_bytes()).ok()
}

fn statement_type(bundle: &Bundle) -> Option<String> {
    statement(bundle).map(|s| s.predicate_type)
}

/// `linux/arm64` is met by any arm64 variant; `linux/arm/v7` only by v7.
fn platform_matches(wanted: &str, offered: &str) -> bool {
    wanted == offered
        || offered
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('/') && wanted.matches('/').count() == 1)
}

#[cfg(test)]
mod tests;
