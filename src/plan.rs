//! Planning: from the references found in a checkout, the repo's rules and the tags each
//! registry offers, to a plain list of changes. Pure, apart from [`apply`], which writes a
//! plan to disk.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

mod chain;
mod deploy;
mod standing;
mod trust;

pub use chain::{
    Asking, ChainFacts, ChainWait, Checks, Health, Lineage, Lookup, Offer, Snapshot, Stint,
    describe_health, lineage, offer, qualify,
};
pub use deploy::{DeployOrder, DeployRefusal, deploy};
pub use standing::{Standing, Written, describe as describe_hold};
pub use trust::{Trust, Walk, promoted_digest, repushed, walk};

use crate::config::{Repo, UpdateRule};
use crate::holds::Hold;
use crate::image::forms::Form;
use crate::image::rewrite::{Edit, RewriteError, rewrite_file};
use crate::image::scanner::ImageRef;
use crate::image::walk::{FileRefs, slash_path};
use crate::policy::{ImageTags, Keep, Selection, TagInfo};
use crate::trust::{Gate, Verdict};
use standing::{Held, Reference, judge};

/// Tags known per image name (as written in files).
pub type TagTable = HashMap<String, ImageTags>;

/// Where a reference is: file (relative to the repo root), line and byte column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// One reference to move to a newer tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub site: Site,
    pub image: String,
    pub old_tag: String,
    pub new_tag: String,
    /// Set when the reference pins a digest: the old and the new one.
    pub digest: Option<(String, String)>,
    /// The pattern of the rule that manages the reference.
    pub rule: String,
    pub reason: String,
    /// Set when a following rule promotes the tag from its upstream.
    pub promotion: Option<Promotion>,
    tag_span: Range<usize>,
    digest_span: Option<Range<usize>>,
}

impl Change {
    /// The byte edits that carry out this change.
    pub fn edits(&self) -> Vec<Edit> {
        let mut edits = vec![Edit {
            span: self.tag_span.clone(),
            expected: self.old_tag.clone(),
            replacement: self.new_tag.clone(),
        }];
        if let (Some(span), Some((old, new))) = (&self.digest_span, &self.digest) {
            edits.push(Edit {
                span: span.clone(),
                expected: old.clone(),
                replacement: new.clone(),
            });
        }
        edits
    }
}

/// A promotion along a chain: `staging → prod`, and why the tag qualified (`soaked 26 h, e2e
/// green`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promotion {
    pub chain: String,
    pub notes: String,
}

/// A managed reference that stays as it is, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub site: Site,
    pub image: String,
    pub tag: String,
    /// The pattern of the rule that manages the reference.
    pub rule: String,
    pub reason: KeptReason,
}

/// Why a managed reference stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeptReason {
    /// The rule's answer: up to date, nothing allowed, or the current tag cannot be ordered.
    Rule(Keep),
    /// The registry could not be asked, or knows no tags for the image.
    NoTags,
    /// A newer tag exists, but its digest is unknown and the reference pins one.
    DigestUnknown { newer: String },
    /// The rule orders or ages by time, and some of its tags' times are still to be read.
    OrderingIncomplete { pending: usize },
    /// A `# laminar:hold` comment on the reference's line.
    Held { until: Option<String> },
    /// A hold the daemon keeps: made through the API, by a rollback, or by a deploy request.
    OnHold(Box<Hold>),
    /// Newer tags exist, but none passed the rule's trust gate: each with why.
    Untrusted { passed: Vec<(String, String)> },
    /// The tag that would be chosen is still to be verified (the cycle's share of
    /// verifications is spent, or the registry could not be asked).
    Unverified { tag: String },
    /// The rule's window is closed until then.
    OutsideWindow { until: SystemTime },
    /// A following rule waits on its upstream.
    Chain(ChainWait),
}

impl fmt::Display for KeptReason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            KeptReason::Rule(keep) => keep.fmt(f),
            KeptReason::NoTags => f.write_str("no tags are known for this image"),
            KeptReason::DigestUnknown { newer } => write!(
                f,
                "{newer} is newer, but its digest is unknown and the reference pins one"
            ),
            KeptReason::OrderingIncomplete { pending } => write!(
                f,
                "ordering incomplete: {pending} tags pending (read over the next cycles)"
            ),
            KeptReason::Held { until: None } => {
                f.write_str("held by a `# laminar:hold` comment on its line")
            }
            KeptReason::Held { until: Some(until) } => write!(
                f,
                "held until {until} by a `# laminar:hold` comment on its line"
            ),
            KeptReason::OnHold(hold) => f.write_str(&describe_hold(hold)),
            KeptReason::Untrusted { passed } => write!(
                f,
                "no newer tag passed the trust gate: {}",
                trust::describe(passed)
            ),
            KeptReason::Unverified { tag } => write!(f, "{tag} is still to be verified"),
            KeptReason::OutsideWindow { until } => {
                write!(
                    f,
                    "outside the rule's window: waits until {}",
                    moment(*until)
                )
            }
            KeptReason::Chain(wait) => wait.fmt(f),
        }
    }
}

