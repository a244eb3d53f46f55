//! Configuration: the YAML file read into a located tree, then decoded and validated into a
//! [`Config`] that holds compiled matchers, never raw strings to re-parse later.

mod chain;
mod decode;
mod diagnostic;
mod fields;
pub mod git_url;
mod global;
mod helm_repositories;
mod notifications;
mod pull_request;
mod registries;
pub mod schema;
mod shards;
mod verify;
mod webhook;
mod yaml;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use chain::{Follow, Health};
pub use diagnostic::{ConfigError, Diagnostic, Located};
pub use global::{HttpLimits, Network};
pub use pull_request::{ForgeAuth, GroupBy, Provider, PullRequest};
pub use shards::Shards;
pub use webhook::{Webhook, WebhookKind};
pub use yaml::Pos;

pub use crate::image::RegistryId;
pub use crate::secret::SecretSource;

use crate::image::scanner::{Scanner, ScannerError};
use crate::policy::Policy;
use crate::trust::Gate;

/// The default config file, in the working directory.
pub const DEFAULT_PATH: &str = "laminar.yaml";

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: Global,
    pub registries: Vec<Registry>,
    pub repos: Vec<Repo>,
    pub notifications: Vec<Notification>,
    /// Receivers of registry push events.
    pub webhooks: Vec<Webhook>,
}

/// Where to tell people what laminar did and what broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub name: String,
    pub kind: NotificationKind,
    /// The incoming-webhook URL: itself a secret for Slack, Teams and Discord.
    pub url: SecretSource,
    /// `webhook` only: the HMAC-SHA256 key the body is signed with.
    pub secret: Option<SecretSource>,
    /// Only these repos' events; `None`: every repo's.
    pub repos: Option<Vec<String>>,
    pub events: Vec<EventKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    Slack,
    Teams,
    Discord,
    Webhook,
}

impl fields::Keyword for NotificationKind {
    const ALL: &'static [(&'static str, NotificationKind)] = &[
        ("slack", NotificationKind::Slack),
        ("teams", NotificationKind::Teams),
        ("discord", NotificationKind::Discord),
        ("webhook", NotificationKind::Webhook),
    ];
}

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A commit was pushed.
    Updated,
    /// A repo's cycles started failing.
    Failed,
    /// A failing repo's cycle succeeded again.
    Recovered,
    /// A push lost every race with other writers this cycle.
    PushGaveUp,
    /// A commit not made by laminar moved references back; they are held there.
    RolledBack,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Updated,
        EventKind::Failed,
        EventKind::Recovered,
        EventKind::PushGaveUp,
        EventKind::RolledBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Updated => "updated",
            EventKind::Failed => "failed",
            EventKind::Recovered => "recovered",
            EventKind::PushGaveUp => "push-gave-up",
            EventKind::RolledBack => "rolled-back",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Global {
    /// Commit author and committer name.
    pub git_user: String,
    pub git_email: String,
    /// Commit message template; the default message is used when absent.
    pub commit_message: Option<String>,
    /// Template of the line each change gets in a commit message.
    pub commit_change_line: Option<String>,
    /// Attempts at pushing one change before the cycle gives up (push races).
    pub push_attempts: u32,
    /// Working copies and caches.
    pub data_dir: PathBuf,
    /// HTTP listen address for metrics, health and the API.
    pub listen: SocketAddr,
    /// May a repo's own `.laminar.yaml` declare exec actions?
    pub allow_remote_exec: bool,
    /// Repo cycles running at once.
    pub max_concurrent_repos: usize,
    /// How long running cycles may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// How long one exec action may run.
    pub exec_timeout: Duration,
    /// Environment variables exec actions may see, besides `PATH`, `HOME`, the locale and the
    /// `LAMINAR_*` change description: actions start from an empty environment.
    pub exec_env: Vec<String>,
    /// File holding the API token (else `LAMINAR_API_TOKEN`; with neither, triggers are off).
    pub api_token_file: Option<PathBuf>,
    /// How commits are signed in repos that do not say.
    pub signing: Option<Signing>,
    /// Who may see the status page at `/`.
    pub status_page: StatusPage,
    /// Who may read `/metrics` (it names every repo and image).
    pub metrics_auth: MetricsAuth,
    /// What the HTTP server allows its clients.
    pub http: HttpLimits,
    /// Proxies whose `X-Forwarded-Proto` is believed (to mark the status cookie `Secure`).
    pub trusted_proxies: Vec<Network>,
    /// Holds kept at most: each is a line in every plan's lookups.
    pub max_holds: usize,
    /// Several pods share the repos (`None`: one process has them all).
    pub shards: Option<Shards>,
}

