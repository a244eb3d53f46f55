//! Chart versions end to end: OCI charts pushed with Helm's media types to the real
//! `docker-registry`, a classic repository served by a scripted `index.yaml` server (large,
//! answering conditional GETs with 304), every chart form updated by `laminar once`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::chains::commit_at;
use crate::fixtures::git::BareRepo;
use crate::fixtures::registry::RegistryServer;
use crate::util::Dir;

/// A classic Helm repository's `index.yaml`, with an ETag; `If-None-Match` with the current
/// one is answered 304 with no body. Counts both answers.
#[derive(Clone, Default)]
struct Index {
    body: Arc<Mutex<(String, String)>>,
    full: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

impl Index {
    /// The index holding `web` and `db` at these versions, among many other charts' versions
    /// (a real index is large: each chart's every version).
    fn publish(&self, web: &[&str], db: &[&str]) {
        let mut text = String::from("apiVersion: v1\nentries:\n");
        for n in 0..600 {
            text.push_str(&format!("  filler-{n}:\n"));
            for v in 0..25 {
                text.push_str(&format!(
                    "  - apiVersion: v2\n    name: filler-{n}\n    version: 0.{v}.0\n    created: \"2024-01-01T00:00:00Z\"\n    digest: {:064x}\n    urls:\n    - https://charts.example/filler-{n}-0.{v}.0.tgz\n",
                    n * 100 + v
                ));
            }
        }
        for (chart, versions) in [("web", web), ("db", db)] {
            text.push_str(&format!("  {chart}:\n"));
            for (n, version) in versions.iter().enumerate() {
                text.push_str(&format!(
                    "  - name: {chart}\n    version: {version}\n    created: \"2024-02-{:02}T10:00:00.123456789Z\"\n    urls: [charts/{chart}-{version}.tgz]\n",
                    n + 1
                ));
            }
        }
        text.push_str("generated: \"2024-03-01T00:00:00Z\"\n");
        let etag = format!("\"{:x}\"", text.len() * 31 + web.len() + db.len());
        *self.body.lock().unwrap() = (text, etag);
    }

    /// A server answering for the repository at `/stable`, and the repository's URL.
    async fn serve(&self) -> (MockServer, String) {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/stable/index.yaml"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        let url = format!("{}/stable", server.uri());
        (server, url)
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.full.load(Ordering::SeqCst),
            self.not_modified.load(Ordering::SeqCst),
        )
    }
}

impl Respond for Index {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (body, etag) = self.body.lock().unwrap().clone();
        let unchanged = request
            .headers
            .get("if-none-match")
            .is_some_and(|value| value.to_str().ok() == Some(etag.as_str()));
        if unchanged {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
        }
        self.full.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200)
            .insert_header("etag", etag.as_str())
            .insert_header("content-type", "application/x-yaml")
            .set_body_string(body)
    }
}

/// The repo's files, with `{reg}` the OCI registry and `{helm}` the classic repository.
const FILES: &[(&str, &str)] = &[
    (
        "flux/sources.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: stable\n  namespace: flux-system\nspec:\n  url: {helm}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: acme\n  namespace: flux-system\nspec:\n  type: oci\n  url: oci://{reg}/charts\n",
    ),
    (
        "flux/releases.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: web\n      version: \"1.0.0\" # the web tier\n      sourceRef:\n        kind: HelmRepository\n        name: stable\n        namespace: flux-system\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: api\n  namespace: apps\nspec:\n  chart:\n    spec: {chart: api, version: 1.0.0, sourceRef: {kind: HelmRepository, name: acme, namespace: flux-system}}\n",
    ),
    (
        "argo/single.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: api\nspec:\n  project: default\n  source:\n    repoURL: {reg}/charts\n    chart: api\n    targetRevision: 1.0.0\n    helm:\n      releaseName: api\n",
    ),
    (
        "argo/multi.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\nspec:\n  sources:\n  - repoURL: '{helm}'\n    chart: db\n    targetRevision: '2.0.0'\n    helm:\n      valueFiles: [$values/db.yaml]\n  - repoURL: oci://{reg}/charts\n    chart: api\n    targetRevision: 1.0.0\n  - repoURL: https://git.example/values.git\n    targetRevision: main\n    ref: values\n",
    ),
    (
        "chart/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n  - name: web\n    version: ~1.0.0\n    repository: {helm}\n  - name: db\n    version: 2.0.0\n    repository: {helm}\n  - name: api\n    version: 1.0.0\n    repository: oci://{reg}/charts\n",
    ),
    (
        "chart/Chart.lock",
        "dependencies:\n- name: db\n  repository: {helm}\n  version: 2.0.0\ndigest: sha256:0\ngenerated: \"2024-01-01T00:00:00Z\"\n",
    ),
    (
        "kustomize/kustomization.yaml",
        "helmCharts:\n- name: web\n  repo: {helm}\n  version: 1.0.0\n  releaseName: web\n  valuesFile: values.yaml\n",
    ),
    (
        "helmfile.yaml",
        "repositories:\n- name: stable\n  url: {helm}\nreleases:\n- name: db\n  chart: stable/db\n  version: 2.0.0\n",
    ),
];

