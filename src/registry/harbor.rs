//! Harbor through its API: artifacts with their tags, and the time each tag was pushed.
//!
//! API (Harbor v2.0 REST API, "List artifacts"): `GET /api/v2.0/projects/{project}/
//! repositories/{repository}/artifacts?with_tag=true&page=N&page_size=100` → `[{"digest",
//! "push_time", "tags": [{"name", "push_time", …}], …}]`, the next page named by a `Link: <…>;
//! rel="next"` header. A repository below the project with `/` in its name is written with the
//! `/` encoded twice (`a%252Fb`). Credentials are basic (a user, or a robot account).

use reqwest::Url;
use serde::Deserialize;
use std::sync::Arc;

use super::error::Failure;
use super::http::Http;
use super::image::ImageName;
use super::oci::next_link;
use super::paged::{self, Listed};
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::policy::TagInfo;

const PAGE_SIZE: usize = 100;

#[derive(Debug)]
pub(super) struct HarborSource {
    http: Arc<Http>,
    /// `scheme://host[:port]` of the API: the endpoint, else the registry's host.
    base: String,
    auth_config: Option<RegistryAuth>,
    limits: ListLimits,
}

#[derive(Deserialize)]
struct Artifact {
    digest: Option<String>,
    #[serde(default)]
    tags: Option<Vec<HarborTag>>,
}

#[derive(Deserialize)]
struct HarborTag {
    name: String,
    push_time: Option<String>,
}

impl HarborSource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>) -> HarborSource {
        let base = paged::api_base(registry, || format!("https://{}", registry.host()));
        HarborSource {
            http,
            base,
            auth_config: registry.auth.clone(),
            limits: registry.limits,
        }
    }

    pub(super) async fn tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let basic = paged::credentials(
            self.auth_config.as_ref(),
            &self.http,
            &image.host,
            &self.base,
        )
        .await?
        .basic_header();
        let (project, repository) = image
            .repository
            .split_once('/')
            .ok_or_else(|| Failure::InvalidImage(image.written.clone()))?;
        let text = format!(
            "{}/api/v2.0/projects/{project}/repositories/{}/artifacts?with_tag=true&page=1&page_size={PAGE_SIZE}",
            self.base,
            repository.replace('/', "%252F")
        );
        let first = Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))?;
        paged::follow(image, "Harbor", first, self.limits, |url| {
            self.page(url, basic.as_ref())
        })
        .await
    }

    async fn page(
        &self,
        url: Url,
        basic: Option<&reqwest::header::HeaderValue>,
    ) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = paged::get(&self.http, &url, basic, "Harbor").await?;
        let artifacts: Vec<Artifact> = paged::json(&fetched.body, "Harbor")?;
        let listed = artifacts
            .into_iter()
            .flat_map(|artifact| {
                let digest = artifact.digest;
                artifact
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |tag| Listed {
                        name: tag.name,
                        digest: digest.clone(),
                        pushed: tag.push_time.as_deref().and_then(paged::rfc3339),
                    })
            })
            .collect();
        let next = next_link(&fetched, &url)?;
        Ok((listed, next))
    }
}
