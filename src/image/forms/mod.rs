//! Where a file's structure says an image is, beyond the `registry/name:tag` strings the
//! text scanner finds: Helm values split into keys, kustomize `images:`, and — for names
//! that leave Docker Hub implied, which only the context shows to be images — values of
//! YAML image keys, Dockerfile `FROM` and `COPY --from`, HCL `image = "…"`; CUE values split
//! into `repository` and `tag`; and Helm chart versions with the repository they come from.

mod cue;
mod dockerfile;
mod hcl;
mod template;
pub mod yaml;

use std::ops::Range;
use std::path::Path;

use memchr::memmem;

pub use yaml::YamlError;

/// How a reference is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// `registry/name:tag` in one string.
    #[default]
    Inline,
    /// Helm values: `repository` and `tag` (or `version`) keys of one mapping.
    Helm,
    /// A kustomize `images:` entry.
    Kustomize,
    /// `name:tag` with Docker Hub implied (`nginx:1.25`, `bitnami/redis:7.2`), where the
    /// context shows it is an image.
    ImplicitHub,
    /// CUE (Timoni values): `repository` and `tag` string fields of one struct.
    Cue,
    /// A Flux `HelmRelease` chart version, its repository from the `HelmRepository` it names.
    HelmRelease,
    /// A Flux `OCIRepository`: `spec.url` and `spec.ref.tag`.
    OciRepository,
    /// An Argo CD `Application` or `ApplicationSet` chart source's `targetRevision`.
    ArgoCd,
    /// A `Chart.yaml` dependency's version.
    ChartDependency,
    /// A kustomize `helmCharts:` entry's version.
    HelmCharts,
    /// A helmfile release's version.
    Helmfile,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Inline => "inline",
            Form::Helm => "helm",
            Form::Kustomize => "kustomize",
            Form::ImplicitHub => "implicit-hub",
            Form::Cue => "cue",
            Form::HelmRelease => "helm-release",
            Form::OciRepository => "oci-repository",
            Form::ArgoCd => "argo-cd",
            Form::ChartDependency => "chart-dependency",
            Form::HelmCharts => "helm-charts",
            Form::Helmfile => "helmfile",
        }
    }

    /// Whether the tag is a Helm chart version: written with `+` where an OCI registry's tag
    /// has `_` (Helm's mapping; build metadata is not allowed in OCI tags).
    pub fn is_chart_version(self) -> bool {
        matches!(
            self,
            Form::HelmRelease
                | Form::ArgoCd
                | Form::ChartDependency
                | Form::HelmCharts
                | Form::Helmfile
        )
    }

    /// Whether the name and the tag are written apart (the tag locates the reference).
    pub fn is_split(self) -> bool {
        !matches!(self, Form::Inline | Form::ImplicitHub)
    }
}

/// A possible reference, before it is checked against the grammar and the registries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub form: Form,
    /// The image name as written (split values joined the way charts join them).
    pub name: String,
    /// Where the name (or the repository value) is written.
    pub name_span: Range<usize>,
    /// `None` when no tag is written at all.
    pub tag: Option<Part>,
    pub digest: Option<Part>,
}

/// One value of a candidate: its text and where it lies.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub text: String,
    /// The value's own bytes, without quotes.
    pub span: Range<usize>,
    /// The bytes at `span` are exactly `text` (no escapes, no folding): it can be rewritten.
    pub editable: bool,
}

/// A chart version written beside the repository it comes from (or the Flux
/// `HelmRepository` that names it), before it is checked against the configured sources.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChartCandidate {
    pub form: Form,
    pub source: ChartSource,
    /// The chart's name as written.
    pub chart: String,
    pub chart_span: Range<usize>,
    /// `None` when no version is written (the newest is taken by whoever reads it).
    pub version: Option<Part>,
}

/// Where a chart comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChartSource {
    /// A repository URL as written: `oci://host/path`, `https://host/path`, or an OCI
    /// `host/path` without a scheme (Argo CD).
    Url(String),
    /// A Flux `HelmRepository`, by name and namespace (empty when the file leaves it out).
    Named { name: String, namespace: String },
}

/// A Flux `HelmRepository` a file defines.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamedRepository {
    pub name: String,
    pub namespace: String,
    pub url: String,
}

/// What a file shows by its structure.
#[derive(Debug, Default)]
pub struct Structure {
    pub images: Vec<Candidate>,
    pub charts: Vec<ChartCandidate>,
    pub repositories: Vec<NamedRepository>,
}

