//! Running as several pods (`global.shards`): which shard owns which repo, this process's
//! place among them, and the client that hands requests to the other shards.
//!
//! Ownership is rendezvous (highest-random-weight) hashing: a repo goes to the shard whose
//! weight for it is highest, the weight a hash of the shard's ordinal and the repo's key. Going
//! from N to N+1 shards moves only the repos the new shard now wins — about 1/(N+1) of them —
//! and no other repo changes hands. A repo's key is the first name (in byte order) among the
//! repos its promotion chains connect it to, so a chain's repos share one shard: a follower
//! reads its upstream's lineage in the same process.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Config, Shards};

/// How long a shard may take to answer another: a trigger or a hold is quick.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts at reaching a peer before it counts as not answering.
const PEER_ATTEMPTS: u32 = 3;
/// The largest answer read from a peer (a status of thousands of repos fits).
const MAX_PEER_ANSWER: usize = 16 * 1024 * 1024;

/// The header that marks a request one shard handed another: it is answered by that shard
/// alone, never handed on again.
pub const FORWARDED: &str = "x-laminar-forwarded-by";

/// This process's place among the shards, and who owns each repo of the config.
#[derive(Clone, Debug)]
pub struct Sharding {
    /// This process's ordinal.
    pub me: usize,
    /// Every shard's base URL, by ordinal.
    pub peers: Vec<String>,
    /// Each repo's shard, by repo name.
    owners: BTreeMap<String, usize>,
}

impl Sharding {
    /// The sharding `shards` describes, for the process with ordinal `me`.
    pub fn new(config: &Config, shards: &Shards, me: usize) -> Result<Sharding, String> {
        if me >= shards.peers.len() {
            return Err(format!(
                "this is shard {me}, but global.shards names {} (0 to {})",
                shards.peers.len(),
                shards.peers.len() - 1
            ));
        }
        let keys = chain_keys(config);
        let owners = config
            .repos
            .iter()
            .map(|repo| {
                let key = keys.get(repo.name.as_str()).copied().unwrap_or(&repo.name);
                (repo.name.clone(), owner_of(key, shards.peers.len()))
            })
            .collect();
        Ok(Sharding {
            me,
            peers: shards.peers.clone(),
            owners,
        })
    }

    /// The shard that owns `repo`; `None` for a repo the config does not name.
    pub fn owner(&self, repo: &str) -> Option<usize> {
        self.owners.get(repo).copied()
    }

    /// The repos shard `shard` owns.
    pub fn repos_of(&self, shard: usize) -> impl Iterator<Item = &str> {
        self.owners
            .iter()
            .filter(move |(_, owner)| **owner == shard)
            .map(|(repo, _)| repo.as_str())
    }

    /// Whether this process owns `repo`.
    pub fn owns(&self, repo: &str) -> bool {
        self.owner(repo) == Some(self.me)
    }

    /// The other shards: ordinal and base URL.
    pub fn others(&self) -> impl Iterator<Item = (usize, &str)> {
        let me = self.me;
        self.peers
            .iter()
            .enumerate()
            .filter(move |(n, _)| *n != me)
            .map(|(n, url)| (n, url.as_str()))
    }
}

/// The shard among `shards` that owns `key`: the one with the highest weight.
pub fn owner_of(key: &str, shards: usize) -> usize {
    (0..shards.max(1))
        .max_by_key(|&shard| weight(key, shard))
        .unwrap_or(0)
}

fn weight(key: &str, shard: usize) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update((shard as u64).to_be_bytes());
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Each repo's hashing key: the first name among the repos promotion chains connect it to.
fn chain_keys(config: &Config) -> HashMap<&str, &str> {
    let mut group: HashMap<&str, &str> = config
        .repos
        .iter()
        .map(|r| (r.name.as_str(), r.name.as_str()))
        .collect();
    fn root<'a>(group: &HashMap<&'a str, &'a str>, mut name: &'a str) -> &'a str {
        while let Some(&up) = group.get(name).filter(|&&up| up != name) {
            name = up;
        }
        name
    }
    for repo in &config.repos {
        for follow in repo.updates.iter().filter_map(|rule| rule.follow.as_ref()) {
            let (a, b) = (root(&group, &repo.name), root(&group, &follow.repo));
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            if first != second && group.contains_key(second) {
                group.insert(second, first);
            }
        }
    }
    config
        .repos
        .iter()
        .map(|r| (r.name.as_str(), root(&group, &r.name)))
        .collect()
}

