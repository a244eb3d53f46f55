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
use super::forms::{self, Candidate, FileKind, Form};
use super::hold::{Hold, LineHolds};
use super::hub::{self, HUB_HOSTS, HubRegistries};
use super::reference::{RefSpans, is_valid_digest, is_valid_tag, match_remainder};

/// A tagged reference found in some text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    /// The registry whose prefix the name starts with (the longest, if several do).
    pub registry: RegistryId,
    /// The name as written, without tag and digest.
    pub image: String,
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
        let hosts = AhoCorasick::new(
            prefixes
                .iter()
                .map(|id| id.prefix().split('/').next().unwrap_or_default()),
        )?;
        Ok(Scanner {
            finder,
            targets,
            prefixes,
            hosts,
            hub,
            everything: false,
        })
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
        if !look_for_hub && !self.hosts.is_match(text) {
            return scan;
        }
        let candidates = match forms::candidates(kind, text, look_for_hub) {
            Ok(candidates) => candidates,
            Err(err) => {
                scan.unmanaged.push(Unmanaged {
                    line: err.line,
                    column: 1,
                    form: Form::Inline,
                    written: err.message.chars().take(200).collect(),
                    reason: UnmanagedReason::NotYaml,
                });
                return scan;
            }
        };
        if candidates.is_empty() {
            return scan;
        }
        let seen: HashSet<usize> = scan.refs.iter().map(|r| r.spans.name.start).collect();
        let mut extra: Vec<(usize, Result<ImageRef, Unmanaged>)> = candidates
            .into_iter()
            .filter(|c| !seen.contains(&c.name_span.start))
            .filter_map(|c| self.resolve(c))
            .collect();
        extra.sort_by_key(|(at, _)| *at);
        let mut lines = LineCounter::default();
        let mut holds = LineHolds::default();
        for (at, resolved) in extra {
            let (line, column) = lines.locate(text, at);
            match resolved {
                Ok(mut reference) => {
                    (reference.line, reference.column) = (line, column);
                    // A split form's hold may sit on the name's line or the tag's.
                    let spans = &reference.spans;
                    let lines = [Some(&spans.name), spans.tag.as_ref()];
                    let lines: Vec<&std::ops::Range<usize>> = lines.into_iter().flatten().collect();
                    reference.hold = holds.find(text, &lines);
                    scan.refs.push(reference);
                }
                Err(mut unmanaged) => {
                    (unmanaged.line, unmanaged.column) = (line, column);
                    scan.unmanaged.push(unmanaged);
                }
            }
        }
        scan.refs.sort_by_key(|r| (r.line, r.column));
        scan
    }

    /// The reference a structured candidate makes — or why it makes none that is managed —
    /// with the offset its position is counted from; `None` when it is no image name at all.
    fn resolve(&self, candidate: Candidate) -> Option<(usize, Result<ImageRef, Unmanaged>)> {
        let Candidate {
            form,
            name,
            name_span,
            tag,
            digest,
        } = candidate;
        let form = match (form, hub::names_its_registry(&name)) {
            (Form::Inline, false) => Form::ImplicitHub,
            (form, _) => form,
        };
        // Split values are located by their tag (that is what changes), if they have one.
        let at = match (form, &tag) {
            (Form::Helm | Form::Kustomize, Some(tag)) => tag.span.start,
            _ => name_span.start,
        };
        let written: String = match &tag {
            Some(tag) => format!("{name}:{}", tag.text),
            None => name.clone(),
        }
        .chars()
        .take(200)
        .collect();
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
        if super::reference::Reference::parse(&name)
            .is_none_or(|r| r.tag.is_some() || r.digest.is_some())
        {
            return None;
        }
        let registry = match hub::names_its_registry(&name) {
            true => self.registry_for(&name),
            false => self.hub.registry_for(&name).cloned(),
        };
        let Some(tag) = tag else {
            // A bare name in a Dockerfile or an image key is often a build stage or a default.
            return match form {
                Form::Helm | Form::Kustomize => unmanaged(UnmanagedReason::Untagged),
                _ => None,
            };
        };
        let Some(registry) = registry else {
            return unmanaged(UnmanagedReason::NoRegistry);
        };
        if tag.text.is_empty() {
            return unmanaged(UnmanagedReason::EmptyTag);
        }
        if !tag.editable || digest.as_ref().is_some_and(|d| !d.editable) {
            return unmanaged(UnmanagedReason::NotEditable);
        }
        if !is_valid_tag(&tag.text) || digest.as_ref().is_some_and(|d| !is_valid_digest(&d.text)) {
            return unmanaged(UnmanagedReason::InvalidTag);
        }
        let reference = ImageRef {
            registry,
            image: name,
            tag: tag.text,
            digest: digest.as_ref().map(|d| d.text.clone()),
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
            found.push(ImageRef {
                registry,
                image: string(&spans.name),
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
mod tests {
    use super::*;

    const ECR: &str = "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp";

    fn refs(prefixes: &[&str], text: &str) -> Vec<(String, usize, usize)> {
        Scanner::new(prefixes)
            .unwrap()
            .scan(text.as_bytes())
            .into_iter()
            .map(|r| (text[r.spans.full()].to_string(), r.line, r.column))
            .collect()
    }

    fn texts(prefixes: &[&str], text: &str) -> Vec<String> {
        refs(prefixes, text).into_iter().map(|r| r.0).collect()
    }

    #[test]
    fn one_long_line_of_references_is_read_once() {
        let scanner = Scanner::new([ECR]).unwrap();
        for count in [1_000, 100_000] {
            let line: String = (0..count)
                .map(|n| format!("{ECR}/app:develop-{n} "))
                .collect();
            let text = format!("{line} # laminar:hold\nnext: {ECR}/app:develop-1\n");
            let mut holds = LineHolds::default();
            let found = scanner.scan_with(text.as_bytes(), &mut holds);
            assert_eq!(found.len(), count + 1);
            assert!(found[..count].iter().all(|r| r.hold.is_some()));
            assert!(found[count].hold.is_none());
            // Each line is read once: the lines' lengths, not that times the references.
            assert!(holds.bytes_read() <= text.len(), "{}", holds.bytes_read());
        }
        // A hold on the first line of a file, whose reference starts at its first byte.
        let first = format!("{ECR}/app:develop-1 # laminar:hold\n");
        assert!(scanner.scan(first.as_bytes())[0].hold.is_some());
    }

    #[test]
    fn finds_references_in_many_syntaxes() {
        let text = format!(
            "image: {ECR}/app:develop-1\n\
             image: \"{ECR}/app:develop-2\"\n\
             image: '{ECR}/app:develop-3'\n\
             {{\"image\":\"{ECR}/app:develop-4\"}}\n\
             FROM {ECR}/base:1.0 AS build\n\
             --image={ECR}/app:develop-5\n\
             IMAGE={ECR}/app:develop-6\n\
             image = \"{ECR}/app:develop-7\"\n\
             # was {ECR}/app:develop-8, see below\n\
             - {ECR}/app:develop-9\r\n"
        );
        let found = texts(&[ECR], &text);
        let tags: Vec<&str> = found
            .iter()
            .map(|r| r.rsplit(':').next().unwrap())
            .collect();
        assert_eq!(
            tags,
            [
                "develop-1",
                "develop-2",
                "develop-3",
                "develop-4",
                "1.0",
                "develop-5",
                "develop-6",
                "develop-7",
                "develop-8",
                "develop-9"
            ]
        );
    }

    #[test]
    fn lines_and_byte_columns_are_one_based() {
        let text = format!("a: b\n  image: {ECR}/app:1\n\u{e9}x {ECR}/app:2");
        let found = refs(&[ECR], &text);
        assert_eq!((found[0].1, found[0].2), (2, 10));
        // `é` is two bytes: the column counts bytes.
        assert_eq!((found[1].1, found[1].2), (3, 5));
    }

    #[test]
    fn a_prefix_must_stand_alone_and_be_followed_by_a_slash() {
        let text = format!(
            "{ECR}-x/app:1\nx{ECR}/app:2\nsub.{ECR}/app:3\n/{ECR}/app:4\n{ECR}app:5\n{ECR}/app:6"
        );
        assert_eq!(texts(&[ECR], &text), [format!("{ECR}/app:6")]);
    }

    #[test]
    fn untagged_digest_only_and_invalid_names_are_skipped() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let text = format!(
            "reg.io/app\nreg.io/app@{digest}\nreg.io/App:1\nreg.io/app:{}\nreg.io/app:1@{digest}\n",
            "x".repeat(129)
        );
        assert_eq!(
            texts(&["reg.io"], &text),
            [format!("reg.io/app:1@{digest}")]
        );
    }

    #[test]
    fn a_reference_ends_where_the_grammar_ends() {
        let text = "reg.io/app:develop-1\",reg.io/app:develop-12 reg.io/a/b:v1}";
        assert_eq!(
            texts(&["reg.io"], text),
            [
                "reg.io/app:develop-1",
                "reg.io/app:develop-12",
                "reg.io/a/b:v1"
            ]
        );
    }

    /// (form, registry, image, tag) of each reference `scan_file` finds.
    fn structured(
        prefixes: &[&str],
        file: &str,
        text: &str,
    ) -> Vec<(Form, String, String, String)> {
        let scan = Scanner::new(prefixes)
            .unwrap()
            .scan_file(Path::new(file), text.as_bytes());
        assert!(
            scan.unmanaged
                .iter()
                .all(|u| u.reason != UnmanagedReason::NotYaml)
        );
        scan.refs
            .into_iter()
            .map(|r| (r.form, r.registry.to_string(), r.image, r.tag))
            .collect()
    }

    fn row(form: Form, registry: &str, image: &str, tag: &str) -> (Form, String, String, String) {
        (form, registry.into(), image.into(), tag.into())
    }

    #[test]
    fn docker_hub_names_are_managed_in_every_spelling_where_they_are_images() {
        let hub = &["docker.io/library", "docker.io/bitnami", "ghcr.io/acme"];
        let text = "web:\n  image: nginx:1.25\ncache:\n  image: bitnami/redis:7.2\nproxy:\n  image: docker.io/library/haproxy:2.9\n\
                    old:\n  image: index.docker.io/library/httpd:2.4\nother:\n  image: quay.io/x/y:1\nnote: redis:7 in free text\n";
        assert_eq!(
            structured(hub, "compose.yaml", text),
            [
                row(Form::ImplicitHub, "docker.io/library", "nginx", "1.25"),
                row(
                    Form::ImplicitHub,
                    "docker.io/bitnami",
                    "bitnami/redis",
                    "7.2"
                ),
                row(
                    Form::Inline,
                    "docker.io/library",
                    "docker.io/library/haproxy",
                    "2.9"
                ),
                row(
                    Form::Inline,
                    "docker.io/library",
                    "index.docker.io/library/httpd",
                    "2.4"
                ),
            ]
        );
        let dockerfile = "FROM golang:1.22 AS build\nFROM gcr.io/distroless/static:nonroot\nCOPY --from=busybox:1.36 /bin/sh /sh\n";
        assert_eq!(
            structured(hub, "Dockerfile", dockerfile),
            [
                row(Form::ImplicitHub, "docker.io/library", "golang", "1.22"),
                row(Form::ImplicitHub, "docker.io/library", "busybox", "1.36"),
            ]
        );
        assert_eq!(
            structured(hub, "main.tf", "image = \"postgres:16\"\n"),
            [row(
                Form::ImplicitHub,
                "docker.io/library",
                "postgres",
                "16"
            )]
        );
        assert!(structured(hub, "notes.txt", "nginx:1.25\n").is_empty());
        assert!(
            structured(&["ghcr.io/acme"], "compose.yaml", text).is_empty(),
            "no hub registry, no implicit names"
        );
    }

    #[test]
    fn hold_comments_are_read_on_the_reference_line_or_a_split_forms_tag_line() {
        let text = "app:\n  image:\n    repository: ghcr.io/acme/app\n    tag: \"1.0\"   # laminar:hold until=2026-12-01\napi: ghcr.io/acme/api:2.0 # laminar:hold\ndb: ghcr.io/acme/db:3.0\n";
        let scan = Scanner::new(["ghcr.io/acme"])
            .unwrap()
            .scan_file(Path::new("values.yaml"), text.as_bytes());
        let holds: Vec<(&str, Option<&str>)> = scan
            .refs
            .iter()
            .map(|r| {
                let until = r.hold.as_ref().map(|h| h.until.as_deref().unwrap_or("-"));
                (r.image.as_str(), until)
            })
            .collect();
        assert_eq!(
            holds,
            [
                ("ghcr.io/acme/app", Some("2026-12-01")),
                ("ghcr.io/acme/api", Some("-")),
                ("ghcr.io/acme/db", None),
            ]
        );
    }

    #[test]
    fn split_and_kustomize_forms_are_located_at_their_tags() {
        let values = "image:\n  registry: ghcr.io\n  repository: acme/app\n  tag: \"1.0\"\nchart:\n  repository: https://charts.example.com\n  version: 1.2.3\nempty:\n  repository: ghcr.io/acme/e\n  tag: \"\"\n";
        let scan = Scanner::new(["ghcr.io/acme"])
            .unwrap()
            .scan_file(Path::new("values.yaml"), values.as_bytes());
        let found = scan.refs;
        assert_eq!(found.len(), 1, "{found:?}");
        let unmanaged: Vec<_> = scan
            .unmanaged
            .iter()
            .map(|u| (u.line, u.written.as_str(), u.reason))
            .collect();
        assert_eq!(
            unmanaged,
            [(10, "ghcr.io/acme/e:", UnmanagedReason::EmptyTag)]
        );
        assert_eq!(
            (
                found[0].form,
                found[0].image.as_str(),
                found[0].tag.as_str()
            ),
            (Form::Helm, "ghcr.io/acme/app", "1.0")
        );
        assert_eq!((found[0].line, found[0].column), (4, 9));
        let kustomization = "images:\n- name: app\n  newName: ghcr.io/acme/app\n  newTag: v2\n";
        assert_eq!(
            structured(&["ghcr.io/acme"], "kustomization.yaml", kustomization),
            [row(
                Form::Kustomize,
                "ghcr.io/acme",
                "ghcr.io/acme/app",
                "v2"
            )]
        );
    }

    #[test]
    fn templated_values_are_reported_and_never_managed() {
        let text = "web:\n  image: \"{{ .Values.web }}\"\napp:\n  repository: ghcr.io/acme/x\n  tag: \"{{ .Chart.AppVersion }}\"\n";
        let scan = Scanner::new(["docker.io", "ghcr.io/acme"])
            .unwrap()
            .scan_file(Path::new("values.yaml"), text.as_bytes());
        assert!(scan.refs.is_empty());
        let reasons: Vec<_> = scan.unmanaged.iter().map(|u| (u.line, u.reason)).collect();
        assert_eq!(
            reasons,
            [
                (2, UnmanagedReason::Templated),
                (5, UnmanagedReason::Templated)
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_still_gets_its_inline_references() {
        let text = "image: ghcr.io/acme/app:1\nrepository: [\n";
        let scan = Scanner::new(["ghcr.io/acme"])
            .unwrap()
            .scan_file(Path::new("x.yaml"), text.as_bytes());
        assert_eq!(scan.refs.len(), 1);
        assert_eq!(scan.unmanaged[0].reason, UnmanagedReason::NotYaml);
    }

    #[test]
    fn a_name_longer_than_the_spec_allows_is_no_reference() {
        let long = format!("reg.io/{}:1", "a".repeat(250));
        assert!(texts(&["reg.io"], &long).is_empty());
    }

    #[test]
    fn the_longest_prefix_names_the_registry_and_ports_work() {
        let scanner = Scanner::new(["reg.io", "reg.io/team", "localhost:5000"]).unwrap();
        let found = scanner.scan(b"reg.io/team/app:1 reg.io/other:2 localhost:5000/x:3");
        let prefixes: Vec<&str> = found.iter().map(|r| r.registry.prefix()).collect();
        assert_eq!(prefixes, ["reg.io/team", "reg.io", "localhost:5000"]);
    }
}
