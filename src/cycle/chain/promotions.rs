//! Promotion metrics of a finished cycle.

use super::*;

/// Promotion metrics for a finished cycle: each promotion's outcome, stops where an upstream
/// rolled back, and — for a tag reaching a stage nobody follows — how long since the chain's
/// first stage took it.
pub(in crate::cycle) fn record_promotions(shared: &Shared, repo: &Repo, report: &CycleReport) {
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
