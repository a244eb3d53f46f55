//! Finds image references below the configured registries.
//!
//! In any text, one pass per file: a multi-pattern search finds each `prefix/` (for Docker
//! Hub, each of its host names), then the reference grammar decides where the reference ends.
//! Where a file's structure shows more (see [`super::forms`]), those references are added.
//! The scanner knows nothing of rules.

use std::collections::HashSet;
use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

use super::RegistryId;
use super::forms::{self, Candidate, ChartCandidate, ChartSource, FileKind, Form, Part};
use super::hold::{Hold, LineHolds};
use super::hub::{self, HUB_HOSTS, HubRegistries, ImageKey};
use super::reference::{RefSpans, is_valid_digest, is_valid_tag, match_remainder};
use charts::{chart_lock, is_range, located_at};

mod charts;

/// A tagged reference found in some text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    /// The registry whose prefix the name starts with (the longest, if several do).
    pub registry: RegistryId,
    /// The name as written, without tag and digest.
    pub image: String,
    /// The name's one spelling, made once here for every comparison after.
    pub key: ImageKey,
    pub tag: String,
    pub digest: Option<String>,
    /// 1-based line of the reference's first byte.
    pub line: usize,
    /// 1-based column, counted in bytes like ripgrep's `--column`.
    pub column: usize,
    /// Byte spans in the text, for the rewriter. For split forms the name and the tag lie
    /// apart, in either order.
    pub spans: RefSpans,
    /// How the reference is written.
    #[serde(default)]
    pub form: Form,
    /// A `# laminar:hold` comment on its line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

/// Something a file's structure shows to be an image, that laminar does not keep current.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unmanaged {
    pub line: usize,
    pub column: usize,
    pub form: Form,
    /// The name (and tag) as written, cut short if long.
    pub written: String,
    pub reason: UnmanagedReason,
}

/// Why an image is not kept current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnmanagedReason {
    /// No configured registry covers the name.
    NoRegistry,
    /// The name or tag is a template (`{{ … }}`, `${…}`), filled in elsewhere.
    Templated,
    /// `tag: ""`: the chart's default (usually its appVersion) applies.
    EmptyTag,
    /// Only a digest, or nothing, pins it.
    Untagged,
    /// The tag is written with escapes or folding: its bytes are not its value.
    NotEditable,
    /// The tag does not fit the tag grammar.
    InvalidTag,
    /// The file looks like YAML but does not parse (a Helm template, say): only references
    /// written in one piece were read from it. `written` holds the parser's message.
    NotYaml,
    /// A version range (`>=1.2`, `6.x`, a Flux `semver:`): the tool reading it follows it.
    Range,
    /// A CUE field computed from something else, not a plain string.
    NotLiteral,
    /// A chart repository named by a Helm alias (`@stable`, `alias:stable`), not its URL.
    RepositoryAlias,
    /// A `HelmRelease` naming a `HelmRepository` found in no scanned file and no config.
    UnknownRepository,
    /// A `Chart.lock`: its digest covers the resolved set, so it is never edited by hand.
    ChartLock,
}

impl std::fmt::Display for UnmanagedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            UnmanagedReason::NoRegistry => "no configured registry covers it",
            UnmanagedReason::Templated => "templated: its value is filled in elsewhere",
            UnmanagedReason::EmptyTag => "empty tag: the chart's default (its appVersion) applies",
            UnmanagedReason::Untagged => "no tag to keep current",
            UnmanagedReason::NotEditable => "the tag is written with escapes; it is not rewritten",
            UnmanagedReason::InvalidTag => "not a valid tag",
            UnmanagedReason::NotYaml => {
                "not valid YAML; only references written in one piece were read"
            }
            UnmanagedReason::Range => "a version range: whoever reads it follows it",
            UnmanagedReason::NotLiteral => "not a plain string: its value is computed elsewhere",
            UnmanagedReason::RepositoryAlias => {
                "a repository alias: write the repository's URL to have it kept current"
            }
            UnmanagedReason::UnknownRepository => {
                "its HelmRepository is in no scanned file and no helmRepositories entry"
            }
            UnmanagedReason::ChartLock => {
                "Chart.lock is not edited (its digest covers the resolved set): run `helm dependency update` in an exec action"
            }
        })
    }
}

