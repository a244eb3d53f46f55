//! The registry layer: for an image, which tags exist, their digests and push times.
//!
//! [`Registries`] is the one entry point. It holds one [`TagSource`] per configured registry
//! (OCI or ECR), keyed by [`RegistryId`], shares listings between callers that ask at about
//! the same time (single-flight: many repos referencing one image cost one listing per round
//! of cycles, and no cycle gets a listing older than its own start), and keeps the on-disk
//! cache of facts that never change.

mod acr;
pub mod auth;
mod cache;
pub mod counters;
mod dockerhub;
mod ecr;
pub mod error;
mod gar;
mod ghcr;
mod harbor;
mod helm_index;
pub mod http;
mod identity;
pub mod image;
mod oci;
mod paged;
mod quay;
mod ratelimit;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::OnceCell;
use tokio::time::Instant;

pub use cache::DiskCache;
pub use counters::{RequestCounters, RequestKind};
pub use error::{Failure, RegistryError};
pub use image::ImageName;

use crate::config::{Registry, RegistryId, RegistryKind};
use crate::image::hub::ImageKey;
use crate::policy::{ImageTags, TagInfo};
use crate::trust::{Evidence, Gate, Verdict};

/// The cache file under `dataDir`.
pub const CACHE_FILE: &str = "registry-cache.json";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where tags come from. One per configured registry.
pub trait TagSource: Send + Sync {
    /// Every tag of `image`; with `with_times`, with push/creation times and digests.
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>>;

    /// [`TagSource::tags`] for a caller that takes any listing begun at `not_before` or later
    /// (a cycle passes its start): a source that reads one document for many images (a Helm
    /// repository's index) shares a read begun since.
    fn tags_since<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
        _not_before: Option<Instant>,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        self.tags(image, with_times)
    }

    /// Whether times come with the listing (a vendor's API), rather than costing requests
    /// per tag.
    fn lists_times(&self) -> bool {
        true
    }

    /// `listing` with times and digests read for the `wanted` tags, as far as this cycle's
    /// share allows; sources whose listings carry times have nothing to add.
    fn complete<'a>(
        &'a self,
        _image: &'a ImageName,
        listing: SharedTags,
        _wanted: &'a HashSet<String>,
    ) -> BoxFuture<'a, Result<ImageTags, Failure>> {
        Box::pin(async move { Ok(ImageTags::complete(listing)) })
    }

    /// What `gate` needs to judge `digest`: signatures, bundles, platforms, read through the
    /// registry protocol (ECR's own API has no way to them).
    fn evidence<'a>(
        &'a self,
        _image: &'a ImageName,
        _digest: &'a str,
        _gate: &'a Gate,
    ) -> BoxFuture<'a, Result<Evidence, Failure>> {
        Box::pin(async {
            Err(Failure::Setup(
                "verify is not available for ECR registries".into(),
            ))
        })
    }
}

impl TagSource for oci::OciSource {
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        Box::pin(oci::OciSource::tags(self, image, with_times))
    }

    fn lists_times(&self) -> bool {
        false
    }

    fn complete<'a>(
        &'a self,
        image: &'a ImageName,
        listing: SharedTags,
        wanted: &'a HashSet<String>,
    ) -> BoxFuture<'a, Result<ImageTags, Failure>> {
        Box::pin(oci::OciSource::complete(self, image, listing, wanted))
    }

    fn evidence<'a>(
        &'a self,
        image: &'a ImageName,
        digest: &'a str,
        gate: &'a Gate,
    ) -> BoxFuture<'a, Result<Evidence, Failure>> {
        Box::pin(oci::OciSource::evidence(self, image, digest, gate))
    }
}

/// Sources whose listing always carries times and digests (ECR, the vendors' APIs):
/// `with_times` changes nothing for them.
macro_rules! timed_source {
    ($($source:ty),*) => {$(
        impl TagSource for $source {
            fn tags<'a>(
                &'a self,
                image: &'a ImageName,
                _with_times: bool,
            ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
                Box::pin(<$source>::tags(self, image))
            }
        }
    )*};
}

