//! Chart versions in YAML, each beside the repository it comes from: Flux `HelmRelease`
//! (through the `HelmRepository` it names), `HelmRepository` and `OCIRepository`; Argo CD
//! `Application` and `ApplicationSet` chart sources; `Chart.yaml` dependencies; kustomize
//! `helmCharts:`; helmfile releases.

use memchr::memmem;

use super::super::{ChartCandidate, ChartSource, NamedRepository};
use super::{Finder, Form, Node, Reading, Scalar, scalar_at};

/// Words without which a file holds none of these forms (kustomize's and `Chart.yaml`'s are
/// found by the file's name and their `repository`/`repo` keys).
const MARKERS: [&str; 6] = [
    "HelmRelease",
    "HelmRepository",
    "OCIRepository",
    "targetRevision",
    "helmCharts",
    "releases",
];

/// Whether a YAML text may hold a chart form.
pub(crate) fn mentioned(text: &str) -> bool {
    MARKERS
        .iter()
        .any(|word| memmem::find(text.as_bytes(), word.as_bytes()).is_some())
}

type Entries<'n, 'a> = &'n [(Node<'a>, Node<'a>)];

fn map_at<'n, 'a>(entries: Entries<'n, 'a>, key: &str) -> Option<Entries<'n, 'a>> {
    entries.iter().find_map(|(k, v)| match (k, v) {
        (Node::Scalar(k), Node::Map(v)) if k.value == key => Some(v.as_slice()),
        _ => None,
    })
}

fn seq_at<'n, 'a>(entries: Entries<'n, 'a>, key: &str) -> &'n [Node<'a>] {
    entries
        .iter()
        .find_map(|(k, v)| match (k, v) {
            (Node::Scalar(k), Node::Seq(v)) if k.value == key => Some(v.as_slice()),
            _ => None,
        })
        .unwrap_or_default()
}

fn maps<'n, 'a>(items: &'n [Node<'a>]) -> impl Iterator<Item = Entries<'n, 'a>> {
    items.iter().filter_map(|item| match item {
        Node::Map(entries) => Some(entries.as_slice()),
        _ => None,
    })
}

fn text_at(entries: Entries, key: &str) -> Option<String> {
    scalar_at(entries, key).map(|s| s.value.trim().to_string())
}

impl Finder<'_, '_> {
    /// The chart forms of one document.
    pub(super) fn charts(&mut self, document: &Node, reading: Reading) {
        let Node::Map(top) = document else {
            return;
        };
        if reading.chart {
            for dependency in maps(seq_at(top, "dependencies")) {
                self.chart(
                    Form::ChartDependency,
                    dependency,
                    "name",
                    "repository",
                    "version",
                );
            }
        }
        if reading.kustomization {
            for chart in maps(seq_at(top, "helmCharts")) {
                self.chart(Form::HelmCharts, chart, "name", "repo", "version");
            }
        }
        let spec = map_at(top, "spec").unwrap_or_default();
        match scalar_at(top, "kind").map(|k| k.value.as_ref()) {
            Some("HelmRelease") => self.helm_release(top, spec),
            Some("HelmRepository") => self.helm_repository(top, spec),
            Some("OCIRepository") => self.oci_repository(spec),
            Some("Application") => self.argo_sources(spec),
            Some("ApplicationSet") => {
                let template = map_at(spec, "template").and_then(|t| map_at(t, "spec"));
                self.argo_sources(template.unwrap_or_default());
            }
            _ => self.helmfile(top),
        }
    }

    /// A chart named by `name_key`, from `repository_key`, at `version_key`. A chart with
    /// no repository, or a local one (`file://`), is the repo's own.
    fn chart(
        &mut self,
        form: Form,
        entries: Entries,
        name_key: &str,
        repository_key: &str,
        version_key: &str,
    ) {
        let (Some(chart), Some(repository)) = (
            scalar_at(entries, name_key),
            text_at(entries, repository_key),
        ) else {
            return;
        };
        if repository.is_empty() || repository.starts_with("file://") {
            return;
        }
        self.push_chart(
            form,
            ChartSource::Url(repository),
            chart,
            scalar_at(entries, version_key),
        );
    }

    fn push_chart(
        &mut self,
        form: Form,
        source: ChartSource,
        chart: &Scalar,
        version: Option<&Scalar>,
    ) {
        let candidate = ChartCandidate {
            form,
            source,
            chart: chart.value.trim().to_string(),
            chart_span: chart.span.clone(),
            version: version.map(|v| self.part(v)),
        };
        self.found.charts.push(candidate);
    }

