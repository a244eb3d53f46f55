//! Chart versions in every form, linked to the repositories the config allows.

use std::path::PathBuf;

use super::*;
use crate::image::walk::scan_paths;

/// OCI charts on `ghcr.io/acme` and `quay.io`; a classic repository `charts` at
/// `https://charts.acme.io/stable`.
fn scanner() -> Scanner {
    Scanner::new(["ghcr.io/acme", "quay.io"])
        .unwrap()
        .with_chart_repositories([("charts", "charts.acme.io/stable")])
        .unwrap()
}

/// (file, line, form, registry, image, tag as written at its span) and (file, line, form,
/// reason) of every managed and unmanaged chart in these files.
type Managed = Vec<(String, usize, &'static str, String, String, String)>;
type Left = Vec<(String, usize, &'static str, UnmanagedReason)>;

fn scan(files: &[(&str, &str)]) -> (Managed, Left) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let found = scan_paths(dir.path(), &[PathBuf::from(".")], &scanner(), 1 << 20).unwrap();
    let mut managed = Vec::new();
    let mut left = Vec::new();
    for file in &found {
        let text = std::fs::read_to_string(dir.path().join(&file.path)).unwrap();
        for r in &file.refs {
            let tag = text[r.spans.tag.clone().unwrap()].to_string();
            let row = (
                file.display_path(),
                r.line,
                r.form.as_str(),
                r.registry.to_string(),
                r.image.clone(),
                tag,
            );
            managed.push(row);
        }
        for u in &file.unmanaged {
            left.push((file.display_path(), u.line, u.form.as_str(), u.reason));
        }
    }
    (managed, left)
}

fn row(
    file: &str,
    line: usize,
    form: &'static str,
    registry: &str,
    image: &str,
    tag: &str,
) -> (String, usize, &'static str, String, String, String) {
    (
        file.into(),
        line,
        form,
        registry.into(),
        image.into(),
        tag.into(),
    )
}

#[test]
fn flux_helm_releases_take_their_repository_from_any_file_or_the_config() {
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  chart:\n    spec:\n      chart: web\n      version: 1.2.3 # laminar:hold\n      sourceRef:\n        kind: HelmRepository\n        name: acme\n---\nkind: HelmRelease\nmetadata: {name: api, namespace: apps}\nspec:\n  chart:\n    spec: {chart: api, version: \"2.0.0\", sourceRef: {kind: HelmRepository, name: oci-acme}}\n---\nkind: HelmRelease\nmetadata: {name: db}\nspec:\n  chart:\n    spec: {chart: db, version: 3.0.0, sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}}\n---\nkind: HelmRelease\nmetadata: {name: lost}\nspec:\n  chart:\n    spec: {chart: lost, version: 1.0.0, sourceRef: {kind: HelmRepository, name: nowhere}}\n---\nkind: HelmRelease\nmetadata: {name: latest}\nspec:\n  chart:\n    spec: {chart: web, sourceRef: {kind: HelmRepository, name: acme}}\n";
    let repositories = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: acme\n  namespace: apps\nspec:\n  url: https://charts.acme.io/stable/\n---\nkind: HelmRepository\nmetadata: {name: oci-acme, namespace: apps}\nspec: {type: oci, url: oci://ghcr.io/acme/charts}\n";
    let (managed, left) = scan(&[
        ("apps/release.yaml", release),
        ("sources/repos.yaml", repositories),
    ]);
    assert_eq!(
        managed,
        [
            row(
                "apps/release.yaml",
                10,
                "helm-release",
                "charts.acme.io/stable",
                "charts.acme.io/stable/web",
                "1.2.3"
            ),
            row(
                "apps/release.yaml",
                19,
                "helm-release",
                "ghcr.io/acme",
                "ghcr.io/acme/charts/api",
                "2.0.0"
            ),
            row(
                "apps/release.yaml",
                25,
                "helm-release",
                "charts.acme.io/stable",
                "charts.acme.io/stable/db",
                "3.0.0"
            ),
        ]
    );
    assert_eq!(
        left,
        [
            (
                "apps/release.yaml".into(),
                31,
                "helm-release",
                UnmanagedReason::UnknownRepository
            ),
            (
                "apps/release.yaml".into(),
                37,
                "helm-release",
                UnmanagedReason::Untagged
            ),
        ]
    );
    // The hold comment on the version's line holds the chart.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yaml"), release).unwrap();
    std::fs::write(dir.path().join("s.yaml"), repositories).unwrap();
    let files = scan_paths(dir.path(), &[PathBuf::from(".")], &scanner(), 1 << 20).unwrap();
    assert!(files[0].refs[0].hold.is_some());
    assert!(files[0].refs[1].hold.is_none());
}

#[test]
fn oci_repositories_argo_cd_sources_dependencies_helm_charts_and_helmfiles() {
    let oci = "kind: OCIRepository\nspec:\n  url: oci://ghcr.io/acme/manifests/app\n  ref:\n    tag: v1.0.0\n---\nkind: OCIRepository\nspec:\n  url: oci://quay.io/jetstack/charts/cert-manager\n  ref:\n    semver: \"1.x\"\n";
    let argo = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    repoURL: https://charts.acme.io/stable\n    chart: web\n    targetRevision: 1.2.3\n---\nkind: Application\nspec:\n  sources:\n  - repoURL: ghcr.io/acme/charts\n    chart: api\n    targetRevision: 2.0.0+build.7\n  - repoURL: https://github.com/acme/values.git\n    targetRevision: main\n    ref: values\n  - repoURL: oci://ghcr.io/acme/charts/worker\n    targetRevision: 0.3.0\n---\nkind: ApplicationSet\nspec:\n  template:\n    spec:\n      source: {repoURL: 'https://charts.acme.io/stable', chart: db, targetRevision: '>=3.0.0'}\n";
    let chart = "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: web\n  version: 1.2.3\n  repository: https://charts.acme.io/stable\n- name: api\n  version: \"2.0.0\"\n  repository: oci://ghcr.io/acme/charts\n- name: local\n  version: 0.1.0\n  repository: file://../local\n- name: aliased\n  version: 1.0.0\n  repository: \"@stable\"\n- name: other\n  version: 1.0.0\n  repository: https://elsewhere.io/charts\n";
    let lock = "dependencies:\n- name: web\n  repository: https://charts.acme.io/stable\n  version: 1.2.3\ndigest: sha256:0\n";
    let kustomization = "helmCharts:\n- name: web\n  repo: https://charts.acme.io/stable\n  version: 1.2.3\n  releaseName: web\n";
    let helmfile = "repositories:\n- name: acme\n  url: https://charts.acme.io/stable\n- name: ghcr\n  url: ghcr.io/acme/charts\n  oci: true\nreleases:\n- name: web\n  chart: acme/web\n  version: 1.2.3\n- name: api\n  chart: ghcr/api\n  version: 2.0.0\n- name: local\n  chart: ./charts/local\n";
    let (managed, left) = scan(&[
        ("flux/oci.yaml", oci),
        ("argo/apps.yaml", argo),
        ("chart/Chart.yaml", chart),
        ("chart/Chart.lock", lock),
        ("kustomize/kustomization.yaml", kustomization),
        ("helmfile.yaml", helmfile),
    ]);
    assert_eq!(
        managed,
        [
            row(
                "argo/apps.yaml",
                7,
                "argo-cd",
                "charts.acme.io/stable",
                "charts.acme.io/stable/web",
                "1.2.3"
            ),
            row(
                "argo/apps.yaml",
                14,
                "argo-cd",
                "ghcr.io/acme",
                "ghcr.io/acme/charts/api",
                "2.0.0+build.7"
            ),
            row(
                "argo/apps.yaml",
                19,
                "argo-cd",
                "ghcr.io/acme",
                "ghcr.io/acme/charts/worker",
                "0.3.0"
            ),
            row(
                "chart/Chart.yaml",
                6,
                "chart-dependency",
                "charts.acme.io/stable",
                "charts.acme.io/stable/web",
                "1.2.3"
            ),
            row(
                "chart/Chart.yaml",
                9,
                "chart-dependency",
                "ghcr.io/acme",
                "ghcr.io/acme/charts/api",
                "2.0.0"
            ),
            row(
                "flux/oci.yaml",
                5,
                "oci-repository",
                "ghcr.io/acme",
                "ghcr.io/acme/manifests/app",
                "v1.0.0"
            ),
            row(
                "helmfile.yaml",
                10,
                "helmfile",
                "charts.acme.io/stable",
                "charts.acme.io/stable/web",
                "1.2.3"
            ),
            row(
                "helmfile.yaml",
                13,
                "helmfile",
                "ghcr.io/acme",
                "ghcr.io/acme/charts/api",
                "2.0.0"
            ),
            row(
                "kustomize/kustomization.yaml",
                4,
                "helm-charts",
                "charts.acme.io/stable",
                "charts.acme.io/stable/web",
                "1.2.3"
            ),
        ]
    );
    assert_eq!(
        left,
        [
            (
                "argo/apps.yaml".into(),
                25,
                "argo-cd",
                UnmanagedReason::Range
            ),
            (
                "chart/Chart.lock".into(),
                1,
                "chart-dependency",
                UnmanagedReason::ChartLock
            ),
            (
                "chart/Chart.yaml".into(),
                15,
                "chart-dependency",
                UnmanagedReason::RepositoryAlias
            ),
            (
                "chart/Chart.yaml".into(),
                18,
                "chart-dependency",
                UnmanagedReason::NoRegistry
            ),
            (
                "flux/oci.yaml".into(),
                11,
                "oci-repository",
                UnmanagedReason::Range
            ),
        ]
    );
}

#[test]
fn cue_values_are_split_references_and_computed_ones_are_reported() {
    let values = "values: {\n\timage: {\n\t\trepository: \"ghcr.io/acme/app\"\n\t\ttag:        \"6.14.1\"\n\t\tdigest:     \"\"\n\t}\n}\n";
    let bundle = "bundle: instances: app: values: image: {\n\trepository: _url\n\ttag: _tag\n}\n_url: \"ghcr.io/acme/app\"\n";
    let (managed, left) = scan(&[("values.cue", values), ("bundle.cue", bundle)]);
    assert_eq!(
        managed,
        [row(
            "values.cue",
            4,
            "cue",
            "ghcr.io/acme",
            "ghcr.io/acme/app",
            "6.14.1"
        )]
    );
    assert_eq!(
        left,
        [("bundle.cue".into(), 3, "cue", UnmanagedReason::NotLiteral)]
    );
}

#[test]
fn a_patched_scan_links_charts_as_a_full_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let release = "kind: HelmRelease\nspec:\n  chart:\n    spec: {chart: web, version: 1.0.0, sourceRef: {kind: HelmRepository, name: acme}}\n";
    std::fs::write(dir.path().join("release.yaml"), release).unwrap();
    let starts = crate::image::walk::Starts::resolve(dir.path(), &[PathBuf::from(".")]).unwrap();
    let scanner = scanner();
    let first = crate::image::walk::scan_starts(&starts, &scanner, 1 << 20).unwrap();
    assert!(first[0].refs.is_empty());
    assert_eq!(
        first[0].unmanaged[0].reason,
        UnmanagedReason::UnknownRepository
    );
    let source = "kind: HelmRepository\nmetadata: {name: acme}\nspec: {url: https://charts.acme.io/stable}\n";
    std::fs::write(dir.path().join("source.yaml"), source).unwrap();
    let patched = crate::image::walk::patch_scan(
        &starts,
        &first,
        &[PathBuf::from("source.yaml")],
        &scanner,
        1 << 20,
    );
    let full = crate::image::walk::scan_starts(&starts, &scanner, 1 << 20).unwrap();
    assert_eq!(patched, full);
    assert_eq!(full[0].refs[0].image, "charts.acme.io/stable/web");
    assert!(full[0].unmanaged.is_empty());
}