/// Access to `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAuth {
    /// Anyone who can reach it, as Prometheus scrapes by default.
    Public,
    /// The API token as a bearer token (Prometheus' `authorization` setting).
    Token,
}

impl fields::Keyword for MetricsAuth {
    const ALL: &'static [(&'static str, MetricsAuth)] = &[
        ("public", MetricsAuth::Public),
        ("token", MetricsAuth::Token),
    ];
}

impl fields::Keyword for StatusPage {
    const ALL: &'static [(&'static str, StatusPage)] = &[
        ("token", StatusPage::Token),
        ("public", StatusPage::Public),
        ("off", StatusPage::Off),
    ];
}

/// Access to the status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusPage {
    /// The API token, asked for once and kept in a cookie.
    Token,
    /// Anyone who can reach it (behind an authenticating proxy, say).
    Public,
    /// Not served.
    Off,
}

/// A registry whose images laminar manages.
#[derive(Clone, Debug)]
pub struct Registry {
    /// Prefix searched for in files, without a trailing `/`.
    pub prefix: String,
    /// Unique name, for logs and metrics.
    pub name: String,
    pub kind: RegistryKind,
    /// Speak plain HTTP (local registries).
    pub insecure: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Which image of a multi-platform index to read creation times from.
    pub platform: Platform,
    /// Requests per second (token bucket).
    pub rate_limit: f64,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Tags may be moved to other images: re-resolve tag→digest every cycle.
    pub mutable_tags: bool,
    /// Where the registry API is reached instead of the host references name (a mirror, a
    /// pull-through cache).
    pub endpoint: Option<Endpoint>,
    /// Caps on one image's tag listing.
    pub limits: ListLimits,
    /// Credentials; `None` means the default for the kind (AWS chain, or docker config if it
    /// has an entry for the host, else anonymous).
    pub auth: Option<RegistryAuth>,
    pub ecr: EcrOptions,
    /// What every tag of this registry must carry to be chosen, unless a rule says otherwise.
    pub gate: Option<Arc<Gate>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryKind {
    /// An OCI distribution registry (Docker Hub, GHCR, Quay, Harbor, …).
    Oci,
    /// AWS ECR, through its own API.
    Ecr,
    /// Docker Hub, through its own API (hub.docker.com), which gives push times.
    Dockerhub,
    /// Quay (quay.io or self-hosted), through its API, which gives push times.
    Quay,
    /// Harbor, through its API, which gives push times.
    Harbor,
    /// GitHub's registry through the GitHub Packages API (needs a token), which gives the
    /// time each version was last updated.
    Ghcr,
    /// Google Artifact Registry: tags through the registry protocol, push times through the
    /// Artifact Registry API (needs a Google access token).
    Gar,
    /// Azure Container Registry: tags through the registry protocol, push times through its
    /// `/acr/v1` API.
    Acr,
    /// A classic Helm chart repository (`helmRepositories:`): chart versions and their
    /// creation times from its `index.yaml`.
    HelmIndex,
}

impl fields::Keyword for RegistryKind {
    const ALL: &'static [(&'static str, RegistryKind)] = &[
        ("oci", RegistryKind::Oci),
        ("ecr", RegistryKind::Ecr),
        ("dockerhub", RegistryKind::Dockerhub),
        ("quay", RegistryKind::Quay),
        ("harbor", RegistryKind::Harbor),
        ("ghcr", RegistryKind::Ghcr),
        ("gar", RegistryKind::Gar),
        ("acr", RegistryKind::Acr),
    ];
}

