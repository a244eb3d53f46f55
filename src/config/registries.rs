//! The `dockerRegistries:` section: each registry's prefix, kind, endpoint, auth and limits.

use std::collections::HashSet;
use std::path::PathBuf;

use super::decode::{existing_file, seconds, secret, uniquely_named};
use super::fields::Decoder;
use super::yaml::{Node, Value};
use super::{
    CloudIdentity, Endpoint, Environment, Registry, RegistryAuth, RegistryId, RegistryKind,
};
use crate::image::reference::match_domain;

pub(super) fn decode(d: &mut Decoder, node: &Node, env: &Environment) -> Vec<Registry> {
    uniquely_prefixed(d, node, "registry", HashSet::new(), |d, item| {
        registry(d, item, env)
    })
}

/// The entries `decode_one` makes of a list, each uniquely named. A reference names its
/// registry (or chart repository) by prefix, so no two entries — nor an entry and a prefix
/// already `taken` — may share one.
pub(super) fn uniquely_prefixed(
    d: &mut Decoder,
    node: &Node,
    what: &str,
    taken: HashSet<RegistryId>,
    decode_one: impl Fn(&mut Decoder, &Node) -> Option<Registry>,
) -> Vec<Registry> {
    let prefixes = std::cell::RefCell::new(taken);
    uniquely_named(
        d,
        node,
        what,
        |d, item| {
            let registry = decode_one(d, item)?;
            if !registry.prefix.is_empty() && !prefixes.borrow_mut().insert(registry.id()) {
                d.error(
                    item.pos,
                    format!("duplicate {what} prefix \"{}\"", registry.prefix),
                );
            }
            Some(registry)
        },
        |r| &r.name,
    )
}