impl TagSource for helm_index::IndexSource {
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        _with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        Box::pin(helm_index::IndexSource::tags(self, image, None))
    }

    fn tags_since<'a>(
        &'a self,
        image: &'a ImageName,
        _with_times: bool,
        not_before: Option<Instant>,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        Box::pin(helm_index::IndexSource::tags(self, image, not_before))
    }
}

timed_source!(
    dockerhub::HubSource,
    quay::QuaySource,
    harbor::HarborSource,
    ghcr::GhcrSource,
    ecr::EcrSource
);

/// A registry whose client could not be set up (say, an unreadable CA file): every request
/// reports that, and the other registries carry on.
struct Broken(Failure);

impl TagSource for Broken {
    fn tags<'a>(
        &'a self,
        _: &'a ImageName,
        _: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        let failure = self.0.clone();
        Box::pin(async move { Err(failure) })
    }
}

/// The source of a registry read over HTTP: its vendor's API where it has one (the registry
/// protocol still reads what a trust gate needs, through the same client and limits), else
/// the registry protocol.
fn source(
    registry: &Registry,
    http: Arc<http::Http>,
    cache: &Arc<DiskCache>,
    data_dir: &Path,
) -> Box<dyn TagSource> {
    // The registry protocol at the image's own host: a vendor kind's `endpoint` is its API.
    let protocol = |http| {
        let registry = Registry {
            endpoint: None,
            ..registry.clone()
        };
        oci::OciSource::new(&registry, http, cache.clone())
    };
    let vendor = |source: Box<dyn TagSource>, http| -> Box<dyn TagSource> {
        Box::new(Verifiable {
            source,
            protocol: protocol(http),
        })
    };
    match registry.kind {
        RegistryKind::Dockerhub => vendor(
            Box::new(dockerhub::HubSource::new(registry, http.clone())),
            http,
        ),
        RegistryKind::Quay => vendor(
            Box::new(quay::QuaySource::new(registry, http.clone())),
            http,
        ),
        RegistryKind::Harbor => vendor(
            Box::new(harbor::HarborSource::new(registry, http.clone())),
            http,
        ),
        RegistryKind::Ghcr => vendor(
            Box::new(ghcr::GhcrSource::new(registry, http.clone())),
            http,
        ),
        RegistryKind::Gar => Box::new(gar::GarSource::new(
            registry,
            oci::OciSource::new(registry, http, cache.clone()),
        )),
        RegistryKind::Acr => Box::new(acr::AcrSource::new(
            registry,
            oci::OciSource::new(registry, http, cache.clone()),
        )),
        RegistryKind::HelmIndex => Box::new(helm_index::IndexSource::new(registry, http, data_dir)),
        // (ECR has its own client, made by the caller.)
        RegistryKind::Oci | RegistryKind::Ecr => {
            Box::new(oci::OciSource::new(registry, http, cache.clone()))
        }
    }
}

/// A vendor's source for tags, with the registry protocol for what trust gates need.
struct Verifiable {
    source: Box<dyn TagSource>,
    protocol: oci::OciSource,
}

impl TagSource for Verifiable {
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        self.source.tags(image, with_times)
    }

    fn lists_times(&self) -> bool {
        self.source.lists_times()
    }

    fn complete<'a>(
        &'a self,
        image: &'a ImageName,
        listing: SharedTags,
        wanted: &'a HashSet<String>,
    ) -> BoxFuture<'a, Result<ImageTags, Failure>> {
        self.source.complete(image, listing, wanted)
    }

    fn evidence<'a>(
        &'a self,
        image: &'a ImageName,
        digest: &'a str,
        gate: &'a Gate,
    ) -> BoxFuture<'a, Result<Evidence, Failure>> {
        Box::pin(self.protocol.evidence(image, digest, gate))
    }
}

