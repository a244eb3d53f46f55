//! The newest *eligible* tag: under a trust gate, a tag whose digest was refused is passed
//! over and the next newest considered; a tag not yet judged stops the walk (the cycle judges
//! it and plans again), so nothing unverified is ever chosen.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::{RegistryId, UpdateRule};
use crate::image::scanner::ImageRef;
use crate::policy::{Keep, Policy, Selection, TagInfo};
use crate::trust::{Gate, Verdict};

/// What the plan knows of trust: each registry's gate, and the verdicts made so far.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// A rule without its own `verify` uses its image's registry's.
    pub registry_gates: Arc<HashMap<RegistryId, Arc<Gate>>>,
    /// By gate id and digest.
    pub verdicts: HashMap<(String, String), Verdict>,
}

impl Trust {
    /// The gate `reference`'s tags must pass under `rule`, if any.
    pub fn gate<'a>(&'a self, rule: &'a UpdateRule, reference: &ImageRef) -> Option<&'a Arc<Gate>> {
        rule.gate
            .as_ref()
            .or_else(|| self.registry_gates.get(&reference.registry))
    }

    /// The gates the configured registries demand.
    pub fn of_registries(registries: &[crate::config::Registry]) -> HashMap<RegistryId, Arc<Gate>> {
        registries
            .iter()
            .filter_map(|r| Some((r.id(), r.gate.clone()?)))
            .collect()
    }

    /// The verdict on `digest` under `gate`, if one was made.
    pub(super) fn verdict(&self, gate: &Gate, digest: &str) -> Option<&Verdict> {
        self.verdicts.get(&(gate.id.clone(), digest.to_string()))
    }
}

/// Where a walk over the candidates ended.
#[derive(Debug)]
pub enum Walk<'t> {
    /// The policy's answer among eligible tags, and the newer tags passed over, with why.
    Decided {
        selection: Selection<'t>,
        passed: Vec<(String, String)>,
    },
    /// This tag would be chosen but has not been judged (or its digest is unknown).
    Unjudged(&'t TagInfo),
}

/// The policy's choice for `current` among `tags`, passing over tags `gate` refused.
pub fn walk<'t>(
    policy: &Policy,
    gate: Option<&Gate>,
    trust: &Trust,
    current: &str,
    tags: &'t [TagInfo],
    now: SystemTime,
) -> Walk<'t> {
    let Some(gate) = gate else {
        let selection = policy.select(current, tags, now);
        return Walk::Decided {
            selection,
            passed: Vec::new(),
        };
    };
    // The tags not refused yet: `tags` itself until the first refusal.
    let mut eligible = Cow::Borrowed(tags);
    let mut passed = Vec::new();
    loop {
        let (chosen, reason) = match policy.select(current, &eligible, now) {
            Selection::Update { to, reason } => (to.tag.clone(), reason),
            Selection::Keep(why) => {
                let selection = Selection::Keep(why);
                return Walk::Decided { selection, passed };
            }
        };
        // The eligible tags are some of `tags`: the choice is among them.
        let Some(to) = tags.iter().find(|t| t.tag == chosen) else {
            let selection = Selection::Keep(Keep::NoCandidates);
            return Walk::Decided { selection, passed };
        };
        let Some(verdict) = to.digest.as_deref().and_then(|d| trust.verdict(gate, d)) else {
            return Walk::Unjudged(to);
        };
        match verdict {
            Verdict::Trusted { by } => {
                let mut reason = reason;
                if let Some(by) = by {
                    reason.push_str(&format!("; signed by {by}"));
                }
                if !passed.is_empty() {
                    reason.push_str(&format!("; passed over {}", describe(&passed)));
                }
                return Walk::Decided {
                    selection: Selection::Update { to, reason },
                    passed,
                };
            }
            Verdict::Refused { why } => {
                passed.push((chosen.clone(), why.clone()));
                eligible.to_mut().retain(|t| t.tag != chosen);
            }
        }
    }
}

/// The listing's entry for `reference`'s own tag, with its digest, when `rule` pins digests
/// and the tag now names another digest than the one written (the tag was pushed again).
pub fn repushed<'t>(
    rule: &UpdateRule,
    reference: &ImageRef,
    tags: &'t [TagInfo],
) -> Option<(&'t TagInfo, &'t str)> {
    let written = reference.digest.as_deref().filter(|_| rule.pin_digest)?;
    let info = tags.iter().find(|t| t.tag == reference.tag)?;
    let digest = info.digest.as_deref().filter(|d| *d != written)?;
    Some((info, digest))
}

/// `1.3.0 (unsigned), 1.2.4 (missing linux/arm64)`.
pub(super) fn describe(passed: &[(String, String)]) -> String {
    let parts: Vec<String> = passed
        .iter()
        .map(|(tag, why)| format!("{tag} ({why})"))
        .collect();
    parts.join(", ")
}

/// The digest a following rule's offered tag is judged by: the one the upstream pinned, else
/// the registry's (a gated following rule lists its image for that).
pub fn promoted_digest(to: &TagInfo, listed: Option<&crate::policy::ImageTags>) -> Option<String> {
    to.digest.clone().or_else(|| {
        let listed = listed?.tags.iter().find(|t| t.tag == to.tag)?;
        listed.digest.clone()
    })
}

/// A tag a chain offers, with its digest (the upstream's, else the registry's), once its
/// rule's trust gate (if any) has passed that digest: the upstream having run it proves
/// nothing about who built it.
pub(super) fn promoted(
    inputs: &super::Inputs,
    at: &super::Managed,
    to: TagInfo,
) -> Result<TagInfo, super::KeptReason> {
    let listed = inputs.tags.get(&at.reference.image);
    let to = TagInfo {
        digest: promoted_digest(&to, listed),
        ..to
    };
    let trust = &inputs.standing.trust;
    let Some(gate) = trust.gate(at.rule, at.reference) else {
        return Ok(to);
    };
    let tag = to.tag.clone();
    let Some(digest) = to.digest.clone() else {
        return Err(super::KeptReason::Unverified { tag });
    };
    match trust.verdict(gate, &digest) {
        None => Err(super::KeptReason::Unverified { tag }),
        Some(Verdict::Refused { why }) => Err(super::KeptReason::Untrusted {
            passed: vec![(tag, why.clone())],
        }),
        Some(Verdict::Trusted { .. }) => Ok(TagInfo {
            digest: Some(digest),
            ..to
        }),
    }
}
