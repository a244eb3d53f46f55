//! Google Artifact Registry: tags through the registry protocol, and — when a rule orders by
//! time — through the Artifact Registry API, which gives each image the time it was uploaded
//! and last updated (a retag updates it), with no manifest read at all.
//!
//! API (Artifact Registry REST v1, "projects.locations.repositories.dockerImages.list"):
//! `GET /v1/projects/{project}/locations/{location}/repositories/{repository}/dockerImages
//! ?pageSize=1000&pageToken=…` → `{"dockerImages": [{"name", "uri": "{host}/{project}/
//! {repository}/{image}@sha256:…", "tags": […], "uploadTime", "updateTime", …}],
//! "nextPageToken"}`. It lists every image of the repository; the ones of other images are
//! skipped. It takes an OAuth access token as a bearer: the password given with the user
//! `oauth2accesstoken` (a token file, a helper), or `identity: gcp`.

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::Deserialize;

use super::auth::Credentials;
use super::error::Failure;
use super::image::ImageName;
use super::oci::OciSource;
use super::paged::{self, Listed};
use super::{BoxFuture, TagSource};
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::policy::TagInfo;

const GOOGLE_API: &str = "https://artifactregistry.googleapis.com";
const PAGE_SIZE: usize = 1000;

#[derive(Debug)]
pub(super) struct GarSource {
    oci: OciSource,
    /// `scheme://host[:port]` of the API: the endpoint, else Google's.
    base: String,
    auth_config: Option<RegistryAuth>,
    limits: ListLimits,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    docker_images: Vec<DockerImage>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerImage {
    uri: String,
    #[serde(default)]
    tags: Vec<String>,
    upload_time: Option<String>,
    update_time: Option<String>,
}

/// Where an image lives in Artifact Registry's resource names.
struct Location {
    /// `projects/{project}/locations/{location}/repositories/{repository}`.
    parent: String,
    /// `{host}/{project}/{repository}/{image}`: what a listed image's `uri` starts with.
    image_uri: String,
}

impl GarSource {
    pub(super) fn new(registry: &Registry, oci: OciSource) -> GarSource {
        GarSource {
            oci,
            base: paged::api_base(registry, || GOOGLE_API.to_string()),
            auth_config: registry.auth.clone(),
            limits: registry.limits,
        }
    }

    async fn timed_tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let location = locate(image)?;
        let bearer = self.bearer(image).await?;
        let first = self.page_url(&location, None)?;
        paged::follow(image, "Artifact Registry", first, self.limits, |url| {
            self.page(&location, url, &bearer)
        })
        .await
    }

    /// The access token to present: what `oauth2accesstoken` is given, or an identity's.
    async fn bearer(&self, image: &ImageName) -> Result<HeaderValue, Failure> {
        let base = self.oci.base(image);
        match paged::credentials(self.auth_config.as_ref(), self.oci.http(), &image.host, &base)
            .await?
        {
            Credentials::Basic { username, password } if username == "oauth2accesstoken" => {
                paged::sensitive(&format!("Bearer {}", password.expose()))
            }
            Credentials::Basic { username, .. } => Err(Failure::Credentials(format!(
                "the Artifact Registry API takes an access token (user oauth2accesstoken, or identity: gcp), not the user {username:?}"
            ))),
            Credentials::Anonymous => Err(Failure::Credentials(
                "push times come from the Artifact Registry API, which needs a Google access token: set auth (identity: gcp, or user oauth2accesstoken), or timeSource: created"
                    .into(),
            )),
        }
    }

    fn page_url(&self, location: &Location, token: Option<&str>) -> Result<Url, Failure> {
        let text = format!(
            "{}/v1/{}/dockerImages?pageSize={PAGE_SIZE}",
            self.base, location.parent
        );
        let mut url =
            Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))?;
        if let Some(token) = token {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        Ok(url)
    }

    async fn page(
        &self,
        location: &Location,
        url: Url,
        bearer: &HeaderValue,
    ) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = paged::get(self.oci.http(), &url, Some(bearer), "Artifact Registry").await?;
        let page: Page = paged::json(&fetched.body, "Artifact Registry")?;
        let listed = page
            .docker_images
            .into_iter()
            .filter_map(|listed| {
                let (name, digest) = listed.uri.split_once('@')?;
                if name != location.image_uri {
                    return None;
                }
                let pushed = listed
                    .update_time
                    .or(listed.upload_time)
                    .as_deref()
                    .and_then(paged::rfc3339);
                let digest = digest.to_string();
                Some(listed.tags.into_iter().map(move |name| Listed {
                    name,
                    digest: Some(digest.clone()),
                    pushed,
                }))
            })
            .flatten()
            .collect();
        let next = match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(token) => Some(self.page_url(location, Some(&token))?),
            None => None,
        };
        Ok((listed, next))
    }
}

/// `{location}-docker.pkg.dev/{project}/{repository}/{image…}` in API terms.
fn locate(image: &ImageName) -> Result<Location, Failure> {
    let invalid = || Failure::InvalidImage(image.written.clone());
    let region = image
        .host
        .strip_suffix("-docker.pkg.dev")
        .ok_or_else(invalid)?;
    let mut parts = image.repository.splitn(3, '/');
    let (Some(project), Some(repository), Some(_)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    Ok(Location {
        parent: format!("projects/{project}/locations/{region}/repositories/{repository}"),
        image_uri: format!("{}/{}", image.host, image.repository),
    })
}

impl TagSource for GarSource {
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
