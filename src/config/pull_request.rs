//! `git[].pullRequest`: deliver a repo's updates as pull (merge) requests on a forge instead
//! of pushing to the watched branch.

use std::path::PathBuf;

use super::decode::{existing_file, secret};
use super::fields::{Decoder, Keyword};
use super::yaml::{Node, Pos};
use super::{Environment, SecretSource};

/// The default branch laminar commits a group's changes on.
pub(super) const DEFAULT_BRANCH: &str = "laminar/{repo}/{group}";

/// How a repo's updates reach its watched branch through a forge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub provider: Provider,
    /// The forge's REST API root (`https://api.github.com`, `https://host/api/v4`, …).
    pub api_url: String,
    /// The repository on the forge: `owner/repo`, or GitLab's `group/sub/project`.
    pub project: String,
    pub auth: ForgeAuth,
    /// Template of the branch a group's changes are committed on: `{repo}`, `{group}`,
    /// `{branch}` (the watched branch).
    pub branch: String,
    pub group_by: GroupBy,
    /// Templates; the default title names the change (or counts them), the default body
    /// lists every change.
    pub title: Option<String>,
    pub body: Option<String>,
    pub labels: Vec<String>,
    /// Users, or on GitHub also `org/team`.
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
    pub draft: bool,
    /// Merge once the forge's required checks pass (GitHub auto-merge, GitLab "merge when
    /// pipeline succeeds", Gitea "merge when checks succeed").
    pub auto_merge: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Github,
    Gitlab,
    /// Gitea and Forgejo (which speaks Gitea's API).
    Gitea,
}

impl Keyword for Provider {
    const ALL: &'static [(&'static str, Provider)] = &[
        ("github", Provider::Github),
        ("gitlab", Provider::Gitlab),
        ("gitea", Provider::Gitea),
        ("forgejo", Provider::Gitea),
    ];
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Gitea => "gitea",
        }
    }
}

/// How laminar proves itself to the forge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForgeAuth {
    Token(SecretSource),
    /// A GitHub App installation: a JWT signed with the App's key buys an installation token.
    GithubApp {
        app_id: u64,
        installation_id: u64,
        private_key_file: PathBuf,
    },
}

/// Which changes share one pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// All of a repo's changes in one.
    Repo,
    /// One per update rule.
    Rule,
    /// One per image.
    Image,
}

impl Keyword for GroupBy {
    const ALL: &'static [(&'static str, GroupBy)] = &[
        ("repo", GroupBy::Repo),
        ("rule", GroupBy::Rule),
        ("image", GroupBy::Image),
    ];
}