/// A time as people read it in a status: `2026-12-08T08:00:00Z`.
pub(crate) fn moment(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_default()
}

impl Kept {
    /// The registry was asked and nothing allowed is newer.
    pub fn up_to_date(&self) -> bool {
        self.reason == KeptReason::Rule(Keep::UpToDate)
    }
}

/// Everything one cycle would do to one repo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub kept: Vec<Kept>,
    /// Holds to keep from now on: rollbacks this plan noticed, older tags a deploy set.
    pub holds_made: Vec<Hold>,
    /// Ids of holds that end: a tag newer than the one each waits for has appeared.
    pub holds_ended: Vec<String>,
    /// (file, image) whose written tag someone else has since replaced.
    pub forgotten: Vec<(String, String)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The edits to make, grouped by file.
    pub fn edits_by_file(&self) -> BTreeMap<&Path, Vec<Edit>> {
        let mut by_file: BTreeMap<&Path, Vec<Edit>> = BTreeMap::new();
        for change in &self.changes {
            by_file
                .entry(change.site.path.as_path())
                .or_default()
                .extend(change.edits());
        }
        by_file
    }
}

/// Decides, for every reference a rule manages, whether to move it and to which tag, as of
/// `now` (tag ages are measured from it), within the holds of `standing`.
pub fn plan(
    repo: &Repo,
    files: &[FileRefs],
    tags: &TagTable,
    standing: &Standing,
    now: SystemTime,
) -> Plan {
    let inputs = Inputs {
        repo,
        tags,
        standing,
        now,
    };
    let mut plan = Plan::default();
    let every = |_: &str, _: &ImageRef| true;
    let Ok(()) = each_managed(&inputs, files, every, |managed| {
        match decide(&inputs, &mut plan, managed) {
            Ok(change) => plan.changes.push(change),
            Err(reason) => plan.kept.push(Kept {
                site: managed.site.clone(),
                image: managed.reference.image.clone(),
                tag: managed.reference.tag.clone(),
                rule: managed.rule.policy.pattern.to_string(),
                reason,
            }),
        }
        Ok::<(), std::convert::Infallible>(())
    });
    plan
}

/// Calls `visit` for every reference in `files` that `wanted` (given its file, with `/`)
/// picks and a rule manages, in file order; stops at the first error.
fn each_managed<E>(
    inputs: &Inputs,
    files: &[FileRefs],
    wanted: impl Fn(&str, &ImageRef) -> bool,
    mut visit: impl FnMut(&Managed) -> Result<(), E>,
) -> Result<(), E> {
    for file in files {
        let slashed = slash_path(&file.path);
        for reference in file.refs.iter().filter(|r| wanted(&slashed, r)) {
            let managed = managing(
                inputs.repo,
                inputs.standing,
                &file.path,
                &slashed,
                reference,
            );
            let Some((rule, forced)) = managed else {
                continue;
            };
            visit(&Managed {
                file: &slashed,
                reference,
                rule,
                forced,
                site: Site {
                    path: file.path.clone(),
                    line: reference.line,
                    column: reference.column,
                },
            })?;
        }
    }
    Ok(())
}

/// What every reference of a plan is weighed against: the repo's rules, the tags known, the
/// standing between cycles, and the time tag ages are measured from.
pub struct Inputs<'a> {
    pub repo: &'a Repo,
    pub tags: &'a TagTable,
    pub standing: &'a Standing,
    pub now: SystemTime,
}

/// A reference a rule manages, and where it is.
struct Managed<'a> {
    /// Its file, with `/`.
    file: &'a str,
    reference: &'a ImageRef,
    rule: &'a UpdateRule,
    /// The forced deploy's hold that keeps it managed, for a tag outside every pattern.
    forced: Option<&'a Hold>,
    site: Site,
}