/// Knobs that are not per registry.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub retry: http::RetryPolicy,
}

/// Tags of one image, shared by everyone who asked for a listing at about the same time.
pub type SharedTags = Arc<Vec<TagInfo>>;

/// A finished listing is dropped from the memo after this long: no cycle that started that
/// long ago is still asking, and an image nobody references any more must not stay in memory.
const MEMO_RETENTION: Duration = Duration::from_secs(300);

pub struct Registries {
    sources: HashMap<RegistryId, (Registry, Box<dyn TagSource>)>,
    memo: Mutex<HashMap<(String, bool), Arc<Slot>>>,
    counters: Arc<RequestCounters>,
    cache: Arc<DiskCache>,
}

/// One listing, in flight or done.
struct Slot {
    started: Instant,
    result: OnceCell<Result<SharedTags, RegistryError>>,
}

impl Slot {
    /// Not failed, and started no earlier than `not_before` — or, without a bound, still in
    /// flight.
    fn usable(&self, not_before: Option<Instant>) -> bool {
        let fresh = match not_before {
            Some(not_before) => self.started >= not_before,
            None => !self.result.initialized(),
        };
        fresh && !matches!(self.result.get(), Some(Err(_)))
    }

    /// Finished long enough ago that nobody will ask for it again.
    fn expired(&self, now: Instant) -> bool {
        self.result.initialized() && now.duration_since(self.started) > MEMO_RETENTION
    }
}

impl Registries {
    /// Sets up a source per registry; the disk cache lives in `data_dir`.
    pub async fn new(registries: &[Registry], data_dir: &Path, options: Options) -> Registries {
        let counters = Arc::new(RequestCounters::default());
        let cache = Arc::new(DiskCache::open(&data_dir.join(CACHE_FILE)));
        let mut sources = Vec::new();
        for registry in registries {
            let source: Box<dyn TagSource> = match registry.kind {
                RegistryKind::Ecr => Box::new(
                    ecr::EcrSource::new(registry, counters.clone(), registry.limits.max_pages)
                        .await,
                ),
                _ => match http::Http::new(registry, counters.clone(), options.retry.clone()) {
                    Err(failure) => Box::new(Broken(failure)),
                    Ok(http) => source(registry, Arc::new(http), &cache, data_dir),
                },
            };
            sources.push((registry.clone(), source));
        }
        Registries::with_sources(sources, counters, cache)
    }

    /// Registries answered by the given sources: the seam where tests put scripted fakes.
    pub fn with_sources(
        sources: Vec<(Registry, Box<dyn TagSource>)>,
        counters: Arc<RequestCounters>,
        cache: Arc<DiskCache>,
    ) -> Registries {
        Registries {
            sources: sources
                .into_iter()
                .map(|(registry, source)| (registry.id(), (registry, source)))
                .collect(),
            memo: Mutex::new(HashMap::new()),
            counters,
            cache,
        }
    }