/// `name:tag (form) not managed: reason`, control characters escaped.
impl std::fmt::Display for Unmanaged {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let written = self.written.escape_debug();
        match self.reason {
            UnmanagedReason::NotYaml => write!(f, "not managed: {} ({written})", self.reason),
            reason => write!(
                f,
                "{written} ({}) not managed: {reason}",
                self.form.as_str()
            ),
        }
    }
}

/// What one file holds.
#[derive(Debug, Default)]
pub struct FileScan {
    pub refs: Vec<ImageRef>,
    /// Including, when the file looked like YAML but did not parse, that.
    pub unmanaged: Vec<Unmanaged>,
    /// Charts whose repository another file may define (Flux `HelmRelease`s).
    pub pending: Vec<PendingChart>,
    /// The Flux `HelmRepository` objects the file defines.
    pub repositories: Vec<forms::NamedRepository>,
}

/// A chart whose repository is named, not written: located and read, waiting for the
/// `HelmRepository` of that name in any scanned file (see [`Scanner::link`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingChart {
    pub chart: ChartCandidate,
    pub line: usize,
    pub column: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

/// Searches text for references below a set of registry prefixes.
#[derive(Clone, Debug)]
pub struct Scanner {
    /// Each prefix with its `/` appended, so `reg.io/acme` never matches `reg.io/acme-x/app`.
    finder: AhoCorasick,
    /// What each pattern finds, by pattern index.
    targets: Vec<Target>,
    /// The registries not on Docker Hub, longest prefix first.
    prefixes: Vec<RegistryId>,
    /// The hosts of `prefixes`: a file without one of them (and without Docker Hub
    /// registries configured) can hold no managed reference in any form.
    hosts: AhoCorasick,
    /// The registries on Docker Hub.
    hub: HubRegistries,
    /// Classic Helm repositories (`helmRepositories:`), by `host/path`.
    chart_repositories: Vec<RegistryId>,
    /// Those of them named, for `HelmRelease`s whose `HelmRepository` no file defines.
    named_repositories: Vec<(String, RegistryId)>,
    /// Look at every image the structure shows, also those no registry covers.
    everything: bool,
}

#[derive(Clone, Debug)]
enum Target {
    Registry(RegistryId),
    /// A Docker Hub host: which registry (if any) manages the name depends on all of it.
    Hub,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the registry prefix matcher: {0}")]
pub struct ScannerError(#[from] aho_corasick::BuildError);

impl Scanner {
    /// `prefixes` are registry prefixes as configured, e.g. `ghcr.io/acme` or `localhost:5000`.
    pub fn new<I, S>(prefixes: I) -> Result<Scanner, ScannerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let registries: Vec<RegistryId> = prefixes
            .into_iter()
            .map(|p| RegistryId::new(p.as_ref()))
            .collect();
        let hub = HubRegistries::new(registries.iter().map(|id| (id.prefix(), id.clone())));
        let mut prefixes: Vec<RegistryId> = registries
            .into_iter()
            .filter(|id| !hub::is_hub_prefix(id.prefix()))
            .collect();
        prefixes.sort_by_key(|id| std::cmp::Reverse(id.prefix().len()));
        let mut targets: Vec<Target> = prefixes.iter().cloned().map(Target::Registry).collect();
        if !hub.is_empty() {
            targets.extend(HUB_HOSTS.map(|_| Target::Hub));
        }
        let patterns: Vec<String> = prefixes
            .iter()
            .map(|id| format!("{}/", id.prefix()))
            .chain(
                HUB_HOSTS
                    .iter()
                    .filter(|_| !hub.is_empty())
                    .map(|h| format!("{h}/")),
            )
            .collect();
        // Leftmost-longest: where `reg.io/a` and `reg.io/a/b` both match, the longer one names
        // the registry.
        let finder = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)?;
        let hosts = hosts_of(&prefixes)?;
        Ok(Scanner {
            finder,
            targets,
            prefixes,
            hosts,
            hub,
            chart_repositories: Vec::new(),
            named_repositories: Vec::new(),
            everything: false,
        })
    }