/// Where one managed reference goes, or why it stays; holds the plan makes or ends on the way
/// are recorded in `plan`.
fn decide(inputs: &Inputs, plan: &mut Plan, at: &Managed) -> Result<Change, KeptReason> {
    let (reference, policy, now) = (at.reference, &at.rule.policy, inputs.now);
    if let Some(hold) = reference.hold.as_ref().filter(|h| h.holds(now)) {
        return Err(KeptReason::Held {
            until: hold.until.clone(),
        });
    }
    if let Some(until) = at.rule.window.as_ref().and_then(|w| w.closed_until(now)) {
        return Err(KeptReason::OutsideWindow { until });
    }
    if let Some(follow) = &at.rule.follow {
        return promote(inputs, plan, at, follow);
    }
    let known = inputs.tags.get(&reference.image);
    held(inputs, plan, at, known)?;
    let known = known.ok_or(KeptReason::NoTags)?;
    if policy.needs_times() {
        let pending = known
            .pending
            .iter()
            .filter(|tag| policy.allows(tag) || **tag == reference.tag)
            .count();
        if pending > 0 {
            return Err(KeptReason::OrderingIncomplete { pending });
        }
    }
    // A tag a forced deploy set outside the pattern cannot be ordered: once its hold is over,
    // the rule moves on from the tag the hold waited to see passed.
    let current = at
        .forced
        .and_then(|hold| hold.release_after.as_deref())
        .unwrap_or(&reference.tag);
    let gate = inputs
        .standing
        .trust
        .gate(at.rule, reference)
        .map(Arc::as_ref);
    let trust = &inputs.standing.trust;
    let (to, reason) = match walk(policy, gate, trust, current, &known.tags, now) {
        Walk::Unjudged(tag) => {
            let tag = tag.tag.clone();
            return Err(KeptReason::Unverified { tag });
        }
        Walk::Decided {
            selection: Selection::Keep(why),
            passed,
        } => return follow_repush(at, gate, trust, known, why, passed),
        Walk::Decided {
            selection: Selection::Update { to, reason },
            ..
        } => (to, reason),
    };
    match change(reference, to, at.rule.pin_digest, at.site.clone()) {
        Some(change) => Ok(Change {
            rule: policy.pattern.to_string(),
            reason,
            ..change
        }),
        None => Err(KeptReason::DigestUnknown {
            newer: to.tag.clone(),
        }),
    }
}

/// The managed reference as the daemon's holds see it, with the tags known for it.
fn reference_of<'a>(
    inputs: &'a Inputs,
    at: &'a Managed,
    known: Option<&'a ImageTags>,
) -> Reference<'a> {
    Reference {
        repo: &inputs.repo.name,
        file: at.file,
        image: &at.reference.image,
        tag: &at.reference.tag,
        policy: &at.rule.policy,
        known,
    }
}

/// `Err` when a daemon's hold keeps the reference, or a rollback noticed now does (that hold
/// is recorded in `plan` as made).
fn held(
    inputs: &Inputs,
    plan: &mut Plan,
    at: &Managed,
    known: Option<&ImageTags>,
) -> Result<(), KeptReason> {
    let judged = reference_of(inputs, at, known);
    match judge(inputs.standing, &judged, inputs.now, plan) {
        None => Ok(()),
        Some(Held { hold, made }) => {
            if made {
                plan.holds_made.push(hold.clone());
            }
            Err(KeptReason::OnHold(Box::new(hold)))
        }
    }
}

/// Where a following rule's reference goes: the newest tag its upstream qualifies, within the
/// daemon's holds (which see the upstream's tags as the ones known).
fn promote(
    inputs: &Inputs,
    plan: &mut Plan,
    at: &Managed,
    follow: &crate::config::Follow,
) -> Result<Change, KeptReason> {
    let (reference, policy) = (at.reference, &at.rule.policy);
    let facts = &inputs.standing.chain;
    let known = chain::candidates(follow, &reference.key, facts).map(ImageTags::complete);
    held(inputs, plan, at, known.as_ref())?;
    let asking = Asking::new(at.rule, follow, &inputs.repo.name, reference, inputs.now);
    let (to, note) = match offer(&asking, facts) {
        Offer::Move { to, note } => (to, note),
        Offer::Keep(why) => return Err(KeptReason::Rule(why)),
        Offer::Wait(ChainWait::RolledBack { tag, upstream }) => {
            // Held like a rollback by hand: noticed (and told) once, over when the upstream
            // moves past the tag.
            let own = at.rule.name.as_deref().unwrap_or(&inputs.repo.name);
            let reason = format!(
                "{upstream} rolled back from {tag}: not touched automatically (promotion chain {upstream} → {own})"
            );
            let judged = reference_of(inputs, at, known.as_ref());
            let hold = standing::rollback_hold(&judged, &tag, reason);
            plan.holds_made.push(hold.clone());
            return Err(KeptReason::OnHold(Box::new(hold)));
        }
        Offer::Wait(wait) => return Err(KeptReason::Chain(wait)),
        Offer::Lookup { tag, .. } => return Err(KeptReason::Chain(ChainWait::Lookup { tag })),
    };
    let to = trust::promoted(inputs, at, to)?;
    let upstream = follow.upstream_name(&inputs.repo.name);
    let own = at.rule.name.as_deref().unwrap_or(&inputs.repo.name);
    let newer = to.tag.clone();
    let moved = change(reference, &to, at.rule.pin_digest, at.site.clone())
        .ok_or(KeptReason::DigestUnknown { newer })?;
    let chain = format!("{upstream} → {own}");
    let reason = match note.is_empty() {
        true => format!("promoted {chain}"),
        false => format!("promoted {chain}: {note}"),
    };
    Ok(Change {
        rule: policy.pattern.to_string(),
        reason,
        promotion: Some(Promotion { chain, notes: note }),
        ..moved
    })
}

