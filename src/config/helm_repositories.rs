//! The `helmRepositories:` section: the classic Helm chart repositories laminar may read an
//! `index.yaml` from. A chart in a repo file is kept current only when its repository's URL
//! is listed here — laminar never contacts a host a repo file names by itself.

use std::collections::HashSet;

use super::decode::{existing_file, seconds};
use super::fields::Decoder;
use super::registries::{registry_auth, uniquely_prefixed};
use super::yaml::Node;
use super::{Endpoint, Environment, Registry, RegistryId, RegistryKind};
use crate::image::reference::match_domain;

/// Entries as registries of kind [`RegistryKind::HelmIndex`], named by the `host/path` of
/// their URL; `taken` holds the prefixes of the `dockerRegistries:`.
pub(super) fn decode(
    d: &mut Decoder,
    node: &Node,
    env: &Environment,
    taken: &HashSet<RegistryId>,
) -> Vec<Registry> {
    uniquely_prefixed(d, node, "helm repository", taken.clone(), |d, item| {
        repository(d, item, env)
    })
}

fn repository(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Registry> {
    let mut f = d.fields(node)?;
    let name = f.require(d, "name", &[]).and_then(|n| d.text(n));
    let insecure = f.get(d, "insecure", &[]).and_then(|n| d.bool(n)) == Some(true);
    let url = f.require(d, "url", &[]).and_then(|n| url(d, n, insecure));
    let timeout = f.get(d, "timeout", &[]).and_then(|n| seconds(d, n));
    let ca_file = f
        .get(d, "caFile", &[])
        .and_then(|n| existing_file(d, n, env, "CA file"));
    let max_concurrency = f
        .get(d, "maxConcurrency", &[])
        .and_then(|n| d.whole_number(n, 1, 64));
    let auth = f.get(d, "auth", &[]).and_then(|n| registry_auth(d, n, env));
    f.finish(d);
    let (endpoint, prefix) = url?;
    let mut registry = Registry::new(&prefix);
    registry.kind = RegistryKind::HelmIndex;
    registry.name = name?;
    registry.insecure = insecure;
    registry.endpoint = Some(endpoint);
    registry.ca_file = ca_file;
    registry.auth = auth;
    if let Some(timeout) = timeout {
        registry.timeout = timeout;
    }
    if let Some(n) = max_concurrency {
        registry.max_concurrency = n as usize;
    }
    Some(registry)
}

/// `https://host[:port]/path` (`http://` only with `insecure: true`): the endpoint and the
/// `host/path` the repository is matched by.
fn url(d: &mut Decoder, node: &Node, insecure: bool) -> Option<(Endpoint, String)> {
    let text = d.text(node)?;
    let invalid = |d: &mut Decoder| {
        d.error(
            node.pos,
            format!("invalid repository URL {text:?}: expected https://host[:port][/path]"),
        );
    };
    let (scheme, rest) = match text.split_once("://") {
        Some(("https", rest)) => ("https", rest),
        Some(("http", rest)) if insecure => ("http", rest),
        Some(("http", _)) => {
            d.error(node.pos, "a plain http repository needs insecure: true");
            return None;
        }
        Some(("oci", _)) => {
            d.error(
                node.pos,
                "an OCI chart repository is a dockerRegistries entry (its prefix matches the chart's oci:// URL)",
            );
            return None;
        }
        _ => {
            invalid(d);
            return None;
        }
    };
    let rest = rest.trim_end_matches('/');
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.to_ascii_lowercase();
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
    let host_ok = match_domain(authority.as_bytes(), 0) == Some(authority.len());
    if !host_ok || !path_ok || path.contains("//") || text.contains(['?', '#']) {
        invalid(d);
        return None;
    }
    let prefix = match path.is_empty() {
        true => authority.clone(),
        false => format!("{authority}/{path}"),
    };
    Some((Endpoint { scheme, authority }, prefix))
}
