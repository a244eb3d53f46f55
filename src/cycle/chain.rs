//! Promotion chains in a cycle. A repo whose rules someone follows reads, after its scan, the
//! history of the files those rules' references are in (first parents, bounded, blobs scanned
//! once each) and publishes each rule's [`Lineage`]; a repo with following rules takes the
//! lineages it follows, then reads the forge checks and health answers its candidates need —
//! cached per commit, at most [`LOOKUPS_PER_CYCLE`] new ones per cycle.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use super::*;
use crate::config::{Follow, Health as HealthCheck, UpdateRule};
use crate::forge::{CheckState, health};
use crate::git::Landed;
use crate::image::hub::ImageKey;
use crate::plan::{
    Asking, ChainFacts, Checks, Health, Lineage, Lookup, Offer, Snapshot, describe_health, lineage,
    offer, qualify,
};

/// First-parent commits of a followed branch read at most, and how far back in time.
pub(crate) const LOOK_BACK_COMMITS: usize = 300;
const LOOK_BACK: Duration = Duration::from_secs(90 * 24 * 3600);
/// New forge or health lookups per repo and cycle; the rest wait for the next cycle.
const LOOKUPS_PER_CYCLE: usize = 10;
/// How long a pending or failed check, or any health answer, is believed.
const ANSWER_TTL: Duration = Duration::from_secs(60);
/// Answers kept at most; the oldest half is dropped beyond.
const MAX_ANSWERS: usize = 4096;
/// Blobs of followed files kept scanned per repo.
const MAX_BLOB_SCANS: usize = 2048;

/// Answers by (what was asked, of which commit), with when they were read.
type Answers<T> = Mutex<HashMap<(String, String), (T, SystemTime)>>;

