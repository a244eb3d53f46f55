//! OCI distribution registries (Docker Hub, GHCR, GAR, Quay, Harbor, the CNCF registry, …).
//!
//! A small client of its own rather than a general OCI library: every request — token, tag
//! page, manifest, blob — must pass the registry's rate limiter and counters, tag listings must
//! follow `Link` cursors, and only three reads are ever needed (tags, a manifest, a config).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::SharedTags;
use super::auth::{self, Authorizer};
use super::cache::DiskCache;
use super::counters::RequestKind;
use super::error::Failure;
use super::http::{Asked, Fetched, Http};
use super::image::ImageName;
use super::paged;
use crate::config::{ListLimits, Platform, Registry, RegistryAuth};
use crate::image::reference::is_valid_tag;
use crate::policy::{ImageTags, TagInfo};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";
/// Tags per page asked for; registries may return fewer and page with `Link`.
const PAGE_SIZE: usize = 100;
/// Images created before this are taken to have no real creation time (reproducible builds
/// write the epoch or other fixed dates).
/// How long credentials read for a registry are used before they are read again.
const CREDENTIALS_FRESH: std::time::Duration = std::time::Duration::from_secs(300);

const PLAUSIBLE_SINCE: u64 = 946_684_800; // 2000-01-01T00:00:00Z

