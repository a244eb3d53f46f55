//! `global.shards`: laminar as N pods of a StatefulSet, each owning the repos rendezvous
//! hashing gives it (see [`crate::shards`]). The peers' URLs come from a template holding
//! `{ordinal}` (`http://laminar-{ordinal}.laminar-headless:8080`), or are listed.

use super::fields::Decoder;
use super::yaml::Node;

/// Most shards a config may name.
const MAX_SHARDS: u64 = 256;

/// The shards laminar runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shards {
    /// Each shard's base URL (`scheme://host[:port]`), by ordinal.
    pub peers: Vec<String>,
    /// This process's ordinal: not in the file, set at start-up (`LAMINAR_SHARD`, else the
    /// host name's `-<n>`).
    pub me: usize,
}

/// `{count, peerUrl}` or `{peers: [url…]}`.
pub(super) fn decode(d: &mut Decoder, node: &Node) -> Option<Shards> {
    let mut f = d.fields(node)?;
    let count = f
        .get(d, "count", &[])
        .and_then(|n| d.whole_number(n, 1, MAX_SHARDS));
    let template = f.get(d, "peerUrl", &[]);
    let listed = f.get(d, "peers", &[]);
    f.finish(d);
    let peers = match (count, template, listed) {
        (Some(count), Some(template), None) => {
            let text = peer_url(d, template)?;
            if !text.contains("{ordinal}") {
                d.error(
                    template.pos,
                    "peerUrl needs {ordinal} where each pod's number goes",
                );
                return None;
            }
            (0..count)
                .map(|n| text.replace("{ordinal}", &n.to_string()))
                .collect()
        }
        (None, None, Some(list)) => {
            let items = d.list(list);
            if items.is_empty() || items.len() as u64 > MAX_SHARDS {
                d.error(list.pos, format!("peers needs 1 to {MAX_SHARDS} URLs"));
                return None;
            }
            let peers: Vec<String> = items.iter().filter_map(|n| peer_url(d, n)).collect();
            let mut unique = peers.clone();
            unique.sort();
            unique.dedup();
            if unique.len() != peers.len() {
                d.error(list.pos, "each peer URL may be listed once");
                return None;
            }
            (peers.len() == items.len()).then_some(peers)?
        }
        _ => {
            d.error(
                node.pos,
                "shards needs count with peerUrl, or peers (a list of URLs)",
            );
            return None;
        }
    };
    Some(Shards { peers, me: 0 })
}

/// `http://host[:port]` or `https://…`, without a path.
fn peer_url(d: &mut Decoder, node: &Node) -> Option<String> {
    let text = d.text(node)?;
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    let authority = rest.map(|r| r.trim_end_matches('/'));
    match authority {
        Some(a) if !a.is_empty() && !a.contains(['/', '?', '#', ' ', '@']) => {
            Some(text.trim_end_matches('/').to_string())
        }
        _ => {
            d.error(
                node.pos,
                format!("invalid peer URL {text:?}: expected http(s)://host[:port]"),
            );
            None
        }
    }
}
