//! Quay (quay.io and self-hosted) through its API: tags with the time each was pushed.
//!
//! API (docs.quay.io, "listRepoTags"; Red Hat Quay "Viewing image tag information by using
//! the API"): `GET /api/v1/repository/{namespace}/{repository}/tag/?limit=100&page=N
//! &onlyActiveTags=true` → `{"tags": [{"name", "manifest_digest", "start_ts", …}], "page",
//! "has_additional"}`; `start_ts` is when the tag was pushed (seconds since the epoch).
//! Private repositories take an OAuth access token as `Authorization: Bearer`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use reqwest::Url;
use serde::Deserialize;

use super::auth::Credentials;
use super::error::Failure;
use super::http::Http;
use super::image::ImageName;
use super::paged::{self, Listed};
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::policy::TagInfo;

const PAGE_SIZE: usize = 100;

#[derive(Debug)]
pub(super) struct QuaySource {
    http: Arc<Http>,
    /// `scheme://host[:port]` of the API: the endpoint, else the registry's host.
    base: String,
    auth_config: Option<RegistryAuth>,
    limits: ListLimits,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    tags: Vec<QuayTag>,
    page: u32,
    #[serde(default)]
    has_additional: bool,
}

#[derive(Deserialize)]
struct QuayTag {
    name: String,
    manifest_digest: Option<String>,
    start_ts: Option<u64>,
}

impl QuaySource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>) -> QuaySource {
        let base = paged::api_base(registry, || format!("https://{}", registry.host()));
        QuaySource {
            http,
            base,
            auth_config: registry.auth.clone(),
            limits: registry.limits,
        }
    }

    pub(super) async fn tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let bearer = match paged::credentials(
            self.auth_config.as_ref(),
            &self.http,
            &image.host,
            &self.base,
        )
        .await?
        {
            Credentials::Basic { password, .. } => {
                Some(paged::sensitive(&format!("Bearer {}", password.expose()))?)
            }
            Credentials::Anonymous => None,
        };
        let first = self.page_url(image, 1)?;
        paged::follow(image, "Quay", first, self.limits, |url| {
            self.page(image, url, bearer.as_ref())
        })
        .await
    }

    fn page_url(&self, image: &ImageName, page: u32) -> Result<Url, Failure> {
        let text = format!(
            "{}/api/v1/repository/{}/tag/?limit={PAGE_SIZE}&page={page}&onlyActiveTags=true",
            self.base, image.repository
        );
        Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))
    }

    async fn page(
        &self,
        image: &ImageName,
        url: Url,
        bearer: Option<&reqwest::header::HeaderValue>,
    ) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = paged::get(&self.http, &url, bearer, "Quay").await?;
        let page: Page = paged::json(&fetched.body, "Quay")?;
        let listed = page
            .tags
            .into_iter()
            .map(|tag| Listed {
                name: tag.name,
                digest: tag.manifest_digest,
                pushed: tag.start_ts.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            })
            .collect();
        let next = match page.has_additional {
            true => Some(self.page_url(image, page.page + 1)?),
            false => None,
        };
        Ok((listed, next))
    }
}