    /// A scanner that also keeps the charts of these classic Helm repositories, given as
    /// (name, `host/path` of the URL).
    pub fn with_chart_repositories<'a>(
        mut self,
        repositories: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Scanner, ScannerError> {
        for (name, prefix) in repositories {
            let id = RegistryId::new(prefix);
            self.named_repositories.push((name.to_string(), id.clone()));
            self.chart_repositories.push(id);
        }
        let all: Vec<RegistryId> = self
            .prefixes
            .iter()
            .chain(&self.chart_repositories)
            .cloned()
            .collect();
        self.hosts = hosts_of(&all)?;
        Ok(self)
    }

    /// A scanner that also looks for images no configured registry covers (in every file
    /// form), so they can be listed as unmanaged.
    pub fn looking_at_everything(mut self) -> Scanner {
        self.everything = true;
        self
    }

    /// Every reference in the file at `path` holding `text`: the text's own, and those its
    /// structure shows; and the images its structure shows that are not managed.
    pub fn scan_file(&self, path: &Path, text: &[u8]) -> FileScan {
        let mut scan = FileScan {
            refs: self.scan(text),
            ..FileScan::default()
        };
        let look_for_hub = self.everything || !self.hub.is_empty();
        let Some(kind) = FileKind::of(path).filter(|k| look_for_hub || k.beyond_hub_names()) else {
            return scan;
        };
        if !look_for_hub && !self.hosts.is_match(text) && !forms::names_no_repository(text) {
            return scan;
        }
        if kind == FileKind::ChartLock {
            if memchr::memmem::find(text, b"dependencies:").is_some() {
                scan.unmanaged.push(chart_lock());
            }
            return scan;
        }
        let structure = match forms::candidates(kind, text, look_for_hub) {
            Ok(structure) => structure,
            Err(err) => {
                scan.unmanaged.push(Unmanaged {
                    line: err.line,
                    column: 1,
                    form: Form::Inline,
                    written: err.message.chars().take(200).collect(),
                    reason: UnmanagedReason::NotYaml,
                });
                // Not YAML until rendered (a Helm template): its plain `image:` lines still
                // name images as the image keys would.
                match look_for_hub {
                    true => forms::Structure {
                        images: forms::template_lines(text),
                        ..forms::Structure::default()
                    },
                    false => return scan,
                }
            }
        };
        scan.repositories = structure.repositories;
        let seen: HashSet<usize> = scan.refs.iter().map(|r| r.spans.name.start).collect();
        let images = structure
            .images
            .into_iter()
            .filter(|c| !seen.contains(&c.name_span.start))
            .filter_map(|c| self.resolve(c))
            .map(|(at, resolved)| (at, Found::Resolved(resolved)));
        let charts = structure
            .charts
            .into_iter()
            .filter_map(|chart| match &chart.source {
                ChartSource::Url(url) => {
                    let url = url.clone();
                    self.resolve_chart(chart, &url)
                        .map(|(at, resolved)| (at, Found::Resolved(resolved)))
                }
                ChartSource::Named { .. } => Some((located_at(&chart), Found::Pending(chart))),
            });
        let mut extra: Vec<(usize, Found)> = images.chain(charts).collect();
        if extra.is_empty() {
            return scan;
        }
        extra.sort_by_key(|(at, _)| *at);
        let mut lines = LineCounter::default();
        let mut holds = LineHolds::default();
        for (at, found) in extra {
            let (line, column) = lines.locate(text, at);
            match found {
                Found::Resolved(Ok(mut reference)) => {
                    (reference.line, reference.column) = (line, column);
                    reference.hold = holds.find(text, &hold_lines(&reference.spans));
                    scan.refs.push(reference);
                }
                Found::Resolved(Err(mut unmanaged)) => {
                    (unmanaged.line, unmanaged.column) = (line, column);
                    scan.unmanaged.push(unmanaged);
                }
                Found::Pending(chart) => {
                    let version = chart.version.as_ref().map(|v| &v.span);
                    let spans = [Some(&chart.chart_span), version];
                    let spans: Vec<&std::ops::Range<usize>> = spans.into_iter().flatten().collect();
                    let hold = holds.find(text, &spans);
                    scan.pending.push(PendingChart {
                        chart,
                        line,
                        column,
                        hold,
                    });
                }
            }
        }
        scan.refs.sort_by_key(|r| (r.line, r.column));
        scan
    }

