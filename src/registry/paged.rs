//! Tag listings that vendors' own APIs serve in pages of JSON, each tag with a push time:
//! followed page by page with the same caps and loop check as a registry's tag list.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};

use super::auth::{self, Audience, Credentials};
use super::counters::RequestKind;
use super::error::Failure;
use super::http::{Fetched, Http};
use super::image::ImageName;
use super::oci::is_digest;
use crate::config::{ListLimits, Registry, RegistryAuth};
use crate::image::reference::is_valid_tag;
use crate::policy::TagInfo;

/// One tag as a vendor lists it.
pub(super) struct Listed {
    pub name: String,
    pub digest: Option<String>,
    pub pushed: Option<SystemTime>,
}

/// Every tag, from `first` on while `page` names a next page. A next page already fetched is
/// a loop; more than the limits allow is refused, never used partly; invalid tags are dropped.
pub(super) async fn follow<F, Fut>(
    image: &ImageName,
    vendor: &str,
    first: Url,
    limits: ListLimits,
    page: F,
) -> Result<Vec<TagInfo>, Failure>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<(Vec<Listed>, Option<Url>), Failure>>,
{
    let source = Source {
        image,
        vendor,
        limits,
    };
    let listing = follow_until(source, first, page, |_| None).await?;
    Ok(listing.tags)
}

/// Whose tags a listing pages through, and how far it may go.
pub(super) struct Source<'a> {
    pub image: &'a ImageName,
    /// The API's name, for the log.
    pub vendor: &'a str,
    pub limits: ListLimits,
}

/// Tags as [`follow_until`] lists them.
pub(super) struct Listing {
    pub tags: Vec<TagInfo>,
    /// `known_from` ended the listing before its last page.
    pub stopped: bool,
}

/// [`follow`], ending early where `known_from` says, for each page in turn, that the rest was
/// listed before (the index of the first such tag in the page).
pub(super) async fn follow_until<F, Fut>(
    source: Source<'_>,
    first: Url,
    mut page: F,
    mut known_from: impl FnMut(&[TagInfo]) -> Option<usize>,
) -> Result<Listing, Failure>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<(Vec<Listed>, Option<Url>), Failure>>,
{
    let Source {
        image,
        vendor,
        limits,
    } = source;
    let mut url = first;
    let mut tags = Vec::new();
    let mut fetched = HashSet::new();
    for _ in 0..limits.max_pages {
        if !fetched.insert(url.to_string()) {
            return Err(Failure::PageLoop);
        }
        let (listed, next) = page(url).await?;
        let mut infos: Vec<TagInfo> = listed
            .into_iter()
            .filter(|tag| {
                let valid = is_valid_tag(&tag.name);
                if !valid {
                    tracing::warn!(image = %image.written, tag = %tag.name.escape_debug(), "{vendor} listed an invalid tag; dropped");
                }
                valid
            })
            .map(|tag| TagInfo {
                tag: tag.name,
                pushed: tag.pushed,
                digest: tag.digest.filter(|d| is_digest(d)),
            })
            .collect();
        let stop = known_from(&infos);
        if let Some(at) = stop {
            infos.truncate(at);
        }
        tags.append(&mut infos);
        if tags.len() > limits.max_tags {
            return Err(Failure::TooManyTags(limits.max_tags));
        }
        match (stop, next) {
            (None, Some(next)) => url = next,
            (stop, _) => {
                return Ok(Listing {
                    tags,
                    stopped: stop.is_some(),
                });
            }
        }
    }
    Err(Failure::TooManyPages(limits.max_pages))
}

/// `scheme://host[:port]` of a vendor's API: the registry's `endpoint`, else `default`.
pub(super) fn api_base(registry: &Registry, default: impl FnOnce() -> String) -> String {
    match &registry.endpoint {
        Some(endpoint) => format!("{}://{}", endpoint.scheme, endpoint.authority),
        None => default(),
    }
}

/// An RFC 3339 time, as the vendors' APIs write them.
pub(super) fn rfc3339(text: &str) -> Option<SystemTime> {
    let timestamp: jiff::Timestamp = text.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(timestamp.as_second()).ok()?))
}

/// A vendor's JSON body, or a malformed-response failure naming the vendor.
pub(super) fn json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    vendor: &str,
) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::Malformed(format!("{vendor} tag list: {e}")))
}

/// One page, with `authorization` if given; statuses other than success are failures.
pub(super) async fn get(
    http: &Http,
    url: &Url,
    authorization: Option<&HeaderValue>,
    vendor: &'static str,
) -> Result<Fetched, Failure> {
    let fetched = http
        .send(RequestKind::Tags, || {
            let request = http
                .client()
                .get(url.clone())
                .header(ACCEPT, "application/json");
            match authorization {
                Some(value) => request.header(AUTHORIZATION, value.clone()),
                None => request,
            }
        })
        .await?;
    match fetched.status.as_u16() {
        200..=299 => Ok(fetched),
        401 | 403 => Err(Failure::Auth(format!("{vendor} refused the tag list"))),
        404 => Err(Failure::NotFound),
        status => Err(Failure::Status {
            status,
            what: vendor,
        }),
    }
}

/// The credentials configured for `host`, reached at `base` through `http`, read now (a
/// rotated secret is picked up).
pub(super) async fn credentials(
    auth: Option<&RegistryAuth>,
    http: &Http,
    host: &str,
    base: &str,
) -> Result<Credentials, Failure> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let audience = Audience {
        host,
        base,
        http,
        renew: false,
    };
    auth::resolve(auth, &audience, home.as_deref()).await
}

/// A header value that is never printed.
pub(super) fn sensitive(value: &str) -> Result<HeaderValue, Failure> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Failure::Credentials("a credential holds characters a header cannot".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}
