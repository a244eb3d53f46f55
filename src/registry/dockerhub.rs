//! Docker Hub through its own API rather than the registry protocol: one request lists up to
//! 100 tags, each with its digest and the time it was last pushed, so a time-ordered rule
//! costs no manifest request at all (manifest reads count against Hub's pull quota) and
//! orders by push time, not by the build time an image carries.
//!
//! API (docs.docker.com/reference/api/hub/latest):
//! - "List repository tags": `GET /v2/namespaces/{namespace}/repositories/{repository}/tags
//!   ?page_size=100&ordering=last_updated` (most recently updated first) → `{"count", "next",
//!   "previous", "results": [{"name", "digest", "last_updated", "tag_last_pushed", …}]}`,
//!   `next` the URL of the following page or null.
//! - "Create access token": `POST /v2/auth/token` with `{"identifier", "secret"}` (a user and a
//!   personal access token) → `{"access_token"}`, a bearer valid for 10 minutes. Public
//!   repositories need none.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::auth::{self, Credentials};
use super::counters::RequestKind;
use super::error::Failure;
use super::http::{Fetched, Http};
use super::image::ImageName;
use super::oci::next_page;
use super::paged::{self, Listed};
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::policy::TagInfo;

/// Where the Hub API lives unless an `endpoint` says otherwise.
const HUB_API: &str = "https://hub.docker.com";
const PAGE_SIZE: usize = 100;
/// Access tokens live 10 minutes; a new one is asked for before that.
const TOKEN_LIFETIME: Duration = Duration::from_secs(8 * 60);
/// How often an image's tags are listed in full rather than up to the first known tag, so
/// that deleted tags drop out.
const FULL_LISTING_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(super) struct HubSource {
    http: Arc<Http>,
    /// `scheme://host[:port]` of the API.
    base: String,
    auth_config: Option<RegistryAuth>,
    /// The bearer and when it was issued.
    token: Mutex<Option<(HeaderValue, SystemTime)>>,
    limits: ListLimits,
    /// Each image's last listing, newest first, with when it was last listed in full.
    listed: std::sync::Mutex<HashMap<String, (Vec<TagInfo>, Instant)>>,
}

#[derive(Deserialize)]
struct Page {
    next: Option<String>,
    #[serde(default)]
    results: Vec<HubTag>,
}

#[derive(Deserialize)]
struct HubTag {
    name: String,
    digest: Option<String>,
    tag_last_pushed: Option<String>,
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
}

