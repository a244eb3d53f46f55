//! What ships beside the binary: Kubernetes manifests, alert rules, the dashboard, example
//! configs and the Dockerfile — each checked with the real tool for it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use laminar::metrics::Metrics;
use laminar::registry::RequestCounters;
use serde_json::Value;

use crate::util::{Dir, project_root};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run(mut command: Command) -> String {
    let output = command
        .output()
        .expect("tool installed: run scripts/install-deps.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?}:\n{text}");
    text
}

#[test]
fn manifests_validate_against_kubernetes_schemas() {
    let mut command = Command::new("kubernetes-validate");
    command
        .args(["--strict", "--quiet"])
        .args(yaml_files("deploy/base"))
        .args(yaml_files("deploy/monitoring"));
    let output = run(command);
    // Only kustomizations and the Prometheus operator's CRDs have no schema to check against.
    for line in output.lines() {
        assert!(
            line.contains("kind Kustomization")
                || line.contains("kind PrometheusRule")
                || line.contains("kind ServiceMonitor"),
            "{line}"
        );
    }
}

/// The PrometheusRule's groups as a plain rule file, `rules.json` in `dir`.
fn extracted_rules(dir: &Dir) -> PathBuf {
    let rule = yaml(&project_root().join("deploy/monitoring/prometheusrule.yaml"));
    dir.write(
        "rules.json",
        serde_json::json!({ "groups": rule["spec"]["groups"] }).to_string(),
    )
}

#[test]
fn alert_rules_pass_promtool() {
    let dir = Dir::new();
    let mut command = Command::new("promtool");
    command.args(["check", "rules"]).arg(extracted_rules(&dir));
    assert!(run(command).contains("7 rules found"));
}

#[test]
fn every_alert_fires_and_stays_quiet_where_it_should() {
    let dir = Dir::new();
    extracted_rules(&dir);
    let tests = dir.write(
        "prometheusrule.test.yaml",
        std::fs::read(project_root().join("tests/alerts/prometheusrule.test.yaml")).unwrap(),
    );
    let mut command = Command::new("promtool");
    command.args(["test", "rules"]).arg(tests);
    assert!(run(command).contains("SUCCESS"));
}

#[test]
fn the_configmap_and_every_example_config_pass_check() {
    let configmap = yaml(&project_root().join("deploy/base/configmap.yaml"));
    let dir = Dir::new();
    let mut configs = vec![dir.write(
        "configmap.yaml",
        configmap["data"]["laminar.yaml"].as_str().unwrap(),
    )];
    configs.extend(yaml_files("examples/configs"));
    configs.push(project_root().join("laminar.example.yaml"));
    for config in configs {
        dir.laminar()
            .arg("check")
            .arg("--config")
            .arg(&config)
            .assert()
            .success();
    }
    let remote =
        std::fs::read_to_string(project_root().join("examples/remote-laminar.yaml")).unwrap();
    let (parsed, _) = laminar::config::parse_remote(Path::new(".laminar.yaml"), &remote).unwrap();
    assert_eq!((parsed.updates.len(), parsed.exec.len()), (1, 1));
}

/// Every sample name laminar exports (a family shows only once it has a sample).
fn exported_names() -> BTreeSet<String> {
    // As one of three shards: `laminar_shards` is exported only then.
    let metrics = Metrics::new(Arc::new(RequestCounters::default()), Some((0, 3)));
    metrics.register_repo("r", std::time::Duration::from_secs(60));
    drop(metrics.cycle_timer("r"));
    metrics.cycle_finished("r", "updated", 1);
    metrics.image_updated("r", "reg.io/acme/app");
    metrics.git_operation("r", "push", "success");
    metrics.push_retried("r", 1);
    metrics.exec_action("r", true);
    let mut names = BTreeSet::new();
    for line in metrics.render().lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => names.insert(format!("{name}_total")),
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
                true
            }
            _ => names.insert(name.to_string()),
        };
    }
    names
}

fn queried_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("laminar_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_and_alerts_query_only_metrics_laminar_exports() {
    let exported = exported_names();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(project_root().join("examples/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_string())
        })
        .collect();
    let alerts =
        std::fs::read_to_string(project_root().join("deploy/monitoring/prometheusrule.yaml"))
            .unwrap();
    let queried = queried_names(&format!("{}\n{alerts}", exprs.join("\n")));
    assert!(queried.len() >= 10, "{queried:?}");
    let unknown: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "queried but not exported: {unknown:?}; exported: {exported:?}"
    );
}

#[test]
fn the_dockerfile_has_the_expected_structure() {
    let mut command = Command::new("python3");
    command
        .current_dir(project_root())
        .arg("scripts/check-dockerfile.py");
    run(command);
}

/// The documents `kubectl kustomize DIR` renders, each with its kind.
fn rendered(dir: &str) -> Vec<Value> {
    let mut command = Command::new("kubectl");
    command.arg("kustomize").arg(project_root().join(dir));
    let text = run(command);
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

#[test]
fn the_ha_overlay_renders_a_statefulset_of_shards_that_validates() {
    let docs = rendered("deploy/ha");
    let of = |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };
    assert!(
        of("Deployment").is_empty(),
        "the StatefulSet takes the Deployment's place"
    );
    let sts = of("StatefulSet")[0];
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    assert_eq!(spec["serviceName"], "laminar-headless");
    assert_eq!(spec["volumeClaimTemplates"][0]["metadata"]["name"], "data");
    let volumes = spec["template"]["spec"]["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().all(|v| v["name"] != "data"),
        "dataDir is each pod's own volume"
    );
    let headless = of("Service")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "laminar-headless")
        .unwrap();
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert_eq!(of("PodDisruptionBudget")[0]["spec"]["maxUnavailable"], 1);
    // The config names the shards, and passes check.
    let config = of("ConfigMap")[0]["data"]["laminar.yaml"].as_str().unwrap();
    assert!(config.contains("count: 3"), "{config}");
    let dir = Dir::new();
    let file = dir.write("laminar.yaml", config);
    dir.laminar()
        .arg("check")
        .arg("--config")
        .arg(&file)
        .assert()
        .success();
    // Every rendered object against the Kubernetes schemas.
    let files: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(n, doc)| dir.write(&format!("doc-{n}.json"), doc.to_string()))
        .collect();
    let mut command = Command::new("kubernetes-validate");
    command.args(["--strict", "--quiet"]).args(&files);
    let output = run(command);
    assert!(
        output.lines().all(|l| l.contains("kind Kustomization")),
        "{output}"
    );
}
