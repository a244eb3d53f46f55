//! The `global:` section: commit identity, the data dir, the HTTP server and its limits,
//! who may see what, and the daemon's own bounds.

use std::net::SocketAddr;
use std::time::Duration;

use super::decode::{env_names, existing_file, seconds, signing};
use super::fields::{Decoder, Fields};
use super::yaml::Node;
use super::{Environment, Global, MetricsAuth, StatusPage};

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// The HTTP server's limits: a client that is slow or never finishes cannot hold a connection
/// open, and open connections are capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's head must arrive within this, counted from when the connection opened or
    /// its previous response was sent: so it is also how long a kept-alive connection may
    /// stay idle.
    pub header_timeout: Duration,
    /// Connections open at once; further ones wait in the kernel's queue.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// An IP network (`10.0.0.0/8`), or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    /// `address` or `address/prefix`.
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: std::net::IpAddr = address.trim().parse().ok()?;
        let bits = match address {
            std::net::IpAddr::V4(_) => 32,
            std::net::IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= bits)?,
            None => bits,
        };
        Some(Network { address, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.address, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
                (u128::from(n), u128::from(i), 128)
            }
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        host_bits >= bits || (net >> host_bits) == (ip >> host_bits)
    }
}

pub(super) fn default(env: &Environment) -> Global {
    Global {
        git_user: "laminar".into(),
        git_email: "laminar@localhost".into(),
        commit_message: None,
        commit_change_line: None,
        push_attempts: 5,
        data_dir: env.default_data_dir(),
        listen: DEFAULT_LISTEN
            .parse()
            .expect("the default listen address is valid"),
        allow_remote_exec: false,
        max_concurrent_repos: 4,
        shutdown_grace: Duration::from_secs(30),
        exec_timeout: Duration::from_secs(300),
        exec_env: Vec::new(),
        api_token_file: None,
        signing: None,
        status_page: StatusPage::Token,
        metrics_auth: MetricsAuth::Public,
        http: HttpLimits::default(),
        trusted_proxies: Vec::new(),
        max_holds: 1000,
        shards: None,
    }
}

pub(super) fn decode(d: &mut Decoder, node: &Node, env: &Environment) -> Global {
    let mut global = default(env);
    let Some(mut f) = d.fields(node) else {
        return global;
    };
    if let Some(v) = f.get(d, "gitUser", &[]).and_then(|n| d.text(n)) {
        global.git_user = v;
    }
    if let Some(v) = f.get(d, "gitEmail", &[]).and_then(|n| d.text(n)) {
        global.git_email = v;
    }
    global.commit_message = f
        .get(d, "commitMessage", &["gitMessage"])
        .and_then(|n| d.text(n));
    global.commit_change_line = f.get(d, "commitChangeLine", &[]).and_then(|n| d.text(n));
    if let Some(n) = f
        .get(d, "pushAttempts", &[])
        .and_then(|n| d.whole_number(n, 1, 100))
    {
        global.push_attempts = n as u32;
    }
    if let Some(v) = f.get(d, "dataDir", &[]).and_then(|n| d.text(n)) {
        global.data_dir = env.expand_home(&v);
    }
    if let Some(addr) = f.get(d, "listen", &[]).and_then(|n| listen(d, n)) {
        global.listen = addr;
    }
    if let Some(v) = f.get(d, "allowRemoteExec", &[]).and_then(|n| d.bool(n)) {
        global.allow_remote_exec = v;
    }
    if let Some(n) = f
        .get(d, "maxConcurrentRepos", &[])
        .and_then(|n| d.whole_number(n, 1, 256))
    {
        global.max_concurrent_repos = n as usize;
    }
    if let Some(v) = f.get(d, "shutdownGrace", &[]).and_then(|n| seconds(d, n)) {
        global.shutdown_grace = v;
    }
    if let Some(v) = f.get(d, "execTimeout", &[]).and_then(|n| seconds(d, n)) {
        global.exec_timeout = v;
    }
    if let Some(node) = f.get(d, "execEnv", &[]) {
        global.exec_env = env_names(d, node);
    }
    global.api_token_file = f
        .get(d, "apiTokenFile", &[])
        .and_then(|n| existing_file(d, n, env, "API token file"));
    global.signing = f.get(d, "signing", &[]).and_then(|n| signing(d, n, env));
    global.shards = f
        .get(d, "shards", &[])
        .and_then(|n| super::shards::decode(d, n));
    serving(d, &mut f, &mut global);
    if let Some(node) = f.get(d, "gitHubToken", &[]) {
        d.warn(
            node.pos,
            "gitHubToken is not used by laminar and is ignored",
        );
    }
    f.finish(d);
    global
}

/// `host:port`, or `:port` for every interface as Go programs write it.
fn listen(d: &mut Decoder, node: &Node) -> Option<SocketAddr> {
    let text = d.text(node)?;
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.clone(),
    };
    match full.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            d.error(
                node.pos,
                format!("invalid listen address {text:?}: expected host:port"),
            );
            None
        }
    }
}

/// An address (`10.0.0.7`) or a network (`10.0.0.0/8`, `fd00::/8`) of a trusted proxy.
fn proxy(d: &mut Decoder, node: &Node) -> Option<Network> {
    let text = d.text(node)?;
    let parsed = Network::parse(&text);
    if parsed.is_none() {
        d.error(
            node.pos,
            format!("invalid proxy {text:?}: expected an IP address or a network like 10.0.0.0/8"),
        );
    }
    parsed
}

/// Who may see what over HTTP, what the server allows its clients, and the daemon's bounds.
fn serving(d: &mut Decoder, f: &mut Fields, global: &mut Global) {
    if let Some(v) = f
        .get(d, "statusPage", &[])
        .and_then(|n| d.keyword(n, "statusPage"))
    {
        global.status_page = v;
    }
    if let Some(v) = f
        .get(d, "metricsAuth", &[])
        .and_then(|n| d.keyword(n, "metricsAuth"))
    {
        global.metrics_auth = v;
    }
    if let Some(v) = f
        .get(d, "httpHeaderTimeout", &[])
        .and_then(|n| seconds(d, n))
    {
        global.http.header_timeout = v;
    }
    if let Some(n) = f
        .get(d, "httpMaxConnections", &[])
        .and_then(|n| d.whole_number(n, 1, 65_536))
    {
        global.http.max_connections = n as usize;
    }
    if let Some(node) = f.get(d, "trustedProxies", &[]) {
        global.trusted_proxies = d
            .list(node)
            .iter()
            .filter_map(|item| proxy(d, item))
            .collect();
    }
    if let Some(n) = f
        .get(d, "maxHolds", &[])
        .and_then(|n| d.whole_number(n, 1, 100_000))
    {
        global.max_holds = n as usize;
    }
}
