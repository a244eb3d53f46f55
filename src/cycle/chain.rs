//! Promotion chains in a cycle. A repo whose rules someone follows reads, after its scan, the
//! history of the files those rules' references are in (first parents, bounded, blobs scanned
//! once each) and publishes each rule's [`Lineage`]; a repo with following rules takes the
//! lineages it follows, then reads the forge checks and health answers its candidates need
//! ([`lookups`]); a finished cycle's promotions are counted ([`promotions`]).

mod lookups;
mod promotions;

pub(super) use lookups::chain_facts;
pub(super) use promotions::record_promotions;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use super::*;
use crate::config::UpdateRule;
use crate::forge::health;
use crate::git::Landed;
use crate::image::forms::NamedRepository;
use crate::image::hub::ImageKey;
use crate::image::scanner::ImageRef;
use crate::plan::{
    Asking, ChainFacts, Checks, Health, Lineage, Lookup, Offer, Snapshot, describe_health, lineage,
    offer, qualify,
};

/// First-parent commits of a followed branch read at most, and how far back in time.
pub(crate) const LOOK_BACK_COMMITS: usize = 300;
const LOOK_BACK: Duration = Duration::from_secs(90 * 24 * 3600);
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
        // Flux HelmReleases name their HelmRepository: those of today's tree say where.
        let defined: Vec<NamedRepository> = self
            .last_scan
            .iter()
            .flat_map(|memo| memo.files.iter())
            .flat_map(|file| file.repositories.iter().cloned())
            .collect();
        let scanned = self
            .git(move |w| {
                let defined: Vec<&NamedRepository> = defined.iter().collect();
                unread
                    .into_iter()
                    .map(|(path, blob)| {
                        let refs =
                            w.blob(blob, DEFAULT_MAX_FILE_SIZE as usize)
                                .map(|bytes| {
                                    let scan = scanner.scan_file(&path, &bytes);
                                    let linked = scan.pending.iter().filter_map(|pending| {
                                        scanner.link(pending, &defined)?.ok()
                                    });
                                    let mut refs = scan.refs;
                                    refs.extend(linked);
                                    refs
                                })
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
