//! Promotion: a following rule's candidates are the tags its upstream rule's references held
//! on the upstream branch — never a registry's. A tag qualifies once the upstream held it
//! without a break for the soak time (now or earlier), was never rolled back from there, and,
//! when asked, its upstream commit's checks are green and the upstream environment healthy.
//! The newest qualifying tag wins; the policy never moves a reference backwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::Follow;
use crate::image::hub::ImageKey;
use crate::policy::{Ago, Policy, Selection, TagInfo};

/// What one named rule's references held on its branch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The branch head the history was read at.
    pub head: String,
    /// Per image, newest first.
    pub images: BTreeMap<ImageKey, Vec<Stint>>,
    /// The first-parent commits read, newest first: which commits a later revision holds.
    pub commits: Vec<String>,
}

/// A stretch of the branch's history in which a rule's references to one image did not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stint {
    /// What the references held: (tag, digest); more than one is ambiguous.
    pub held: BTreeSet<(String, Option<String>)>,
    /// When the commit that set it landed.
    pub since: SystemTime,
    /// When the next stint began; `None` while it lasts.
    pub until: Option<SystemTime>,
    /// The commit that set it, and the newest commit that still held it.
    pub set_by: String,
    pub last: String,
}

impl Stint {
    /// The one tag held, unless the references disagree.
    fn tag(&self) -> Option<&(String, Option<String>)> {
        let mut held = self.held.iter();
        let first = held.next()?;
        held.next().is_none().then_some(first)
    }

    fn lasted(&self, now: SystemTime) -> Duration {
        let end = self.until.unwrap_or(now);
        end.duration_since(self.since).unwrap_or_default()
    }
}

/// One commit of the upstream branch as the history walk saw it: what the rule's references
/// held there, per image.
pub struct Snapshot {
    pub commit: String,
    pub time: SystemTime,
    pub held: BTreeMap<ImageKey, BTreeSet<(String, Option<String>)>>,
}

/// The lineage of a branch from its snapshots, newest first (every first-parent commit read).
pub fn lineage(snapshots: &[Snapshot]) -> Lineage {
    let mut images: BTreeMap<ImageKey, Vec<Stint>> = BTreeMap::new();
    let keys: BTreeSet<&ImageKey> = snapshots.iter().flat_map(|s| s.held.keys()).collect();
    for key in keys {
        let mut stints: Vec<Stint> = Vec::new();
        // The run of commits holding the same, extended back in time.
        let mut run: Option<Stint> = None;
        for snapshot in snapshots {
            let held = snapshot.held.get(key).cloned().unwrap_or_default();
            match &mut run {
                Some(open) if open.held == held => {
                    open.set_by.clone_from(&snapshot.commit);
                    open.since = snapshot.time;
                }
                _ => {
                    // An older run ends where the newer one began.
                    let until = run.as_ref().map(|newer| newer.since);
                    stints.extend(run.take());
                    run = Some(Stint {
                        held,
                        since: snapshot.time,
                        until,
                        set_by: snapshot.commit.clone(),
                        last: snapshot.commit.clone(),
                    });
                }
            }
        }
        stints.extend(run);
        stints.retain(|s| !s.held.is_empty());
        images.insert(key.clone(), stints);
    }
    Lineage {
        head: snapshots
            .first()
            .map(|s| s.commit.clone())
            .unwrap_or_default(),
        images,
        commits: snapshots.iter().map(|s| s.commit.clone()).collect(),
    }
}

/// What the forge says of a commit's required checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checks {
    Green,
    /// Named: which are still running or missing.
    Pending(String),
    /// Named: which failed.
    Failed(String),
}

/// Whether the upstream environment runs well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Why not: `Degraded`, `OutOfSync`, `answered 503`.
    Unwell(String),
}

/// What the plan knows of every chain: the lineages of followed rules, and the forge's and
/// health endpoints' answers read so far.
#[derive(Clone, Debug, Default)]
pub struct ChainFacts {
    /// By (repo, rule name).
    pub lineages: HashMap<(String, String), Arc<Lineage>>,
    /// By commit and the checks asked for (their globs joined by `,`).
    pub checks: HashMap<(String, String), Checks>,
    /// By the health endpoint (its description) and the upstream commit.
    pub health: HashMap<(String, String), Health>,
}

