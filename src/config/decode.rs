//! The schema: decodes the located YAML tree into a [`Config`], collecting every problem.
//!
//! Keys are camelCase; the Go laminar's spellings are accepted as aliases.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::fields::Decoder;
use super::yaml::{Node, Pos, Value};
use super::{
    Config, Environment, RemoteConfig, Repo, SecretSource, Signing, SigningFormat, UpdateRule,
    repo_relative,
};
use crate::policy::{Order, Pattern, Policy, PolicyError, Window, compile_glob};

const DEFAULT_POLL: Duration = Duration::from_secs(60);

/// Decodes a whole config file. The config is only meaningful if the decoder holds no errors.
pub(super) fn config(doc: &Node, d: &mut Decoder, env: &Environment) -> Config {
    let mut config = Config {
        global: super::global::default(env),
        registries: Vec::new(),
        repos: Vec::new(),
        notifications: Vec::new(),
        webhooks: Vec::new(),
    };
    let Some(mut top) = d.fields(doc) else {
        return config;
    };
    if let Some(node) = top.get(d, "global", &[]) {
        config.global = super::global::decode(d, node, env);
    }
    if let Some(node) = top.require(d, "dockerRegistries", &[]) {
        config.registries = super::registries::decode(d, node, env);
    }
    if let Some(node) = top.get(d, "helmRepositories", &[]) {
        let known: HashSet<_> = config.registries.iter().map(|r| r.id()).collect();
        let charts = super::helm_repositories::decode(d, node, env, &known);
        config.registries.extend(charts);
    }
    if let Some(node) = top.require(d, "git", &[]) {
        config.repos = repos(d, node, env);
    }
    if let Some(node) = top.get(d, "notifications", &[]) {
        let repos: HashSet<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
        config.notifications = uniquely_named(
            d,
            node,
            "notification",
            |d, item| super::notifications::decode(d, item, env, &repos),
            |n| &n.name,
        );
    }
    if let Some(node) = top.get(d, "webhooks", &[]) {
        config.webhooks = uniquely_named(
            d,
            node,
            "webhook",
            |d, item| super::webhook::decode(d, item, env),
            |w| &w.name,
        );
    }
    top.finish(d);
    super::chain::resolve(d, &mut config.repos);
    for repo in &mut config.repos {
        if repo.signing.is_none() {
            repo.signing = config.global.signing.clone();
        }
    }
    config
}

/// A repo's own `.laminar.yaml`.
pub(super) fn remote(doc: &Node, d: &mut Decoder) -> RemoteConfig {
    let mut remote = RemoteConfig::default();
    let Some(mut top) = d.fields(doc) else {
        return remote;
    };
    if let Some(node) = top.get(d, "updates", &[]) {
        remote.updates = updates(d, node, None);
    }
    if let Some(node) = top.get(d, "exec", &["preCommitCommands"]) {
        remote.exec = d.strings(node);
    }
    top.finish(d);
    remote
}

/// A list whose items must have distinct names; a repeated name is reported where it repeats.
pub(super) fn uniquely_named<T>(
    d: &mut Decoder,
    node: &Node,
    what: &str,
    decode: impl Fn(&mut Decoder, &Node) -> Option<T>,
    name: impl Fn(&T) -> &str,
) -> Vec<T> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for item in d.list(node) {
        let Some(value) = decode(d, item) else {
            continue;
        };
        if !names.insert(name(&value).to_string()) {
            d.error(
                item.pos,
                format!("duplicate {what} name \"{}\"", name(&value)),
            );
        }
        out.push(value);
    }
    out
}

fn repos(d: &mut Decoder, node: &Node, env: &Environment) -> Vec<Repo> {
    uniquely_named(d, node, "repo", |d, item| repo(d, item, env), |r| &r.name)
}

