//! A classic Helm chart repository: the versions of its charts, with their creation times,
//! from its `index.yaml` (Helm's chart repository guide: `apiVersion`, `entries: {chart:
//! [{version, created, digest, urls, …}]}`).
//!
//! One index serves every chart and every repo: a fetch that started since a cycle began is
//! shared with it, so one cycle's charts from one repository cost one request. Fetches are
//! conditional (`If-None-Match` / `If-Modified-Since`): an unchanged index answers 304 with
//! no body. Bodies are read with a cap (some indexes are tens of MB) and only the charts
//! asked for are kept — in memory, and in `dataDir/helm-index/` with the validators, so a
//! `laminar once` or a restarted daemon asks conditionally too.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use granit_parser::{Event, Parser};
use reqwest::StatusCode;
use reqwest::header::{
    AUTHORIZATION, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::counters::RequestKind;
use super::error::Failure;
use super::http::Http;
use super::image::ImageName;
use super::paged;
use crate::config::{Registry, RegistryAuth};
use crate::image::reference::is_valid_tag;
use crate::policy::TagInfo;

/// The largest index read.
const MAX_INDEX: usize = 64 * 1024 * 1024;

/// The directory under `dataDir` where each repository's last read is kept.
const SAVED_DIR: &str = "helm-index";

pub(super) struct IndexSource {
    http: Arc<Http>,
    /// `scheme://host[:port]/path/index.yaml`.
    url: String,
    /// `host/path`: a chart's name is this, `/`, the chart.
    prefix: String,
    base: String,
    auth: Option<RegistryAuth>,
    /// Every chart asked for so far: a fetch keeps the versions of those asked for by the
    /// time its answer arrives, so callers waiting on it find theirs.
    wanted: std::sync::Mutex<HashSet<String>>,
    state: Mutex<Index>,
    /// Where the last read is kept between processes.
    saved: PathBuf,
}

/// What the last fetch read.
#[derive(Default)]
struct Index {
    /// When the last fetch started; `None` before the first in this process.
    fetched: Option<Instant>,
    /// The saved read has been loaded (or there was none).
    loaded: bool,
    read: Read,
}

/// What one read of the index says, as saved.
#[derive(Default, Serialize, Deserialize)]
struct Read {
    etag: Option<String>,
    last_modified: Option<String>,
    /// The versions of the charts read, by chart; a chart read but absent has none.
    charts: HashMap<String, Vec<Version>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Version {
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<std::time::SystemTime>,
}

impl IndexSource {
    pub(super) fn new(registry: &Registry, http: Arc<Http>, data_dir: &Path) -> IndexSource {
        let base = paged::api_base(registry, || format!("https://{}", registry.host()));
        let path = registry.prefix.split_once('/').map_or("", |(_, path)| path);
        let url = match path.is_empty() {
            true => format!("{base}/index.yaml"),
            false => format!("{base}/{path}/index.yaml"),
        };
        IndexSource {
            http,
            prefix: registry.prefix.clone(),
            base,
            auth: registry.auth.clone(),
            wanted: std::sync::Mutex::default(),
            state: Mutex::new(Index::default()),
            saved: data_dir
                .join(SAVED_DIR)
                .join(format!("{:x}.json", Sha256::digest(url.as_bytes()))),
            url,
        }
    }

    /// The versions of the chart `image` names, from a read of the index begun at
    /// `not_before` or later (now, without one).
    pub(super) async fn tags(
        &self,
        image: &ImageName,
        not_before: Option<Instant>,
    ) -> Result<Vec<TagInfo>, Failure> {
        let chart = image
            .written
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|chart| !chart.contains('/'))
            .ok_or_else(|| {
                Failure::InvalidImage(format!(
                    "{} is no chart of the Helm repository {}",
                    image.written, self.prefix
                ))
            })?;
        let not_before = not_before.unwrap_or_else(Instant::now);
        crate::store::lock(&self.wanted).insert(chart.to_string());
        let mut index = self.state.lock().await;
        if !index.loaded {
            index.read = crate::store::load_record(&self.saved, "Helm index read");
            index.loaded = true;
        }
        let fresh = index.fetched.is_some_and(|at| at >= not_before);
        if !fresh || !index.read.charts.contains_key(chart) {
            self.refresh(&mut index).await?;
        }
        let versions = index.read.charts.get(chart).map(Vec::as_slice);
        Ok(versions
            .unwrap_or_default()
            .iter()
            .map(Version::tag_info)
            .collect())
    }

    /// Reads the index again: conditionally when it holds every chart wanted, else whole.
    async fn refresh(&self, index: &mut Index) -> Result<(), Failure> {
        let whole = crate::store::lock(&self.wanted)
            .iter()
            .any(|chart| !index.read.charts.contains_key(chart));
        index.fetched = Some(Instant::now());
        let authorization = self.authorization().await?;
        let header = |value: &Option<String>| {
            value
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
                .filter(|_| !whole)
        };
        let validators = (header(&index.read.etag), header(&index.read.last_modified));
        let fetched = self
            .http
            .send_capped(RequestKind::Index, MAX_INDEX, || {
                let mut request = self.http.client().get(&self.url);
                if let Some(value) = &authorization {
                    request = request.header(AUTHORIZATION, value.clone());
                }
                if let Some(etag) = &validators.0 {
                    request = request.header(IF_NONE_MATCH, etag.clone());
                }
                if let Some(modified) = &validators.1 {
                    request = request.header(IF_MODIFIED_SINCE, modified.clone());
                }
                request
            })
            .await?;
        match fetched.status {
            StatusCode::NOT_MODIFIED if !whole => return Ok(()),
            status if status.is_success() => {}
            status => {
                return Err(match status.as_u16() {
                    401 | 403 => Failure::Auth("the Helm repository refused its index".into()),
                    404 => Failure::NotFound,
                    status => Failure::Status {
                        status,
                        what: "Helm repository index",
                    },
                });
            }
        }
        let validator = |name| {
            let value = fetched.headers.get(name)?.to_str().ok()?;
            Some(value.to_string())
        };
        let (etag, last_modified) = (validator(ETAG), validator(LAST_MODIFIED));
        let wanted = crate::store::lock(&self.wanted).clone();
        // Tens of MB of YAML take a while: off the async workers.
        let body = fetched.body;
        let charts = tokio::task::spawn_blocking(move || {
            let text = std::str::from_utf8(&body)
                .map_err(|_| Failure::Malformed("the Helm repository index is not UTF-8".into()))?;
            versions(text, &wanted)
        })
        .await
        .map_err(|e| {
            Failure::Malformed(format!("reading the Helm repository index failed: {e}"))
        })??;
        index.read = Read {
            etag,
            last_modified,
            charts,
        };
        crate::store::save_record(&self.saved, &index.read, "Helm index read");
        Ok(())
    }

    async fn authorization(&self) -> Result<Option<HeaderValue>, Failure> {
        if self.auth.is_none() {
            return Ok(None);
        }
        let host = self.prefix.split('/').next().unwrap_or_default();
        let credentials =
            paged::credentials(self.auth.as_ref(), &self.http, host, &self.base).await?;
        Ok(credentials.basic_header())
    }
}

impl Version {
    fn tag_info(&self) -> TagInfo {
        TagInfo {
            tag: self.version.clone(),
            pushed: self.created,
            digest: None,
        }
    }
}

/// The versions of the `wanted` charts in an index, each with its `created` time; every
/// wanted chart gets an entry (empty when the index has none).
fn versions(
    text: &str,
    wanted: &HashSet<String>,
) -> Result<HashMap<String, Vec<Version>>, Failure> {
    let mut charts: HashMap<String, Vec<Version>> =
        wanted.iter().map(|c| (c.clone(), Vec::new())).collect();
    let mut reader = Reader::default();
    for event in Parser::new_from_str(text) {
        let (event, _) = event.map_err(|e| {
            Failure::Malformed(format!(
                "Helm repository index, line {}: {}",
                e.marker().line(),
                e.info()
            ))
        })?;
        let Some((chart, version)) = reader.read(event) else {
            continue;
        };
        let Some(versions) = charts.get_mut(&chart) else {
            continue;
        };
        // A version is written into files: only what a chart version may be.
        match is_valid_tag(&version.version.replace('+', "_")) {
            true => versions.push(version),
            false => {
                tracing::warn!(%chart, version = %version.version.escape_debug(), "the Helm repository index lists an invalid version; dropped")
            }
        }
    }
    Ok(charts)
}

/// Follows an index's events down `entries` → chart → list → version fields.
#[derive(Default)]
struct Reader {
    /// Open collections: whether each is a mapping, and its key being read.
    stack: Vec<Level>,
    /// The version being read: its chart and fields.
    current: Option<(String, Version)>,
}

struct Level {
    map: bool,
    /// The key whose value comes next; `None` when a key comes next.
    key: Option<String>,
}

impl Reader {
    /// The version an event completes, with its chart.
    fn read(&mut self, event: Event) -> Option<(String, Version)> {
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let map = matches!(event, Event::MappingStart(..));
                if map && self.depth_is_version() {
                    let chart = self.stack[1].key.clone().unwrap_or_default();
                    let version = Version {
                        version: String::new(),
                        created: None,
                    };
                    self.current = Some((chart, version));
                }
                self.stack.push(Level { map, key: None });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
                if self.stack.len() == 3 {
                    return self.current.take().filter(|(_, v)| !v.version.is_empty());
                }
                None
            }
            Event::Scalar(value, ..) => {
                let level = self.stack.last_mut()?;
                if level.map && level.key.is_none() {
                    level.key = Some(value.into_owned());
                    return None;
                }
                if self.stack.len() == 4 {
                    self.field(&value);
                }
                self.value_done();
                None
            }
            _ => None,
        }
    }

    /// Whether a mapping opened now is one version: root → `entries` → chart → list.
    fn depth_is_version(&self) -> bool {
        self.stack.len() == 3
            && self.stack[0].key.as_deref() == Some("entries")
            && !self.stack[2].map
    }

    fn field(&mut self, value: &str) {
        let key = self.stack[3].key.as_deref();
        let Some((_, version)) = self.current.as_mut() else {
            return;
        };
        match key {
            Some("version") => version.version = value.to_string(),
            Some("created") => version.created = paged::rfc3339(value),
            _ => {}
        }
    }

    /// A mapping's value was read: its next scalar is a key.
    fn value_done(&mut self) {
        if let Some(level) = self.stack.last_mut().filter(|l| l.map) {
            level.key = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wanted_charts_versions_are_kept_with_their_times() {
        let index = "apiVersion: v1\nentries:\n  podinfo:\n  - version: \"1.0.0\\n  evil: yes\"\n  - version: \"../../x\"\n  - apiVersion: v2\n    version: 6.5.1\n    created: \"2024-01-02T03:04:05.123456Z\"\n    urls: [https://x/podinfo-6.5.1.tgz]\n    maintainers:\n    - name: a\n  - version: 6.5.0+build.1\n    created: 2023-12-01T00:00:00Z\n  other:\n  - version: 9.9.9\ngenerated: 2024-01-02T00:00:00Z\n";
        let wanted: HashSet<String> = ["podinfo".to_string(), "absent".to_string()].into();
        let charts = versions(index, &wanted).unwrap();
        let tags: Vec<&str> = charts["podinfo"]
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(tags, ["6.5.1", "6.5.0+build.1"]);
        assert_eq!(
            charts["podinfo"][0].created,
            paged::rfc3339("2024-01-02T03:04:05Z")
        );
        assert!(charts["absent"].is_empty());
        assert!(!charts.contains_key("other"));
    }

    #[test]
    fn a_broken_index_is_an_error_not_a_panic() {
        let wanted: HashSet<String> = ["a".to_string()].into();
        assert!(versions("entries: {a: [", &wanted).is_err());
        assert!(versions("entries: [1, 2]\n", &wanted).unwrap()["a"].is_empty());
    }
}