/// This process's ordinal: `LAMINAR_SHARD`, else the `-<n>` at the end of the host name (a
/// StatefulSet's pod `laminar-2` is shard 2).
pub fn ordinal(shard: Option<&str>, hostname: Option<&str>) -> Result<usize, String> {
    if let Some(text) = shard {
        return text
            .trim()
            .parse()
            .map_err(|_| format!("LAMINAR_SHARD={text:?} is not a shard number"));
    }
    let hostname = hostname.map(str::trim).unwrap_or_default();
    hostname
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "cannot tell this pod's shard: the host name {hostname:?} does not end in -<n>; set LAMINAR_SHARD"
            )
        })
}

/// The client shards reach each other with: the API token, bounded timeouts, retries.
pub struct Peers {
    client: reqwest::Client,
    token: crate::secret::Secret,
    me: usize,
}

/// What a peer answered.
#[derive(Debug)]
pub struct PeerAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Peers {
    pub fn new(token: crate::secret::Secret, me: usize) -> Result<Peers, String> {
        let client = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .connect_timeout(PEER_CONNECT_TIMEOUT)
            .timeout(PEER_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Peers { client, token, me })
    }

    /// Sends `method path` (with a JSON `body`) to the shard at `base`, marked as forwarded;
    /// connection failures and 502–504 are tried again, twice, after a short pause. `Err`
    /// says why the shard did not answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<PeerAnswer, String> {
        let (status, bytes) = self.send_raw(method, base, path, body).await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(PeerAnswer { status, body })
    }

    /// [`Peers::send`], the answer's body as it came (a page of the status page, say).
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut last = String::new();
        for attempt in 1..=PEER_ATTEMPTS {
            let mut request = self
                .client
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(self.token.expose())
                .header(FORWARDED, self.me.to_string());
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            match request.send().await {
                Ok(response) if !matches!(response.status().as_u16(), 502..=504) => {
                    let status = response.status().as_u16();
                    let bytes = crate::http::read_capped(response, MAX_PEER_ANSWER)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok((status, bytes));
                }
                Ok(response) => last = format!("answered {}", response.status()),
                Err(err) => last = err.without_url().to_string(),
            }
            if attempt < PEER_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_more_shard_moves_only_the_repos_it_wins() {
        let names: Vec<String> = (0..3000).map(|n| format!("repo-{n}")).collect();
        for shards in [1, 2, 3, 5, 10] {
            let before: Vec<usize> = names.iter().map(|n| owner_of(n, shards)).collect();
            let after: Vec<usize> = names.iter().map(|n| owner_of(n, shards + 1)).collect();
            let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            // Every repo that moves goes to the new shard.
            assert!(
                before
                    .iter()
                    .zip(&after)
                    .all(|(b, a)| b == a || *a == shards)
            );
            let share = moved as f64 / names.len() as f64;
            let expected = 1.0 / (shards + 1) as f64;
            assert!(
                (share - expected).abs() < 0.04,
                "{shards}→{}: {share}",
                shards + 1
            );
            // Each shard gets about its share.
            for shard in 0..shards {
                let owned = before.iter().filter(|o| **o == shard).count() as f64;
                assert!((owned / names.len() as f64 - 1.0 / shards as f64).abs() < 0.04);
            }
        }
    }

    #[test]
    fn a_promotion_chains_repos_share_a_shard() {
        let mut text = String::from("dockerRegistries: []\ngit:\n");
        for n in 0..40 {
            let follow = match n % 4 {
                0 => String::new(),
                _ => format!("    follow: c{}/stage\n", n - 1),
            };
            text.push_str(&format!(
                "- name: c{n}\n  url: file:///r/{n}.git\n  branch: main\n  updates:\n  - name: stage\n    pattern: semver:^1\n{follow}    files: [.]\n"
            ));
        }
        let env = crate::config::Environment::default();
        let config = crate::config::parse(std::path::Path::new("l.yaml"), &text, &env)
            .unwrap()
            .config;
        let shards = Shards {
            peers: (0..5).map(|n| format!("http://s{n}")).collect(),
            me: 0,
        };
        let sharding = Sharding::new(&config, &shards, 0).unwrap();
        for chain in 0..10 {
            let first = sharding.owner(&format!("c{}", chain * 4));
            for stage in 1..4 {
                assert_eq!(sharding.owner(&format!("c{}", chain * 4 + stage)), first);
            }
        }
        let owners: std::collections::BTreeSet<_> = (0..10)
            .map(|c| sharding.owner(&format!("c{}", c * 4)))
            .collect();
        assert!(owners.len() > 1, "chains spread over the shards");
        assert!(Sharding::new(&config, &shards, 5).is_err());
    }

    #[test]
    fn the_ordinal_comes_from_laminar_shard_or_the_host_name() {
        assert_eq!(ordinal(Some("2"), Some("x")), Ok(2));
        assert_eq!(ordinal(None, Some("laminar-11\n")), Ok(11));
        assert!(ordinal(None, Some("laminar")).is_err());
        assert!(ordinal(Some("two"), None).is_err());
    }
}
