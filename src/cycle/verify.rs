//! Judging the tags a rule would choose under its trust gate, newest first, until one passes:
//! verdicts already made cost nothing, new ones cost requests, at most
//! [`VERIFICATIONS_PER_CYCLE`] per cycle (the rest wait for the next).

use super::*;
use crate::plan::{Walk, walk};

/// Digests judged afresh per repo and cycle at most.
pub(super) const VERIFICATIONS_PER_CYCLE: usize = 20;

/// Fills `standing`'s verdicts until every gated reference's walk is decided or the cycle's
/// share of verifications is spent.
pub(super) async fn judge_candidates(
    shared: &Shared,
    repo: &Repo,
    files: &[FileRefs],
    tags: &TagTable,
    standing: &mut Standing,
) {
    let now = SystemTime::now();
    let mut budget = VERIFICATIONS_PER_CYCLE;
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
            loop {
                let walked = walk(
                    &rule.policy,
                    Some(&gate),
                    &standing.trust,
                    &reference.tag,
                    &known.tags,
                    now,
                );
                let Walk::Unjudged(TagInfo {
                    digest: Some(digest),
                    ..
                }) = walked
                else {
                    break;
                };
                let registries = &shared.registries;
                let verdict = match registries.known_verdict(&gate, digest, now) {
                    Some(verdict) => verdict,
                    None if budget == 0 => break,
                    None => {
                        budget -= 1;
                        registries
                            .judge(&reference.registry, &reference.image, digest, &gate, now)
                            .await
                    }
                };
                standing
                    .trust
                    .verdicts
                    .insert((gate.id.clone(), digest.clone()), verdict);
            }
        }
    }
}