/// A lookup a chain needs before it can decide.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// The checks on one of these commits (the first is the one that set the tag).
    Checks { commits: Vec<String>, globs: String },
    /// The upstream environment's health, holding `commit`.
    Health { commit: String },
}

/// Why a following rule waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainWait {
    /// The upstream's history has not been read yet (its repo has not cycled).
    Unread {
        upstream: String,
    },
    /// The upstream rule's references hold no such image.
    NotUpstream {
        upstream: String,
    },
    Ambiguous {
        upstream: String,
        tags: Vec<String>,
    },
    Soaking {
        tag: String,
        left: Duration,
    },
    /// The upstream replaced it before it soaked.
    Unsoaked {
        tag: String,
        longest: Duration,
    },
    Checks {
        tag: String,
        checks: Checks,
    },
    Unwell {
        tag: String,
        why: String,
    },
    /// The current tag was rolled back from upstream: not touched automatically.
    RolledBack {
        tag: String,
        upstream: String,
    },
    /// A check or health answer is still to be read.
    Lookup {
        tag: String,
    },
    /// A deploy request asked for a tag the upstream never held (in the history read).
    NotHeld {
        tag: String,
        upstream: String,
    },
}

impl fmt::Display for ChainWait {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ChainWait::Unread { upstream } => {
                write!(f, "waiting for {upstream}'s history to be read")
            }
            ChainWait::NotUpstream { upstream } => {
                write!(f, "{upstream} holds no reference to this image")
            }
            ChainWait::Ambiguous { upstream, tags } => write!(
                f,
                "{upstream} holds this image at several tags ({}): nothing moves",
                tags.join(", ")
            ),
            ChainWait::Soaking { tag, left } => {
                write!(f, "soaking: {tag} has {} left", Ago(*left))
            }
            ChainWait::Unsoaked { tag, longest } => write!(
                f,
                "{tag} was replaced upstream before it soaked (held {} at most)",
                Ago(*longest)
            ),
            ChainWait::Checks {
                tag,
                checks: Checks::Pending(what),
            } => write!(f, "{tag}: check {what} pending"),
            ChainWait::Checks {
                tag,
                checks: Checks::Failed(what),
            } => write!(f, "{tag}: check {what} failed"),
            ChainWait::Checks { tag, .. } => write!(f, "{tag}: checks green"),
            ChainWait::Unwell { tag, why } => write!(f, "{tag} waits: upstream {why}"),
            ChainWait::RolledBack { tag, upstream } => write!(
                f,
                "{tag} was rolled back from in {upstream}: not touched automatically"
            ),
            ChainWait::Lookup { tag } => write!(f, "{tag}: checks or health still to be read"),
            ChainWait::NotHeld { tag, upstream } => {
                write!(f, "{upstream} has not run {tag}")
            }
        }
    }
}

/// What a chain offers one reference.
#[derive(Debug)]
pub enum Offer {
    /// Move to this tag; `note` says why it qualified (`soaked 26 h, e2e green`).
    Move {
        to: TagInfo,
        note: String,
    },
    /// Nothing newer qualifies, per the policy.
    Keep(crate::policy::Keep),
    Wait(ChainWait),
    Lookup {
        tag: String,
        lookup: Lookup,
    },
}

/// A following reference's question to its chain.
pub struct Asking<'a> {
    pub follow: &'a Follow,
    pub policy: &'a Policy,
    /// The following rule's own repo (names the upstream in messages).
    pub repo: &'a str,
    pub image: &'a ImageKey,
    pub current: &'a str,
    pub now: SystemTime,
}

impl<'a> Asking<'a> {
    /// What `reference`, managed by `rule` (which follows `follow`) in `repo`, asks at `now`.
    pub fn new(
        rule: &'a crate::config::UpdateRule,
        follow: &'a Follow,
        repo: &'a str,
        reference: &'a crate::image::scanner::ImageRef,
        now: SystemTime,
    ) -> Asking<'a> {
        Asking {
            follow,
            policy: &rule.policy,
            repo,
            image: &reference.key,
            current: &reference.tag,
            now,
        }
    }
}