#[derive(Debug)]
pub(super) struct OciSource {
    http: Arc<Http>,
    /// `http` for insecure registries, else `https`.
    scheme: &'static str,
    /// `host[:port]` called instead of the image's own host.
    endpoint: Option<String>,
    auth_config: Option<RegistryAuth>,
    /// With when its credentials were read (see [`OciSource::authorizer`]).
    authorizer: Mutex<Option<(Arc<Authorizer>, std::time::Instant)>>,
    platform: Platform,
    mutable_tags: bool,
    cache: Arc<DiskCache>,
    limits: ListLimits,
    /// Tags resolved at once when creation times are needed.
    parallel: usize,
    /// One lock per image being completed (see [`OciSource::complete`]).
    turns: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl OciSource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>, cache: Arc<DiskCache>) -> OciSource {
        OciSource {
            http,
            scheme: match &registry.endpoint {
                Some(endpoint) => endpoint.scheme,
                None if registry.insecure => "http",
                None => "https",
            },
            endpoint: registry.endpoint.as_ref().map(|e| e.authority.clone()),
            auth_config: registry.auth.clone(),
            authorizer: Mutex::new(None),
            platform: registry.platform.clone(),
            mutable_tags: registry.mutable_tags,
            cache,
            limits: registry.limits,
            parallel: registry.max_concurrency.max(1) * 2,
            turns: Default::default(),
        }
    }

    /// Tags of `image`; with `with_times`, each with its digest and creation time (from the
    /// cache where known, else one manifest HEAD and a manifest + config read).
    pub(super) async fn tags(
        &self,
        image: &ImageName,
        with_times: bool,
    ) -> Result<Vec<TagInfo>, Failure> {
        let names = self.list_tags(image).await?;
        let listed: HashSet<&str> = names.iter().map(String::as_str).collect();
        self.cache.retain_tags(&image.written, &listed);
        if !with_times {
            return Ok(names
                .into_iter()
                .map(|tag| TagInfo {
                    digest: self.cache.digest(&image.written, &tag),
                    tag,
                    pushed: None,
                })
                .collect());
        }
        let infos: Vec<Option<TagInfo>> = stream::iter(names)
            .map(|tag| self.tag_info(image, tag))
            .buffered(self.parallel)
            .try_collect()
            .await?;
        let infos: Vec<TagInfo> = infos.into_iter().flatten().collect();
        let unknown = infos.iter().filter(|t| t.pushed.is_none()).count();
        if unknown > 0 {
            tracing::warn!(
                image = %image.written,
                unknown,
                "images without a plausible creation time sort oldest: time ordering is unreliable for this image"
            );
        }
        Ok(infos)
    }

    /// Whether `tag`'s digest and time were read before. (With `mutableTags` its digest is
    /// still checked each cycle, one HEAD; only tags never read count against the cycle's
    /// share, so none waits forever.)
    fn known(&self, image: &ImageName, tag: &str) -> bool {
        self.cache
            .digest(&image.written, tag)
            .is_some_and(|d| self.cache.created(&d).is_some())
    }

    /// `listing` with digests and times read for the `wanted` tags: at most
    /// `lookupsPerCycle` that cost requests, the rest left pending for later cycles. Callers
    /// completing one image take turns, so a tag is never read twice.
    pub(super) async fn complete(
        &self,
        image: &ImageName,
        listing: SharedTags,
        wanted: &HashSet<String>,
    ) -> Result<ImageTags, Failure> {
        let turn = self.turn(image);
        let _turn = turn.lock().await;
        let (ready, mut costly): (Vec<&str>, Vec<&str>) = listing
            .iter()
            .map(|t| t.tag.as_str())
            .filter(|t| wanted.contains(*t))
            .partition(|t| self.known(image, t));
        // The newest-looking tags are read first: longer, then greater, which puts
        // `develop-10` before `develop-9` and `1.10.0` before `1.9.0`.
        costly.sort_by(|a, b| (b.len(), b).cmp(&(a.len(), a)));
        let read_now = costly.len().min(self.limits.lookups_per_cycle);
        let pending: Vec<String> = costly[read_now..].iter().map(|t| t.to_string()).collect();
        let to_read: Vec<String> = ready
            .iter()
            .chain(&costly[..read_now])
            .map(|t| t.to_string())
            .collect();
        let pointed: Vec<Option<(String, Option<Manifest>)>> = stream::iter(to_read.clone())
            .map(|tag| async move { self.pointed(image, &tag).await })
            .buffered(self.parallel)
            .try_collect()
            .await?;
        // One time read per image, however many tags name it.
        let mut images: HashMap<String, Option<Manifest>> = HashMap::new();
        let digests: Vec<Option<String>> = pointed
            .into_iter()
            .map(|pointed| {
                let (digest, manifest) = pointed?;
                let slot = images.entry(digest.clone()).or_default();
                if slot.is_none() {
                    *slot = manifest;
                }
                Some(digest)
            })
            .collect();
        let times: HashMap<String, Option<SystemTime>> = stream::iter(images)
            .map(|(digest, manifest)| async move {
                let time = self.time_of(image, &digest, manifest).await?;
                Ok::<_, Failure>((digest, time))
            })
            .buffered(self.parallel)
            .try_collect()
            .await?;
        let read: HashMap<String, Option<TagInfo>> = to_read
            .into_iter()
            .zip(digests)
            .map(|(tag, digest)| {
                let info = digest.map(|digest| TagInfo {
                    pushed: times.get(&digest).copied().flatten(),
                    digest: Some(digest),
                    tag: tag.clone(),
                });
                (tag, info)
            })
            .collect();
        let tags = listing
            .iter()
            .filter_map(|info| match read.get(&info.tag) {
                // Read now, or gone since the listing.
                Some(found) => found.clone(),
                None => Some(info.clone()),
            })
            .collect();
        Ok(ImageTags {
            tags: Arc::new(tags),
            pending: Arc::new(pending),
        })
    }

    /// The lock callers completing `image` take turns with.
    fn turn(&self, image: &ImageName) -> Arc<Mutex<()>> {
        let mut turns = crate::store::lock(&self.turns);
        // Nobody else holds the others.
        turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        turns.entry(image.written.clone()).or_default().clone()
    }

    /// The digest the registry gives `tag` now (one manifest HEAD), recorded in the cache.
    async fn digest(&self, image: &ImageName, tag: &str) -> Result<String, Failure> {
        let url = self.url(image, &format!("manifests/{tag}"))?;
        let head = self
            .fetch(RequestKind::Manifest, image, &url, Method::HEAD, "manifest")
            .await?;
        let digest = match header(&head, "docker-content-digest") {
            Some(digest) => digest.to_string(),
            // Some registries omit the header on HEAD: read the manifest and hash it.
            None => {
                let fetched = self
                    .fetch(RequestKind::Manifest, image, &url, Method::GET, "manifest")
                    .await?;
                format!("sha256:{:x}", Sha256::digest(&fetched.body))
            }
        };
        if !is_digest(&digest) {
            return Err(Failure::Malformed(format!("manifest digest {digest:?}")));
        }
        self.cache.set_digest(&image.written, tag, &digest);
        Ok(digest)
    }

    /// `None` when the tag vanished between listing and lookup. A new tag costs one manifest
    /// read (which also gives its digest), and the config read unless the manifest carries a
    /// creation annotation; a known tag costs nothing (with `mutableTags`, one HEAD, which
    /// Docker Hub does not count as a pull).
    async fn tag_info(&self, image: &ImageName, tag: String) -> Result<Option<TagInfo>, Failure> {
        let Some((digest, manifest)) = self.pointed(image, &tag).await? else {
            return Ok(None);
        };
        let pushed = self.time_of(image, &digest, manifest).await?;
        Ok(Some(TagInfo {
            tag,
            pushed,
            digest: Some(digest),
        }))
    }

    /// The digest `tag` names, with its manifest when that had to be read to learn it; `None`
    /// when the tag vanished.
    async fn pointed(
        &self,
        image: &ImageName,
        tag: &str,
    ) -> Result<Option<(String, Option<Manifest>)>, Failure> {
        let known = self.cache.digest(&image.written, tag);
        let looked_up = match (known, self.mutable_tags) {
            (Some(digest), false) => Ok((digest, None)),
            (Some(_), true) => self.digest(image, tag).await.map(|digest| (digest, None)),
            (None, _) => self
                .manifest_of_tag(image, tag)
                .await
                .map(|(digest, manifest)| (digest, Some(manifest))),
        };
        match looked_up {
            Ok(found) => Ok(Some(found)),
            Err(Failure::NotFound) => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    /// The time of the image `digest` names: cached, else from its `manifest` (read now if
    /// not given) and config.
    async fn time_of(
        &self,
        image: &ImageName,
        digest: &str,
        manifest: Option<Manifest>,
    ) -> Result<Option<SystemTime>, Failure> {
        if let Some(created) = self.cache.created(digest) {
            return Ok(created);
        }
        let manifest = match manifest {
            Some(manifest) => manifest,
            None => self.manifest(image, digest).await?,
        };
        let created = self.created(image, digest, manifest).await?;
        self.cache.set_created(digest, created);
        Ok(created)
    }

    /// The manifest `tag` names now and its digest (recorded in the cache), in one read.
    async fn manifest_of_tag(
        &self,
        image: &ImageName,
        tag: &str,
    ) -> Result<(String, Manifest), Failure> {
        let url = self.url(image, &format!("manifests/{tag}"))?;
        let fetched = self
            .fetch(RequestKind::Manifest, image, &url, Method::GET, "manifest")
            .await?;
        let digest = match header(&fetched, "docker-content-digest") {
            Some(digest) => digest.to_string(),
            None => format!("sha256:{:x}", Sha256::digest(&fetched.body)),
        };
        if !is_digest(&digest) {
            return Err(Failure::Malformed(format!("manifest digest {digest:?}")));
        }
        let manifest = parse_manifest(&fetched)?;
        self.cache.set_digest(&image.written, tag, &digest);
        Ok((digest, manifest))
    }

    /// The creation time of the image `manifest` (named `digest`) describes: its annotation,
    /// else its config's `created`; for an index, of the configured platform's image.
    async fn created(
        &self,
        image: &ImageName,
        digest: &str,
        mut manifest: Manifest,
    ) -> Result<Option<SystemTime>, Failure> {
        if let Some(created) = manifest.annotated_created() {
            return Ok(Some(created));
        }
        if manifest.is_index() {
            let Some(entry) = manifest.pick(&self.platform) else {
                tracing::warn!(image = %image.written, %digest, platform = %self.platform, "no image for the platform in the index");
                return Ok(None);
            };
            manifest = self.manifest(image, &entry).await?;
            if let Some(created) = manifest.annotated_created() {
                return Ok(Some(created));
            }
        }
        let Some(config) = manifest.config.map(|c| c.digest) else {
            return Err(Failure::Malformed("image manifest without config".into()));
        };
        let url = self.url(image, &format!("blobs/{config}"))?;
        let fetched = self
            .fetch(RequestKind::Blob, image, &url, Method::GET, "image config")
            .await?;
        let config: ImageConfig = json(&fetched, "image config")?;
        Ok(config.created.as_deref().and_then(plausible_time))
    }

    async fn manifest(&self, image: &ImageName, reference: &str) -> Result<Manifest, Failure> {
        let url = self.url(image, &format!("manifests/{reference}"))?;
        let fetched = self
            .fetch(RequestKind::Manifest, image, &url, Method::GET, "manifest")
            .await?;
        parse_manifest(&fetched)
    }

    /// Every tag, following `Link: <…>; rel="next"` cursors, refusing partial lists.
    async fn list_tags(&self, image: &ImageName) -> Result<Vec<String>, Failure> {
        let mut url = self.url(image, &format!("tags/list?n={PAGE_SIZE}"))?;
        let mut tags = Vec::new();
        let mut fetched_pages = HashSet::new();
        for _ in 0..self.limits.max_pages {
            if !fetched_pages.insert(url.to_string()) {
                return Err(Failure::PageLoop);
            }
            let fetched = self
                .fetch(RequestKind::Tags, image, &url, Method::GET, "tag list")
                .await?;
            let page: TagPage = json(&fetched, "tag list")?;
            for tag in page.tags.unwrap_or_default() {
                if is_valid_tag(&tag) {
                    tags.push(tag);
                } else {
                    tracing::warn!(image = %image.written, tag = %tag.escape_debug(), "registry listed an invalid tag; dropped");
                }
            }
            if tags.len() > self.limits.max_tags {
                return Err(Failure::TooManyTags(self.limits.max_tags));
            }
            match next_link(&fetched, &url)? {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        Err(Failure::TooManyPages(self.limits.max_pages))
    }

    fn url(&self, image: &ImageName, rest: &str) -> Result<Url, Failure> {
        let text = format!("{}/v2/{}/{rest}", self.base(image), image.repository);
        Url::parse(&text).map_err(|e| Failure::InvalidImage(format!("{text}: {e}")))
    }

    /// `scheme://host[:port]` called for `image`.
    pub(super) fn base(&self, image: &ImageName) -> String {
        format!("{}://{}", self.scheme, self.host(image))
    }

    /// The host called for `image`: the endpoint, if one is configured.
    fn host<'a>(&'a self, image: &'a ImageName) -> &'a str {
        self.endpoint.as_deref().unwrap_or(&image.host)
    }

    /// The authorizer for this registry. Its credentials are read again (a password file, an
    /// environment variable, a docker config, a credential helper's output) once they are
    /// [`CREDENTIALS_FRESH`] old, and when `renew` says the registry refused them: a rotated
    /// secret or an hourly helper token works without a restart.
    async fn authorizer(&self, image: &ImageName, renew: bool) -> Result<Arc<Authorizer>, Failure> {
        let mut slot = self.authorizer.lock().await;
        if let Some((authorizer, read)) = &*slot
            && !renew
            && read.elapsed() < CREDENTIALS_FRESH
        {
            return Ok(authorizer.clone());
        }
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let base = self.base(image);
        let audience = auth::Audience {
            host: self.host(image),
            base: &base,
            http: &self.http,
            renew,
        };
        let credentials =
            auth::resolve(self.auth_config.as_ref(), &audience, home.as_deref()).await?;
        let authorizer = Arc::new(Authorizer::new(credentials));
        *slot = Some((authorizer.clone(), std::time::Instant::now()));
        Ok(authorizer)
    }

    /// The client of this registry, for its vendor's API.
    pub(super) fn http(&self) -> &Http {
        &self.http
    }

    /// One authorised request with the pull scope.
    async fn fetch(
        &self,
        kind: RequestKind,
        image: &ImageName,
        url: &Url,
        method: Method,
        what: &'static str,
    ) -> Result<Fetched, Failure> {
        let asked = Asked { kind, method, what };
        self.fetch_scoped(asked, image, url, &image.pull_scope())
            .await
    }

    /// One authorised request: sent with what the authorizer knows for `scope`, and once more
    /// after answering a 401 challenge. A status other than 2xx becomes the matching failure,
    /// with `what` saying what was being read.
    pub(super) async fn fetch_scoped(
        &self,
        asked: Asked,
        image: &ImageName,
        url: &Url,
        scope: &str,
    ) -> Result<Fetched, Failure> {
        let Asked { kind, method, what } = asked;
        let mut authorizer = self.authorizer(image, false).await?;
        let mut auth = authorizer.header(scope).await;
        let mut answered = false;
        let mut renewed = false;
        loop {
            let fetched = self
                .http
                .send(kind, || {
                    let request = self
                        .http
                        .client()
                        .request(method.clone(), url.clone())
                        .header(ACCEPT, MANIFEST_ACCEPT);
                    match &auth {
                        Some(value) => request.header(AUTHORIZATION, value.clone()),
                        None => request,
                    }
                })
                .await?;
            if fetched.status.as_u16() != 401 || (answered && renewed) {
                return expect_ok(fetched, what);
            }
            // Refused after answering the challenge: read the credentials again, once.
            if answered {
                authorizer = self.authorizer(image, true).await?;
                renewed = true;
            }
            let challenge = header(&fetched, WWW_AUTHENTICATE.as_str())
                .ok_or_else(|| Failure::Auth("HTTP 401 without a challenge".into()))?
                .to_string();
            auth = Some(authorizer.answer(&self.http, &challenge, scope).await?);
            answered = true;
        }
    }
}

/// A JSON body, or a typed failure naming what it should have been.
fn json<T: serde::de::DeserializeOwned>(fetched: &Fetched, what: &str) -> Result<T, Failure> {
    serde_json::from_slice(&fetched.body).map_err(|e| Failure::Malformed(format!("{what}: {e}")))
}

/// A manifest or index; a media type missing from the body comes from the response header.
fn parse_manifest(fetched: &Fetched) -> Result<Manifest, Failure> {
    let mut manifest: Manifest = json(fetched, "manifest")?;
    if manifest.media_type.is_none() {
        manifest.media_type = header(fetched, CONTENT_TYPE.as_str()).map(str::to_string);
    }
    Ok(manifest)
}

fn header<'a>(fetched: &'a Fetched, name: &str) -> Option<&'a str> {
    fetched
        .headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

fn expect_ok(fetched: Fetched, what: &'static str) -> Result<Fetched, Failure> {
    match fetched.status.as_u16() {
        200..=299 => Ok(fetched),
        401 => Err(Failure::Auth(format!(
            "credentials rejected reading the {what}"
        ))),
        403 => Err(Failure::Auth(format!("access to the {what} denied"))),
        404 => Err(Failure::NotFound),
        status => Err(Failure::Status { status, what }),
    }
}

/// The `rel="next"` target of a `Link` header, resolved against the page URL; it must stay on
/// the same origin, or credentials could be sent elsewhere.
pub(super) fn next_link(fetched: &Fetched, current: &Url) -> Result<Option<Url>, Failure> {
    let Some(value) = header(fetched, LINK.as_str()) else {
        return Ok(None);
    };
    let Some(target) = parse_next_link(value) else {
        return Ok(None);
    };
    next_page(current, target).map(Some)
}

/// A next page's address resolved against the current one; it must stay on the same origin,
/// or credentials could be sent elsewhere.
pub(super) fn next_page(current: &Url, target: &str) -> Result<Url, Failure> {
    let next = current
        .join(target)
        .map_err(|_| Failure::Malformed(format!("next page link {target:?}")))?;
    if next.origin() != current.origin() {
        return Err(Failure::Malformed(
            "the next page link points at another host".into(),
        ));
    }
    Ok(next)
}

/// `<url>; rel="next", <url2>; rel="prev"` → the `next` url.
fn parse_next_link(value: &str) -> Option<&str> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>')? + open;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        if is_next {
            return Some(target);
        }
        rest = &rest[params_end..];
    }
    None
}