/// A reference that keeps its tag — unless, pinned under `pin: digest`, its tag was pushed
/// again: then it moves to the new digest, if the gate trusts it.
fn follow_repush(
    at: &Managed,
    gate: Option<&Gate>,
    trust: &Trust,
    known: &ImageTags,
    why: Keep,
    mut passed: Vec<(String, String)>,
) -> Result<Change, KeptReason> {
    let repushed = trust::repushed(at.rule, at.reference, &known.tags);
    let Some((info, digest)) = repushed else {
        return Err(match passed.is_empty() {
            true => KeptReason::Rule(why),
            false => KeptReason::Untrusted { passed },
        });
    };
    let verdict = gate.map(|gate| trust.verdict(gate, digest));
    match verdict {
        Some(None) => {
            let tag = format!("{}@{digest}", info.tag);
            return Err(KeptReason::Unverified { tag });
        }
        Some(Some(Verdict::Refused { why })) => {
            passed.push((format!("{}@{digest}", info.tag), why.clone()));
            return Err(KeptReason::Untrusted { passed });
        }
        None | Some(Some(Verdict::Trusted { .. })) => {}
    }
    let newer = info.tag.clone();
    let moved = change(at.reference, info, false, at.site.clone())
        .ok_or(KeptReason::DigestUnknown { newer })?;
    Ok(Change {
        rule: at.rule.policy.pattern.to_string(),
        reason: format!("{} was pushed again: its digest is now {digest}", info.tag),
        ..moved
    })
}

/// The rule that manages `reference` in the file at `path` (`slashed`: with `/`): the first
/// whose paths cover the file and whose pattern matches the current tag — or, for a tag a
/// forced deploy set outside every pattern, the rule that deploy's hold names, with the hold.
fn managing<'r>(
    repo: &'r Repo,
    standing: &'r Standing,
    path: &Path,
    slashed: &str,
    reference: &ImageRef,
) -> Option<(&'r UpdateRule, Option<&'r Hold>)> {
    if let Some(rule) = repo.rule_for(path, &reference.tag) {
        return Some((rule, None));
    }
    let hold = standing.holds.iter().find(|hold| {
        hold.rule.is_some()
            && hold.tag.as_deref() == Some(reference.tag.as_str())
            && hold.covers(&repo.name, slashed, &reference.image)
    })?;
    let rule = repo.updates.iter().find(|rule| {
        rule.covers(path) && hold.rule.as_deref() == Some(&rule.policy.pattern.to_string())
    })?;
    Some((rule, Some(hold)))
}

/// The change moving `reference` to `to`; `None` if the reference pins a digest that cannot
/// be replaced because the new tag's digest is unknown.
/// The change moving `reference` to `to`; `None` when it pins a digest (or `pin` asks for one)
/// that is not known. With `pin`, an inline reference without a digest gains `@digest`.
fn change(reference: &ImageRef, to: &TagInfo, pin: bool, site: Site) -> Option<Change> {
    // An empty digest field (`digest: ""`) is filled in.
    let slot = pin && reference.spans.digest.is_some();
    let digest = match (&reference.digest, &to.digest) {
        (None, Some(new)) if slot => Some((String::new(), new.clone())),
        (None, None) if slot => return None,
        (None, _) => None,
        (Some(old), Some(new)) => Some((old.clone(), new.clone())),
        (Some(_), None) => return None,
    };
    let new_tag = match (pin, &reference.digest, reference.form) {
        (true, None, Form::Inline | Form::ImplicitHub) => {
            format!("{}@{}", to.tag, to.digest.as_ref()?)
        }
        _ => to.tag.clone(),
    };
    Some(Change {
        site,
        image: reference.image.clone(),
        old_tag: reference.tag.clone(),
        new_tag,
        digest,
        rule: String::new(),
        reason: String::new(),
        promotion: None,
        tag_span: reference.spans.tag.clone()?,
        digest_span: reference.spans.digest.clone(),
    })
}

/// Writes the plan into the checkout at `root`; returns the files that changed.
pub fn apply(root: &Path, plan: &Plan) -> Result<Vec<PathBuf>, RewriteError> {
    let mut changed = Vec::new();
    for (path, edits) in plan.edits_by_file() {
        if rewrite_file(&root.join(path), &edits)? {
            changed.push(path.to_path_buf());
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests;