    /// The reference a structured candidate makes — or why it makes none that is managed —
    /// with the offset its position is counted from; `None` when it is no image name at all.
    fn resolve(&self, candidate: Candidate) -> Option<(usize, Result<ImageRef, Unmanaged>)> {
        let form = match (candidate.form, hub::names_its_registry(&candidate.name)) {
            (Form::Inline, false) => Form::ImplicitHub,
            (form, _) => form,
        };
        // Split values are located by their tag (that is what changes), if they have one.
        let at = match (form.is_split(), &candidate.tag) {
            (true, Some(tag)) => tag.span.start,
            _ => candidate.name_span.start,
        };
        let registry = match hub::names_its_registry(&candidate.name) {
            true => self.registry_for(&candidate.name),
            false => self.hub.registry_for(&candidate.name).cloned(),
        };
        self.admit(Candidate { form, ..candidate }, registry, at)
    }

    /// The reference `candidate` makes under `registry`, located at `at`, or why it is not
    /// managed; `None` when its name is no image name at all.
    fn admit(
        &self,
        candidate: Candidate,
        registry: Option<RegistryId>,
        at: usize,
    ) -> Option<(usize, Result<ImageRef, Unmanaged>)> {
        let Candidate {
            form,
            name,
            name_span,
            tag,
            digest,
        } = candidate;
        let written = unmanaged_text(&name, tag.as_ref().map(|t| t.text.as_str()));
        let unmanaged = |reason| {
            let unmanaged = Unmanaged {
                line: 0,
                column: 0,
                form,
                written: written.clone(),
                reason,
            };
            Some((at, Err(unmanaged)))
        };
        let templated = forms::is_templated;
        if templated(&name) || tag.as_ref().is_some_and(|t| templated(&t.text)) {
            return unmanaged(UnmanagedReason::Templated);
        }
        if form == Form::Cue && tag.as_ref().is_some_and(|t| !t.editable) {
            return unmanaged(UnmanagedReason::NotLiteral);
        }
        if super::reference::Reference::parse(&name)
            .is_none_or(|r| r.tag.is_some() || r.digest.is_some())
        {
            return None;
        }
        let Some(tag) = tag else {
            // A bare name in a Dockerfile or an image key is often a build stage or a default.
            return match form.is_split() {
                true => unmanaged(UnmanagedReason::Untagged),
                false => None,
            };
        };
        let versioned = form.is_chart_version() || form == Form::OciRepository;
        if versioned && is_range(&tag.text) {
            return unmanaged(UnmanagedReason::Range);
        }
        let Some(registry) = registry else {
            return unmanaged(UnmanagedReason::NoRegistry);
        };
        if tag.text.is_empty() {
            return unmanaged(UnmanagedReason::EmptyTag);
        }
        if !tag.editable || digest.as_ref().is_some_and(|d| !d.editable) {
            return unmanaged(UnmanagedReason::NotEditable);
        }
        // An empty digest (`digest: ""`) pins nothing, but is where `pin: digest` writes one.
        let pinned = digest.as_ref().filter(|d| !d.text.is_empty());
        // A chart version's build metadata (`+`) is `_` in an OCI tag.
        let as_tag = match form.is_chart_version() {
            true => tag.text.replace('+', "_"),
            false => tag.text.clone(),
        };
        if !is_valid_tag(&as_tag) || pinned.is_some_and(|d| !is_valid_digest(&d.text)) {
            return unmanaged(UnmanagedReason::InvalidTag);
        }
        let reference = ImageRef {
            registry,
            key: ImageKey::of(&name),
            image: name,
            tag: tag.text,
            digest: pinned.map(|d| d.text.clone()),
            line: 0,
            column: 0,
            spans: RefSpans {
                name: name_span,
                tag: Some(tag.span),
                digest: digest.map(|d| d.span),
            },
            form,
            hold: None,
        };
        Some((at, Ok(reference)))
    }