impl RegistryKind {
    /// What a tag's time is on this kind of registry: when the tag was pushed, or when its
    /// image was built.
    pub fn time_source(self) -> &'static str {
        match self {
            RegistryKind::Ecr
            | RegistryKind::Dockerhub
            | RegistryKind::Quay
            | RegistryKind::Harbor
            | RegistryKind::Ghcr
            | RegistryKind::Gar
            | RegistryKind::Acr => "pushed",
            RegistryKind::Oci | RegistryKind::HelmIndex => "created",
        }
    }
}

/// ECR specifics; region and account default to those in the registry host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EcrOptions {
    pub region: Option<String>,
    /// The AWS account id owning the repositories.
    pub registry_id: Option<String>,
    /// A role to assume for the ECR calls.
    pub role_arn: Option<String>,
}

/// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts
                    .get(2)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.to_string()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected os/architecture[/variant]"
            )),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// How to authenticate to a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Username and a secret read when needed, never stored in the config.
    Basic {
        username: String,
        password: SecretSource,
    },
    /// A docker `config.json`: `auths`, `credHelpers`, `credsStore`.
    DockerConfig(PathBuf),
    Anonymous,
    /// The platform's workload identity, exchanged for registry credentials.
    Identity(CloudIdentity),
}

/// Where a cloud identity's first token comes from, fixed when the config is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CloudIdentity {
    /// The GCE/GKE metadata server (`GCE_METADATA_HOST`, else `metadata.google.internal`).
    Gcp { metadata_host: String },
    /// Azure workload identity: the federated token file the AKS webhook mounts, traded at
    /// Entra ID (`AZURE_AUTHORITY_HOST`) for an access token, traded at the registry for a
    /// refresh token.
    Azure {
        client_id: String,
        tenant_id: String,
        token_file: PathBuf,
        authority: String,
    },
}

