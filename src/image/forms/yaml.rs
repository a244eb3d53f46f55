//! Image references YAML writes as structure rather than as one `name:tag` string — Helm
//! values split into `repository`/`tag` (with an optional `registry` and `digest`),
//! kustomize `images:` entries, values of image keys — read with a real YAML parser that
//! gives every scalar's byte span, so a rewrite touches only the tag's bytes.
//!
//! The parser builds no values from aliases (an alias is a leaf here), so a document cannot
//! grow by expansion; its own nesting limits bound the depth.

use std::borrow::Cow;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle};

use super::{Candidate, Form, Part, Structure, inline_at};

mod charts;

pub(super) use charts::mentioned as mentions_charts;

/// How deep `values: |` blocks holding YAML are followed (Argo CD's `helm.values`).
const MAX_EMBEDDED_DEPTH: usize = 2;

/// A YAML node with the byte span of each scalar.
#[derive(Debug)]
enum Node<'a> {
    Scalar(Scalar<'a>),
    Map(Vec<(Node<'a>, Node<'a>)>),
    Seq(Vec<Node<'a>>),
    /// An alias: a reference to a node elsewhere, not followed.
    Alias,
}

#[derive(Debug)]
struct Scalar<'a> {
    value: Cow<'a, str>,
    style: ScalarStyle,
    span: Range<usize>,
}

/// The YAML file could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// What to read from a YAML file besides Helm values and the charts of Kubernetes objects.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// kustomize's own file: its `images:` and `helmCharts:`.
    pub kustomization: bool,
    /// A `Chart.yaml`: its `dependencies:`.
    pub chart: bool,
    /// Values of image keys (they matter only for names without a registry, on Docker Hub).
    pub image_keys: bool,
}

/// Every structured reference candidate in a YAML stream (all its documents).
pub fn candidates(text: &str, reading: Reading) -> Result<Structure, YamlError> {
    let mut found = Structure::default();
    let whole = Stream {
        offset: 0,
        reading,
        depth: 0,
    };
    collect_stream(text, whole, &mut found)?;
    Ok(found)
}

/// Where a YAML stream lies and what to read from it.
#[derive(Clone, Copy)]
struct Stream {
    /// Where the stream starts in the file (an embedded block's spans count from the file).
    offset: usize,
    reading: Reading,
    /// How deep in embedded blocks.
    depth: usize,
}

fn collect_stream(text: &str, stream: Stream, found: &mut Structure) -> Result<(), YamlError> {
    for document in parse(text, stream.offset)? {
        let mut finder = Finder {
            source: text,
            offset: stream.offset,
            image_keys: stream.reading.image_keys,
            depth: stream.depth,
            found,
        };
        if stream.reading.kustomization {
            finder.kustomize_images(&document);
        }
        finder.charts(&document, stream.reading);
        finder.visit(&document, None);
    }
    Ok(())
}

/// Builds the documents of a YAML stream; spans are offset by `offset`.
fn parse(text: &str, offset: usize) -> Result<Vec<Node<'_>>, YamlError> {
    // Open collections, each with its children so far.
    let mut stack: Vec<(bool, Vec<Node>)> = Vec::new();
    let mut documents = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        let node = match event {
            Event::MappingStart(..) => {
                stack.push((true, Vec::new()));
                continue;
            }
            Event::SequenceStart(..) => {
                stack.push((false, Vec::new()));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some((is_map, children)) = stack.pop() else {
                    continue;
                };
                match is_map {
                    true => Node::Map(pairs(children)),
                    false => Node::Seq(children),
                }
            }
            Event::Scalar(value, style, _, _) => {
                let Some(range) = span.byte_range() else {
                    continue;
                };
                Node::Scalar(Scalar {
                    value,
                    style,
                    span: range.start + offset..range.end + offset,
                })
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => Node::Alias,
            _ => continue,
        };
        match stack.last_mut() {
            Some((_, children)) => children.push(node),
            None => documents.push(node),
        }
    }
    Ok(documents)
}

