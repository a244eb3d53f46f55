//! Promotion chains: `name:` on a rule, `follow:` another rule (in the same repo or another),
//! and what a following rule demands of the upstream — `soak`, `requireChecks`,
//! `requireHealthy`. Chains are checked whole once every repo is read: a rule followed must
//! exist, and no chain may come round to itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::decode::{plain_name, seconds, secret};
use super::fields::{Decoder, Fields};
use super::yaml::{Node, Pos};
use super::{Environment, Repo, SecretSource};
use crate::policy::compile_glob;

/// Where a following rule's candidates come from, and what they must have passed there.
#[derive(Clone, Debug)]
pub struct Follow {
    /// The upstream rule's repo (the following rule's own when `follow:` names no repo).
    pub repo: String,
    /// The upstream rule's `name`.
    pub rule: String,
    /// How long the upstream must have held a tag without a break.
    pub soak: Option<Duration>,
    /// Globs over commit status / check names that must be green on the upstream commit.
    pub checks: Vec<String>,
    pub healthy: Option<Health>,
    /// No `pattern` was given: the upstream rule's pattern and ordering apply.
    pub inherits_pattern: bool,
    /// Where `follow:` is written, for errors found once every repo is read.
    pub at: Pos,
}

impl Follow {
    /// `envs/dev`, or `dev` for a rule of `own_repo`.
    pub fn upstream_name(&self, own_repo: &str) -> String {
        match self.repo == own_repo {
            true => self.rule.clone(),
            false => format!("{}/{}", self.repo, self.rule),
        }
    }
}

/// How laminar learns that the upstream environment runs well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// An Argo CD application: Healthy, and Synced to a revision holding the upstream commit.
    ArgoCd {
        url: String,
        token: Option<SecretSource>,
        application: String,
    },
    /// Any URL answering `expect`.
    Http { url: String, expect: u16 },
}

/// The chain keys of one rule: `name`, and `follow` with its demands. A repo's own
/// `.laminar.yaml` (no `env`) may not set them: the chain is the operator's.
pub(super) struct ChainKeys {
    pub name: Option<String>,
    pub follow: Option<Follow>,
}

pub(super) fn decode(
    d: &mut Decoder,
    f: &mut Fields<'_>,
    env: Option<&Environment>,
    has_pattern: bool,
) -> ChainKeys {
    // Rule names appear in chains, metrics labels and commit messages.
    let name = f.get(d, "name", &[]).and_then(|n| plain_name(d, n, "rule"));
    let follow = f.get(d, "follow", &[]);
    let soak = f.get(d, "soak", &[]);
    let checks = f.get(d, "requireChecks", &[]);
    let healthy = f.get(d, "requireHealthy", &[]);
    let Some(env) = env else {
        for node in [follow, soak, checks, healthy].into_iter().flatten() {
            d.error(
                node.pos,
                "promotion chains are set by the operator's config, not a repo's own",
            );
        }
        return ChainKeys { name, follow: None };
    };
    let Some(node) = follow else {
        for node in [soak, checks, healthy].into_iter().flatten() {
            d.error(node.pos, "only a rule with follow: waits on its upstream");
        }
        return ChainKeys { name, follow: None };
    };
    let upstream = d.text(node).and_then(|text| {
        let (repo, rule) = text.rsplit_once('/').unwrap_or(("", &text));
        if rule.is_empty() {
            d.error(
                node.pos,
                "follow names a rule: `dev`, or `repo/dev` in another repo",
            );
            return None;
        }
        Some((repo.to_string(), rule.to_string()))
    });
    let soak = soak.and_then(|n| seconds(d, n));
    let checks = checks.map(|n| check_globs(d, n)).unwrap_or_default();
    let healthy = healthy.and_then(|n| health(d, n, env));
    let (repo, rule) = upstream.unwrap_or_default();
    ChainKeys {
        name,
        follow: Some(Follow {
            repo,
            rule,
            soak,
            checks,
            healthy,
            inherits_pattern: !has_pattern,
            at: node.pos,
        }),
    }
}

fn check_globs(d: &mut Decoder, node: &Node) -> Vec<String> {
    let mut globs = Vec::new();
    for item in d.list(node) {
        let Some(text) = d.text(item) else { continue };
        match compile_glob(&text) {
            Ok(_) => globs.push(text),
            Err(why) => d.error(item.pos, format!("invalid check name glob {text:?}: {why}")),
        }
    }
    if globs.is_empty() {
        d.error(node.pos, "requireChecks must name at least one check");
    }
    globs
}