/// What every repo's cycle shares of the chains: the lineages published, the answers read.
pub struct Chains {
    /// (repo, rule) of every rule some rule follows.
    followed: HashSet<(String, String)>,
    lineages: Mutex<HashMap<(String, String), Arc<Lineage>>>,
    checks: Answers<Checks>,
    health: Answers<Health>,
    forges: Mutex<HashMap<String, Arc<Forge>>>,
    /// Made at the first health lookup: a TLS client's roots cost an idle daemon heap.
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Chains {
    pub fn new(config: &Config) -> Chains {
        let followed = config
            .repos
            .iter()
            .flat_map(|repo| &repo.updates)
            .filter_map(|rule| rule.follow.as_ref())
            .map(|f| (f.repo.clone(), f.rule.clone()))
            .collect();
        Chains {
            followed,
            lineages: Mutex::default(),
            checks: Mutex::default(),
            health: Mutex::default(),
            forges: Mutex::default(),
            client: std::sync::OnceLock::new(),
        }
    }

    /// Does anyone follow a rule of `repo`? Then its workspace keeps history.
    pub fn reads_history_of(&self, repo: &str) -> bool {
        self.followed.iter().any(|(r, _)| r == repo)
    }

    /// The lineage published for (repo, rule), if its repo has cycled.
    pub fn lineage(&self, repo: &str, rule: &str) -> Option<Arc<Lineage>> {
        let key = (repo.to_string(), rule.to_string());
        lock(&self.lineages).get(&key).cloned()
    }

    fn publish(&self, repo: &str, rule: &str, lineage: Arc<Lineage>) {
        let key = (repo.to_string(), rule.to_string());
        lock(&self.lineages).insert(key, lineage);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A repo's memory of the history it read: each followed rule's lineage at a head, and the
/// references found in each version of a followed file.
#[derive(Default)]
pub(super) struct HistoryMemo {
    lineages: HashMap<String, (Oid, Arc<Lineage>)>,
    blobs: HashMap<(PathBuf, Oid), Arc<Vec<ImageRef>>>,
}

use crate::image::scanner::ImageRef;

impl RepoCycle {
    /// Reads and publishes the lineage of each of this repo's rules that someone follows;
    /// `true` when what one of them holds has changed since the last reading.
    pub(super) async fn read_lineages(
        &mut self,
        shared: &Shared,
        rules: &Rules,
        files: &[FileRefs],
        head: Oid,
    ) -> Result<bool, CycleError> {
        let mut moved = false;
        let repo = &rules.repo;
        let followed: Vec<&UpdateRule> = repo
            .updates
            .iter()
            .filter(|rule| {
                rule.name.as_ref().is_some_and(|name| {
                    shared
                        .chains
                        .followed
                        .contains(&(repo.name.clone(), name.clone()))
                })
            })
            .collect();
        for rule in followed {
            let name = rule.name.clone().unwrap_or_default();
            if let Some((at, lineage)) = self.history.lineages.get(&name)
                && *at == head
            {
                shared.chains.publish(&repo.name, &name, lineage.clone());
                continue;
            }
            let paths: Vec<PathBuf> = files
                .iter()
                .filter(|f| {
                    f.refs
                        .iter()
                        .any(|r| same_rule(repo.rule_for(&f.path, &r.tag), rule))
                })
                .map(|f| f.path.clone())
                .collect();
            let since = SystemTime::now() - LOOK_BACK;
            let asked = paths.clone();
            let landed = self
                .git(move |w| w.first_parent_history(head, &asked, LOOK_BACK_COMMITS, since))
                .await??;
            let snapshots = self.snapshots(shared, rule, &paths, &landed).await?;
            let lineage = Arc::new(lineage(&snapshots));
            let before = self.history.lineages.get(&name).map(|(_, l)| &l.images);
            moved |= before != Some(&lineage.images);
            self.history
                .lineages
                .insert(name.clone(), (head, lineage.clone()));
            shared.chains.publish(&repo.name, &name, lineage);
        }
        Ok(moved)
    }

    /// What `rule`'s references held in each commit `landed` names.
    async fn snapshots(
        &mut self,
        shared: &Shared,
        rule: &UpdateRule,
        paths: &[PathBuf],
        landed: &[Landed],
    ) -> Result<Vec<Snapshot>, CycleError> {
        let mut unread: Vec<(PathBuf, Oid)> = Vec::new();
        for commit in landed {
            for (path, blob) in paths.iter().zip(&commit.blobs) {
                let Some(blob) = blob else { continue };
                let key = (path.clone(), *blob);
                if !self.history.blobs.contains_key(&key) && !unread.contains(&key) {
                    unread.push(key);
                }
            }
        }
        if self.history.blobs.len() + unread.len() > MAX_BLOB_SCANS {
            self.history.blobs.clear();
        }
        let scanner = shared.scanner.clone();
        let scanned = self
            .git(move |w| {
                unread
                    .into_iter()
                    .map(|(path, blob)| {
                        let refs = w
                            .blob(blob, DEFAULT_MAX_FILE_SIZE as usize)
                            .map(|bytes| scanner.scan_file(&path, &bytes).refs)
                            .unwrap_or_default();
                        ((path, blob), Arc::new(refs))
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        self.history.blobs.extend(scanned);
        let mut snapshots = Vec::new();
        for commit in landed {
            let mut held: BTreeMap<ImageKey, BTreeSet<(String, Option<String>)>> = BTreeMap::new();
            for (path, blob) in paths.iter().zip(&commit.blobs) {
                let Some(blob) = blob else { continue };
                let Some(refs) = self.history.blobs.get(&(path.clone(), *blob)) else {
                    continue;
                };
                let managed = refs
                    .iter()
                    .filter(|r| rule.covers(path) && rule.policy.manages(&r.tag));
                for r in managed {
                    held.entry(r.key.clone())
                        .or_default()
                        .insert((r.tag.clone(), r.digest.clone()));
                }
            }
            snapshots.push(Snapshot {
                commit: commit.commit.to_string(),
                time: commit.time,
                held,
            });
        }
        Ok(snapshots)
    }
}

fn same_rule(found: Option<&UpdateRule>, rule: &UpdateRule) -> bool {
    found.is_some_and(|f| f.name.is_some() && f.name == rule.name)
}

/// The chain facts a repo's following rules plan with: the lineages they follow, and every
/// check and health answer their candidates need that the cycle's share allows.
pub(super) async fn chain_facts(
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
            let asking = Asking {
                follow,
                policy: &rule.policy,
                repo: &repo.name,
                image: &reference.key,
                current: &reference.tag,
                now,
            };
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

/// Promotion metrics for a finished cycle: each promotion's outcome, stops where an upstream
/// rolled back, and — for a tag reaching a stage nobody follows — how long since the chain's
/// first stage took it.
pub(super) fn record_promotions(shared: &Shared, repo: &Repo, report: &CycleReport) {
    let metrics = &shared.metrics;
    let result = match report.result {
        CycleResult::Failed => "failed",
        _ => "promoted",
    };
    let pushed = report.result == CycleResult::Updated && repo.pull_request.is_none();
    for change in &report.changes {
        let Some(promotion) = &change.promotion else {
            continue;
        };
        metrics.promotion(&repo.name, &promotion.chain, result);
        let rule = repo.rule_for(&change.site.path, &change.old_tag);
        if let Some(rule) = rule.filter(|_| pushed) {
            lead_time(shared, repo, rule, change);
        }
    }
    // A rollback hold made on a following rule's reference: its upstream rolled back.
    for kept in &report.kept {
        let KeptReason::OnHold(hold) = &kept.reason else {
            continue;
        };
        let made = report.holds_made.iter().any(|h| h.id == hold.id);
        let rule = repo.rule_for(&kept.site.path, &kept.tag);
        let follow = rule.and_then(|r| Some((r, r.follow.as_ref()?)));
        if let Some((rule, follow)) = follow.filter(|_| made) {
            let own = rule.name.as_deref().unwrap_or(&repo.name);
            let chain = format!("{} → {own}", follow.upstream_name(&repo.name));
            metrics.promotion(&repo.name, &chain, "stopped");
        }
    }
}

/// Observes the lead time of `change` when its rule ends a chain.
fn lead_time(shared: &Shared, repo: &Repo, rule: &UpdateRule, change: &crate::plan::Change) {
    let config = &shared.config;
    let followed = |repo_name: &str, name: Option<&str>| {
        config.repos.iter().flat_map(|r| &r.updates).any(|r| {
            r.follow
                .as_ref()
                .is_some_and(|f| f.repo == repo_name && Some(f.rule.as_str()) == name)
        })
    };
    if followed(&repo.name, rule.name.as_deref()) {
        return;
    }
    // Up the chain to the stage that follows none.
    let mut at = rule.follow.clone();
    let mut root = None;
    for _ in 0..config.repos.iter().map(|r| r.updates.len()).sum::<usize>() {
        let Some(follow) = at else { break };
        let upstream = config
            .repos
            .iter()
            .find(|r| r.name == follow.repo)
            .and_then(|r| {
                r.updates
                    .iter()
                    .find(|u| u.name.as_deref() == Some(&follow.rule))
            });
        root = Some((follow.repo.clone(), follow.rule.clone()));
        at = upstream.and_then(|u| u.follow.clone());
    }
    let Some((root_repo, root_rule)) = root else {
        return;
    };
    let Some(lineage) = shared.chains.lineage(&root_repo, &root_rule) else {
        return;
    };
    let key = ImageKey::of(&change.image);
    let first = lineage
        .images
        .get(&key)
        .into_iter()
        .flatten()
        .filter(|s| {
            s.held
                .iter()
                .any(|(tag, _)| Some(tag.as_str()) == change.new_tag.split('@').next())
        })
        .map(|s| s.since)
        .min();
    if let Some(since) = first {
        let last = match &rule.name {
            Some(name) => format!("{}/{name}", repo.name),
            None => repo.name.clone(),
        };
        let chain = format!("{root_repo}/{root_rule} → {last}");
        let lead = SystemTime::now().duration_since(since).unwrap_or_default();
        shared.metrics.promotion_lead(&chain, lead);
    }
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
