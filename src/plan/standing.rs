//! What a plan weighs beyond the files and the registries: the daemon's holds, and the tags
//! laminar itself last wrote — which tell a deliberate rollback from a stale reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::holds::{Hold, HoldKind};
use crate::image::hub::ImageKey;
use crate::policy::{ImageTags, Policy, Selection};

/// The holds in force for one repo, and the tags laminar last wrote in it.
#[derive(Clone, Debug, Default)]
pub struct Standing {
    pub holds: Vec<Hold>,
    pub written: Written,
    /// Registries' trust gates and the verdicts made so far.
    pub trust: super::Trust,
    /// Followed rules' histories, and the checks and health answers read so far.
    pub chain: super::ChainFacts,
}

/// The tag laminar last wrote for each image, by file (a path with `/`), and the commit that
/// wrote it. Kept beside the workspace; losing it only costs noticing the next rollback.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub files: BTreeMap<String, BTreeMap<ImageKey, WrittenTag>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenTag {
    pub tag: String,
    pub commit: String,
}

impl Written {
    pub const SUFFIX: &'static str = ".written.json";

    pub fn get(&self, file: &str, image: &str) -> Option<&str> {
        // Most references are in files laminar never wrote: no key is made for them.
        let images = self.files.get(file)?;
        let written = images.get(&ImageKey::of(image))?;
        Some(&written.tag)
    }

    pub fn set(&mut self, file: &str, image: &str, tag: &str, commit: &str) {
        let written = WrittenTag {
            tag: tag.to_string(),
            commit: commit.to_string(),
        };
        self.files
            .entry(file.to_string())
            .or_default()
            .insert(ImageKey::of(image), written);
    }

    pub fn forget(&mut self, file: &str, image: &str) {
        if let Some(images) = self.files.get_mut(file) {
            images.remove(&ImageKey::of(image));
            if images.is_empty() {
                self.files.remove(file);
            }
        }
    }

    /// The commits the tags were written by.
    pub fn commits(&self) -> std::collections::BTreeSet<&str> {
        self.files
            .values()
            .flat_map(|images| images.values().map(|w| w.commit.as_str()))
            .collect()
    }

    /// Forgets the tags written by commits `gone` names: history was rewritten without
    /// them, so what the files say now is no rollback by a later commit.
    pub fn forget_commits(&mut self, gone: &[String]) {
        for images in self.files.values_mut() {
            images.retain(|_, w| !gone.contains(&w.commit));
        }
        self.files.retain(|_, images| !images.is_empty());
    }
}

/// A hold keeping a reference; `made` when the plan asking just made it (a rollback).
#[derive(Debug)]
pub(super) struct Held {
    pub hold: Hold,
    pub made: bool,
}

/// One managed reference, as [`judge`] sees it.
pub(super) struct Reference<'a> {
    pub repo: &'a str,
    pub file: &'a str,
    pub image: &'a str,
    pub tag: &'a str,
    pub policy: &'a Policy,
    pub known: Option<&'a ImageTags>,
}

/// The hold that keeps one reference, if any, before its rule is asked: a daemon's hold, or a
/// rollback noticed now. The plan's `holds_ended` collects holds whose release tag has been
/// passed by a newer one; its `forgotten` the written tags other hands replaced.
pub(super) fn judge(
    standing: &Standing,
    at: &Reference,
    now: std::time::SystemTime,
    plan: &mut super::Plan,
) -> Option<Held> {
    let (made, ended) = (&plan.holds_made, &mut plan.holds_ended);
    let newer_than = |tag: &str| {
        at.known.is_some_and(|known| {
            matches!(
                at.policy.select(tag, &known.tags, now),
                Selection::Update { .. }
            )
        })
    };
    let holding = standing
        .holds
        .iter()
        .chain(made)
        .find(|h| !ended.contains(&h.id) && h.covers(at.repo, at.file, at.image));
    if let Some(hold) = holding {
        match &hold.release_after {
            // A forced tag still in place: the plan moves it on, and the hold ends at the
            // first cycle that finds it moved (so a failed push cannot leave it unmanaged).
            Some(after)
                if newer_than(after)
                    && hold.rule.is_some()
                    && hold.tag.as_deref() == Some(at.tag) =>
            {
                return None;
            }
            Some(after) if newer_than(after) => ended.push(hold.id.clone()),
            _ => {
                return Some(Held {
                    hold: hold.clone(),
                    made: false,
                });
            }
        }
    }
    let wrote = standing.written.get(at.file, at.image)?;
    if wrote == at.tag {
        return None;
    }
    plan.forgotten
        .push((at.file.to_string(), at.image.to_string()));
    let tags = at.known.map_or(&[][..], |known| &known.tags[..]);
    if !at.policy.is_older(at.tag, wrote, tags) || newer_than(wrote) {
        return None;
    }
    let reason = format!("rolled back from {wrote} by a commit not made by laminar");
    let hold = rollback_hold(at, wrote, reason);
    Some(Held { hold, made: true })
}

/// The hold keeping `at` at its tag after a rollback from `from`, until a newer tag appears.
pub(super) fn rollback_hold(at: &Reference, from: &str, reason: String) -> Hold {
    let mut hold = Hold::new(HoldKind::Rollback, at.image);
    hold.repo = Some(at.repo.to_string());
    hold.file = Some(at.file.to_string());
    hold.tag = Some(at.tag.to_string());
    hold.release_after = Some(from.to_string());
    hold.reason = Some(reason);
    hold
}

/// Why a hold keeps a reference, as the status and dry runs say it.
pub fn describe(hold: &Hold) -> String {
    let mut text = match hold.kind {
        HoldKind::Manual => format!("held by hold {}", hold.id),
        HoldKind::Rollback => format!(
            "{} (hold {})",
            hold.reason.as_deref().unwrap_or("rolled back"),
            hold.id
        ),
        HoldKind::Deploy => match &hold.rule {
            Some(rule) => format!(
                "set by a forced deploy outside the pattern {rule} (hold {})",
                hold.id
            ),
            None => format!("set by a deploy request (hold {})", hold.id),
        },
    };
    if let Some(after) = &hold.release_after {
        text.push_str(&format!(": kept until a tag newer than {after} appears"));
    }
    if let Some(until) = &hold.until {
        text.push_str(&format!(" (until {until})"));
    }
    if hold.kind == HoldKind::Manual
        && let Some(reason) = &hold.reason
    {
        text.push_str(&format!(": {reason}"));
    }
    text
}