#[tokio::test]
async fn every_chart_form_moves_to_the_newest_version_and_an_unchanged_index_costs_a_304() {
    let registry = RegistryServer::start().await;
    let reg = registry.addr.clone();
    for (day, version) in ["1.0.0", "1.1.0", "1.2.0+build.7", "2.0.0"]
        .iter()
        .enumerate()
    {
        let created = format!("2024-03-{:02}T12:00:00Z", day + 1);
        registry.push_chart("charts/api", version, &created).await;
    }
    let index = Index::default();
    index.publish(
        &["1.0.0", "1.0.3", "1.1.0", "2.0.0-rc.1"],
        &["2.0.0", "2.3.1"],
    );
    let (_server, helm) = index.serve().await;
    // The repository's charts are named by its URL's host and path.
    let charts = helm.trim_start_matches("http://").to_string();
    let fill = |text: &str| text.replace("{reg}", &reg).replace("{helm}", &helm);
    let files: Vec<(String, String)> = FILES
        .iter()
        .map(|(path, text)| (path.to_string(), fill(text)))
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let remote = BareRepo::new(&borrowed);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries:\n- reg: {reg}/charts\n  insecure: true\n\
             helmRepositories:\n- name: stable\n  url: {helm}\n  insecure: true\n\
             git:\n- name: shop\n  url: {url}\n  branch: main\n  updates:\n  - pattern: semver:^1\n    files: [.]\n  - pattern: semver:^2\n    files: [.]\n",
            url = remote.bare.display()
        ),
    );

    // scan shows each chart with its form, and what is left alone with why.
    let scan = dir
        .laminar()
        .args(["scan", "--all", "--config", "laminar.yaml"])
        .arg(&remote.outside)
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&scan.stdout);
    for line in [
        format!("flux/releases.yaml:11:17: {charts}/web:1.0.0 (helm-release) [semver:^1]"),
        format!("flux/releases.yaml:24:33: {reg}/charts/api:1.0.0 (helm-release) [semver:^1]"),
        format!("argo/single.yaml:10:21: {reg}/charts/api:1.0.0 (argo-cd) [semver:^1]"),
        format!("argo/multi.yaml:9:22: {charts}/db:2.0.0 (argo-cd) [semver:^2]"),
        format!("helmfile.yaml:7:12: {charts}/db:2.0.0 (helmfile) [semver:^2]"),
        format!("kustomize/kustomization.yaml:4:12: {charts}/web:1.0.0 (helm-charts)"),
        format!("chart/Chart.yaml:12:14: {reg}/charts/api:1.0.0 (chart-dependency)"),
        format!(
            "chart/Chart.yaml:6:14: {charts}/web:~1.0.0 (chart-dependency) not managed: a version range"
        ),
        "chart/Chart.lock:1:1: Chart.lock (chart-dependency) not managed: Chart.lock is not edited"
            .to_string(),
    ] {
        assert!(scanned.contains(&line), "{line} in:\n{scanned}");
    }
    assert!(
        scanned.contains("not managed: a version range"),
        "{scanned}"
    );

    let first = dir.once(&[]);
    let moved = |text: &str, pairs: &[(&str, &str)]| {
        let mut text = fill(text);
        for (from, to) in pairs {
            text = text.replace(from, to);
        }
        // (`git show` as the fixture runs it drops the last newline.)
        text.trim_end().to_string()
    };
    let file = |name: &str| FILES.iter().find(|(p, _)| *p == name).unwrap().1;
    // Only the version bytes change, in every form; `1.2.0+build.7` is read from the tag
    // `1.2.0_build.7`; 2.x and pre-releases stay out of `^1`.
    let api = ("1.0.0", "1.2.0+build.7");
    assert_eq!(
        remote.show("argo/single.yaml"),
        moved(file("argo/single.yaml"), &[api]),
        "{first}"
    );
    assert_eq!(
        remote.show("flux/releases.yaml"),
        moved(
            file("flux/releases.yaml"),
            &[
                ("\"1.0.0\"", "\"1.1.0\""),
                ("version: 1.0.0", "version: 1.2.0+build.7")
            ]
        )
    );
    assert_eq!(
        remote.show("argo/multi.yaml"),
        moved(file("argo/multi.yaml"), &[("'2.0.0'", "'2.3.1'"), api])
    );
    assert_eq!(
        remote.show("chart/Chart.yaml"),
        moved(
            file("chart/Chart.yaml"),
            &[
                ("version: 2.0.0", "version: 2.3.1"),
                ("version: 1.0.0", "version: 1.2.0+build.7")
            ]
        )
    );
    assert_eq!(
        remote.show("chart/Chart.lock"),
        moved(file("chart/Chart.lock"), &[]),
        "never edited by hand"
    );
    assert_eq!(
        remote.show("kustomize/kustomization.yaml"),
        moved(file("kustomize/kustomization.yaml"), &[("1.0.0", "1.1.0")])
    );
    assert_eq!(
        remote.show("helmfile.yaml"),
        moved(file("helmfile.yaml"), &[("2.0.0", "2.3.1")])
    );
    // Two charts from one repository, in one cycle: one transfer of the index.
    assert_eq!(index.counts(), (1, 0));

    // Nothing new: the index answers 304, and nothing is written.
    let head = remote.head();
    let quiet = dir.once(&["--dry-run"]);
    assert!(quiet.contains("stays"), "{quiet}");
    assert_eq!(index.counts(), (1, 1));
    assert_eq!(remote.head(), head);

    // A new version: the index changed, it is read whole once more and the version moves.
    index.publish(
        &["1.0.0", "1.0.3", "1.1.0", "1.4.0", "2.0.0-rc.1"],
        &["2.0.0", "2.3.1"],
    );
    dir.once(&[]);
    assert_eq!(index.counts(), (2, 1));
    assert!(
        remote
            .show("kustomize/kustomization.yaml")
            .contains("version: 1.4.0\n")
    );
    assert!(
        remote
            .show("flux/releases.yaml")
            .contains("version: \"1.4.0\" # the web tier")
    );

    // tags lists a chart's versions from either kind of repository.
    let tags = |args: &[&str]| {
        let mut args = args.to_vec();
        args.splice(0..0, ["tags", "--config", "laminar.yaml"]);
        dir.stdout(&args)
    };
    let oci = tags(&[
        &format!("oci://{reg}/charts/api"),
        "--chart",
        "--pattern",
        "semver:^1",
        "--min-age",
        "1d",
    ]);
    assert!(oci.contains("selected: 1.2.0+build.7"), "{oci}");
    // Times from the manifests' annotations, as Helm writes them.
    let pushed = oci
        .lines()
        .find(|l| l.starts_with("1.2.0+build.7\t"))
        .unwrap();
    assert!(pushed.contains("\t2024-03-03T12:00:00Z\t"), "{oci}");
    let classic = tags(&[&format!("{charts}/web"), "--pattern", "semver:*"]);
    assert!(
        classic.contains("1.4.0\t-\t2024-02-04T10:00:00Z"),
        "{classic}"
    );
}

