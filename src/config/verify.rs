//! `verify:` blocks (on a registry or a rule): decoded into a [`Gate`], with keys and trust
//! roots read now, capped, and their errors located.

use std::sync::Arc;

use regex::Regex;

use super::Environment;
use super::fields::Decoder;
use super::yaml::{Node, Value};
use crate::trust::{AttestationRule, FieldMatch, Gate, Identity, Signer};

/// A public key is a few hundred bytes; the public-good trust root about 10 KiB.
const MAX_KEY: u64 = 64 * 1024;
const MAX_ROOT: u64 = 4 * 1024 * 1024;

/// A `verify:` block.
pub(super) fn gate(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Arc<Gate>> {
    let mut f = d.fields(node)?;
    let cosign = f.get(d, "cosign", &[]);
    let keyless = f.get(d, "keyless", &[]);
    let root_node = f.get(d, "trustedRoot", &[]);
    let attestations_node = f.get(d, "attestations", &[]);
    let platforms_node = f.get(d, "platforms", &[]);
    f.finish(d);
    let signers = signers(d, cosign, keyless, env);
    let attestations: Vec<AttestationRule> = attestations_node
        .map(|n| d.list(n))
        .unwrap_or_default()
        .iter()
        .filter_map(|item| attestation(d, item, env))
        .collect();
    let platforms = platforms_node.map(|n| platforms(d, n)).unwrap_or_default();
    let root = root_node.map(|n| read(d, n, env, "trusted root", MAX_ROOT));
    if signers.is_empty() && attestations.is_empty() && platforms.is_empty() {
        // (A demand that was given but not understood has its own error already.)
        let given = [cosign, keyless, attestations_node, platforms_node];
        if given.iter().all(Option::is_none) {
            d.error(
                node.pos,
                "verify needs cosign keys, keyless identities, attestations or platforms",
            );
        }
        return None;
    }
    if attestations.iter().any(|a| a.signers.is_none()) && signers.is_empty() {
        d.error(
            node.pos,
            "an attestation without its own signers needs the block's cosign keys or keyless identities",
        );
        return None;
    }
    // A root that could not be read has its error; no gate then.
    if root.as_ref().is_some_and(Option::is_none) {
        return None;
    }
    Gate::new(root.flatten().as_deref(), signers, attestations, platforms)
        .map_err(|e| d.error(root_node.map_or(node.pos, |n| n.pos), e.to_string()))
        .ok()
        .map(Arc::new)
}

/// `cosign: {keys: […]}` and `keyless: [{issuer, subject | subjectRegex}]`.
fn signers(
    d: &mut Decoder,
    cosign: Option<&Node>,
    keyless: Option<&Node>,
    env: &Environment,
) -> Vec<Signer> {
    let mut signers = Vec::new();
    if let Some(node) = cosign
        && let Some(mut f) = d.fields(node)
    {
        let keys = f.require(d, "keys", &[]);
        f.finish(d);
        for key in keys.map(|n| d.list(n)).unwrap_or_default() {
            let Some(pem) = read(d, key, env, "public key", MAX_KEY) else {
                continue;
            };
            let name = d.text(key).unwrap_or_default();
            match Gate::key(&pem, &name) {
                Ok(signer) => signers.push(signer),
                Err(e) => d.error(key.pos, e.to_string()),
            }
        }
    }
    for item in keyless.map(|n| d.list(n)).unwrap_or_default() {
        signers.extend(identity(d, item));
    }
    signers
}

fn identity(d: &mut Decoder, node: &Node) -> Option<Signer> {
    let mut f = d.fields(node)?;
    let issuer = f.require(d, "issuer", &[]).and_then(|n| d.text(n));
    let subject = f.get(d, "subject", &[]).and_then(|n| d.text(n));
    let regex_node = f.get(d, "subjectRegex", &[]);
    f.finish(d);
    let subject = match (subject, regex_node) {
        (Some(exact), None) => Identity::Exact(exact),
        (None, Some(n)) => {
            let text = d.text(n)?;
            let anchored = format!("^(?:{text})$");
            match Regex::new(&anchored) {
                Ok(regex) => Identity::Regex(regex),
                Err(e) => {
                    d.error(
                        n.pos,
                        format!("invalid subjectRegex: {}", crate::policy::one_line(&e)),
                    );
                    return None;
                }
            }
        }
        _ => {
            d.error(
                node.pos,
                "a keyless identity needs exactly one of subject and subjectRegex",
            );
            return None;
        }
    };
    Some(Signer::Keyless {
        issuer: issuer?,
        subject,
    })
}

/// `{predicateType, match: {path: value}, cosign?, keyless?}`.
fn attestation(d: &mut Decoder, node: &Node, env: &Environment) -> Option<AttestationRule> {
    let mut f = d.fields(node)?;
    let predicate_type = f.require(d, "predicateType", &[]).and_then(|n| d.text(n));
    let fields_node = f.get(d, "match", &[]);
    let cosign = f.get(d, "cosign", &[]);
    let keyless = f.get(d, "keyless", &[]);
    f.finish(d);
    let mut fields = Vec::new();
    if let Some(node) = fields_node {
        match &node.value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    if let Some(expected) = d.text(value) {
                        let path = key.name.clone();
                        fields.push(FieldMatch { path, expected });
                    }
                }
            }
            _ => d.error(
                node.pos,
                "match must map predicate fields to the values they must hold",
            ),
        }
    }
    let signers = (cosign.is_some() || keyless.is_some()).then(|| signers(d, cosign, keyless, env));
    Some(AttestationRule {
        predicate_type: predicate_type?,
        signers,
        fields,
    })
}

fn platforms(d: &mut Decoder, node: &Node) -> Vec<String> {
    let mut platforms = Vec::new();
    for item in d.list(node) {
        let Some(text) = d.text(item) else { continue };
        match text.parse::<super::Platform>() {
            Ok(_) => platforms.push(text),
            Err(e) => d.error(item.pos, e),
        }
    }
    platforms
}

/// A file named by `node`, read now, whole, if no larger than `cap`: trust material that
/// cannot be read is an error, not a warning, since a gate without it would trust nothing.
fn read(d: &mut Decoder, node: &Node, env: &Environment, what: &str, cap: u64) -> Option<String> {
    let path = env.expand_home(&d.text(node)?);
    let read = crate::store::read_capped(&path, cap).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| std::io::Error::other("not UTF-8 text"))
    });
    read.map_err(|e| d.error(node.pos, format!("{what} {}: {e}", path.display())))
        .ok()
}