    /// The configured registries' ids, sorted.
    pub fn ids(&self) -> Vec<RegistryId> {
        let mut ids: Vec<RegistryId> = self.sources.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn counters(&self) -> &Arc<RequestCounters> {
        &self.counters
    }

    /// Entries in the disk cache of times and digests.
    pub fn cache_entries(&self) -> usize {
        self.cache.entries()
    }

    /// Tags of `image` on `registry`, from a listing started now or by a concurrent caller
    /// that is still waiting for it.
    pub async fn tags(
        &self,
        registry: &RegistryId,
        image: &str,
        with_times: bool,
    ) -> Result<SharedTags, RegistryError> {
        self.listing(registry, image, with_times, None).await
    }

    /// Tags of `image` from a listing started at `not_before` or later: callers that ask at
    /// about the same time share one listing, but nobody gets one older than `not_before` (a
    /// cycle passes its own start, so it sees every tag pushed before it began). With
    /// `wanted`, the tags it picks get their times and digests: from the listing where the
    /// registry's API gives them, else read per tag, as many as this cycle's share allows.
    pub async fn tags_since(
        &self,
        registry: &RegistryId,
        image: &str,
        wanted: Option<&(dyn Fn(&str) -> bool + Sync)>,
        not_before: Instant,
    ) -> Result<ImageTags, RegistryError> {
        let source = self.sources.get(registry);
        // Where times cost requests per tag, the listing comes without them and only the
        // wanted tags are completed.
        let completes = source.filter(|(_, source)| !source.lists_times());
        let with_times = wanted.is_some() && completes.is_none();
        let listing = self
            .listing(registry, image, with_times, Some(not_before))
            .await?;
        let (Some(wanted), Some((config, source))) = (wanted, completes) else {
            return Ok(ImageTags::complete(listing));
        };
        let wanted: HashSet<String> = listing
            .iter()
            .filter(|t| wanted(&t.tag))
            .map(|t| t.tag.clone())
            .collect();
        let name = ImageName::parse(image).map_err(|f| f.at(&config.name, image))?;
        source
            .complete(&name, listing, &wanted)
            .await
            .map_err(|f| f.at(&config.name, image))
    }

    async fn listing(
        &self,
        registry: &RegistryId,
        image: &str,
        with_times: bool,
        not_before: Option<Instant>,
    ) -> Result<SharedTags, RegistryError> {
        let Some((config, source)) = self.sources.get(registry) else {
            return Err(
                Failure::Setup(format!("no registry with prefix {registry}")).at("?", image),
            );
        };
        let slot = self.slot(image, with_times, not_before);
        slot.result
            .get_or_init(|| async {
                let name = ImageName::parse(image).map_err(|f| f.at(&config.name, image))?;
                let tags = source
                    .tags_since(&name, with_times, not_before)
                    .await
                    .map_err(|f| f.at(&config.name, image))?;
                Ok(Arc::new(tags))
            })
            .await
            .clone()
    }

    /// The verdict `gate` made on `digest` before, while it stands (see [`DiskCache::verdict`]).
    pub fn known_verdict(&self, gate: &Gate, digest: &str, now: SystemTime) -> Option<Verdict> {
        self.cache.verdict(&gate.id, digest, now)
    }

    /// The verdict on `digest` of `image` under `gate`: remembered, else judged now from what
    /// `registry` holds, and remembered. A registry that cannot be read refuses for now: it
    /// never makes a tag eligible, and the refusal is not remembered.
    pub async fn judge(
        &self,
        registry: &RegistryId,
        image: &str,
        digest: &str,
        gate: &Gate,
        now: SystemTime,
    ) -> Verdict {
        if let Some(verdict) = self.known_verdict(gate, digest, now) {
            return verdict;
        }
        match self.evidence(registry, image, digest, gate).await {
            Ok(evidence) => {
                let verdict = crate::trust::check(gate, digest, &evidence);
                self.cache.set_verdict(&gate.id, digest, &verdict, now);
                verdict
            }
            Err(err) => {
                tracing::warn!(error = %err, %digest, "cannot read what the registry holds for a digest");
                Verdict::Refused {
                    why: format!("cannot be verified now: {}", err.failure),
                }
            }
        }
    }

    async fn evidence(
        &self,
        registry: &RegistryId,
        image: &str,
        digest: &str,
        gate: &Gate,
    ) -> Result<Evidence, RegistryError> {
        let Some((config, source)) = self.sources.get(registry) else {
            return Err(
                Failure::Setup(format!("no registry with prefix {registry}")).at("?", image),
            );
        };
        let name = ImageName::parse(image).map_err(|f| f.at(&config.name, image))?;
        source
            .evidence(&name, digest, gate)
            .await
            .map_err(|f| f.at(&config.name, image))
    }

    /// Drops the listings of `image`, however written: the next cycle that asks for it lists
    /// it afresh (a push event said it changed), while other images' listings stay.
    pub fn forget(&self, image: &str) {
        let key = ImageKey::of(image);
        let mut memo = crate::store::lock(&self.memo);
        memo.retain(|(name, _), _| ImageKey::of(name) != key);
    }

    /// The listing to wait for: a usable one already started, else a new one. Expired
    /// listings are dropped on the way.
    fn slot(&self, image: &str, with_times: bool, not_before: Option<Instant>) -> Arc<Slot> {
        let mut memo = crate::store::lock(&self.memo);
        let now = Instant::now();
        memo.retain(|_, slot| !slot.expired(now));
        let usable = |key: &(String, bool)| {
            memo.get(key)
                .filter(|slot| slot.usable(not_before))
                .cloned()
        };
        if let Some(slot) =
            usable(&(image.to_string(), true)).or_else(|| usable(&(image.to_string(), with_times)))
        {
            return slot;
        }
        let slot = Arc::new(Slot {
            started: now,
            result: OnceCell::new(),
        });
        memo.insert((image.to_string(), with_times), slot.clone());
        slot
    }

    #[cfg(test)]
    fn memo_len(&self) -> usize {
        crate::store::lock(&self.memo).len()
    }

    /// Writes the disk cache if it changed, off the async workers; a failure is logged,
    /// never fatal.
    pub async fn save_cache(&self) {
        let cache = self.cache.clone();
        let saved = tokio::task::spawn_blocking(move || cache.save()).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot write the registry cache"),
            Err(err) => tracing::warn!(error = %err, "the registry cache writer failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers every listing with one tag and counts the listings.
    struct Counting(Arc<AtomicUsize>);

    impl TagSource for Counting {
        fn tags<'a>(
            &'a self,
            _: &'a ImageName,
            _: bool,
        ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(vec![TagInfo::named("1")]) })
        }
    }