/// A Flux HelmRelease of `web` at `version`, from the HelmRepository `stable`.
fn release(version: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  chart:\n    spec:\n      chart: web\n      version: {version}\n      sourceRef:\n        kind: HelmRepository\n        name: stable\n"
    )
}

#[tokio::test]
async fn a_chart_version_walks_a_promotion_chain_once_it_has_soaked() {
    let index = Index::default();
    index.publish(&["1.0.0", "1.1.0", "1.2.0"], &[]);
    let (_server, helm) = index.serve().await;
    let sources =
        format!("kind: HelmRepository\nmetadata:\n  name: stable\nspec:\n  url: {helm}\n");
    let remote = BareRepo::new(&[("sources/stable.yaml", sources.as_str())]);
    let both = [
        ("dev/web.yaml", release("1.0.0")),
        ("staging/web.yaml", release("1.0.0")),
    ];
    commit_at(&remote, &both, 100);
    commit_at(&remote, &[("dev/web.yaml", release("1.1.0"))], 50);
    commit_at(&remote, &[("dev/web.yaml", release("1.2.0"))], 2);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n\
             dockerRegistries: []\n\
             helmRepositories:\n- name: stable\n  url: {helm}\n  insecure: true\n\
             git:\n- name: envs\n  url: {url}\n  branch: main\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    soak: 24h\n    files: [staging/]\n",
            url = remote.bare.display()
        ),
    );
    let out = dir.once(&[]);
    // 1.2.0 ran in dev for 2 h only; 1.1.0 ran there for 48 h without a break.
    assert_eq!(
        remote.show("staging/web.yaml"),
        release("1.1.0").trim_end(),
        "{out}"
    );
    assert_eq!(remote.show("dev/web.yaml"), release("1.2.0").trim_end());
    assert!(out.contains("dev → staging"), "{out}");
}
