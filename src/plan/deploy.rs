//! Deploy requests: one exact tag on every managed reference of one image — newer or older
//! than the current one, picked by the rule's pattern or not — as long as the registry has the
//! tag and no `exclude` of the reference's rule names it.

use super::{Change, Inputs, Managed, Plan, change};
use crate::holds::{Hold, HoldKind};
use crate::image::hub::ImageKey;
use crate::image::scanner::ImageRef;
use crate::image::walk::FileRefs;
use crate::policy::{ImageTags, Selection};
use crate::trust::Verdict;

/// What a deploy request asks of one repo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployOrder {
    pub id: String,
    pub image: String,
    pub tag: String,
    /// Only references in these files or under these directories (paths with `/`); every
    /// file when empty.
    pub files: Vec<String>,
    pub reason: Option<String>,
    /// Set the tag even where the rule's pattern would never pick it.
    pub force: bool,
}

impl DeployOrder {
    fn wants_file(&self, file: &str) -> bool {
        self.files.is_empty()
            || self.files.iter().any(|wanted| {
                let wanted = wanted.trim_end_matches('/');
                file == wanted
                    || file
                        .strip_prefix(wanted)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// Why a deploy request changes nothing in a repo.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeployRefusal {
    #[error("no managed reference to {0} here")]
    NotReferenced(String),
    #[error("the registry did not list {0}")]
    Unlisted(String),
    #[error("{image}:{tag} is not in the registry")]
    UnknownTag { image: String, tag: String },
    #[error("{tag} is excluded by the rule {rule} that manages {site}")]
    Excluded {
        tag: String,
        rule: String,
        site: String,
    },
    #[error(
        "{tag} does not match {rule}, the pattern of the rule that manages {site}; \
         ask with force to set it anyway"
    )]
    OutsidePattern {
        tag: String,
        rule: String,
        site: String,
    },
    #[error("{site} pins a digest, and the digest of {tag} is unknown")]
    DigestUnknown { tag: String, site: String },
    #[error("{site} is outside its rule's window until {until}; ask with force to set it anyway")]
    OutsideWindow { site: String, until: String },
    #[error("{site} follows a promotion chain: {why}; ask with force to skip the chain")]
    Chain { site: String, why: String },
    #[error("{tag} does not pass the trust gate of {site}: {why}")]
    Untrusted {
        tag: String,
        site: String,
        why: String,
    },
}

/// The changes that set `order.tag`, and the holds that keep it: a tag the rule would move
/// away from is held until a tag newer than the rule's newest appears. A tag outside the
/// rule's pattern is refused unless the order forces it; then the hold names the rule, which
/// keeps managing the reference. An empty plan when every reference already has the tag.
pub fn deploy(
    inputs: &Inputs,
    files: &[FileRefs],
    order: &DeployOrder,
) -> Result<Plan, DeployRefusal> {
    let key = ImageKey::of(&order.image);
    let wanted = |file: &str, reference: &ImageRef| order.wants_file(file) && reference.key == key;
    let mut plan = Plan::default();
    let mut matched = false;
    super::each_managed(inputs, files, wanted, |managed| {
        matched = true;
        set(inputs, order, &mut plan, managed)
    })?;
    if !matched {
        return Err(DeployRefusal::NotReferenced(order.image.clone()));
    }
    if plan.changes.is_empty() {
        // Nothing moves: the holds stay as they are.
        plan.holds_made.clear();
        plan.holds_ended.clear();
    }
    Ok(plan)
}

/// Sets `order.tag` on one managed reference (unless it has it), with the hold that keeps it.
fn set(
    inputs: &Inputs,
    order: &DeployOrder,
    plan: &mut Plan,
    at: &Managed,
) -> Result<(), DeployRefusal> {
    let (reference, policy, site) = (at.reference, &at.rule.policy, &at.site);
    let closed = at
        .rule
        .window
        .as_ref()
        .and_then(|w| w.closed_until(inputs.now));
    if let Some(until) = closed.filter(|_| !order.force) {
        return Err(DeployRefusal::OutsideWindow {
            site: site.to_string(),
            until: super::moment(until),
        });
    }
    // Past a chain only by force: then the registry's listing, as for any rule.
    let promoted = match (&at.rule.follow, order.force) {
        (Some(follow), false) => Some(through_chain(inputs, order, at, follow)?),
        _ => None,
    };
    let listed = match &promoted {
        Some((known, _)) => Some(known),
        None => inputs.tags.get(&reference.image),
    };
    let known = listed.ok_or_else(|| DeployRefusal::Unlisted(reference.image.clone()))?;
    let info = known
        .tags
        .iter()
        .find(|t| t.tag == order.tag)
        .ok_or_else(|| DeployRefusal::UnknownTag {
            image: reference.image.clone(),
            tag: order.tag.clone(),
        })?;
    if policy.excludes(&order.tag) {
        return Err(DeployRefusal::Excluded {
            tag: order.tag.clone(),
            rule: policy.pattern.to_string(),
            site: site.to_string(),
        });
    }
    let outside = !policy.manages(&order.tag);
    if outside && !order.force {
        return Err(DeployRefusal::OutsidePattern {
            tag: order.tag.clone(),
            rule: policy.pattern.to_string(),
            site: site.to_string(),
        });
    }
    // A trust gate holds for deploys too, forced or not: `force` widens the pattern, not
    // whom images are trusted from.
    let trust = &inputs.standing.trust;
    if let Some(gate) = trust.gate(at.rule, reference) {
        let verdict = info.digest.as_deref().and_then(|d| trust.verdict(gate, d));
        if !verdict.is_some_and(Verdict::trusted) {
            return Err(DeployRefusal::Untrusted {
                tag: order.tag.clone(),
                site: site.to_string(),
                why: verdict.map_or("not verified".into(), ToString::to_string),
            });
        }
    }
    plan.holds_ended.extend(
        inputs
            .standing
            .holds
            .iter()
            .filter(|h| h.kind != HoldKind::Manual && h.file.is_some())
            .filter(|h| h.covers(&inputs.repo.name, at.file, &reference.image))
            .map(|h| h.id.clone()),
    );
    if !plan
        .holds_made
        .iter()
        .any(|h| h.file.as_deref() == Some(at.file))
    {
        plan.holds_made
            .extend(deploy_hold(inputs, order, at, known));
    }
    if reference.tag == order.tag {
        return Ok(());
    }
    let moved = change(reference, info, at.rule.pin_digest, site.clone()).ok_or_else(|| {
        DeployRefusal::DigestUnknown {
            tag: order.tag.clone(),
            site: site.to_string(),
        }
    })?;
    let promotion = at.rule.follow.as_ref().map(|follow| {
        let own = at.rule.name.as_deref().unwrap_or(&inputs.repo.name);
        let chain = format!("{} → {own}", follow.upstream_name(&inputs.repo.name));
        let notes = match &promoted {
            Some((_, note)) => note.clone(),
            None => "forced past the chain by a deploy request".to_string(),
        };
        super::Promotion { chain, notes }
    });
    plan.changes.push(Change {
        rule: policy.pattern.to_string(),
        reason: match &order.reason {
            Some(reason) => format!("requested by deploy {}: {reason}", order.id),
            None => format!("requested by deploy {}", order.id),
        },
        promotion,
        ..moved
    });
    Ok(())
}

/// A deploy to a following rule's reference, not forced: the tag must be one the chain lets
/// through. The upstream's tags stand for the registry's, with why the tag qualified.
fn through_chain(
    inputs: &Inputs,
    order: &DeployOrder,
    at: &Managed,
    follow: &crate::config::Follow,
) -> Result<(ImageTags, String), DeployRefusal> {
    let facts = &inputs.standing.chain;
    let asking = super::Asking::new(at.rule, follow, &inputs.repo.name, at.reference, inputs.now);
    let refused = |why: String| DeployRefusal::Chain {
        site: at.site.to_string(),
        why,
    };
    match super::qualify(&asking, facts, &order.tag) {
        super::Offer::Move { note, .. } => {
            let known = super::chain::candidates(follow, &at.reference.key, facts)
                .map(ImageTags::complete)
                .unwrap_or_default();
            Ok((known, note))
        }
        super::Offer::Wait(wait) => Err(refused(wait.to_string())),
        super::Offer::Keep(why) => Err(refused(why.to_string())),
        super::Offer::Lookup { tag, .. } => {
            Err(refused(super::ChainWait::Lookup { tag }.to_string()))
        }
    }
}

/// The hold that keeps a deployed tag the rule would move away from: until a tag newer than
/// the rule's newest appears. Outside the pattern the tag cannot be ordered, so it is held
/// until a tag newer than the rule's newest now appears, and the hold names the rule.
fn deploy_hold(
    inputs: &Inputs,
    order: &DeployOrder,
    at: &Managed,
    known: &ImageTags,
) -> Option<Hold> {
    let policy = &at.rule.policy;
    let outside = !policy.manages(&order.tag);
    let release_after = match outside {
        true => policy.rank(&known.tags).first().map(|t| t.tag.clone()),
        false => match policy.select(&order.tag, &known.tags, inputs.now) {
            Selection::Update { to, .. } => Some(to.tag.clone()),
            Selection::Keep(_) => return None,
        },
    };
    let mut hold = Hold::new(HoldKind::Deploy, &at.reference.image);
    hold.repo = Some(inputs.repo.name.clone());
    hold.file = Some(at.file.to_string());
    hold.tag = Some(order.tag.clone());
    hold.release_after = release_after;
    hold.rule = outside.then(|| policy.pattern.to_string());
    hold.reason = order.reason.clone();
    Some(hold)
}
