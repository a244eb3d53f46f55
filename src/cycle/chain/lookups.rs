//! The forge checks and health answers a following rule's candidates need: remembered per
//! commit (green checks for good, other answers a minute), at most [`LOOKUPS_PER_CYCLE`] new
//! ones per repo and cycle.

use std::collections::BTreeMap;

use super::*;
use crate::config::{Follow, Health as HealthCheck};
use crate::forge::CheckState;

/// New forge or health lookups per repo and cycle; the rest wait for the next cycle.
const LOOKUPS_PER_CYCLE: usize = 10;
/// How long a pending or failed check, or any health answer, is believed.
const ANSWER_TTL: Duration = Duration::from_secs(60);
/// Answers kept at most; the oldest half is dropped beyond.
const MAX_ANSWERS: usize = 4096;

/// The chain facts a repo's following rules plan with: the lineages they follow, and every
/// check and health answer their candidates need that the cycle's share allows.
pub(in crate::cycle) async fn chain_facts(
    shared: &Shared,
    repo: &Repo,
    files: &[FileRefs],
    order: Option<&DeployOrder>,
) -> ChainFacts {
    let mut facts = ChainFacts::default();
    for follow in repo.updates.iter().filter_map(|r| r.follow.as_ref()) {
        if let Some(lineage) = shared.chains.lineage(&follow.repo, &follow.rule) {
            facts
                .lineages
                .insert((follow.repo.clone(), follow.rule.clone()), lineage);
        }
    }
    if facts.lineages.is_empty() {
        return facts;
    }
    let now = SystemTime::now();
    let mut budget = LOOKUPS_PER_CYCLE;
    for file in files {
        for reference in &file.refs {
            let Some(rule) = repo.rule_for(&file.path, &reference.tag) else {
                continue;
            };
            let Some(follow) = &rule.follow else { continue };
            let asking = Asking::new(rule, follow, &repo.name, reference, now);
            // A deploy request asks about its own tag (a forced one skips the chain).
            let asked = match order {
                Some(order) if order.force || ImageKey::of(&order.image) != reference.key => {
                    continue;
                }
                Some(order) => Some(order.tag.as_str()),
                None => None,
            };
            // Each answer may uncover the next lookup (a failed check passes to an older tag);
            // a reference never asks more than there are lookups in a cycle's share.
            for _ in 0..=LOOKUPS_PER_CYCLE {
                let offered = match asked {
                    Some(tag) => qualify(&asking, &facts, tag),
                    None => offer(&asking, &facts),
                };
                let Offer::Lookup { lookup, .. } = offered else {
                    break;
                };
                if !answer(shared, follow, &lookup, &mut facts, &mut budget, now).await {
                    break;
                }
            }
        }
    }
    facts
}

/// Fills `facts` with the answer to `lookup`: remembered, or asked now if the share allows.
/// `false` when it could not be had.
async fn answer(
    shared: &Shared,
    follow: &Follow,
    lookup: &Lookup,
    facts: &mut ChainFacts,
    budget: &mut usize,
    now: SystemTime,
) -> bool {
    let chains = &shared.chains;
    match lookup {
        Lookup::Checks { commits, globs } => {
            for commit in commits {
                let key = (commit.clone(), globs.clone());
                let known = remembered(&chains.checks, &key, now, |c| *c == Checks::Green);
                let checks = match known {
                    Some(checks) => checks,
                    None if *budget == 0 => return false,
                    None => {
                        *budget -= 1;
                        let checks = read_checks(shared, follow, commit).await;
                        remember(&chains.checks, key.clone(), checks.clone(), now);
                        checks
                    }
                };
                facts.checks.insert(key, checks);
            }
            true
        }
        Lookup::Health { commit } => {
            let Some(check) = &follow.healthy else {
                return false;
            };
            let key = (describe_health(check), commit.clone());
            let known = remembered(&chains.health, &key, now, |_| false);
            let health = match known {
                Some(health) => health,
                None if *budget == 0 => return false,
                None => {
                    *budget -= 1;
                    let lineage = facts
                        .lineages
                        .get(&(follow.repo.clone(), follow.rule.clone()));
                    let commits = lineage.map(|l| l.commits.as_slice()).unwrap_or_default();
                    let health = read_health(shared, check, commit, commits).await;
                    remember(&chains.health, key.clone(), health.clone(), now);
                    health
                }
            };
            facts.health.insert(key, health);
            true
        }
    }
}