    /// The registry that manages an image name that names its registry.
    fn registry_for(&self, name: &str) -> Option<RegistryId> {
        if let Some(id) = self.hub.registry_for(name) {
            return Some(id.clone());
        }
        self.prefixes
            .iter()
            .find(|id| {
                name.strip_prefix(id.prefix())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .cloned()
    }

    /// Every tagged reference in `text`, in order. Digest-only and untagged names are skipped.
    pub fn scan(&self, text: &[u8]) -> Vec<ImageRef> {
        self.scan_with(text, &mut LineHolds::default())
    }

    /// [`Scanner::scan`], reading each line's hold through `holds`: the work is linear in the
    /// text's size whatever its shape.
    fn scan_with(&self, text: &[u8], holds: &mut LineHolds) -> Vec<ImageRef> {
        let mut found = Vec::new();
        let mut lines = LineCounter::default();
        let mut pos = 0;
        while let Some(hit) = self.finder.find(Input::new(text).range(pos..)) {
            let start = hit.start();
            pos = start + 1;
            if start > 0 && continues_a_name(text[start - 1]) {
                continue;
            }
            let Some(spans) = match_remainder(text, start, hit.end()) else {
                continue;
            };
            let Some(tag) = &spans.tag else {
                continue;
            };
            let registry = match &self.targets[hit.pattern().as_usize()] {
                Target::Registry(id) => id.clone(),
                Target::Hub => match self
                    .hub
                    .registry_for(&String::from_utf8_lossy(&text[spans.name.clone()]))
                {
                    Some(id) => id.clone(),
                    None => continue,
                },
            };
            pos = spans.full().end;
            let (line, column) = lines.locate(text, start);
            // The grammar admits only ASCII, so these conversions never replace anything.
            let string = |range: &std::ops::Range<usize>| {
                String::from_utf8_lossy(&text[range.clone()]).into_owned()
            };
            let image = string(&spans.name);
            found.push(ImageRef {
                registry,
                key: ImageKey::of(&image),
                image,
                tag: string(tag),
                digest: spans.digest.as_ref().map(string),
                line,
                column,
                hold: holds.find(text, &[&spans.name]),
                spans,
                form: Form::Inline,
            });
        }
        found
    }
}

/// What a file's structure shows, before it is located.
enum Found {
    Resolved(Result<ImageRef, Unmanaged>),
    Pending(ChartCandidate),
}

/// The lines a hold comment may sit on: a split form's name's or its tag's.
fn hold_lines(spans: &RefSpans) -> Vec<&std::ops::Range<usize>> {
    [Some(&spans.name), spans.tag.as_ref()]
        .into_iter()
        .flatten()
        .collect()
}

/// The hosts of `prefixes`: a file without one of them (and without Docker Hub registries
/// configured) can hold no managed reference written in full.
fn hosts_of(prefixes: &[RegistryId]) -> Result<AhoCorasick, ScannerError> {
    Ok(AhoCorasick::new(prefixes.iter().map(|id| {
        id.prefix().split('/').next().unwrap_or_default()
    }))?)
}

/// `name:tag` as written, cut short if long, for an image that is not managed.
fn unmanaged_text(name: &str, tag: Option<&str>) -> String {
    let written = match tag {
        Some(tag) => format!("{name}:{tag}"),
        None => name.to_string(),
    };
    written.chars().take(200).collect()
}

/// A byte that, right before a prefix, shows the prefix is the tail of some longer name
/// (`xreg.io/…`, `other.reg.io/…`, `/path/reg.io/…`).
fn continues_a_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-/".contains(&b)
}

/// Turns byte offsets into line and column, counting newlines only once per file.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
    line_start: usize,
}

impl LineCounter {
    /// Offsets must be asked for in increasing order.
    fn locate(&mut self, text: &[u8], offset: usize) -> (usize, usize) {
        for newline in memchr::memchr_iter(b'\n', &text[self.offset..offset]) {
            self.line += 1;
            self.line_start = self.offset + newline + 1;
        }
        self.offset = offset;
        (self.line + 1, offset - self.line_start + 1)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod chart_tests;