fn repo(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Repo> {
    let mut f = d.fields(node)?;
    let name = f.require(d, "name", &[]).and_then(|n| repo_name(d, n));
    let url = f.require(d, "url", &[]).and_then(|n| d.text(n));
    let branch = f.require(d, "branch", &[]).and_then(|n| d.text(n));
    let key = f
        .get(d, "key", &[])
        .and_then(|n| existing_file(d, n, env, "SSH key"));
    let key_passphrase = secret(d, &mut f, env, "keyPassphraseEnv", "keyPassphraseFile");
    let known_hosts = f
        .get(d, "knownHosts", &[])
        .and_then(|n| existing_file(d, n, env, "known_hosts file"));
    let skip_host_keys = f
        .get(d, "insecureSkipHostKeyVerification", &[])
        .and_then(|n| d.bool(n));
    let username = f.get(d, "username", &[]).and_then(|n| d.text(n));
    let password = secret(d, &mut f, env, "passwordEnv", "passwordFile");
    let poll_freq = f.get(d, "pollFreq", &[]).and_then(|n| seconds(d, n));
    let remote_config = f.get(d, "remoteConfig", &[]).and_then(|n| d.bool(n));
    let exec = f
        .get(d, "exec", &["preCommitCommands"])
        .map(|n| d.strings(n))
        .unwrap_or_default();
    let exec_env = f
        .get(d, "execEnv", &[])
        .map(|n| env_names(d, n))
        .unwrap_or_default();
    let exec_paths = f.get(d, "execPaths", &[]).map(|n| paths(d, n));
    let signing = f.get(d, "signing", &[]).and_then(|n| signing(d, n, env));
    let pull_request = f
        .get(d, "pullRequest", &[])
        .and_then(|n| super::pull_request::decode(d, n, env, url.as_deref()));
    // The forge a chain reads this repo's commit checks from, in pull-request mode's terms.
    let forge = f
        .get(d, "forge", &[])
        .and_then(|n| super::pull_request::decode(d, n, env, url.as_deref()));
    let updates = f.require(d, "updates", &[]).map(|n| {
        if is_empty_list(n) {
            d.error(n.pos, "updates must list at least one rule");
        }
        updates(d, n, Some(env))
    });
    f.finish(d);
    Some(Repo {
        name: name?,
        url: url?,
        branch: branch?,
        key,
        key_passphrase,
        known_hosts,
        insecure_skip_host_key_verification: skip_host_keys.unwrap_or(false),
        username,
        password,
        poll_freq: poll_freq.unwrap_or(DEFAULT_POLL),
        remote_config: remote_config.unwrap_or(false),
        exec,
        exec_env,
        exec_paths,
        updates: updates?,
        signing,
        pull_request,
        forge,
    })
}

/// `format: ssh | openpgp`, `keyFile`, and the key's passphrase if it has one.
pub(super) fn signing(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Signing> {
    let mut f = d.fields(node)?;
    let format: Option<SigningFormat> = f
        .require(d, "format", &[])
        .and_then(|n| d.keyword(n, "signing format"));
    let key_file = f
        .require(d, "keyFile", &[])
        .and_then(|n| existing_file(d, n, env, "signing key"));
    let passphrase = secret(d, &mut f, env, "passphraseEnv", "passphraseFile");
    f.finish(d);
    Some(Signing {
        format: format?,
        key_file: key_file?,
        passphrase,
    })
}

/// Names of environment variables passed on to exec actions.
pub(super) fn env_names(d: &mut Decoder, node: &Node) -> Vec<String> {
    let names = d.strings(node);
    let valid = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(bad) = names.iter().find(|n| !valid(n)) {
        d.error(
            node.pos,
            format!("invalid environment variable name {bad:?} in execEnv"),
        );
    }
    names
}

/// A secret given by environment variable name or by file, not both.
pub(super) fn secret(
    d: &mut Decoder,
    f: &mut super::fields::Fields<'_>,
    env: &Environment,
    env_key: &'static str,
    file_key: &'static str,
) -> Option<SecretSource> {
    let from_env = f.get(d, env_key, &[]);
    let from_file = f.get(d, file_key, &[]);
    match (from_env, from_file) {
        (Some(a), Some(_)) => {
            d.error(a.pos, format!("give only one of {env_key} and {file_key}"));
            None
        }
        (Some(n), None) => d.text(n).map(SecretSource::Env),
        (None, Some(n)) => existing_file(d, n, env, "secret file").map(SecretSource::File),
        (None, None) => None,
    }
}

/// Repo names appear in metrics labels, URLs and paths: keep them plain.
pub(super) fn repo_name(d: &mut Decoder, node: &Node) -> Option<String> {
    plain_name(d, node, "repo")
}

/// A name of letters, digits, `.`, `_` and `-`; `what` names it in the error.
pub(super) fn plain_name(d: &mut Decoder, node: &Node, what: &str) -> Option<String> {
    let name = d.text(node)?;
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain {
        d.error(
            node.pos,
            format!("invalid {what} name {name:?}: use letters, digits, '.', '_' and '-'"),
        );
        return None;
    }
    Some(name)
}

/// A path the config points at on this machine. A missing file is only a warning: configs
/// are often checked away from where they run.
pub(super) fn existing_file(
    d: &mut Decoder,
    node: &Node,
    env: &Environment,
    what: &str,
) -> Option<PathBuf> {
    let path = env.expand_home(&d.text(node)?);
    if !path.exists() {
        d.warn(
            node.pos,
            format!("{what} {} does not exist on this machine", path.display()),
        );
    }
    Some(path)
}

/// Whole seconds, or a number with an `s`, `m` or `h` suffix. Must be at least one second.
pub(super) fn seconds(d: &mut Decoder, node: &Node) -> Option<Duration> {
    let parsed = match &node.value {
        Value::Int(n) => u64::try_from(*n)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs),
        Value::Str(text) => super::parse_duration(text),
        _ => None,
    };
    if parsed.is_none() {
        d.error(
            node.pos,
            "expected a positive number of seconds (or e.g. \"90s\", \"5m\", \"1h\", \"3d\")",
        );
    }
    parsed
}

/// The `updates:` list of a repo (also the schema of a repo's own `.laminar.yaml`, where `env`
/// is `None`: a repo may not choose whom its images are trusted from).
pub(super) fn updates(d: &mut Decoder, node: &Node, env: Option<&Environment>) -> Vec<UpdateRule> {
    d.list(node)
        .iter()
        .filter_map(|item| update_rule(d, item, env))
        .collect()
}

fn update_rule(d: &mut Decoder, node: &Node, env: Option<&Environment>) -> Option<UpdateRule> {
    let mut f = d.fields(node)?;
    let follows = matches!(&node.value, Value::Map(entries) if entries.iter().any(|(k, _)| k.name == "follow"));
    let pattern_node = match follows {
        true => f.get(d, "pattern", &[]),
        false => f.require(d, "pattern", &[]),
    };
    let pattern = pattern_node.and_then(|n| {
        let text = d.text(n)?;
        let pattern = Pattern::parse(&text)
            .map_err(|e| d.error(n.pos, e.to_string()))
            .ok()?;
        if let Some((version, now)) = pattern.cargo_reading_differs() {
            let verb = if now { "now matches" } else { "no longer matches" };
            d.warn(
                n.pos,
                format!("{text} is read as Flux, Argo CD Image Updater and the Go laminar read it (Masterminds semver), not as Cargo reads it: {version} {verb}"),
            );
        }
        Some(pattern)
    });
    let files = f.require(d, "files", &[]).and_then(|n| {
        if is_empty_list(n) {
            d.error(n.pos, "files must list at least one file or directory");
        }
        let files = paths(d, n);
        (!files.is_empty()).then_some(files)
    });
    let exclude = f
        .get(d, "exclude", &["blacklist"])
        .map(|n| excludes(d, n))
        .unwrap_or_default();
    let sort = f.get(d, "sort", &[]).and_then(|n| {
        let text = d.text(n)?;
        text.parse::<Order>().map_err(|e| d.error(n.pos, e)).ok()
    });
    let extract_node = f.get(d, "extract", &[]);
    let extract = extract_node.and_then(|n| d.text(n));
    let order_node = f.get(d, "order", &[]);
    let descending = match order_node.and_then(|n| Some((n, d.text(n)?))) {
        Some((_, text)) if text == "desc" => true,
        Some((n, text)) if text != "asc" => {
            d.error(
                n.pos,
                format!("unknown order {text:?}: expected asc or desc"),
            );
            false
        }
        _ => false,
    };
    let range_node = f.get(d, "range", &[]);
    let range = range_node.and_then(|n| d.text(n));
    let min_age = f.get(d, "minAge", &[]).and_then(|n| seconds(d, n));
    let gate = f.get(d, "verify", &[]).and_then(|n| match env {
        Some(env) => super::verify::gate(d, n, env),
        None => {
            d.error(
                n.pos,
                "verify is set by the operator's config, not a repo's own",
            );
            None
        }
    });
    let pin_digest = f.get(d, "pin", &[]).and_then(|n| {
        let text = d.text(n)?;
        match text.as_str() {
            "digest" => Some(true),
            _ => {
                d.error(n.pos, format!("unknown pin {text:?}: expected digest"));
                None
            }
        }
    });
    let chain = super::chain::decode(d, &mut f, env, pattern_node.is_some());
    let window = f.get(d, "window", &[]).and_then(|n| {
        let text = d.text(n)?;
        Window::parse(&text).map_err(|e| d.error(n.pos, e)).ok()
    });
    f.finish(d);
    let pattern = match (pattern_node, &chain.follow) {
        (None, Some(_)) => {
            for (set, key) in [
                (sort.is_some(), "sort"),
                (extract.is_some(), "extract"),
                (order_node.is_some(), "order"),
            ] {
                if set {
                    d.error(node.pos, format!("{key} needs a pattern: a following rule without one orders tags as the rule it follows"));
                }
            }
            Pattern::parse("glob:*").ok()
        }
        _ => pattern,
    };
    let policy = Policy::new(pattern?, &exclude, sort, extract.as_deref())
        .and_then(|p| if descending { p.descending() } else { Ok(p) })
        .and_then(|p| match &range {
            Some(range) => p.with_range(range),
            None => Ok(p),
        })
        .map(|p| match min_age {
            Some(min_age) => p.with_min_age(min_age),
            None => p,
        });
    let policy = policy
        .map_err(|e| {
            let at = |n: Option<&Node>| n.map_or(node.pos, |n| n.pos);
            let pos = match e {
                PolicyError::Exclude(..) => node.pos,
                PolicyError::DescendingOrder => at(order_node),
                PolicyError::Range(_) => at(range_node),
                _ => at(extract_node),
            };
            d.error(pos, e.to_string())
        })
        .ok()?;
    Some(UpdateRule {
        policy,
        files: files?,
        gate,
        pin_digest: pin_digest.unwrap_or(false),
        name: chain.name,
        follow: chain.follow.map(Arc::new),
        window,
        at: node.pos,
    })
}

fn is_empty_list(node: &Node) -> bool {
    matches!(&node.value, Value::Seq(items) if items.is_empty())
}

/// `["dev/", …]` or the Go laminar's `[{path: dev/}, …]`.
fn paths(d: &mut Decoder, node: &Node) -> Vec<PathBuf> {
    checked_list(d, node, "path", |text| {
        repo_relative(text).map_err(|why| format!("invalid path {text:?}: {why}"))
    })
}

/// `["*-canary", …]` or the Go laminar's `[{pattern: "*-canary"}, …]`; globs on the tag.
fn excludes(d: &mut Decoder, node: &Node) -> Vec<String> {
    checked_list(d, node, "pattern", |glob| match compile_glob(glob) {
        Ok(_) => Ok(glob.to_string()),
        Err(why) => Err(format!("invalid exclude glob {glob:?}: {why}")),
    })
}

/// A list of strings, each written plainly or as a one-key mapping `{field: …}`, each checked
/// by `check`; the items that fail are reported where they stand.
fn checked_list<T>(
    d: &mut Decoder,
    node: &Node,
    field: &'static str,
    check: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    let mut out = Vec::new();
    for item in d.list(node) {
        let Some((text, pos)) = string_or_field(d, item, field) else {
            continue;
        };
        match check(&text) {
            Ok(value) => out.push(value),
            Err(message) => d.error(pos, message),
        }
    }
    out
}

/// A plain string, or a one-key mapping holding it under `field`.
fn string_or_field(d: &mut Decoder, item: &Node, field: &'static str) -> Option<(String, Pos)> {
    if let Value::Map(_) = item.value {
        let mut f = d.fields(item)?;
        let node = f.require(d, field, &[]);
        f.finish(d);
        let node = node?;
        return Some((d.text(node)?, node.pos));
    }
    Some((d.text(item)?, item.pos))
}
