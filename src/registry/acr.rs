//! Azure Container Registry: tags through the registry protocol, and — when a rule orders by
//! time — through ACR's own tag API, which gives each tag the time it was last updated (a
//! retag updates it), with no manifest read at all.
//!
//! API (Azure Container Registry REST, "Tag - Get List"): `GET /acr/v1/{name}/_tags?n=100
//! &orderby=timedesc` → `{"registry", "imageName", "tags": [{"name", "digest", "createdTime",
//! "lastUpdateTime", …}]}`, the next page named by a `Link: <…>; rel="next"` header. It is
//! authorised like the registry protocol (the `/oauth2/token` flow), with the scope
//! `repository:{name}:metadata_read`.

use reqwest::{Method, Url};
use serde::Deserialize;

use super::counters::RequestKind;
use super::error::Failure;
use super::http::Asked;
use super::image::ImageName;
use super::oci::{OciSource, next_link};
use super::paged::{self, Listed};
use super::{BoxFuture, TagSource};
use crate::config::{ListLimits, Registry};
use crate::policy::TagInfo;

const PAGE_SIZE: usize = 100;

#[derive(Debug)]
pub(super) struct AcrSource {
    oci: OciSource,
    limits: ListLimits,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    tags: Vec<AcrTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcrTag {
    name: String,
    digest: Option<String>,
    created_time: Option<String>,
    last_update_time: Option<String>,
}

impl AcrSource {
    pub(super) fn new(registry: &Registry, oci: OciSource) -> AcrSource {
        AcrSource {
            oci,
            limits: registry.limits,
        }
    }

    async fn timed_tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let text = format!(
            "{}/acr/v1/{}/_tags?n={PAGE_SIZE}&orderby=timedesc",
            self.oci.base(image),
            image.repository
        );
        let first = Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))?;
        let scope = format!("repository:{}:metadata_read", image.repository);
        paged::follow(image, "ACR", first, self.limits, |url| {
            self.page(image, url, &scope)
        })
        .await
    }

    async fn page(
        &self,
        image: &ImageName,
        url: Url,
        scope: &str,
    ) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = self
            .oci
            .fetch_scoped(
                Asked {
                    kind: RequestKind::Tags,
                    method: Method::GET,
                    what: "ACR tag list",
                },
                image,
                &url,
                scope,
            )
            .await?;
        let page: Page = paged::json(&fetched.body, "ACR")?;
        let listed = page
            .tags
            .into_iter()
            .map(|tag| Listed {
                pushed: tag
                    .last_update_time
                    .or(tag.created_time)
                    .as_deref()
                    .and_then(paged::rfc3339),
                name: tag.name,
                digest: tag.digest,
            })
            .collect();
        Ok((listed, next_link(&fetched, &url)?))
    }
}

impl TagSource for AcrSource {
    /// Without times, the registry protocol's plain listing is enough.
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        match with_times {
            true => Box::pin(self.timed_tags(image)),
            false => Box::pin(self.oci.tags(image, false)),
        }
    }

    fn evidence<'a>(
        &'a self,
        image: &'a ImageName,
        digest: &'a str,
        gate: &'a crate::trust::Gate,
    ) -> BoxFuture<'a, Result<crate::trust::Evidence, Failure>> {
        Box::pin(self.oci.evidence(image, digest, gate))
    }
}