fn pairs(children: Vec<Node>) -> Vec<(Node, Node)> {
    let mut pairs = Vec::with_capacity(children.len() / 2);
    let mut items = children.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

struct Finder<'s, 'f> {
    /// The text the spans point into, starting at `offset` of the file.
    source: &'s str,
    offset: usize,
    image_keys: bool,
    depth: usize,
    found: &'f mut Structure,
}

impl Finder<'_, '_> {
    fn visit(&mut self, node: &Node, key: Option<&str>) {
        match node {
            Node::Map(entries) => {
                self.split_values(entries);
                for (k, value) in entries {
                    let name = match k {
                        Node::Scalar(s) => Some(s.value.as_ref()),
                        _ => None,
                    };
                    self.visit(value, name);
                }
            }
            Node::Seq(items) => {
                for item in items {
                    self.visit(item, key);
                }
            }
            Node::Scalar(scalar) => match key {
                Some(key) if self.image_keys && is_image_key(key) => self.inline(scalar),
                Some("values") if scalar.style == ScalarStyle::Literal => self.embedded(scalar),
                _ => {}
            },
            Node::Alias => {}
        }
    }

    /// A mapping holding `repository` and `tag` (or `version`), perhaps `registry` and
    /// `digest`: one reference, as Helm charts write it.
    fn split_values(&mut self, entries: &[(Node, Node)]) {
        let Some(repository) = scalar_at(entries, "repository") else {
            return;
        };
        let Some(tag) = scalar_at(entries, "tag").or_else(|| scalar_at(entries, "version")) else {
            return;
        };
        let registry = scalar_at(entries, "registry")
            .map(|r| r.value.trim().trim_end_matches('/').to_string())
            .filter(|r| !r.is_empty());
        let repository_name = repository.value.trim();
        let name = match registry {
            Some(registry) => format!("{registry}/{repository_name}"),
            None => repository_name.to_string(),
        };
        let digest = scalar_at(entries, "digest")
            .filter(|d| is_digest_slot(d))
            .map(|d| self.part(d));
        self.found.images.push(Candidate {
            form: Form::Helm,
            name,
            name_span: repository.span.clone(),
            tag: Some(self.part(tag)),
            digest,
        });
    }

    /// `images:` at the top of a kustomization: `name`, `newName`, `newTag`, `digest`.
    fn kustomize_images(&mut self, document: &Node) {
        let Node::Map(entries) = document else {
            return;
        };
        let Some(Node::Seq(images)) = entries
            .iter()
            .find(|(k, _)| matches!(k, Node::Scalar(s) if s.value == "images"))
            .map(|(_, v)| v)
        else {
            return;
        };
        for image in images {
            let Node::Map(fields) = image else {
                continue;
            };
            let Some(name) = scalar_at(fields, "newName").or_else(|| scalar_at(fields, "name"))
            else {
                continue;
            };
            let tag = scalar_at(fields, "newTag").map(|t| self.part(t));
            let digest = scalar_at(fields, "digest")
                .filter(|d| is_digest_slot(d))
                .map(|d| self.part(d));
            // Only a rename: nothing to keep current.
            if tag.is_none() && digest.is_none() {
                continue;
            }
            self.found.images.push(Candidate {
                form: Form::Kustomize,
                name: name.value.trim().to_string(),
                name_span: name.span.clone(),
                tag,
                digest,
            });
        }
    }

    /// The value of an image key, `name:tag` in one scalar; a templated one is kept whole,
    /// to be reported.
    fn inline(&mut self, scalar: &Scalar) {
        let Some(span) = self.editable(scalar) else {
            return;
        };
        match super::is_templated(&scalar.value) {
            true => self.found.images.push(Candidate {
                form: Form::Inline,
                name: scalar.value.to_string(),
                name_span: span,
                tag: None,
                digest: None,
            }),
            false => self
                .found
                .images
                .extend(inline_at(&scalar.value, span.start)),
        }
    }

    /// A literal block holding YAML (Argo CD's `helm.values: |`): its lines are parsed in
    /// place, so their spans point into this file.
    fn embedded(&mut self, scalar: &Scalar) {
        if self.depth >= MAX_EMBEDDED_DEPTH {
            return;
        }
        let local = scalar.span.start - self.offset..scalar.span.end - self.offset;
        // The block's first line starts after the indicator line; take it whole.
        let line_start = self.source[..local.start].rfind('\n').map_or(0, |n| n + 1);
        let Some(block) = self.source.get(line_start..local.end) else {
            return;
        };
        let offset = self.offset + line_start;
        let mut inner = Structure::default();
        let embedded = Stream {
            offset,
            reading: Reading {
                image_keys: self.image_keys,
                ..Reading::default()
            },
            depth: self.depth + 1,
        };
        if collect_stream(block, embedded, &mut inner).is_ok() {
            self.found.images.append(&mut inner.images);
        }
    }

    fn part(&self, scalar: &Scalar) -> Part {
        let editable = self.editable(scalar);
        Part {
            text: scalar.value.to_string(),
            span: editable.clone().unwrap_or_else(|| scalar.span.clone()),
            editable: editable.is_some(),
        }
    }

    /// The bytes of a scalar's value in the file, when they are exactly its value: plain, or
    /// quoted without escapes or line folding.
    fn editable(&self, scalar: &Scalar) -> Option<Range<usize>> {
        let local = scalar.span.start - self.offset..scalar.span.end - self.offset;
        let raw = self.source.get(local)?;
        let (inner, skip) = match scalar.style {
            ScalarStyle::Plain => (raw, 0),
            ScalarStyle::SingleQuoted => (raw.strip_prefix('\'')?.strip_suffix('\'')?, 1),
            ScalarStyle::DoubleQuoted => (raw.strip_prefix('"')?.strip_suffix('"')?, 1),
            _ => return None,
        };
        (inner == scalar.value).then(|| {
            let start = scalar.span.start + skip;
            start..start + inner.len()
        })
    }
}

/// A `digest` value to read, or a quoted empty one (`digest: ""`) that `pin: digest` may
/// fill in; a plain empty value (`digest:`) is left alone.
fn is_digest_slot(scalar: &Scalar) -> bool {
    !scalar.value.is_empty() || scalar.style != ScalarStyle::Plain
}

fn scalar_at<'n, 'a>(entries: &'n [(Node<'a>, Node<'a>)], key: &str) -> Option<&'n Scalar<'a>> {
    entries.iter().find_map(|(k, v)| match (k, v) {
        (Node::Scalar(k), Node::Scalar(v)) if k.value == key => Some(v),
        _ => None,
    })
}

/// `image`, and keys that end in it (`initImage`, `sidecar_image`, `proxy-image`).
fn is_image_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower == "image"
        || (lower.ends_with("image")
            && key.len() > 5
            && (key.as_bytes()[key.len() - 6] == b'_'
                || key.as_bytes()[key.len() - 6] == b'-'
                || key[key.len() - 5..].starts_with('I')))
}

#[cfg(test)]
mod tests;