    /// `spec.chart.spec`: `chart`, `version`, `sourceRef` to a `HelmRepository`.
    fn helm_release(&mut self, top: Entries, spec: Entries) {
        let Some(chart_spec) = map_at(spec, "chart").and_then(|c| map_at(c, "spec")) else {
            return;
        };
        let (Some(chart), Some(source)) = (
            scalar_at(chart_spec, "chart"),
            map_at(chart_spec, "sourceRef"),
        ) else {
            return;
        };
        // A chart from a GitRepository or a Bucket is kept in git, not versioned here.
        if text_at(source, "kind").is_some_and(|kind| kind != "HelmRepository") {
            return;
        }
        let Some(name) = text_at(source, "name") else {
            return;
        };
        let own_namespace = map_at(top, "metadata").and_then(|m| text_at(m, "namespace"));
        let namespace = text_at(source, "namespace")
            .or(own_namespace)
            .unwrap_or_default();
        self.push_chart(
            Form::HelmRelease,
            ChartSource::Named { name, namespace },
            chart,
            scalar_at(chart_spec, "version"),
        );
    }

    fn helm_repository(&mut self, top: Entries, spec: Entries) {
        let metadata = map_at(top, "metadata").unwrap_or_default();
        let (Some(name), Some(url)) = (text_at(metadata, "name"), text_at(spec, "url")) else {
            return;
        };
        self.found.repositories.push(NamedRepository {
            name,
            namespace: text_at(metadata, "namespace").unwrap_or_default(),
            url,
        });
    }

    /// `spec.url` (`oci://…`, naming the artifact) and `spec.ref.tag`; a `spec.ref.semver`
    /// range is read so it can be reported: Flux follows it itself.
    fn oci_repository(&mut self, spec: Entries) {
        let Some(url) = scalar_at(spec, "url") else {
            return;
        };
        let reference = map_at(spec, "ref").unwrap_or_default();
        let version = scalar_at(reference, "tag").or_else(|| scalar_at(reference, "semver"));
        self.push_artifact(Form::OciRepository, url, version);
    }

    /// An artifact whose URL names it whole (no separate chart name).
    fn push_artifact(&mut self, form: Form, url: &Scalar, version: Option<&Scalar>) {
        self.found.charts.push(ChartCandidate {
            form,
            source: ChartSource::Url(url.value.trim().to_string()),
            chart: String::new(),
            chart_span: url.span.clone(),
            version: version.map(|v| self.part(v)),
        });
    }

    /// `source` and `sources[]`: `repoURL` with `chart` and `targetRevision`; an `oci://`
    /// `repoURL` without `chart` names the chart itself.
    fn argo_sources(&mut self, spec: Entries) {
        let single = map_at(spec, "source").into_iter();
        for source in single.chain(maps(seq_at(spec, "sources"))) {
            let revision = scalar_at(source, "targetRevision");
            match (scalar_at(source, "chart"), scalar_at(source, "repoURL")) {
                (Some(_), _) => {
                    self.chart(Form::ArgoCd, source, "chart", "repoURL", "targetRevision")
                }
                (None, Some(url)) if url.value.starts_with("oci://") => {
                    self.push_artifact(Form::ArgoCd, url, revision)
                }
                _ => {}
            }
        }
    }

    /// helmfile: `releases[]` with `chart: <repository>/<chart>` (or `oci://…`) and
    /// `version`, the repositories from `repositories[]` (`oci: true` for OCI ones).
    fn helmfile(&mut self, top: Entries) {
        let releases = seq_at(top, "releases");
        if releases.is_empty() {
            return;
        }
        let repositories: Vec<(String, String)> = maps(seq_at(top, "repositories"))
            .filter_map(|r| {
                let (name, url) = (text_at(r, "name")?, text_at(r, "url")?);
                let oci = scalar_at(r, "oci").is_some_and(|o| o.value == "true");
                let url = match oci && !url.starts_with("oci://") {
                    true => format!("oci://{url}"),
                    false => url,
                };
                Some((name, url))
            })
            .collect();
        for release in maps(releases) {
            let Some(chart) = scalar_at(release, "chart") else {
                continue;
            };
            let version = scalar_at(release, "version");
            let written = chart.value.trim();
            if written.starts_with("oci://") {
                self.push_artifact(Form::Helmfile, chart, version);
                continue;
            }
            let Some((repository, _)) = written.split_once('/') else {
                continue;
            };
            let Some((_, url)) = repositories.iter().find(|(name, _)| name == repository) else {
                continue;
            };
            let candidate = ChartCandidate {
                form: Form::Helmfile,
                source: ChartSource::Url(url.clone()),
                chart: written[repository.len() + 1..].to_string(),
                chart_span: chart.span.clone(),
                version: version.map(|v| self.part(v)),
            };
            self.found.charts.push(candidate);
        }
    }
}