pub(super) fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 3339 → time, unless before 2000 (reproducible builds) or unreadable.
fn plausible_time(text: &str) -> Option<SystemTime> {
    paged::rfc3339(text)
        .filter(|at| *at >= UNIX_EPOCH + std::time::Duration::from_secs(PLAUSIBLE_SINCE))
}

#[derive(Deserialize)]
struct TagPage {
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<IndexEntry>,
    config: Option<Descriptor>,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

impl Manifest {
    /// The build time the manifest itself states (`org.opencontainers.image.created`), when
    /// plausible: the config blob then need not be read.
    fn annotated_created(&self) -> Option<SystemTime> {
        self.annotations
            .get("org.opencontainers.image.created")
            .and_then(|at| plausible_time(at))
    }
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    platform: Option<PlatformSpec>,
}

#[derive(Deserialize)]
struct PlatformSpec {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl PlatformSpec {
    /// `os/architecture[/variant]`.
    fn name(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
struct ImageConfig {
    created: Option<String>,
}

impl Manifest {
    fn is_index(&self) -> bool {
        self.media_type
            .as_deref()
            .is_some_and(|t| INDEX_TYPES.iter().any(|i| t.starts_with(i)))
            || (!self.manifests.is_empty() && self.config.is_none())
    }

    /// The entry for `platform`: os and architecture must match; the variant too when one is
    /// configured.
    fn pick(&self, platform: &Platform) -> Option<String> {
        self.manifests
            .iter()
            .filter(|m| {
                m.platform.as_ref().is_some_and(|p| {
                    p.os == platform.os
                        && p.architecture == platform.architecture
                        && (platform.variant.is_none() || p.variant == platform.variant)
                })
            })
            .map(|m| m.digest.clone())
            .next()
    }
}

mod evidence;
#[cfg(test)]
mod tests;