/// `{argocd: {url, tokenEnv | tokenFile, application}}` or `{http: {url, expect}}`.
fn health(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Health> {
    let mut f = d.fields(node)?;
    let argocd = f.get(d, "argocd", &[]).map(|n| argocd(d, n, env));
    let http = f.get(d, "http", &[]).map(|n| http_check(d, n));
    f.finish(d);
    match (argocd, http) {
        (Some(health), None) | (None, Some(health)) => health,
        _ => {
            d.error(node.pos, "requireHealthy takes one of argocd: or http:");
            None
        }
    }
}

fn argocd(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Health> {
    let mut f = d.fields(node)?;
    let url = f.require(d, "url", &[]).and_then(|n| web_url(d, n));
    let token = secret(d, &mut f, env, "tokenEnv", "tokenFile");
    let application = f.require(d, "application", &[]).and_then(|n| d.text(n));
    f.finish(d);
    Some(Health::ArgoCd {
        url: url?,
        token,
        application: application?,
    })
}

fn http_check(d: &mut Decoder, node: &Node) -> Option<Health> {
    let mut f = d.fields(node)?;
    let url = f.require(d, "url", &[]).and_then(|n| web_url(d, n));
    let expect = f
        .get(d, "expect", &[])
        .and_then(|n| d.whole_number(n, 100, 599));
    f.finish(d);
    Some(Health::Http {
        url: url?,
        expect: expect.map_or(200, |e| e as u16),
    })
}

fn web_url(d: &mut Decoder, node: &Node) -> Option<String> {
    let url = d.text(node)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        d.error(node.pos, "expected an http:// or https:// URL");
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

/// Checks every chain once all repos are read: rule names unique in their repo, each `follow`
/// naming a rule that exists, no circle. A rule without its own pattern takes its upstream's.
pub(super) fn resolve(d: &mut Decoder, repos: &mut [Repo]) {
    let mut named: HashMap<(String, String), (usize, usize)> = HashMap::new();
    for (r, repo) in repos.iter().enumerate() {
        for (u, rule) in repo.updates.iter().enumerate() {
            let Some(name) = &rule.name else { continue };
            if named
                .insert((repo.name.clone(), name.clone()), (r, u))
                .is_some()
            {
                d.error(
                    rule.at,
                    format!("repo {} has two rules named {name}", repo.name),
                );
            }
        }
    }
    // Each following rule's upstream, by index.
    let mut upstream: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    // Upstream repos whose checks are read, and where that is asked.
    let mut checks_forge: Vec<(usize, Pos)> = Vec::new();
    for (r, repo) in repos.iter_mut().enumerate() {
        let own = repo.name.clone();
        for (u, rule) in repo.updates.iter_mut().enumerate() {
            let Some(follow) = rule.follow.as_mut().map(Arc::make_mut) else {
                continue;
            };
            if follow.rule.is_empty() {
                continue;
            }
            if follow.repo.is_empty() {
                follow.repo = own.clone();
            }
            match named.get(&(follow.repo.clone(), follow.rule.clone())) {
                Some(&target) => {
                    upstream.insert((r, u), target);
                    if !follow.checks.is_empty() {
                        checks_forge.push((target.0, follow.at));
                    }
                }
                None => d.error(
                    follow.at,
                    format!(
                        "follow: no rule named {} in repo {}",
                        follow.rule, follow.repo
                    ),
                ),
            }
        }
    }
    for (r, at) in checks_forge {
        let repo = &repos[r];
        if repo.forge.is_none() && repo.pull_request.is_none() {
            d.error(
                at,
                format!(
                    "requireChecks reads repo {}'s commit checks: give that repo forge: (provider, apiUrl, project, tokenEnv, as in pullRequest)",
                    repo.name
                ),
            );
        }
    }
    let mut keys: Vec<_> = upstream.keys().copied().collect();
    keys.sort();
    for &start in &keys {
        if let Some(circle) = circle_from(start, &upstream) {
            let (r, u) = start;
            let names: Vec<String> = circle
                .iter()
                .map(|&(r, u)| {
                    let rule = &repos[r].updates[u];
                    format!("{}/{}", repos[r].name, rule.name.as_deref().unwrap_or("?"))
                })
                .collect();
            let at = repos[r].updates[u]
                .follow
                .as_ref()
                .map_or(repos[r].updates[u].at, |f| f.at);
            d.error(
                at,
                format!(
                    "promotion chain comes round to itself: {}",
                    names.join(" → ")
                ),
            );
            return;
        }
    }
    for (r, u) in keys {
        let inherits = repos[r].updates[u]
            .follow
            .as_ref()
            .is_some_and(|f| f.inherits_pattern);
        if let Some(policy) = inherits
            .then(|| root_pattern((r, u), &upstream, repos))
            .flatten()
        {
            let rule = &mut repos[r].updates[u];
            rule.policy = rule.policy.following(&policy);
        }
    }
}

/// The rules met following `start` upstream, when they come back to a rule already met.
fn circle_from(
    start: (usize, usize),
    upstream: &HashMap<(usize, usize), (usize, usize)>,
) -> Option<Vec<(usize, usize)>> {
    let mut path = vec![start];
    let mut at = start;
    while let Some(&next) = upstream.get(&at) {
        path.push(next);
        if next == start {
            return Some(path);
        }
        if path[..path.len() - 1].contains(&next) {
            // A circle further up: reported from one of its own rules.
            return None;
        }
        at = next;
    }
    None
}

/// The policy whose pattern a following rule without one takes: the nearest upstream rule
/// with its own pattern.
fn root_pattern(
    mut at: (usize, usize),
    upstream: &HashMap<(usize, usize), (usize, usize)>,
    repos: &[Repo],
) -> Option<crate::policy::Policy> {
    loop {
        let rule = &repos[at.0].updates[at.1];
        let inherits = rule.follow.as_ref().is_some_and(|f| f.inherits_pattern);
        if !inherits {
            return Some(rule.policy.clone());
        }
        at = *upstream.get(&at)?;
    }
}