/// The upstream's stints of `at`'s image, or why there are none.
fn upstream_stints<'f>(at: &Asking, facts: &'f ChainFacts) -> Result<&'f [Stint], ChainWait> {
    let upstream = at.follow.upstream_name(at.repo);
    let key = (at.follow.repo.clone(), at.follow.rule.clone());
    let Some(lineage) = facts.lineages.get(&key) else {
        return Err(ChainWait::Unread { upstream });
    };
    match lineage.images.get(at.image).filter(|s| !s.is_empty()) {
        Some(stints) => Ok(stints),
        None => Err(ChainWait::NotUpstream { upstream }),
    }
}

/// Whether the chain lets `tag` (a deploy request's) be set on `at`: the upstream ran it,
/// never rolled back from it, and it passes the rule's soak, checks and health.
pub fn qualify(at: &Asking, facts: &ChainFacts, tag: &str) -> Offer {
    let stints = match upstream_stints(at, facts) {
        Ok(stints) => stints,
        Err(wait) => return Offer::Wait(wait),
    };
    let upstream = at.follow.upstream_name(at.repo);
    let tags = tag_infos(stints);
    let Some(info) = tags.iter().find(|t| t.tag == tag) else {
        let tag = tag.to_string();
        return Offer::Wait(ChainWait::NotHeld { tag, upstream });
    };
    if rolled_back(at.policy, stints, &tags).contains(tag) {
        let tag = tag.to_string();
        return Offer::Wait(ChainWait::RolledBack { tag, upstream });
    }
    let tag = tag.to_string();
    match qualifies(at, facts, stints, &tag) {
        Qualified::Yes(note) => Offer::Move {
            to: info.clone(),
            note,
        },
        Qualified::Lookup(lookup) => Offer::Lookup { tag, lookup },
        Qualified::No(wait) | Qualified::Hold(wait) => Offer::Wait(wait),
    }
}

/// The newest tag the upstream qualifies for `at`, or why none does yet.
pub fn offer(at: &Asking, facts: &ChainFacts) -> Offer {
    let stints = match upstream_stints(at, facts) {
        Ok(stints) => stints,
        Err(wait) => return Offer::Wait(wait),
    };
    let upstream = at.follow.upstream_name(at.repo);
    let tags = tag_infos(stints);
    let rolled_back = rolled_back(at.policy, stints, &tags);
    if rolled_back.contains(at.current) {
        let tag = at.current.to_string();
        return Offer::Wait(ChainWait::RolledBack { tag, upstream });
    }
    if stints[0].tag().is_none() {
        let tags = stints[0].held.iter().map(|(t, _)| t.clone()).collect();
        return Offer::Wait(ChainWait::Ambiguous { upstream, tags });
    }
    let mut eligible: Vec<TagInfo> = tags
        .iter()
        .filter(|t| !rolled_back.contains(t.tag.as_str()))
        .cloned()
        .collect();
    // The first reason a newer tag did not qualify, said when none does.
    let mut first_wait: Option<ChainWait> = None;
    loop {
        let chosen = match at.policy.select(at.current, &eligible, at.now) {
            Selection::Update { to, .. } => to.clone(),
            Selection::Keep(why) => {
                return match first_wait {
                    Some(wait) => Offer::Wait(wait),
                    None => Offer::Keep(why),
                };
            }
        };
        let tag = chosen.tag.clone();
        match qualifies(at, facts, stints, &tag) {
            Qualified::Yes(note) => return Offer::Move { to: chosen, note },
            Qualified::Lookup(lookup) => return Offer::Lookup { tag, lookup },
            Qualified::Hold(wait) => return Offer::Wait(wait),
            Qualified::No(wait) => {
                first_wait.get_or_insert(wait);
                eligible.retain(|t| t.tag != tag);
            }
        }
    }
}

enum Qualified {
    Yes(String),
    /// Not this tag: try older ones.
    No(ChainWait),
    /// Not now, and no older tag either (checks pending, the environment unwell).
    Hold(ChainWait),
    Lookup(Lookup),
}

