//! Docker Hub's many spellings of one image: `nginx`, `library/nginx`, `docker.io/nginx`,
//! `index.docker.io/library/nginx` and `registry-1.docker.io/library/nginx` all name
//! `docker.io/library/nginx`. References keep the spelling they were written in; matching
//! against configured registries uses the canonical one.

use super::RegistryId;

use super::reference::Reference;

/// One spelling per image, to match a name from outside (a push event, a hold, a deploy
/// request) against references however they are written: `nginx`, `docker.io/nginx` and
/// `index.docker.io/library/nginx` have one key.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ImageKey(String);

impl ImageKey {
    pub fn of(name: &str) -> ImageKey {
        ImageKey(canonical(name).unwrap_or_else(|| name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hosts that mean Docker Hub in an image name.
pub const HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// `docker.io/<namespace>/<name>` for a Docker Hub image name (without tag or digest),
/// however written; `None` for an image on another registry or a name that is not one.
pub fn canonical(name: &str) -> Option<String> {
    let reference = Reference::parse(name)?;
    if reference.tag.is_some() || reference.digest.is_some() {
        return None;
    }
    match reference.domain.as_deref() {
        None => {}
        Some(host) if HUB_HOSTS.contains(&host) => {}
        Some(_) => return None,
    }
    let path = reference.path;
    Some(match path.contains('/') {
        true => format!("docker.io/{path}"),
        false => format!("docker.io/library/{path}"),
    })
}

/// Whether `name` names its registry (`ghcr.io/x`, `localhost:5000/x`) rather than leaving
/// Docker Hub implied (`nginx`, `bitnami/redis`).
pub fn names_its_registry(name: &str) -> bool {
    Reference::parse(name).is_some_and(|r| r.domain.is_some())
}

/// The configured registries on Docker Hub, by canonical prefix.
#[derive(Clone, Debug, Default)]
pub struct HubRegistries {
    /// Longest prefix first, so the most specific registry wins.
    prefixes: Vec<(String, RegistryId)>,
}

impl HubRegistries {
    /// Picks the Docker Hub registries out of configured prefixes (`docker.io`,
    /// `docker.io/library`, `index.docker.io/acme`, …).
    pub fn new<'a>(registries: impl IntoIterator<Item = (&'a str, RegistryId)>) -> HubRegistries {
        let mut prefixes: Vec<(String, RegistryId)> = registries
            .into_iter()
            .filter_map(|(prefix, id)| canonical_prefix(prefix).map(|p| (p, id)))
            .collect();
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        HubRegistries { prefixes }
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The registry that manages the Docker Hub image `name` (any spelling), if any.
    pub fn registry_for(&self, name: &str) -> Option<&RegistryId> {
        let canonical = canonical(name)?;
        self.prefixes
            .iter()
            .find(|(prefix, _)| {
                canonical
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|(_, id)| id)
    }
}

/// Whether a configured prefix is on Docker Hub.
pub fn is_hub_prefix(prefix: &str) -> bool {
    canonical_prefix(prefix).is_some()
}

/// `docker.io[/namespace]` for a configured prefix on Docker Hub.
fn canonical_prefix(prefix: &str) -> Option<String> {
    let (host, path) = prefix.split_once('/').unwrap_or((prefix, ""));
    if !HUB_HOSTS.contains(&host) {
        return None;
    }
    Some(match path {
        "" => "docker.io".to_string(),
        path => format!("docker.io/{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_has_one_canonical_name() {
        for name in [
            "nginx",
            "library/nginx",
            "docker.io/nginx",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx",
            "registry-1.docker.io/library/nginx",
        ] {
            assert_eq!(
                canonical(name).as_deref(),
                Some("docker.io/library/nginx"),
                "{name}"
            );
        }
        assert_eq!(
            canonical("bitnami/redis").as_deref(),
            Some("docker.io/bitnami/redis")
        );
        assert_eq!(canonical("ghcr.io/acme/app"), None);
        assert_eq!(canonical("localhost/app"), None);
        assert_eq!(canonical("Nginx"), None);
        assert_eq!(canonical("nginx:1.25"), None, "names only");
    }

    #[test]
    fn the_most_specific_hub_registry_manages_a_name() {
        let hub = HubRegistries::new([
            ("docker.io", RegistryId::new("docker.io")),
            (
                "index.docker.io/library",
                RegistryId::new("index.docker.io/library"),
            ),
            ("ghcr.io/acme", RegistryId::new("ghcr.io/acme")),
        ]);
        let owner = |name| hub.registry_for(name).map(|id| id.prefix().to_string());
        assert_eq!(owner("nginx").as_deref(), Some("index.docker.io/library"));
        assert_eq!(
            owner("docker.io/library/nginx").as_deref(),
            Some("index.docker.io/library")
        );
        assert_eq!(owner("bitnami/redis").as_deref(), Some("docker.io"));
        assert_eq!(owner("ghcr.io/acme/app"), None);
        let library_only =
            HubRegistries::new([("docker.io/library", RegistryId::new("docker.io/library"))]);
        assert!(library_only.registry_for("bitnami/redis").is_none());
        assert!(library_only.registry_for("redis").is_some());
    }
}
