//! The registry layer: for an image, which tags exist, their digests and push times.
//!
//! [`Registries`] is the one entry point. It holds one [`TagSource`] per configured registry
//! (OCI or ECR), shares listings between concurrent callers (single-flight, with a freshness
//! window, so many repos referencing one image cost one listing per cycle), and keeps the
//! on-disk cache of facts that never change.

pub mod auth;
mod cache;
pub mod counters;
mod ecr;
pub mod error;
pub mod http;
pub mod image;
mod oci;
mod ratelimit;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

pub use cache::DiskCache;
pub use counters::{RequestCounters, RequestKind};
pub use error::{Failure, RegistryError};
pub use image::ImageName;
pub use oci::ListLimits;

use crate::config::{Registry, RegistryKind};
use crate::policy::TagInfo;

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
}

impl TagSource for oci::OciSource {
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        Box::pin(oci::OciSource::tags(self, image, with_times))
    }
}

impl TagSource for ecr::EcrSource {
    fn tags<'a>(
        &'a self,
        image: &'a ImageName,
        _with_times: bool,
    ) -> BoxFuture<'a, Result<Vec<TagInfo>, Failure>> {
        Box::pin(ecr::EcrSource::tags(self, image))
    }
}

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

/// Knobs that are not per registry.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a listing is reused by other callers.
    pub freshness: Duration,
    pub retry: http::RetryPolicy,
    pub limits: ListLimits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            freshness: Duration::from_secs(30),
            retry: http::RetryPolicy::default(),
            limits: ListLimits::default(),
        }
    }
}

/// Tags of one image, shared by everyone who asked within the freshness window.
pub type SharedTags = Arc<Vec<TagInfo>>;

pub struct Registries {
    registries: Vec<(Registry, Box<dyn TagSource>)>,
    memo: Mutex<HashMap<(String, bool), Arc<Slot>>>,
    freshness: Duration,
    counters: Arc<RequestCounters>,
    cache: Arc<DiskCache>,
}

/// One listing, in flight or done.
struct Slot {
    started: Instant,
    result: OnceCell<Result<SharedTags, RegistryError>>,
}

impl Slot {
    /// Started no earlier than `not_before`, and not failed.
    fn usable(&self, not_before: Instant) -> bool {
        self.started >= not_before && !matches!(self.result.get(), Some(Err(_)))
    }
}

impl Registries {
    /// Sets up a source per registry; the disk cache lives in `data_dir`.
    pub async fn new(registries: &[Registry], data_dir: &Path, options: Options) -> Registries {
        let counters = Arc::new(RequestCounters::default());
        let cache = Arc::new(DiskCache::open(&data_dir.join(CACHE_FILE)));
        let mut built = Vec::new();
        for registry in registries {
            let source: Box<dyn TagSource> = match registry.kind {
                RegistryKind::Ecr => Box::new(
                    ecr::EcrSource::new(registry, counters.clone(), options.limits.max_pages).await,
                ),
                RegistryKind::Oci => {
                    match http::Http::new(registry, counters.clone(), options.retry.clone()) {
                        Ok(http) => Box::new(oci::OciSource::new(
                            registry,
                            http,
                            cache.clone(),
                            options.limits,
                        )),
                        Err(failure) => Box::new(Broken(failure)),
                    }
                }
            };
            built.push((registry.clone(), source));
        }
        Registries {
            registries: built,
            memo: Mutex::new(HashMap::new()),
            freshness: options.freshness,
            counters,
            cache,
        }
    }

    pub fn counters(&self) -> &Arc<RequestCounters> {
        &self.counters
    }

    /// Tags of `image` on the registry at `index` (in config order), from a listing no older
    /// than the freshness window. Concurrent callers share one listing; a listing with times
    /// also serves callers that do not need them.
    pub async fn tags(
        &self,
        index: usize,
        image: &str,
        with_times: bool,
    ) -> Result<SharedTags, RegistryError> {
        let window_start = Instant::now()
            .checked_sub(self.freshness)
            .unwrap_or_else(Instant::now);
        self.tags_since(index, image, with_times, window_start)
            .await
    }

    /// Like [`Registries::tags`], from a listing started at `not_before` or later: a triggered
    /// cycle wants what the registry holds now, not what it held a few seconds ago.
    pub async fn tags_since(
        &self,
        index: usize,
        image: &str,
        with_times: bool,
        not_before: Instant,
    ) -> Result<SharedTags, RegistryError> {
        let Some((registry, source)) = self.registries.get(index) else {
            return Err(Failure::Setup(format!("no registry #{index}")).at("?", image));
        };
        let slot = {
            let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
            let timed = memo
                .get(&(image.to_string(), true))
                .filter(|slot| slot.usable(not_before))
                .cloned();
            match timed {
                Some(slot) => slot,
                None => {
                    let key = (image.to_string(), with_times);
                    match memo.get(&key).filter(|slot| slot.usable(not_before)) {
                        Some(slot) => slot.clone(),
                        None => {
                            let slot = Arc::new(Slot {
                                started: Instant::now(),
                                result: OnceCell::new(),
                            });
                            memo.insert(key, slot.clone());
                            slot
                        }
                    }
                }
            }
        };
        slot.result
            .get_or_init(|| async {
                let name = ImageName::parse(image).map_err(|f| f.at(&registry.name, image))?;
                let tags = source
                    .tags(&name, with_times)
                    .await
                    .map_err(|f| f.at(&registry.name, image))?;
                Ok(Arc::new(tags))
            })
            .await
            .clone()
    }

    /// Writes the disk cache if it changed; a failure is logged, never fatal.
    pub fn save_cache(&self) {
        if let Err(err) = self.cache.save() {
            tracing::warn!(error = %err, "cannot write the registry cache");
        }
    }
}