    fn registries(dir: &Path) -> (Registries, Arc<AtomicUsize>, RegistryId) {
        let listings = Arc::new(AtomicUsize::new(0));
        let registry = Registry::new("reg.io/acme");
        let id = registry.id();
        let registries = Registries::with_sources(
            vec![(registry, Box::new(Counting(listings.clone())))],
            Arc::new(RequestCounters::default()),
            Arc::new(DiskCache::open(&dir.join(CACHE_FILE))),
        );
        (registries, listings, id)
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_never_gets_a_listing_older_than_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let (registries, listings, id) = registries(dir.path());
        let first_cycle = Instant::now();
        registries
            .tags_since(&id, "reg.io/acme/app", None, first_cycle)
            .await
            .unwrap();
        // Another repo whose cycle began at the same moment shares the listing.
        registries
            .tags_since(&id, "reg.io/acme/app", None, first_cycle)
            .await
            .unwrap();
        assert_eq!(listings.load(Ordering::SeqCst), 1);
        // A cycle one second later (pollFreq: 1s) lists afresh.
        tokio::time::advance(Duration::from_secs(1)).await;
        registries
            .tags_since(&id, "reg.io/acme/app", None, Instant::now())
            .await
            .unwrap();
        assert_eq!(listings.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn listings_nobody_asks_for_any_more_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (registries, _, id) = registries(dir.path());
        for n in 0..50 {
            registries
                .tags(&id, &format!("reg.io/acme/app{n}"), false)
                .await
                .unwrap();
        }
        assert_eq!(registries.memo_len(), 50);
        tokio::time::advance(MEMO_RETENTION + Duration::from_secs(1)).await;
        registries
            .tags(&id, "reg.io/acme/app0", false)
            .await
            .unwrap();
        assert_eq!(registries.memo_len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_registry_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let (registries, _, _) = registries(dir.path());
        let err = registries
            .tags(&RegistryId::new("other.io"), "other.io/app", false)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("no registry with prefix other.io"),
            "{err}"
        );
    }
}