/// A remembered answer: for good when `lasting` says so, else while it is fresh.
fn remembered<T: Clone>(
    map: &Answers<T>,
    key: &(String, String),
    now: SystemTime,
    lasting: impl Fn(&T) -> bool,
) -> Option<T> {
    let map = lock(map);
    let (value, at) = map.get(key)?;
    let fresh = now.duration_since(*at).unwrap_or_default() < ANSWER_TTL;
    (lasting(value) || fresh).then(|| value.clone())
}

fn remember<T>(map: &Answers<T>, key: (String, String), value: T, now: SystemTime) {
    let mut map = lock(map);
    if map.len() >= MAX_ANSWERS {
        let mut times: Vec<SystemTime> = map.values().map(|(_, at)| *at).collect();
        times.sort();
        let cut = times[times.len() / 2];
        map.retain(|_, (_, at)| *at > cut);
    }
    map.insert(key, (value, now));
}

/// The required checks of `commit` on the upstream repo's forge.
async fn read_checks(shared: &Shared, follow: &Follow, commit: &str) -> Checks {
    let forge = match upstream_forge(shared, &follow.repo) {
        Ok(forge) => forge,
        Err(why) => return Checks::Pending(why),
    };
    match forge.checks(commit).await {
        Ok(reported) => checks_verdict(&follow.checks, &reported),
        Err(error) => {
            tracing::warn!(%error, commit, "cannot read the upstream commit's checks");
            Checks::Pending(format!("unreadable ({})", error.metric_label()))
        }
    }
}

/// The forge client of `repo`, from its `forge:` or `pullRequest:` settings.
fn upstream_forge(shared: &Shared, repo: &str) -> Result<Arc<Forge>, String> {
    let mut forges = lock(&shared.chains.forges);
    if let Some(forge) = forges.get(repo) {
        return Ok(forge.clone());
    }
    let settings = shared
        .config
        .repos
        .iter()
        .find(|r| r.name == repo)
        .and_then(|r| r.forge.as_ref().or(r.pull_request.as_ref()))
        .ok_or_else(|| format!("unreadable: repo {repo} names no forge"))?;
    let forge = Arc::new(Forge::new(settings).map_err(|e| e.to_string())?);
    forges.insert(repo.to_string(), forge.clone());
    Ok(forge)
}

/// Every glob must match at least one check, and every check it matches must have passed.
pub(super) fn checks_verdict(globs: &[String], reported: &BTreeMap<String, CheckState>) -> Checks {
    let mut pending = Vec::new();
    for glob in globs {
        let Ok(matcher) = crate::policy::compile_glob(glob) else {
            continue;
        };
        let matching: Vec<(&String, &CheckState)> = reported
            .iter()
            .filter(|(name, _)| matcher.is_match(name))
            .collect();
        if let Some((name, _)) = matching.iter().find(|(_, s)| **s == CheckState::Failure) {
            return Checks::Failed((*name).clone());
        }
        match matching.iter().find(|(_, s)| **s == CheckState::Pending) {
            Some((name, _)) => pending.push((*name).clone()),
            None if matching.is_empty() => pending.push(glob.clone()),
            None => {}
        }
    }
    match pending.is_empty() {
        true => Checks::Green,
        false => Checks::Pending(pending.join(", ")),
    }
}

