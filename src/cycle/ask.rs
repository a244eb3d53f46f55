//! Asking the registries for the tags of every image a repo's rules manage: one listing per
//! image, shared with every other repo's cycle, none older than the cycle's start; a push
//! event's announced tag is waited for briefly.

use super::*;
use crate::config::UpdateRule;
use crate::image::forms::chart_version;
use crate::image::hub::ImageKey;

/// Pauses before listing an image again whose listing lacks a tag a push event announced.
const ANNOUNCED_PAUSES: [Duration; 5] = [
    Duration::from_millis(10),
    Duration::from_millis(30),
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(1000),
];

/// Tags of every image a rule manages, one listing per image (shared across repos), none
/// older than `started`. A failing registry is reported and the images it serves are left
/// alone.
pub(super) async fn ask_registries(
    shared: &Shared,
    repo: &Repo,
    files: &[FileRefs],
    asked: &Asked<'_>,
    report: &mut CycleReport,
) -> TagTable {
    let Asked {
        started,
        announced,
        deploy,
    } = *asked;
    let deployed = deploy.map(|order| ImageKey::of(&order.image));
    let mut wanted: HashMap<(&RegistryId, &str), Wanted> = HashMap::new();
    for file in files {
        for reference in &file.refs {
            if deployed.as_ref().is_some_and(|key| *key != reference.key) {
                continue;
            }
            let rule = repo.rule_for(&file.path, &reference.tag);
            // A following rule's tags come from its upstream; the registry's are needed only
            // by a forced deploy (which skips the chain), and for digests: a trust gate's, or
            // a pinned reference's when the upstream does not pin them.
            let forced = deploy.is_some_and(|order| order.force);
            let digests = |rule: &UpdateRule| {
                rule.gate.is_some()
                    || shared.registry_gates.contains_key(&reference.registry)
                    || rule.pin_digest
                    || reference.digest.is_some()
            };
            let asked = |rule: &&UpdateRule| rule.follow.is_none() || forced || digests(rule);
            if let Some(rule) = rule.filter(asked) {
                let wanted = wanted
                    .entry((&reference.registry, reference.image.as_str()))
                    .or_default();
                wanted.chart |= reference.form.is_chart_version();
                wanted.also = deploy.map(|order| order.tag.as_str());
                // A pinned digest must move with the tag, and a gate judges digests: the new
                // tag's digest is needed.
                let digests = reference.digest.is_some()
                    || rule.pin_digest
                    || rule.gate.is_some()
                    || shared.registry_gates.contains_key(&reference.registry);
                if rule.policy.needs_times() || digests {
                    wanted.rules.push(&rule.policy);
                    wanted.current.insert(&reference.tag);
                }
            }
        }
    }
    let asks = wanted.iter().map(|((registry, image), wanted)| async move {
        let tags = ask_one(shared, registry, image, wanted, started).await;
        (image.to_string(), tags)
    });
    let mut results = futures::future::join_all(asks).await;
    for pause in ANNOUNCED_PAUSES {
        let lagging: Vec<_> = wanted
            .iter()
            .filter(|((_, image), _)| {
                results.iter().any(|(listed, result)| {
                    listed == image && lacks_announced(image, result.as_ref().ok(), announced)
                })
            })
            .collect();
        if lagging.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        for ((registry, image), wanted) in lagging {
            shared.registries.forget(image);
            let again = ask_one(shared, registry, image, wanted, started).await;
            if let Some(slot) = results.iter_mut().find(|(listed, _)| listed == image) {
                slot.1 = again;
            }
        }
    }
    let mut table = TagTable::new();
    for (image, result) in results {
        match result {
            Ok(tags) => {
                table.insert(image, tags);
            }
            Err(err) => {
                tracing::warn!(error = %err, "registry lookup failed");
                report.errors.push(err.into());
            }
        }
    }
    table
}

/// Managed images the registries did not answer for this cycle.
pub(super) fn unanswered(repo: &Repo, files: &[FileRefs], tags: &TagTable) -> HashSet<String> {
    files
        .iter()
        .flat_map(|file| {
            file.refs
                .iter()
                .filter(|r| repo.rule_for(&file.path, &r.tag).is_some())
        })
        .filter(|r| !tags.contains_key(&r.image))
        .map(|r| r.image.clone())
        .collect()
}

/// What a cycle asks the registries for.
#[derive(Clone, Copy)]
pub(super) struct Asked<'a> {
    /// No listing older than this.
    pub started: Instant,
    /// Tags push events announced, by image.
    pub announced: &'a [(String, String)],
    /// A deploy request: only its image is asked for, with its tag's details.
    pub deploy: Option<&'a DeployOrder>,
}

/// One image's tags, with times and digests for the tags `wanted` picks.
async fn ask_one(
    shared: &Shared,
    registry: &RegistryId,
    image: &str,
    wanted: &Wanted<'_>,
    started: Instant,
) -> Result<ImageTags, crate::registry::RegistryError> {
    let picks = |tag: &str| match wanted.chart {
        true => wanted.wants(&chart_version(tag)),
        false => wanted.wants(tag),
    };
    let picks: Option<&(dyn Fn(&str) -> bool + Sync)> = match wanted.rules.is_empty() {
        true => None,
        false => Some(&picks),
    };
    let tags = shared
        .registries
        .tags_since(registry, image, picks, started)
        .await?;
    Ok(match wanted.chart {
        true => chart_versions(tags),
        false => tags,
    })
}

/// A listing of OCI tags as the chart versions they stand for.
fn chart_versions(tags: ImageTags) -> ImageTags {
    let as_versions = |names: &[String]| names.iter().map(|t| chart_version(t)).collect();
    ImageTags {
        tags: Arc::new(
            tags.tags
                .iter()
                .map(|t| TagInfo {
                    tag: chart_version(&t.tag),
                    ..t.clone()
                })
                .collect(),
        ),
        pending: Arc::new(as_versions(&tags.pending)),
    }
}

/// Does this listing of `image` lack a tag a push event announced?
fn lacks_announced(image: &str, tags: Option<&ImageTags>, announced: &[(String, String)]) -> bool {
    let Some(tags) = tags else {
        return false;
    };
    let key = ImageKey::of(image);
    // A chart's listing reads a tag's `_` as `+`.
    let listed = |tag: &str| {
        let version = chart_version(tag);
        tags.tags.iter().any(|t| t.tag == tag || t.tag == version)
    };
    announced
        .iter()
        .any(|(pushed, tag)| ImageKey::of(pushed) == key && !listed(tag))
}

/// The tags of one image whose times or digests the repo's rules need: those a rule that
/// orders or ages by time (or moves a pinned digest) could pick, and the current ones.
#[derive(Default)]
struct Wanted<'a> {
    rules: Vec<&'a Policy>,
    current: HashSet<&'a str>,
    /// A deploy request's tag, wanted whatever the rules say.
    also: Option<&'a str>,
    /// A chart's versions: the registry's tags spell `+` as `_`.
    chart: bool,
}

impl Wanted<'_> {
    fn wants(&self, tag: &str) -> bool {
        self.current.contains(tag)
            || self.also == Some(tag)
            || self.rules.iter().any(|policy| policy.allows(tag))
    }
}
