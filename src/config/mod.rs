//! Configuration: the YAML file read into a located tree, then decoded and validated into a
//! [`Config`] that holds compiled matchers, never raw strings to re-parse later.

mod decode;
mod diagnostic;
mod fields;
mod yaml;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use diagnostic::{ConfigError, Diagnostic, Located};
pub use yaml::Pos;

use crate::policy::Policy;

/// The default config file, in the working directory.
pub const DEFAULT_PATH: &str = "laminar.yaml";

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: Global,
    pub registries: Vec<Registry>,
    pub repos: Vec<Repo>,
}

#[derive(Clone, Debug)]
pub struct Global {
    /// Commit author and committer name.
    pub git_user: String,
    pub git_email: String,
    /// Commit message template; the default message is used when absent.
    pub commit_message: Option<String>,
    /// Working copies and caches.
    pub data_dir: PathBuf,
    /// HTTP listen address for metrics, health and the API.
    pub listen: SocketAddr,
    /// May a repo's own `.laminar.yaml` declare exec actions?
    pub allow_remote_exec: bool,
}

/// A registry whose images laminar manages.
#[derive(Clone, Debug)]
pub struct Registry {
    /// Prefix searched for in files, without a trailing `/`.
    pub prefix: String,
    /// Unique name, for logs and metrics.
    pub name: String,
    /// Speak plain HTTP (local registries).
    pub insecure: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// A git repository and the rules that keep its image tags current.
#[derive(Clone, Debug)]
pub struct Repo {
    /// Unique name, for logs, metrics and the API.
    pub name: String,
    pub url: String,
    pub branch: String,
    /// SSH private key.
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub poll_freq: Duration,
    /// Also read `.laminar.yaml` from the repo.
    pub remote_config: bool,
    /// Shell commands run in the checkout after rewriting, before committing.
    pub exec: Vec<String>,
    pub updates: Vec<UpdateRule>,
}

/// Which files to search, and how to pick tags for the references found there.
#[derive(Clone, Debug)]
pub struct UpdateRule {
    pub policy: Policy,
    /// Files or directories relative to the repo root, normalised (`.` is the whole repo).
    pub files: Vec<PathBuf>,
}

impl UpdateRule {
    /// Does this rule's `files` cover the file at `path` (relative to the repo root)?
    pub fn covers(&self, path: &Path) -> bool {
        self.files
            .iter()
            .any(|f| f == Path::new(".") || path.starts_with(f))
    }
}

impl Repo {
    /// The first rule that covers `path` and whose pattern matches the current `tag`: the
    /// rule that manages that reference. A tag's channel decides, so `develop-*` and
    /// `release-*` references in one file follow different rules.
    pub fn rule_for(&self, path: &Path, tag: &str) -> Option<&UpdateRule> {
        self.updates
            .iter()
            .find(|rule| rule.covers(path) && rule.policy.manages(tag))
    }

    /// Every configured path of every rule, without repeats.
    pub fn scan_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.updates.iter().flat_map(|r| r.files.clone()).collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

impl Config {
    /// Registry prefixes in config order, for the scanner.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.registries.iter().map(|r| r.prefix.as_str())
    }

    pub fn update_rule_count(&self) -> usize {
        self.repos.iter().map(|r| r.updates.len()).sum()
    }
}

/// A config and what was worth saying about it without rejecting it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Option<Located>,
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, &Environment::from_process())
}

/// Validates config text; `file` is only used in messages.
pub fn parse(file: &Path, text: &str, env: &Environment) -> Result<Loaded, ConfigError> {
    let located = |mut diagnostics: Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| d.pos);
        Located {
            file: file.to_path_buf(),
            diagnostics,
        }
    };
    let doc = yaml::parse(text).map_err(|e| {
        ConfigError::Invalid(located(vec![Diagnostic {
            pos: e.pos,
            message: e.message,
        }]))
    })?;
    let (config, decoder) = decode::config(&doc, env);
    if !decoder.errors.is_empty() {
        return Err(ConfigError::Invalid(located(decoder.errors)));
    }
    Ok(Loaded {
        config,
        warnings: (!decoder.warnings.is_empty()).then(|| located(decoder.warnings)),
    })
}

/// What of the process environment the config depends on, so tests can fix it.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Environment {
            home: var("HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
        }
    }

    /// Expands a leading `~` to the home directory.
    pub fn expand_home(&self, path: &str) -> PathBuf {
        match (path.strip_prefix('~'), &self.home) {
            (Some(""), Some(home)) => home.clone(),
            (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
            _ => PathBuf::from(path),
        }
    }

    fn default_data_dir(&self) -> PathBuf {
        match &self.xdg_state_home {
            Some(state) => state.join("laminar"),
            None => PathBuf::from(".laminar"),
        }
    }
}

/// A path inside a repo: relative, without `..`; `./` parts and trailing `/` removed.
fn repo_relative(path: &str) -> Result<PathBuf, &'static str> {
    let p = Path::new(path);
    let mut clean = PathBuf::new();
    for component in p.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("must not contain \"..\""),
            Component::RootDir | Component::Prefix(_) => {
                return Err("must be relative to the repository root");
            }
        }
    }
    if clean.as_os_str().is_empty() {
        clean.push(".");
    }
    Ok(clean)
}

#[cfg(test)]
mod tests;
