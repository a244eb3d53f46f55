//! Image names as registries see them: API host and repository path.

use super::error::Failure;
use crate::image::reference::Reference;

const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// An image repository on a registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// The name as written in files (the cache and logs key on it).
    pub written: String,
    /// Host (and port) to call.
    pub host: String,
    /// Repository path on that host.
    pub repository: String,
}

impl ImageName {
    /// Parses a name without tag or digest. `docker.io/x`, `index.docker.io/x` and bare names
    /// go to Docker Hub, with `library/` added to single-component names.
    pub fn parse(name: &str) -> Result<ImageName, Failure> {
        let reference = Reference::parse(name)
            .filter(|r| r.tag.is_none() && r.digest.is_none())
            .ok_or_else(|| {
                Failure::InvalidImage(format!("{name:?} is not an image name without tag"))
            })?;
        let hub = match reference.domain.as_deref() {
            None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io") => true,
            Some(_) => false,
        };
        let (host, repository) = if hub {
            let repository = if reference.path.contains('/') {
                reference.path
            } else {
                format!("library/{}", reference.path)
            };
            (DOCKER_HUB_API.to_string(), repository)
        } else {
            (reference.domain.unwrap_or_default(), reference.path)
        };
        Ok(ImageName {
            written: name.to_string(),
            host,
            repository,
        })
    }

    /// The token scope for pulling this repository.
    pub fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> (String, String) {
        let image = ImageName::parse(name).unwrap();
        (image.host, image.repository)
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        let hub = |repo: &str| (DOCKER_HUB_API.to_string(), repo.to_string());
        assert_eq!(parts("nginx"), hub("library/nginx"));
        assert_eq!(parts("docker.io/nginx"), hub("library/nginx"));
        assert_eq!(parts("index.docker.io/bitnami/redis"), hub("bitnami/redis"));
        assert_eq!(parts("bitnami/redis"), hub("bitnami/redis"));
    }

    #[test]
    fn other_registries_keep_host_and_port() {
        assert_eq!(
            parts("127.0.0.1:5000/acme/app"),
            ("127.0.0.1:5000".into(), "acme/app".into())
        );
        assert_eq!(
            parts("ghcr.io/acme/app"),
            ("ghcr.io".into(), "acme/app".into())
        );
        assert!(ImageName::parse("ghcr.io/acme/app:1").is_err());
        assert!(ImageName::parse("ghcr.io/Acme").is_err());
    }
}