/// Whether the upstream environment runs well with `commit` in it.
async fn read_health(
    shared: &Shared,
    check: &HealthCheck,
    commit: &str,
    commits: &[String],
) -> Health {
    let client = shared.chains.client.get_or_init(health::client);
    match check {
        HealthCheck::Http { url, expect } => match health::status(client, url).await {
            Ok(code) if code == *expect => Health::Healthy,
            Ok(code) => Health::Unwell(format!("{url} answered {code}")),
            Err(why) => Health::Unwell(format!("{url} unreachable: {why}")),
        },
        HealthCheck::ArgoCd {
            url,
            token,
            application,
        } => {
            let token = match token.as_ref().map(|t| t.read()).transpose() {
                Ok(token) => token,
                Err(why) => return Health::Unwell(format!("Argo CD token: {why}")),
            };
            match health::argocd(client, url, token.as_ref(), application).await {
                Ok(app) => argo_verdict(application, &app, commit, commits),
                Err(why) => Health::Unwell(why),
            }
        }
    }
}

/// Healthy, Synced, and synced to `commit` or a later commit of the branch.
pub(super) fn argo_verdict(
    application: &str,
    app: &health::ArgoApp,
    commit: &str,
    commits: &[String],
) -> Health {
    if app.health != "Healthy" {
        return Health::Unwell(format!("{application} {}", app.health));
    }
    if app.sync != "Synced" {
        return Health::Unwell(format!("{application} {}", app.sync));
    }
    let Some(at) = commits.iter().position(|c| c == commit) else {
        return Health::Unwell(format!(
            "{application}: {} is not in the branch read",
            short(commit)
        ));
    };
    let holds = app
        .revisions
        .iter()
        .any(|r| commits[..=at].iter().any(|c| c == r));
    match holds {
        true => Health::Healthy,
        false => Health::Unwell(format!(
            "{application} synced to {}, not yet to {}",
            app.revisions.first().map_or("nothing", |r| short(r)),
            short(commit)
        )),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(checks: &[(&str, CheckState)]) -> BTreeMap<String, CheckState> {
        checks.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn every_required_glob_must_match_a_check_and_all_it_matches_must_pass() {
        use CheckState::*;
        let globs = ["e2e".to_string(), "ci/*".to_string()];
        let green = reported(&[("e2e", Success), ("ci/lint", Success), ("ci/unit", Success)]);
        assert_eq!(checks_verdict(&globs, &green), Checks::Green);
        let missing = reported(&[("e2e", Success)]);
        assert_eq!(
            checks_verdict(&globs, &missing),
            Checks::Pending("ci/*".into())
        );
        let running = reported(&[("e2e", Pending), ("ci/lint", Success)]);
        assert_eq!(
            checks_verdict(&globs, &running),
            Checks::Pending("e2e".into())
        );
        let failed = reported(&[("e2e", Success), ("ci/lint", Success), ("ci/unit", Failure)]);
        assert_eq!(
            checks_verdict(&globs, &failed),
            Checks::Failed("ci/unit".into())
        );
    }

    #[test]
    fn argo_cd_must_be_healthy_synced_and_at_or_past_the_upstream_commit() {
        let commits: Vec<String> = ["c3", "c2", "c1"].map(String::from).to_vec();
        let app = |health: &str, sync: &str, revision: &str| health::ArgoApp {
            health: health.into(),
            sync: sync.into(),
            revisions: vec![revision.into()],
        };
        let verdict = |a: &health::ArgoApp| argo_verdict("staging", a, "c2", &commits);
        assert_eq!(verdict(&app("Healthy", "Synced", "c2")), Health::Healthy);
        assert_eq!(verdict(&app("Healthy", "Synced", "c3")), Health::Healthy);
        assert_eq!(
            verdict(&app("Healthy", "Synced", "c1")),
            Health::Unwell("staging synced to c1, not yet to c2".into())
        );
        assert_eq!(
            verdict(&app("Degraded", "Synced", "c2")),
            Health::Unwell("staging Degraded".into())
        );
        assert_eq!(
            verdict(&app("Healthy", "OutOfSync", "c2")),
            Health::Unwell("staging OutOfSync".into())
        );
    }
}
