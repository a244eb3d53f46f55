//! What the status page shows, gathered from the status board, the holds and the registry
//! counters at the moment of the request.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::super::AppState;
use super::super::shards::Elsewhere;
use crate::chains::ChainView;
use crate::config::Config;
use crate::cycle::CycleResult;
use crate::holds::Hold;
use crate::image::hub::ImageKey;
use crate::status::{Moment, ReferenceStatus, RepoStatus, StatusBoard, UpdateRecord};

pub(super) struct Overview {
    pub now: SystemTime,
    pub glance: Glance,
    pub chains: Vec<ChainView>,
    /// The last day's updates and failures, by repo (repos without any left out).
    pub timeline: Vec<(String, Vec<Moment>)>,
    pub repos: Vec<RepoRow>,
    pub holds: Vec<Hold>,
    pub registries: Vec<RegistryRow>,
    pub cache_entries: usize,
    pub updates: Vec<UpdateRecord>,
}

/// What a person wants to know first: which repos fail, which hold references back, which
/// wait in a chain, which moved in the last day.
#[derive(Default)]
pub(super) struct Glance {
    pub failing: Vec<String>,
    pub held: Vec<String>,
    pub waiting: Vec<String>,
    pub updated: Vec<String>,
}

pub(super) struct RepoRow {
    pub name: String,
    pub branch: String,
    pub status: RepoStatus,
    /// Another shard owns it and did not answer: its number.
    pub unserved: Option<usize>,
}

pub(super) struct RegistryRow {
    pub name: String,
    pub prefix: String,
    pub requests: u64,
    pub per_minute: f64,
    pub failed: u64,
    pub rate_limited: u64,
    pub mean_seconds: Option<f64>,
    /// When, and `kind: outcome`.
    pub last_failure: Option<(SystemTime, String)>,
}

pub(super) struct RepoView {
    pub now: SystemTime,
    pub name: String,
    /// Without credentials.
    pub url: String,
    pub branch: String,
    pub delivery: String,
    pub status: RepoStatus,
}

pub(super) struct ImageRow {
    pub repo: String,
    pub reference: ReferenceStatus,
}

/// Everything the overview lists.
/// The page of this process's repos, and with shards, of the other shards' (`elsewhere`).
pub(super) fn overview(state: &AppState, elsewhere: Elsewhere) -> Overview {
    let (config, counters) = (&state.config, state.registries.counters());
    let uptime_minutes = state.started.elapsed().as_secs_f64() / 60.0;
    let statuses = state.status.snapshot();
    let mut repos: Vec<RepoRow> = config
        .repos
        .iter()
        .map(|repo| RepoRow {
            name: repo.name.clone(),
            branch: repo.branch.clone(),
            status: statuses.get(&repo.name).cloned().unwrap_or_default(),
            unserved: None,
        })
        .collect();
    repos.extend(
        elsewhere
            .repos
            .into_iter()
            .map(|(name, branch, status, owner)| RepoRow {
                unserved: elsewhere.unreached.contains(&owner).then_some(owner),
                name,
                branch,
                status: status.unwrap_or_default(),
            }),
    );
    repos.sort_by(|a, b| a.name.cmp(&b.name));
    let counts = counters.snapshot();
    let durations = counters.durations();
    let failures = counters.failures();
    let registries = config
        .registries
        .iter()
        .map(|registry| {
            let mine = || counts.iter().filter(|((r, _, _), _)| *r == registry.name);
            let requests: u64 = mine().map(|(_, n)| n).sum();
            let failed = mine()
                .filter(|((_, _, outcome), _)| !matches!(*outcome, "ok" | "not_found"))
                .map(|(_, n)| n)
                .sum();
            let rate_limited = mine()
                .filter(|((_, _, outcome), _)| *outcome == "rate_limited")
                .map(|(_, n)| n)
                .sum();
            let mean_seconds = durations
                .iter()
                .find(|(name, _)| *name == registry.name)
                .filter(|(_, d)| d.count > 0)
                .map(|(_, d)| d.sum / d.count as f64);
            RegistryRow {
                name: registry.name.clone(),
                prefix: registry.prefix.clone(),
                requests,
                per_minute: requests as f64 / uptime_minutes.max(1.0),
                failed,
                rate_limited,
                mean_seconds,
                last_failure: failures
                    .get(&registry.name)
                    .map(|f| (f.at, format!("{}: {}", f.kind, f.outcome))),
            }
        })
        .collect();
    let now = SystemTime::now();
    let moments = state.status.moments();
    let mut timeline: Vec<(String, Vec<Moment>)> = Vec::new();
    for repo in &config.repos {
        let mine: Vec<Moment> = moments
            .iter()
            .filter(|m| m.repo == repo.name)
            .cloned()
            .collect();
        if !mine.is_empty() {
            timeline.push((repo.name.clone(), mine));
        }
    }
    Overview {
        now,
        glance: glance(config, &statuses, &timeline),
        chains: crate::chains::views(config, &statuses, &state.chains, now),
        timeline,
        repos,
        holds: state.holds.list(),
        registries,
        cache_entries: state.registries.cache_entries(),
        updates: state.status.updates(),
    }
}

fn glance(
    config: &Config,
    statuses: &BTreeMap<String, RepoStatus>,
    timeline: &[(String, Vec<Moment>)],
) -> Glance {
    let mut glance = Glance::default();
    for repo in &config.repos {
        let Some(status) = statuses.get(&repo.name) else {
            continue;
        };
        let name = || repo.name.clone();
        if status.result == Some(CycleResult::Failed) {
            glance.failing.push(name());
        }
        let held = status.references.iter().any(|r| r.held);
        // A following rule's reference that stays, though not up to date, waits on its chain.
        let follows = repo.updates.iter().any(|rule| rule.follow.is_some());
        let waiting = follows
            && status.references.iter().any(|r| {
                let rule = repo.rule_for(std::path::Path::new(&r.file), &r.tag);
                let follows = rule.is_some_and(|rule| rule.follow.is_some());
                follows && !r.held && r.kept.is_some() && r.newest.as_deref() != Some(&r.tag)
            });
        if held {
            glance.held.push(name());
        }
        if waiting {
            glance.waiting.push(name());
        }
        if timeline
            .iter()
            .any(|(r, m)| *r == repo.name && m.iter().any(|m| m.updated.is_some()))
        {
            glance.updated.push(name());
        }
    }
    glance
}

/// One repo, or `None` for a name no repo has.
pub(super) fn repo(config: &Config, board: &StatusBoard, name: &str) -> Option<RepoView> {
    let repo = config.repos.iter().find(|r| r.name == name)?;
    let delivery = match &repo.pull_request {
        Some(_) => "by pull request".to_string(),
        None => format!("by push to {}", repo.branch),
    };
    Some(RepoView {
        now: SystemTime::now(),
        name: repo.name.clone(),
        url: crate::config::git_url::redact(&repo.url),
        branch: repo.branch.clone(),
        delivery,
        status: board.snapshot().remove(name).unwrap_or_default(),
    })
}

/// Every reference to `image` (however written), by repo.
pub(super) fn image(statuses: BTreeMap<String, RepoStatus>, image: &str) -> Vec<ImageRow> {
    let key = ImageKey::of(image);
    statuses
        .into_iter()
        .flat_map(|(repo, status)| {
            status
                .references
                .into_iter()
                .filter(|r| ImageKey::of(&r.image) == key)
                .map(move |reference| ImageRow {
                    repo: repo.clone(),
                    reference,
                })
        })
        .collect()
}
