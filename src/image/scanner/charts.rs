//! Charts in the scanner: where a chart's repository URL puts it (an OCI registry, a classic
//! Helm repository, an alias), and the linking of Flux `HelmRelease`s to the `HelmRepository`
//! objects of every scanned file.

use super::*;

impl Scanner {
    /// The references and unmanaged charts `pending` makes once the Flux `HelmRepository`
    /// objects of every scanned file (`repositories`) and the named `helmRepositories:` are
    /// known. A `HelmRepository` matches by name, and by namespace where both say one.
    pub fn link(
        &self,
        pending: &PendingChart,
        repositories: &[&forms::NamedRepository],
    ) -> Option<Result<ImageRef, Unmanaged>> {
        let ChartSource::Named { name, namespace } = &pending.chart.source else {
            return None;
        };
        let same_namespace =
            |other: &str| namespace.is_empty() || other.is_empty() || other == namespace;
        let defined = repositories
            .iter()
            .find(|r| &r.name == name && same_namespace(&r.namespace))
            .map(|r| r.url.clone());
        let configured = || {
            self.named_repositories
                .iter()
                .find(|(configured, _)| configured == name)
                .map(|(_, id)| format!("https://{id}"))
        };
        let resolved = match defined.or_else(configured) {
            Some(url) => self.resolve_chart(pending.chart.clone(), &url)?.1,
            None => Err(Unmanaged {
                line: 0,
                column: 0,
                form: pending.chart.form,
                written: unmanaged_text(
                    &pending.chart.chart,
                    pending.chart.version.as_ref().map(|v| v.text.as_str()),
                ),
                reason: UnmanagedReason::UnknownRepository,
            }),
        };
        Some(
            resolved
                .map(|mut reference| {
                    (reference.line, reference.column) = (pending.line, pending.column);
                    reference.hold = pending.hold.clone();
                    reference
                })
                .map_err(|mut unmanaged| {
                    (unmanaged.line, unmanaged.column) = (pending.line, pending.column);
                    unmanaged
                }),
        )
    }

    /// The reference a chart from the repository at `url` makes, or why it makes none that
    /// is managed. OCI charts belong to the registry whose prefix starts their name; classic
    /// ones to the `helmRepositories:` entry at their URL.
    pub(super) fn resolve_chart(
        &self,
        chart: ChartCandidate,
        url: &str,
    ) -> Option<(usize, Result<ImageRef, Unmanaged>)> {
        let at = located_at(&chart);
        let ChartCandidate {
            form,
            chart: chart_name,
            chart_span,
            version,
            ..
        } = chart;
        let (name, registry) = match chart_location(url, &chart_name)? {
            ChartLocation::Oci(name) => {
                let registry = self.registry_for(&name);
                (name, registry)
            }
            ChartLocation::Classic { repository, name } => {
                let registry = self
                    .chart_repositories
                    .iter()
                    .find(|id| id.prefix() == repository)
                    .cloned();
                (name, registry)
            }
            ChartLocation::Alias => {
                let written = unmanaged_text(
                    &format!("{url}/{chart_name}"),
                    version.as_ref().map(|v| v.text.as_str()),
                );
                return Some((
                    at,
                    Err(Unmanaged {
                        line: 0,
                        column: 0,
                        form,
                        written,
                        reason: UnmanagedReason::RepositoryAlias,
                    }),
                ));
            }
        };
        let candidate = Candidate {
            form,
            name,
            name_span: chart_span,
            tag: version,
            digest: None,
        };
        self.admit(candidate, registry, at)
    }
}

/// Where a chart is located: at its version, else its name.
pub(super) fn located_at(chart: &ChartCandidate) -> usize {
    chart
        .version
        .as_ref()
        .map_or(chart.chart_span.start, |v: &Part| v.span.start)
}

pub(super) fn chart_lock() -> Unmanaged {
    Unmanaged {
        line: 1,
        column: 1,
        form: Form::ChartDependency,
        written: "Chart.lock".to_string(),
        reason: UnmanagedReason::ChartLock,
    }
}

/// Where a chart lives, by the URL of its repository.
enum ChartLocation {
    /// In an OCI registry, under this name.
    Oci(String),
    /// In a classic repository at `repository` (`host/path`), as `name`.
    Classic { repository: String, name: String },
    /// A Helm repository alias, not a URL.
    Alias,
}

/// The location of `chart` in the repository at `url` (`oci://`, `https://`, `http://`, or
/// an OCI `host/path` without scheme); an empty `chart` means the URL names the chart.
/// `None` for anything else (`file://`, `git://`).
fn chart_location(url: &str, chart: &str) -> Option<ChartLocation> {
    let url = url.trim();
    if url.starts_with('@') || url.starts_with("alias:") {
        return Some(ChartLocation::Alias);
    }
    let (classic, rest) = match url.split_once("://") {
        Some(("oci", rest)) => (false, rest),
        Some(("https" | "http", rest)) => (true, rest),
        Some(_) => return None,
        None => (false, url),
    };
    let rest = rest.trim_end_matches('/');
    let repository = match rest.split_once('/') {
        Some((host, path)) => format!("{}/{path}", host.to_ascii_lowercase()),
        None => rest.to_ascii_lowercase(),
    };
    let name = match chart.is_empty() {
        true => repository.clone(),
        false => format!("{repository}/{chart}"),
    };
    Some(match classic {
        true => ChartLocation::Classic { repository, name },
        false => ChartLocation::Oci(name),
    })
}

/// Whether a version is written as a range (`>=1.2`, `~1.2`, `^1`, `1.x`, `6.*`, `1 - 2`).
pub(super) fn is_range(version: &str) -> bool {
    version.contains(['<', '>', '=', '^', '~', '*', '|', ',', ' '])
        || version
            .split('.')
            .skip(1)
            .any(|part| part == "x" || part == "X")
}