fn qualifies(at: &Asking, facts: &ChainFacts, stints: &[Stint], tag: &str) -> Qualified {
    let holding: Vec<&Stint> = stints
        .iter()
        .filter(|s| s.tag().is_some_and(|(t, _)| t == tag))
        .collect();
    // The longest unbroken hold, and the stint it was.
    let Some(best) = holding.iter().max_by_key(|s| s.lasted(at.now)) else {
        return Qualified::No(ChainWait::Lookup { tag: tag.into() });
    };
    let lasted = best.lasted(at.now);
    let mut notes = Vec::new();
    if let Some(soak) = at.follow.soak {
        if lasted < soak {
            // Still held: it may yet soak. Replaced: it never will.
            let ongoing = holding.iter().find(|s| s.until.is_none());
            let wait = match ongoing {
                Some(now) => ChainWait::Soaking {
                    tag: tag.into(),
                    left: soak - now.lasted(at.now),
                },
                None => ChainWait::Unsoaked {
                    tag: tag.into(),
                    longest: lasted,
                },
            };
            return Qualified::No(wait);
        }
        notes.push(format!("soaked {}", Ago(lasted)));
    }
    if !at.follow.checks.is_empty() {
        let globs = at.follow.checks.join(",");
        let mut commits = vec![best.set_by.clone()];
        if best.last != best.set_by {
            commits.push(best.last.clone());
        }
        let answers: Vec<Option<&Checks>> = commits
            .iter()
            .map(|c| facts.checks.get(&(c.clone(), globs.clone())))
            .collect();
        if answers.contains(&Some(&Checks::Green)) {
            notes.push(format!("{} green", at.follow.checks.join(", ")));
        } else if answers.iter().any(Option::is_none) {
            let lookup = Lookup::Checks { commits, globs };
            return Qualified::Lookup(lookup);
        } else {
            let checks = answers[0].cloned().unwrap_or(Checks::Green);
            let wait = ChainWait::Checks {
                tag: tag.into(),
                checks: checks.clone(),
            };
            return match checks {
                Checks::Failed(_) => Qualified::No(wait),
                _ => Qualified::Hold(wait),
            };
        }
    }
    if let Some(health) = &at.follow.healthy {
        let commit = best.set_by.clone();
        match facts.health.get(&(describe_health(health), commit.clone())) {
            None => return Qualified::Lookup(Lookup::Health { commit }),
            Some(Health::Unwell(why)) => {
                let why = why.clone();
                return Qualified::Hold(ChainWait::Unwell {
                    tag: tag.into(),
                    why,
                });
            }
            Some(Health::Healthy) => notes.push("healthy".into()),
        }
    }
    Qualified::Yes(notes.join(", "))
}

/// The key a health endpoint's answers are kept under.
pub fn describe_health(health: &crate::config::Health) -> String {
    match health {
        crate::config::Health::ArgoCd {
            url, application, ..
        } => format!("argocd {url} {application}"),
        crate::config::Health::Http { url, .. } => format!("http {url}"),
    }
}

/// The tags `follow`'s upstream held alone for `image`, if its history has been read.
pub(super) fn candidates(
    follow: &Follow,
    image: &ImageKey,
    facts: &ChainFacts,
) -> Option<Arc<Vec<TagInfo>>> {
    let key = (follow.repo.clone(), follow.rule.clone());
    let stints = facts.lineages.get(&key)?.images.get(image)?;
    Some(Arc::new(tag_infos(stints)))
}

/// Every tag the upstream held alone, once, with the time it first took it.
fn tag_infos(stints: &[Stint]) -> Vec<TagInfo> {
    let mut by_tag: BTreeMap<&str, TagInfo> = BTreeMap::new();
    for stint in stints {
        let Some((tag, digest)) = stint.tag() else {
            continue;
        };
        let info = by_tag.entry(tag).or_insert_with(|| TagInfo {
            digest: digest.clone(),
            ..TagInfo::named(tag.clone())
        });
        // Stints are newest first: the last seen is the earliest.
        info.pushed = Some(stint.since);
    }
    by_tag.into_values().collect()
}

/// Tags the upstream replaced by an older one: rolled back from, never promoted.
fn rolled_back<'s>(policy: &Policy, stints: &'s [Stint], tags: &[TagInfo]) -> BTreeSet<&'s str> {
    stints
        .windows(2)
        .filter_map(|pair| {
            let (newer, older) = (pair[0].tag()?, pair[1].tag()?);
            let back = policy.is_older(&newer.0, &older.0, tags);
            back.then_some(older.0.as_str())
        })
        .collect()
}
