//! Judging, under each reference's trust gate, the tags its rule would choose — newest first,
//! until one passes — the new digest of a pinned tag pushed again, and the tag a deploy
//! request asks for. Verdicts already made cost
//! nothing, new ones cost requests, at most [`VERIFICATIONS_PER_CYCLE`] per cycle (the rest
//! wait for the next).

use super::*;
use crate::config::{Follow, UpdateRule};
use crate::image::hub::ImageKey;
use crate::image::scanner::ImageRef;
use crate::plan::{Asking, Offer, Walk, offer, promoted_digest, repushed, walk};
use crate::trust::Gate;

/// Digests judged afresh per repo and cycle at most.
pub(super) const VERIFICATIONS_PER_CYCLE: usize = 20;

/// Fills `standing`'s verdicts until every gated reference's walk is decided (and the deploy
/// request's tag judged) or the cycle's share of verifications is spent.
pub(super) async fn judge_candidates(
    shared: &Shared,
    repo: &Repo,
    files: &[FileRefs],
    tags: &TagTable,
    order: Option<&DeployOrder>,
    standing: &mut Standing,
) {
    let mut judge = Judge {
        shared,
        repo: &repo.name,
        now: SystemTime::now(),
        budget: VERIFICATIONS_PER_CYCLE,
    };
    let ordered = order.map(|order| (ImageKey::of(&order.image), order.tag.as_str()));
    for file in files {
        for reference in &file.refs {
            let Some(rule) = repo.rule_for(&file.path, &reference.tag) else {
                continue;
            };
            let (Some(gate), Some(known)) = (
                standing.trust.gate(rule, reference).cloned(),
                tags.get(&reference.image),
            ) else {
                continue;
            };
            if let Some((key, tag)) = &ordered {
                let asked = known.tags.iter().find(|t| &t.tag == tag);
                if *key == reference.key
                    && let Some(digest) = asked.and_then(|t| t.digest.as_deref())
                {
                    judge.once(&gate, reference, digest, standing).await;
                }
                continue;
            }
            if let Some(follow) = &rule.follow {
                let offered = Offered {
                    rule,
                    follow,
                    gate: &gate,
                };
                judge.offered(&offered, reference, tags, standing).await;
                continue;
            }
            loop {
                let walked = walk(
                    &rule.policy,
                    Some(&gate),
                    &standing.trust,
                    &reference.tag,
                    &known.tags,
                    judge.now,
                );
                let Walk::Unjudged(TagInfo {
                    digest: Some(digest),
                    ..
                }) = walked
                else {
                    break;
                };
                if !judge.once(&gate, reference, digest, standing).await {
                    break;
                }
            }
            if let Some((_, digest)) = repushed(rule, reference, &known.tags) {
                judge.once(&gate, reference, digest, standing).await;
            }
        }
    }
}

/// A following rule, what it follows, and the gate its tags must pass.
struct Offered<'a> {
    rule: &'a UpdateRule,
    follow: &'a Follow,
    gate: &'a Arc<Gate>,
}

impl Judge<'_> {
    /// Judges the tag a chain offers a following rule's reference.
    async fn offered(
        &mut self,
        offered: &Offered<'_>,
        reference: &ImageRef,
        tags: &TagTable,
        standing: &mut Standing,
    ) {
        let asking = Asking::new(offered.rule, offered.follow, self.repo, reference, self.now);
        let Offer::Move { to, .. } = offer(&asking, &standing.chain) else {
            return;
        };
        if let Some(digest) = promoted_digest(&to, tags.get(&reference.image)) {
            self.once(offered.gate, reference, &digest, standing).await;
        }
    }
}

/// One cycle's judging: its time and what is left of its share.
struct Judge<'a> {
    shared: &'a Shared,
    repo: &'a str,
    now: SystemTime,
    budget: usize,
}

impl Judge<'_> {
    /// Records in `standing` the verdict on `digest` of `reference`'s image under `gate`:
    /// remembered, else judged now if the share allows. `false` when it could not be had.
    async fn once(
        &mut self,
        gate: &Arc<Gate>,
        reference: &ImageRef,
        digest: &str,
        standing: &mut Standing,
    ) -> bool {
        let registries = &self.shared.registries;
        let verdict = match registries.known_verdict(gate, digest, self.now) {
            Some(verdict) => verdict,
            None if self.budget == 0 => return false,
            None => {
                self.budget -= 1;
                let (registry, image) = (&reference.registry, &reference.image);
                let verdict = registries
                    .judge(registry, image, digest, gate, self.now)
                    .await;
                self.shared
                    .metrics
                    .trust_verdict(self.repo, verdict.trusted());
                verdict
            }
        };
        let key = (gate.id.clone(), digest.to_string());
        standing.trust.verdicts.insert(key, verdict);
        true
    }
}
