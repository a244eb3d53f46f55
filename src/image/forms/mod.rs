//! Where a file's structure says an image is, beyond the `registry/name:tag` strings the
//! text scanner finds: Helm values split into keys, kustomize `images:`, and — for names
//! that leave Docker Hub implied, which only the context shows to be images — values of
//! YAML image keys, Dockerfile `FROM` and `COPY --from`, HCL `image = "…"`.

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
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Inline => "inline",
            Form::Helm => "helm",
            Form::Kustomize => "kustomize",
            Form::ImplicitHub => "implicit-hub",
        }
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub text: String,
    /// The value's own bytes, without quotes.
    pub span: Range<usize>,
    /// The bytes at `span` are exactly `text` (no escapes, no folding): it can be rewritten.
    pub editable: bool,
}

/// The files whose structure can show an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `.yaml`/`.yml`; `kustomization` for kustomize's own file (`Kustomization` too).
    Yaml {
        kustomization: bool,
    },
    Dockerfile,
    /// `.tf`, `.hcl`, `.nomad`.
    Hcl,
}

impl FileKind {
    /// The kind of the file at `path`, by its name; `None` for any other file.
    pub fn of(path: &Path) -> Option<FileKind> {
        let lower = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let kustomization = matches!(
            lower.as_str(),
            "kustomization.yaml" | "kustomization.yml" | "kustomization"
        );
        if kustomization || lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(FileKind::Yaml { kustomization })
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
    /// matter only with a Docker Hub registry configured): YAML's split values and
    /// kustomize entries.
    pub fn beyond_hub_names(self) -> bool {
        matches!(self, FileKind::Yaml { .. })
    }
}

/// What a file of `kind` holding `text` shows by its structure. `hub` says whether names
/// without a registry are looked for (in YAML image keys; Dockerfiles and HCL hold nothing
/// else).
pub fn candidates(kind: FileKind, text: &[u8], hub: bool) -> Result<Vec<Candidate>, YamlError> {
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(Vec::new());
    };
    match kind {
        FileKind::Yaml { kustomization } => {
            // Parse only where a key these forms use is written at all.
            let has = |word: &str| memmem::find(text.as_bytes(), word.as_bytes()).is_some();
            let wanted =
                has("repository") || (kustomization && has("images")) || (hub && has("image"));
            match wanted {
                true => yaml::candidates(text, kustomization, hub),
                false => Ok(Vec::new()),
            }
        }
        FileKind::Dockerfile if hub => Ok(dockerfile::candidates(text)),
        FileKind::Hcl if hub => Ok(hcl::candidates(text)),
        FileKind::Dockerfile | FileKind::Hcl => Ok(Vec::new()),
    }
}

/// The plain `image:` lines of a YAML file that does not parse (a Helm template, say).
pub fn template_lines(text: &[u8]) -> Vec<Candidate> {
    std::str::from_utf8(text).map_or_else(|_| Vec::new(), template::candidates)
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