/// Decodes a `pullRequest:` block of the repo whose remote is `url`.
pub(super) fn decode(
    d: &mut Decoder,
    node: &Node,
    env: &Environment,
    url: Option<&str>,
) -> Option<PullRequest> {
    let mut f = d.fields(node)?;
    let location = url.and_then(super::git_url::web_location);
    let host = location.as_ref().map(|(host, _)| host.as_str());
    let provider = match f.get(d, "provider", &[]) {
        Some(n) => d.keyword(n, "provider"),
        None => provider_of(d, f.pos, host),
    };
    let api_url = f.get(d, "apiUrl", &[]).and_then(|n| {
        let api = d.text(n)?;
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            d.error(n.pos, "apiUrl must be an http:// or https:// URL");
        }
        Some(api.trim_end_matches('/').to_string())
    });
    let project = f.get(d, "project", &[]).and_then(|n| project(d, n));
    let token = secret(d, &mut f, env, "tokenEnv", "tokenFile");
    let app_id = f
        .get(d, "appId", &[])
        .and_then(|n| d.whole_number(n, 1, u64::MAX >> 1));
    let installation_id = f
        .get(d, "installationId", &[])
        .and_then(|n| d.whole_number(n, 1, u64::MAX >> 1));
    let private_key_file = f
        .get(d, "privateKeyFile", &[])
        .and_then(|n| existing_file(d, n, env, "GitHub App private key"));
    let branch_node = f.get(d, "branch", &[]);
    let branch = branch_node
        .and_then(|n| d.text(n))
        .unwrap_or_else(|| DEFAULT_BRANCH.to_string());
    let group_by = f
        .get(d, "groupBy", &[])
        .and_then(|n| d.keyword(n, "groupBy"))
        .unwrap_or(GroupBy::Repo);
    let title = f.get(d, "title", &[]).and_then(|n| d.text(n));
    let body = f.get(d, "body", &[]).and_then(|n| d.text(n));
    let labels = f.get(d, "labels", &[]).map(|n| d.strings(n));
    let reviewers = f.get(d, "reviewers", &[]).map(|n| d.strings(n));
    let assignees = f.get(d, "assignees", &[]).map(|n| d.strings(n));
    let draft = f.get(d, "draft", &[]).and_then(|n| d.bool(n));
    let auto_merge = f.get(d, "autoMerge", &[]).and_then(|n| d.bool(n));
    f.finish(d);

    check_branch_template(
        d,
        branch_node.map_or(node.pos, |n| n.pos),
        &branch,
        group_by,
    );
    let provider = provider?;
    let auth = match (token, app_id, installation_id, private_key_file) {
        (Some(token), None, None, None) => ForgeAuth::Token(token),
        (None, Some(app_id), Some(installation_id), Some(private_key_file))
            if provider == Provider::Github =>
        {
            ForgeAuth::GithubApp {
                app_id,
                installation_id,
                private_key_file,
            }
        }
        (None, Some(_), Some(_), Some(_)) => {
            d.error(node.pos, "GitHub App authentication is for provider github");
            return None;
        }
        _ => {
            d.error(
                node.pos,
                "give tokenEnv or tokenFile, or (GitHub) appId, installationId and privateKeyFile",
            );
            return None;
        }
    };
    let api_url = api_url.or_else(|| host.map(|host| default_api(provider, host)));
    let project = project.or_else(|| location.as_ref().map(|(_, path)| path.clone()));
    let (api_url, project) = match (api_url, project) {
        (Some(api), Some(project)) => (api, project),
        (None, _) => {
            d.error(
                node.pos,
                "give apiUrl: the git URL does not name a forge host",
            );
            return None;
        }
        (_, None) => {
            d.error(
                node.pos,
                "give project (owner/repo): the git URL does not name one",
            );
            return None;
        }
    };
    Some(PullRequest {
        provider,
        api_url,
        project,
        auth,
        branch,
        group_by,
        title,
        body,
        labels: labels.unwrap_or_default(),
        reviewers: reviewers.unwrap_or_default(),
        assignees: assignees.unwrap_or_default(),
        draft: draft.unwrap_or(false),
        auto_merge: auto_merge.unwrap_or(false),
    })
}

/// The forge a well-known host is; an error (located at the `pullRequest` mapping) otherwise.
fn provider_of(d: &mut Decoder, pos: Pos, host: Option<&str>) -> Option<Provider> {
    match host {
        Some("github.com") => Some(Provider::Github),
        Some("gitlab.com") => Some(Provider::Gitlab),
        Some("codeberg.org") => Some(Provider::Gitea),
        _ => {
            d.error(
                pos,
                "give provider (github, gitlab or gitea): the git URL does not say",
            );
            None
        }
    }
}

/// `owner/repo` (or `group/sub/project`), each part plain.
fn project(d: &mut Decoder, node: &Node) -> Option<String> {
    let project = d.text(node)?;
    let plain = project.split('/').count() >= 2
        && project.split('/').all(|part| {
            !part.is_empty()
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        });
    if !plain {
        d.error(
            node.pos,
            format!("invalid project {project:?}: expected owner/repo (or group/sub/project)"),
        );
    }
    Some(project)
}

/// A branch template gives each group a branch of its own, and a name git takes.
fn check_branch_template(d: &mut Decoder, pos: Pos, branch: &str, group_by: GroupBy) {
    if !branch.contains("{group}") && group_by != GroupBy::Repo {
        d.error(
            pos,
            "branch must contain {group} when groupBy is rule or image: each group needs a branch of its own",
        );
    }
    let sample = branch
        .replace("{repo}", "repo")
        .replace("{group}", "group")
        .replace("{branch}", "main");
    if !git2::Reference::is_valid_name(&format!("refs/heads/{sample}")) || sample.contains('{') {
        d.error(
            pos,
            format!("branch {branch:?} does not make a valid branch name (placeholders: {{repo}}, {{group}}, {{branch}})"),
        );
    }
}

/// The public service's API for its host, else where a self-hosted install serves it.
fn default_api(provider: Provider, host: &str) -> String {
    match (provider, host) {
        (Provider::Github, "github.com") => "https://api.github.com".into(),
        (Provider::Github, host) => format!("https://{host}/api/v3"),
        (Provider::Gitlab, host) => format!("https://{host}/api/v4"),
        (Provider::Gitea, host) => format!("https://{host}/api/v1"),
    }
}