/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]` → (account, region).
pub fn ecr_host(host: &str) -> Option<(&str, &str)> {
    let host = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let (account, region) = host.split_once(".dkr.ecr.")?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    (account_ok && !region.is_empty() && !region.contains('.')).then_some((account, region))
}

/// A registry prefix as configured (`reg:`) or given on the command line: `host[:port]`
/// and an optional path in the reference grammar; a trailing `/` is dropped.
pub fn registry_prefix(text: &str) -> Result<String, String> {
    use crate::image::reference::{match_domain, match_remainder};
    let prefix = text.trim_end_matches('/');
    let bytes = prefix.as_bytes();
    let valid = match match_domain(bytes, 0) {
        Some(end) if end == bytes.len() => true,
        Some(end) if bytes[end] == b'/' => match_remainder(bytes, 0, end + 1)
            .is_some_and(|spans| spans.full().end == bytes.len() && spans.tag.is_none()),
        _ => false,
    };
    match valid {
        true => Ok(prefix.to_string()),
        false => Err(format!(
            "invalid registry prefix {text:?}: expected host[:port][/lowercase/path], without a tag"
        )),
    }
}

/// A positive duration: whole seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, factor) = match text.char_indices().last()? {
        (at, 's') => (&text[..at], 1),
        (at, 'm') => (&text[..at], 60),
        (at, 'h') => (&text[..at], 3600),
        (at, 'd') => (&text[..at], 86_400),
        _ => (text, 1),
    };
    let secs = digits.parse::<u64>().ok()?.checked_mul(factor)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Caps on one tag listing: a listing beyond them fails rather than being used partly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListLimits {
    pub max_pages: usize,
    pub max_tags: usize,
    /// Tags whose digest and time are read per image and cycle, where each costs requests
    /// (the registry protocol); the rest wait for later cycles.
    pub lookups_per_cycle: usize,
}

impl Default for ListLimits {
    fn default() -> ListLimits {
        ListLimits {
            max_pages: 200,
            max_tags: 20_000,
            lookups_per_cycle: 100,
        }
    }
}

/// A registry API address: scheme and `host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https`, or `http` for a registry marked `insecure`.
    pub scheme: &'static str,
    pub authority: String,
}

impl Registry {
    /// Default requests per second.
    pub const DEFAULT_RATE_LIMIT: f64 = 10.0;
    pub const DEFAULT_MAX_CONCURRENCY: usize = 4;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A registry with every option at its default; the kind is inferred from the host.
    pub fn new(prefix: &str) -> Registry {
        let ecr_parts = ecr_host(prefix_host(prefix));
        let kind = match ecr_parts {
            Some(_) => RegistryKind::Ecr,
            None if crate::image::hub::is_hub_prefix(prefix) => RegistryKind::Dockerhub,
            None if prefix_host(prefix) == "quay.io" => RegistryKind::Quay,
            None if is_gar_host(prefix_host(prefix)) => RegistryKind::Gar,
            None if is_acr_host(prefix_host(prefix)) => RegistryKind::Acr,
            None => RegistryKind::Oci,
        };
        Registry {
            prefix: prefix.to_string(),
            name: prefix.to_string(),
            kind,
            insecure: false,
            timeout: Registry::DEFAULT_TIMEOUT,
            ca_file: None,
            platform: Platform::default(),
            rate_limit: Registry::DEFAULT_RATE_LIMIT,
            max_concurrency: Registry::DEFAULT_MAX_CONCURRENCY,
            mutable_tags: false,
            endpoint: None,
            limits: ListLimits::default(),
            auth: None,
            ecr: EcrOptions {
                registry_id: ecr_parts.map(|(account, _)| account.to_string()),
                region: ecr_parts.map(|(_, region)| region.to_string()),
                role_arn: None,
            },
            gate: None,
        }
    }

    pub fn id(&self) -> RegistryId {
        RegistryId::new(&self.prefix)
    }

    /// The host (and port) part of the prefix.
    pub fn host(&self) -> &str {
        prefix_host(&self.prefix)
    }
}

/// `<location>-docker.pkg.dev`: an Artifact Registry host.
fn is_gar_host(host: &str) -> bool {
    host.strip_suffix("-docker.pkg.dev")
        .is_some_and(|location| !location.is_empty() && !location.contains('.'))
}

/// `<name>.azurecr.io` (and the sovereign clouds' suffixes): an Azure Container Registry.
fn is_acr_host(host: &str) -> bool {
    [".azurecr.io", ".azurecr.cn", ".azurecr.us"]
        .iter()
        .filter_map(|suffix| host.strip_suffix(suffix))
        .any(|name| !name.is_empty() && !name.contains('.'))
}

fn prefix_host(prefix: &str) -> &str {
    prefix.split('/').next().unwrap_or(prefix)
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
    /// Passphrase of the SSH key, when it has one.
    pub key_passphrase: Option<SecretSource>,
    /// Host keys to trust; `~/.ssh/known_hosts` when absent.
    pub known_hosts: Option<PathBuf>,
    /// Skip host key verification: an explicit, loudly logged opt-in.
    pub insecure_skip_host_key_verification: bool,
    /// HTTPS user (a token's owner, or any name the host accepts with a token).
    pub username: Option<String>,
    /// HTTPS password or token.
    pub password: Option<SecretSource>,
    pub poll_freq: Duration,
    /// Also read `.laminar.yaml` from the repo.
    pub remote_config: bool,
    /// Shell commands run in the checkout after rewriting, before committing.
    pub exec: Vec<String>,
    /// Environment variables this repo's exec actions may see, added to `global.execEnv`.
    pub exec_env: Vec<String>,
    /// The files and directories exec actions read, when they do not need the whole tree.
    pub exec_paths: Option<Vec<PathBuf>>,
    pub updates: Vec<UpdateRule>,
    /// How commits are signed: the repo's own `signing`, else `global.signing`.
    pub signing: Option<Signing>,
    /// Deliver updates as pull requests instead of pushing to `branch`.
    pub pull_request: Option<PullRequest>,
    /// Where a promotion chain reads this repo's commit checks, when it is not in pull-request
    /// mode (the same keys as `pullRequest`).
    pub forge: Option<PullRequest>,
}

/// A key laminar signs its commits with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signing {
    pub format: SigningFormat,
    /// An OpenSSH private key, or an armored OpenPGP secret key.
    pub key_file: PathBuf,
    pub passphrase: Option<SecretSource>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningFormat {
    /// An SSH signature (`gpg.format=ssh`).
    Ssh,
    OpenPgp,
}

impl fields::Keyword for SigningFormat {
    const ALL: &'static [(&'static str, SigningFormat)] = &[
        ("ssh", SigningFormat::Ssh),
        ("openpgp", SigningFormat::OpenPgp),
    ];
}

/// Which files to search, and how to pick tags for the references found there.
#[derive(Clone, Debug)]
pub struct UpdateRule {
    pub policy: Policy,
    /// Files or directories relative to the repo root, normalised (`.` is the whole repo).
    pub files: Vec<PathBuf>,
    /// What a tag's digest must carry to be chosen; when `None`, what the image's registry
    /// demands.
    pub gate: Option<Arc<Gate>>,
    /// `pin: digest`: write `tag@digest` with the digest that was checked.
    pub pin_digest: bool,
    /// By which other rules follow this one.
    pub name: Option<String>,
    /// Candidates come from what another rule's references held, not from a registry.
    pub follow: Option<Arc<Follow>>,
    /// Outside it the rule changes nothing.
    pub window: Option<crate::policy::Window>,
    /// Where the rule is written.
    pub at: Pos,
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
    /// The repos, those whose rules others follow before the followers (config order
    /// otherwise): one pass of `laminar once` then promotes on what the upstream holds now.
    pub fn upstream_first(&self) -> Vec<&Repo> {
        let mut depth: HashMap<&str, usize> = HashMap::new();
        // Repos may follow each other both ways through different rules: a bounded pass.
        for _ in 0..self.repos.len() {
            for repo in &self.repos {
                let below = repo
                    .updates
                    .iter()
                    .filter_map(|rule| rule.follow.as_ref())
                    .filter(|f| f.repo != repo.name)
                    .map(|f| depth.get(f.repo.as_str()).map_or(1, |d| d + 1))
                    .max()
                    .unwrap_or(0);
                depth.insert(&repo.name, below.min(self.repos.len()));
            }
        }
        let mut repos: Vec<&Repo> = self.repos.iter().collect();
        repos.sort_by_key(|r| depth.get(r.name.as_str()).copied().unwrap_or(0));
        repos
    }

    /// The repos outside `chosen` whose rules `chosen` follow, directly or through others,
    /// upstream first.
    pub fn upstreams_of(&self, chosen: &[Repo]) -> Vec<&Repo> {
        let mut wanted: Vec<&str> = Vec::new();
        let mut open: Vec<&Repo> = chosen.iter().collect();
        while let Some(repo) = open.pop() {
            let follows = repo.updates.iter().filter_map(|rule| rule.follow.as_ref());
            for follow in follows {
                let outside = chosen.iter().all(|c| c.name != follow.repo);
                if outside && !wanted.contains(&follow.repo.as_str()) {
                    wanted.push(&follow.repo);
                    open.extend(self.repos.iter().find(|r| r.name == follow.repo));
                }
            }
        }
        self.upstream_first()
            .into_iter()
            .filter(|r| wanted.contains(&r.name.as_str()))
            .collect()
    }

    /// Registry prefixes in config order, for the scanner.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.registries
            .iter()
            .filter(|r| r.kind != RegistryKind::HelmIndex)
            .map(|r| r.prefix.as_str())
    }

    /// The scanner for this config's registries and chart repositories.
    pub fn scanner(&self) -> Result<Scanner, ScannerError> {
        Scanner::new(self.prefixes())?.with_chart_repositories(self.chart_repositories())
    }

    /// The classic Helm repositories, as (name, `host/path` of the URL).
    pub fn chart_repositories(&self) -> impl Iterator<Item = (&str, &str)> {
        self.registries
            .iter()
            .filter(|r| r.kind == RegistryKind::HelmIndex)
            .map(|r| (r.name.as_str(), r.prefix.as_str()))
    }

    /// The registry whose prefix starts `image` (at a `/` boundary), the longest if several.
    pub fn registry_for(&self, image: &str) -> Option<&Registry> {
        self.registries
            .iter()
            .filter(|r| {
                image
                    .strip_prefix(&r.prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|r| r.prefix.len())
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
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(path, utf8(path, &bytes)?, &Environment::from_process())
}

/// Config bytes as text; otherwise a located error at the first byte that is not UTF-8.
pub fn utf8<'b>(file: &Path, bytes: &'b [u8]) -> Result<&'b str, ConfigError> {
    yaml::utf8(bytes).map_err(|e| syntax_error(file, e))
}

fn syntax_error(file: &Path, e: yaml::SyntaxError) -> ConfigError {
    ConfigError::Invalid(Located {
        file: file.to_path_buf(),
        diagnostics: vec![Diagnostic {
            pos: e.pos,
            message: e.message,
        }],
    })
}

/// Validates config text; `file` is only used in messages.
pub fn parse(file: &Path, text: &str, env: &Environment) -> Result<Loaded, ConfigError> {
    let (config, warnings) = decode_text(file, text, |doc, d| decode::config(doc, d, env))?;
    Ok(Loaded { config, warnings })
}

/// Update rules a repo declares for itself in `.laminar.yaml`, added to its configured ones.
#[derive(Clone, Debug, Default)]
pub struct RemoteConfig {
    pub updates: Vec<UpdateRule>,
    /// Exec actions; they run only where `global.allowRemoteExec` allows.
    pub exec: Vec<String>,
}

/// The file a repo's own rules are read from, at its root.
pub const REMOTE_CONFIG_FILE: &str = ".laminar.yaml";

/// Validates a repo's `.laminar.yaml`: `updates` (the config's schema) and `exec`.
pub fn parse_remote(
    file: &Path,
    text: &str,
) -> Result<(RemoteConfig, Option<Located>), ConfigError> {
    decode_text(file, text, decode::remote)
}

/// YAML text → a value decoded by `decode`, every problem located in `file`.
fn decode_text<T>(
    file: &Path,
    text: &str,
    decode: impl FnOnce(&yaml::Node, &mut fields::Decoder) -> T,
) -> Result<(T, Option<Located>), ConfigError> {
    let located = |mut diagnostics: Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| d.pos);
        Located {
            file: file.to_path_buf(),
            diagnostics,
        }
    };
    let doc = yaml::parse(text).map_err(|e| syntax_error(file, e))?;
    let mut decoder = fields::Decoder::default();
    let value = decode(&doc, &mut decoder);
    if !decoder.errors.is_empty() {
        return Err(ConfigError::Invalid(located(decoder.errors)));
    }
    let warnings = (!decoder.warnings.is_empty()).then(|| located(decoder.warnings));
    Ok((value, warnings))
}

/// What of the process environment the config depends on, so tests can fix it.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    /// `GCE_METADATA_HOST`, `AZURE_*`: where cloud identities are found.
    pub cloud: HashMap<&'static str, String>,
}

/// The environment variables cloud identities are configured by.
pub const CLOUD_VARIABLES: [&str; 5] = [
    "GCE_METADATA_HOST",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
];

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
            cloud: CLOUD_VARIABLES
                .into_iter()
                .filter_map(|name| {
                    Some((name, std::env::var(name).ok().filter(|v| !v.is_empty())?))
                })
                .collect(),
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

    pub fn default_data_dir(&self) -> PathBuf {
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