/// The files whose structure can show an image or a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `.yaml`/`.yml`; `kustomization` for kustomize's own file (`Kustomization` too),
    /// `chart` for a `Chart.yaml`.
    Yaml {
        kustomization: bool,
        chart: bool,
    },
    Dockerfile,
    /// `.tf`, `.hcl`, `.nomad`.
    Hcl,
    /// `.cue`.
    Cue,
    /// A `Chart.lock`: laminar never rewrites it (its digest covers the resolved set).
    ChartLock,
}

impl FileKind {
    /// The kind of the file at `path`, by its name; `None` for any other file.
    pub fn of(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_string_lossy();
        let lower = name.to_ascii_lowercase();
        let kustomization = matches!(
            lower.as_str(),
            "kustomization.yaml" | "kustomization.yml" | "kustomization"
        );
        if name == "Chart.lock" {
            Some(FileKind::ChartLock)
        } else if kustomization || lower.ends_with(".yaml") || lower.ends_with(".yml") {
            let chart = name == "Chart.yaml" || name == "Chart.yml";
            Some(FileKind::Yaml {
                kustomization,
                chart,
            })
        } else if lower.ends_with(".cue") {
            Some(FileKind::Cue)
        } else if lower.starts_with("dockerfile")
            || lower.ends_with(".dockerfile")
            || lower == "containerfile"
        {
            Some(FileKind::Dockerfile)
        } else if [".tf", ".hcl", ".nomad"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            Some(FileKind::Hcl)
        } else {
            None
        }
    }

    /// Whether the file can show an image other than by names without a registry (which
    /// matter only with a Docker Hub registry configured): YAML's split values, kustomize
    /// entries and charts, CUE's split values.
    pub fn beyond_hub_names(self) -> bool {
        matches!(
            self,
            FileKind::Yaml { .. } | FileKind::Cue | FileKind::ChartLock
        )
    }
}

/// What a file of `kind` holding `text` shows by its structure. `hub` says whether names
/// without a registry are looked for (in YAML image keys; Dockerfiles and HCL hold nothing
/// else).
pub fn candidates(kind: FileKind, text: &[u8], hub: bool) -> Result<Structure, YamlError> {
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(Structure::default());
    };
    let images = |images| Structure {
        images,
        ..Structure::default()
    };
    match kind {
        FileKind::Yaml {
            kustomization,
            chart,
        } => {
            // Parse only where a key these forms use is written at all.
            let has = |word: &str| memmem::find(text.as_bytes(), word.as_bytes()).is_some();
            let wanted = has("repository")
                || (kustomization && has("images"))
                || (hub && has("image"))
                || yaml::mentions_charts(text);
            match wanted {
                true => yaml::candidates(
                    text,
                    yaml::Reading {
                        kustomization,
                        chart,
                        image_keys: hub,
                    },
                ),
                false => Ok(Structure::default()),
            }
        }
        FileKind::Cue => Ok(images(cue::candidates(text))),
        FileKind::Dockerfile if hub => Ok(images(dockerfile::candidates(text))),
        FileKind::Hcl if hub => Ok(images(hcl::candidates(text))),
        FileKind::Dockerfile | FileKind::Hcl | FileKind::ChartLock => Ok(Structure::default()),
    }
}

/// Whether a file's text may hold a chart whose repository it does not name (a Flux
/// `HelmRelease`, resolved against the `HelmRepository` objects of every scanned file).
pub fn names_no_repository(text: &[u8]) -> bool {
    memmem::find(text, b"HelmRelease").is_some()
}

/// The plain `image:` lines of a YAML file that does not parse (a Helm template, say).
pub fn template_lines(text: &[u8]) -> Vec<Candidate> {
    std::str::from_utf8(text).map_or_else(|_| Vec::new(), template::candidates)
}

/// The chart version an OCI tag stands for: Helm writes a version's `+` (build metadata,
/// which OCI tags cannot hold) as `_`.
pub fn chart_version(tag: &str) -> String {
    tag.replace('_', "+")
}

/// Whether a value is a template filled in elsewhere (`{{ .Values.tag }}`, `${TAG}`, `$(TAG)`).
pub fn is_templated(text: &str) -> bool {
    ["{{", "${", "$("].iter().any(|t| text.contains(t))
}

/// A candidate for a `name[:tag][@digest]` string written at `start` of the file.
fn inline_at(text: &str, start: usize) -> Option<Candidate> {
    let spans = super::reference::parse_spans(text)?;
    let at = |r: &Range<usize>| r.start + start..r.end + start;
    let part = |r: &Range<usize>| Part {
        text: text[r.clone()].to_string(),
        span: at(r),
        editable: true,
    };
    Some(Candidate {
        form: Form::Inline,
        name: text[spans.name.clone()].to_string(),
        name_span: at(&spans.name),
        tag: spans.tag.as_ref().map(part),
        digest: spans.digest.as_ref().map(part),
    })
}
