//! GitHub's container registry through the GitHub Packages API: each version (a digest) with
//! its tags and when it was last updated — a retag updates it.
//!
//! API (docs.github.com/rest/packages, "List package versions for a package owned by an
//! organization" / "… by a user"): `GET /orgs/{org}/packages/container/{package}/versions
//! ?state=active&per_page=100` (or `/users/{user}/…`) → `[{"name": "sha256:…", "created_at",
//! "updated_at", "metadata": {"container": {"tags": […]}}}]`, the next page named by a `Link`
//! header. It needs a token with `read:packages` (given as the password), even for public
//! packages; a package name with `/` is written `%2F`.

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use std::sync::Arc;

use super::auth::Credentials;
use super::error::Failure;
use super::http::Http;
use super::image::ImageName;
use super::oci::next_link;
use super::paged::{self, Listed};
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::policy::TagInfo;

const GITHUB_API: &str = "https://api.github.com";
const PAGE_SIZE: usize = 100;

#[derive(Debug)]
pub(super) struct GhcrSource {
    http: Arc<Http>,
    /// `scheme://host[:port]` of the API: the endpoint, else api.github.com.
    base: String,
    auth_config: Option<RegistryAuth>,
    limits: ListLimits,
}

#[derive(Deserialize)]
struct Version {
    name: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    container: Option<Container>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    tags: Vec<String>,
}

impl GhcrSource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>) -> GhcrSource {
        let base = paged::api_base(registry, || GITHUB_API.to_string());
        GhcrSource {
            http,
            base,
            auth_config: registry.auth.clone(),
            limits: registry.limits,
        }
    }

    pub(super) async fn tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let token = match paged::credentials(
            self.auth_config.as_ref(),
            &self.http,
            &image.host,
            &self.base,
        )
        .await?
        {
            Credentials::Basic { password, .. } => {
                paged::sensitive(&format!("Bearer {}", password.expose()))?
            }
            Credentials::Anonymous => {
                return Err(Failure::Credentials(
                    "the GitHub Packages API needs a token with read:packages, even for public packages"
                        .into(),
                ));
            }
        };
        let (owner, package) = image
            .repository
            .split_once('/')
            .ok_or_else(|| Failure::InvalidImage(image.written.clone()))?;
        // The owner is an organization or a user; the API has a path for each.
        let mut last = Failure::NotFound;
        for kind in ["orgs", "users"] {
            let text = format!(
                "{}/{kind}/{owner}/packages/container/{}/versions?state=active&per_page={PAGE_SIZE}",
                self.base,
                package.replace('/', "%2F")
            );
            let first =
                Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))?;
            match paged::follow(image, "GitHub Packages", first, self.limits, |url| {
                self.page(url, &token)
            })
            .await
            {
                Err(Failure::NotFound) => last = Failure::NotFound,
                other => return other,
            }
        }
        Err(last)
    }

    async fn page(
        &self,
        url: Url,
        token: &HeaderValue,
    ) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = paged::get(&self.http, &url, Some(token), "GitHub Packages").await?;
        let versions: Vec<Version> = paged::json(&fetched.body, "GitHub Packages")?;
        let listed = versions
            .into_iter()
            .flat_map(|version| {
                let pushed = version
                    .updated_at
                    .or(version.created_at)
                    .as_deref()
                    .and_then(paged::rfc3339);
                let digest = version.name;
                let tags = version
                    .metadata
                    .and_then(|m| m.container)
                    .map(|c| c.tags)
                    .unwrap_or_default();
                tags.into_iter().map(move |name| Listed {
                    name,
                    digest: Some(digest.clone()),
                    pushed,
                })
            })
            .collect();
        let next = next_link(&fetched, &url)?;
        Ok((listed, next))
    }
}