impl HubSource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>) -> HubSource {
        let base = paged::api_base(registry, || HUB_API.to_string());
        HubSource {
            http,
            base,
            auth_config: registry.auth.clone(),
            token: Mutex::new(None),
            limits: registry.limits,
            listed: Default::default(),
        }
    }

    /// Every tag of `image`, with digests and push times, newest first. Pages are read until
    /// a tag the last listing already had, unchanged: what follows it was listed before. A
    /// full listing, which also drops deleted tags, is made every [`FULL_LISTING_EVERY`].
    pub(super) async fn tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let (namespace, repository) = image
            .repository
            .split_once('/')
            .ok_or_else(|| Failure::InvalidImage(image.written.clone()))?;
        let first = format!(
            "{}/v2/namespaces/{namespace}/repositories/{repository}/tags?page_size={PAGE_SIZE}&ordering=last_updated",
            self.base
        );
        let first =
            Url::parse(&first).map_err(|e| Failure::InvalidImage(format!("{first}: {e}")))?;
        let previous = self.previous(image);
        let known: HashMap<&str, &TagInfo> = previous
            .iter()
            .flat_map(|(tags, _)| tags.iter().map(|t| (t.tag.as_str(), t)))
            .collect();
        // Stopping early is only sound while the listing really is newest first: a page out
        // of that order (or without times) is read to the end, and so are all after it.
        let mut newest_first = true;
        let mut oldest_so_far = None;
        let source = paged::Source {
            image,
            vendor: "Docker Hub",
            limits: self.limits,
        };
        let listing = paged::follow_until(
            source,
            first,
            |url| self.page(url),
            |page| {
                for tag in page {
                    let ordered = tag.pushed.is_some()
                        && oldest_so_far.is_none_or(|oldest| tag.pushed <= oldest);
                    newest_first &= ordered;
                    oldest_so_far = Some(tag.pushed);
                }
                let unchanged = |tag: &TagInfo| known.get(tag.tag.as_str()) == Some(&tag);
                newest_first
                    .then(|| page.iter().position(unchanged))
                    .flatten()
            },
        )
        .await?;
        let (tags, full_at) = match (listing.stopped, previous) {
            (true, Some((older, full_at))) => {
                let fresh: HashSet<&str> = listing.tags.iter().map(|t| t.tag.as_str()).collect();
                let unchanged: Vec<TagInfo> = older
                    .iter()
                    .filter(|t| !fresh.contains(t.tag.as_str()))
                    .cloned()
                    .collect();
                (listing.tags.into_iter().chain(unchanged).collect(), full_at)
            }
            _ => (listing.tags, Instant::now()),
        };
        self.remember(image, &tags, full_at);
        Ok(tags)
    }

    /// The last listing of `image` and when it was last made in full, unless a full one is due.
    fn previous(&self, image: &ImageName) -> Option<(Vec<TagInfo>, Instant)> {
        let listed = crate::store::lock(&self.listed);
        let (tags, full_at) = listed.get(&image.written)?;
        (full_at.elapsed() < FULL_LISTING_EVERY).then(|| (tags.clone(), *full_at))
    }

    fn remember(&self, image: &ImageName, tags: &[TagInfo], full_at: Instant) {
        let mut listed = crate::store::lock(&self.listed);
        // Images nobody lists any more are forgotten.
        listed.retain(|_, (_, at)| at.elapsed() < FULL_LISTING_EVERY);
        listed.insert(image.written.clone(), (tags.to_vec(), full_at));
    }

    async fn page(&self, url: Url) -> Result<(Vec<Listed>, Option<Url>), Failure> {
        let fetched = self.get(&url).await?;
        let page: Page = paged::json(&fetched.body, "Docker Hub")?;
        let listed = page
            .results
            .into_iter()
            .map(|tag| Listed {
                pushed: tag
                    .tag_last_pushed
                    .or(tag.last_updated)
                    .as_deref()
                    .and_then(paged::rfc3339),
                name: tag.name,
                digest: tag.digest,
            })
            .collect();
        let next = page.next.map(|next| next_page(&url, &next)).transpose()?;
        Ok((listed, next))
    }

    /// One page, with a bearer when credentials are configured; a 401 gets a fresh token and
    /// one more try (a rotated secret is read again).
    async fn get(&self, url: &Url) -> Result<Fetched, Failure> {
        let mut renewed = false;
        loop {
            let bearer = self.bearer(renewed).await?;
            let fetched = self
                .http
                .send(RequestKind::Tags, || {
                    let request = self
                        .http
                        .client()
                        .get(url.clone())
                        .header(ACCEPT, "application/json");
                    match &bearer {
                        Some(value) => request.header(AUTHORIZATION, value.clone()),
                        None => request,
                    }
                })
                .await?;
            match fetched.status.as_u16() {
                200..=299 => return Ok(fetched),
                401 if bearer.is_some() && !renewed => renewed = true,
                401 | 403 => return Err(Failure::Auth("Docker Hub refused the tag list".into())),
                404 => return Err(Failure::NotFound),
                status => {
                    return Err(Failure::Status {
                        status,
                        what: "Docker Hub tag list",
                    });
                }
            }
        }
    }

    /// The bearer for the configured credentials (none for anonymous access), issued anew
    /// when it is old or `renew` is set.
    async fn bearer(&self, renew: bool) -> Result<Option<HeaderValue>, Failure> {
        let mut slot = self.token.lock().await;
        if let Some((token, issued)) = &*slot
            && !renew
            && issued.elapsed().is_ok_and(|age| age < TOKEN_LIFETIME)
        {
            return Ok(Some(token.clone()));
        }
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let audience = auth::Audience {
            host: "registry-1.docker.io",
            base: &self.base,
            http: &self.http,
            renew,
        };
        let credentials =
            auth::resolve(self.auth_config.as_ref(), &audience, home.as_deref()).await?;
        let Credentials::Basic { username, password } = credentials else {
            return Ok(None);
        };
        let url = format!("{}/v2/auth/token", self.base);
        let body =
            serde_json::json!({"identifier": username, "secret": password.expose()}).to_string();
        let fetched = self
            .http
            .send(RequestKind::Auth, || {
                self.http
                    .client()
                    .request(Method::POST, &url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        if !fetched.status.is_success() {
            return Err(Failure::Auth(format!(
                "Docker Hub refused the credentials (HTTP {})",
                fetched.status.as_u16()
            )));
        }
        let token: AccessToken = serde_json::from_slice(&fetched.body)
            .map_err(|e| Failure::Malformed(format!("Docker Hub access token: {e}")))?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.access_token))
            .map_err(|_| Failure::Malformed("Docker Hub access token".into()))?;
        value.set_sensitive(true);
        *slot = Some((value.clone(), SystemTime::now()));
        Ok(Some(value))
    }
}