fn registry(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Registry> {
    let mut f = d.fields(node)?;
    let prefix = f.require(d, "reg", &[]).and_then(|n| registry_prefix(d, n));
    let mut registry = Registry::new(prefix.as_deref().unwrap_or_default());
    if let Some(name) = f.get(d, "name", &[]).and_then(|n| d.text(n)) {
        registry.name = name;
    }
    let type_node = f.get(d, "type", &["kind"]);
    if let Some(kind) = type_node.and_then(|n| d.keyword(n, "registry type")) {
        registry.kind = kind;
    }
    if let Some(v) = f.get(d, "insecure", &[]).and_then(|n| d.bool(n)) {
        registry.insecure = v;
    }
    if let Some(v) = f
        .get(d, "timeout", &["timeOut"])
        .and_then(|n| seconds(d, n))
    {
        registry.timeout = v;
    }
    registry.ca_file = f
        .get(d, "caFile", &[])
        .and_then(|n| existing_file(d, n, env, "CA file"));
    if let Some(node) = f.get(d, "platform", &[]) {
        match d.text(node).map(|text| text.parse()) {
            Some(Ok(platform)) => registry.platform = platform,
            Some(Err(e)) => d.error(node.pos, e),
            None => {}
        }
    }
    if let Some(node) = f.get(d, "rateLimit", &[]) {
        match node.value {
            Value::Int(n) if n > 0 => registry.rate_limit = n as f64,
            Value::Float(x) if x > 0.0 && x.is_finite() => registry.rate_limit = x,
            _ => d.error(
                node.pos,
                "expected a positive number of requests per second",
            ),
        }
    }
    if let Some(n) = f
        .get(d, "maxConcurrency", &[])
        .and_then(|n| d.whole_number(n, 1, 1024))
    {
        registry.max_concurrency = n as usize;
    }
    if let Some(v) = f.get(d, "mutableTags", &[]).and_then(|n| d.bool(n)) {
        registry.mutable_tags = v;
    }
    if let Some(n) = f
        .get(d, "maxTags", &[])
        .and_then(|n| d.whole_number(n, 1, 1_000_000))
    {
        registry.limits.max_tags = n as usize;
    }
    if let Some(n) = f
        .get(d, "maxPages", &[])
        .and_then(|n| d.whole_number(n, 1, 100_000))
    {
        registry.limits.max_pages = n as usize;
    }
    if let Some(n) = f
        .get(d, "lookupsPerCycle", &[])
        .and_then(|n| d.whole_number(n, 1, 100_000))
    {
        registry.limits.lookups_per_cycle = n as usize;
    }
    registry.endpoint = f
        .get(d, "endpoint", &[])
        .and_then(|n| endpoint(d, n, registry.insecure));
    // A mirror or pull-through cache speaks the registry protocol, not the vendor's API.
    let vendor_api = matches!(
        registry.kind,
        RegistryKind::Dockerhub | RegistryKind::Quay | RegistryKind::Gar | RegistryKind::Acr
    );
    if type_node.is_none() && registry.endpoint.is_some() && vendor_api {
        registry.kind = RegistryKind::Oci;
    }
    if let Some(node) = f.get(d, "timeSource", &[]) {
        match (d.text(node).as_deref(), registry.kind) {
            // Build times come from the images themselves, through the registry protocol.
            (Some("created"), RegistryKind::Ecr) => d.error(
                node.pos,
                "ECR gives push times only (timeSource: pushed)",
            ),
            (Some("created"), _) => registry.kind = RegistryKind::Oci,
            (Some("pushed"), RegistryKind::Oci) => d.error(
                node.pos,
                "this registry gives no push times through the registry protocol: set type: dockerhub, quay, harbor, ghcr, gar or acr when it is one of those",
            ),
            (Some("pushed"), _) => {}
            (Some(other), _) => d.error(
                node.pos,
                format!("unknown timeSource {other:?}: expected pushed or created"),
            ),
            (None, _) => {}
        }
    }
    registry.auth = f.get(d, "auth", &[]).and_then(|n| registry_auth(d, n, env));
    registry.gate = f
        .get(d, "verify", &[])
        .and_then(|n| super::verify::gate(d, n, env));
    // Region and account default to those in an ECR host (see `Registry::new`).
    if let Some(region) = f.get(d, "region", &[]).and_then(|n| d.text(n)) {
        registry.ecr.region = Some(region);
    }
    if let Some(id) = f.get(d, "registryId", &[]).and_then(|n| d.text(n)) {
        registry.ecr.registry_id = Some(id);
    }
    registry.ecr.role_arn = f.get(d, "roleArn", &[]).and_then(|n| d.text(n));
    f.finish(d);
    prefix.map(|_| registry)
}

/// Exactly one of: `username` with `passwordEnv` or `passwordFile`; `dockerConfig`;
/// `anonymous: true`; `identity: gcp | azure`.
pub(super) fn registry_auth(
    d: &mut Decoder,
    node: &Node,
    env: &Environment,
) -> Option<RegistryAuth> {
    let mut f = d.fields(node)?;
    let username = f.get(d, "username", &[]).and_then(|n| d.text(n));
    let password = secret(d, &mut f, env, "passwordEnv", "passwordFile");
    let docker_config = f.get(d, "dockerConfig", &[]).and_then(|n| d.text(n));
    let anonymous = f.get(d, "anonymous", &[]).and_then(|n| d.bool(n));
    let identity = f.get(d, "identity", &[]);
    f.finish(d);
    let basic = username.is_some() || password.is_some();
    let chosen = [
        basic,
        docker_config.is_some(),
        anonymous == Some(true),
        identity.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() != 1 {
        d.error(
            node.pos,
            "auth needs exactly one of: username with passwordEnv or passwordFile; dockerConfig; anonymous: true; identity",
        );
        return None;
    }
    if let Some(node) = identity {
        return cloud_identity(d, node, env).map(RegistryAuth::Identity);
    }
    if let Some(path) = docker_config {
        return Some(RegistryAuth::DockerConfig(env.expand_home(&path)));
    }
    if anonymous == Some(true) {
        return Some(RegistryAuth::Anonymous);
    }
    match (username, password) {
        (Some(username), Some(password)) => Some(RegistryAuth::Basic { username, password }),
        (None, _) => {
            d.error(node.pos, "basic auth needs a username");
            None
        }
        (_, None) => {
            d.error(node.pos, "basic auth needs passwordEnv or passwordFile");
            None
        }
    }
}

/// `gcp` or `azure`, with what the platform put in the environment.
fn cloud_identity(d: &mut Decoder, node: &Node, env: &Environment) -> Option<CloudIdentity> {
    let var = |name: &str| env.cloud.get(name).cloned();
    match d.text(node).as_deref() {
        Some("gcp") => Some(CloudIdentity::Gcp {
            metadata_host: var("GCE_METADATA_HOST")
                .unwrap_or_else(|| "metadata.google.internal".into()),
        }),
        Some("azure") => {
            let (Some(client_id), Some(tenant_id), Some(token_file)) = (
                var("AZURE_CLIENT_ID"),
                var("AZURE_TENANT_ID"),
                var("AZURE_FEDERATED_TOKEN_FILE"),
            ) else {
                d.error(
                    node.pos,
                    "identity: azure needs AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE in the environment (AKS workload identity sets them)",
                );
                return None;
            };
            let authority = var("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| "https://login.microsoftonline.com/".into());
            Some(CloudIdentity::Azure {
                client_id,
                tenant_id,
                token_file: PathBuf::from(token_file),
                authority: format!("{}/", authority.trim_end_matches('/')),
            })
        }
        Some(other) => {
            d.error(
                node.pos,
                format!("unknown identity {other:?}: expected gcp or azure"),
            );
            None
        }
        None => None,
    }
}

/// `https://host[:port]` (or `http://` for an insecure registry), nothing after the authority.
fn endpoint(d: &mut Decoder, node: &Node, insecure: bool) -> Option<Endpoint> {
    let text = d.text(node)?;
    let (scheme, rest) = match text.split_once("://") {
        Some(("https", rest)) => ("https", rest),
        Some(("http", rest)) if insecure => ("http", rest),
        Some(("http", _)) => {
            d.error(
                node.pos,
                "a plain http endpoint needs insecure: true on the registry",
            );
            return None;
        }
        _ => {
            d.error(
                node.pos,
                format!("invalid endpoint {text:?}: expected https://host[:port]"),
            );
            return None;
        }
    };
    let authority = rest.trim_end_matches('/');
    match match_domain(authority.as_bytes(), 0) {
        Some(end) if end == authority.len() => Some(Endpoint {
            scheme,
            authority: authority.to_string(),
        }),
        _ => {
            d.error(
                node.pos,
                format!("invalid endpoint {text:?}: expected https://host[:port]"),
            );
            None
        }
    }
}

fn registry_prefix(d: &mut Decoder, node: &Node) -> Option<String> {
    let text = d.text(node)?;
    super::registry_prefix(&text)
        .map_err(|message| d.error(node.pos, message))
        .ok()
}
