//! Promotion chains as people read them: for each path from a first environment to a last,
//! each image's tag in every environment, how long the upstream has held it, and what a
//! stage waits for. Built from the config, the status board and the published lineages; for
//! `/api/v1/chains`, `laminar chains` and the status page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Repo, UpdateRule};
use crate::cycle::Chains;
use crate::image::hub::ImageKey;
use crate::policy::Ago;
use crate::status::RepoStatus;

/// One path through the chains: its stages, first to last, and each image along it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainView {
    /// `repo/rule` of each stage (the repo alone for an unnamed last stage).
    pub stages: Vec<String>,
    pub images: Vec<ImageRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRow {
    pub image: String,
    /// One per stage, in order.
    pub cells: Vec<Cell>,
}

/// An image in one stage.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cell {
    /// The tag the stage's references hold (several, comma-separated, when they disagree).
    pub tag: Option<String>,
    /// How long the stage has held it, when others follow the stage (its history is read).
    pub held: Option<String>,
    /// What the stage waits for, if anything (`soaking: 1.4.2 has 5 h left`).
    pub waiting: Option<String>,
    /// The stage's repo, for a link to its page.
    pub repo: String,
}

/// A stage: a rule of a repo.
#[derive(Clone, Copy)]
struct Stage<'c> {
    repo: &'c Repo,
    rule: &'c UpdateRule,
}

impl Stage<'_> {
    fn label(&self) -> String {
        match &self.rule.name {
            Some(name) => format!("{}/{name}", self.repo.name),
            None => self.repo.name.clone(),
        }
    }
}

/// Every path from a rule that follows none to a rule that none follows, through `follow`s.
pub fn views(
    config: &Config,
    statuses: &BTreeMap<String, RepoStatus>,
    chains: &Chains,
    now: SystemTime,
) -> Vec<ChainView> {
    let stages: Vec<Stage> = config
        .repos
        .iter()
        .flat_map(|repo| repo.updates.iter().map(move |rule| Stage { repo, rule }))
        .collect();
    let followers = |of: &Stage| -> Vec<Stage> {
        stages
            .iter()
            .filter(|s| {
                s.rule.follow.as_ref().is_some_and(|f| {
                    of.rule.name.as_deref() == Some(f.rule.as_str()) && of.repo.name == f.repo
                })
            })
            .copied()
            .collect()
    };
    let mut paths: Vec<Vec<Stage>> = Vec::new();
    let roots = stages
        .iter()
        .filter(|s| s.rule.follow.is_none() && !followers(s).is_empty());
    for root in roots {
        let mut open = vec![vec![*root]];
        while let Some(path) = open.pop() {
            let last = path[path.len() - 1];
            let next = followers(&last);
            // Chains are checked to have no circle; the bound keeps a view finite regardless.
            if next.is_empty() || path.len() > stages.len() {
                paths.push(path);
                continue;
            }
            for stage in next {
                let mut longer = path.clone();
                longer.push(stage);
                open.push(longer);
            }
        }
    }
    paths.sort_by_key(|p| p.iter().map(Stage::label).collect::<Vec<_>>());
    paths
        .iter()
        .map(|path| view(path, statuses, chains, now))
        .collect()
}

/// Per image: its name as written, the tags one stage holds, and what the stage waits for.
type StageImages = BTreeMap<ImageKey, (String, BTreeSet<String>, Option<String>)>;

fn view(
    path: &[Stage],
    statuses: &BTreeMap<String, RepoStatus>,
    chains: &Chains,
    now: SystemTime,
) -> ChainView {
    // Per stage, per image: the tags held and the first waiting reason.
    let mut found: Vec<StageImages> = Vec::new();
    for stage in path {
        let mut images = StageImages::new();
        let references = statuses
            .get(&stage.repo.name)
            .map(|s| s.references.as_slice())
            .unwrap_or_default();
        for r in references {
            let tag = match &r.kept {
                Some(_) => r.tag.clone(),
                None => r.newest.clone().unwrap_or_else(|| r.tag.clone()),
            };
            let rule = stage.repo.rule_for(Path::new(&r.file), &r.tag);
            if !rule.is_some_and(|rule| std::ptr::eq(rule, stage.rule)) {
                continue;
            }
            let entry = images
                .entry(ImageKey::of(&r.image))
                .or_insert_with(|| (r.image.clone(), BTreeSet::new(), None));
            entry.1.insert(tag);
            let waits = r
                .kept
                .as_ref()
                .filter(|k| !k.starts_with("already the newest"));
            if entry.2.is_none() {
                entry.2 = waits.cloned();
            }
        }
        found.push(images);
    }
    let keys: BTreeSet<&ImageKey> = found.iter().flat_map(|images| images.keys()).collect();
    let images = keys
        .into_iter()
        .map(|key| {
            let name = found
                .iter()
                .find_map(|images| images.get(key).map(|(name, _, _)| name.clone()))
                .unwrap_or_default();
            let cells = path
                .iter()
                .zip(&found)
                .map(|(stage, images)| {
                    let mut cell = Cell {
                        repo: stage.repo.name.clone(),
                        ..Cell::default()
                    };
                    if let Some((_, tags, waiting)) = images.get(key) {
                        cell.tag = Some(tags.iter().cloned().collect::<Vec<_>>().join(", "));
                        cell.waiting = waiting.clone();
                    }
                    let lineage = (stage.rule.name.as_deref())
                        .and_then(|name| chains.lineage(&stage.repo.name, name));
                    let current = lineage.as_ref().and_then(|l| l.images.get(key)?.first());
                    if let Some(stint) = current {
                        let lasted = now.duration_since(stint.since).unwrap_or_default();
                        cell.held = Some(Ago(lasted).to_string());
                    }
                    cell
                })
                .collect();
            ImageRow { image: name, cells }
        })
        .collect();
    ChainView {
        stages: path.iter().map(Stage::label).collect(),
        images,
    }
}

/// A view as text: `laminar chains`.
pub fn render(views: &[ChainView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        out.push_str("no promotion chains are configured\n");
    }
    for view in views {
        out.push_str(&view.stages.join(" → "));
        out.push('\n');
        for row in &view.images {
            out.push_str(&format!("  {}\n", row.image));
            for (stage, cell) in view.stages.iter().zip(&row.cells) {
                let tag = cell.tag.as_deref().unwrap_or("—");
                out.push_str(&format!("    {stage}: {tag}"));
                if let Some(held) = &cell.held {
                    out.push_str(&format!(" (held {held})"));
                }
                if let Some(waiting) = &cell.waiting {
                    out.push_str(&format!(" — {waiting}"));
                }
                out.push('\n');
            }
        }
    }
    out
}
