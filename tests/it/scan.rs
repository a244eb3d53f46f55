use predicates::prelude::*;

use crate::util::Dir;

const ECR: &str = "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp";

fn checkout() -> Dir {
    let dir = Dir::new();
    dir.write(
        "dev/app.yaml",
        format!(
            "kind: Deployment\nimage: {ECR}/app:develop-1\nsidecar: \"{ECR}/proxy:release-3\"\n"
        ),
    );
    dir.write(
        "dev/compose.yml",
        format!("services:\n  web:\n    image: '{ECR}/web:develop-9'\n"),
    );
    dir.write("prod/app.yaml", format!("image: {ECR}/app:1.2.3\n"));
    dir.write("README.md", format!("Run {ECR}/app:develop-1 locally.\n"));
    dir.write(".git/config", format!("{ECR}/ignored:1\n"));
    dir
}

fn config() -> String {
    format!(
        "dockerRegistries:\n- reg: {ECR}\ngit:\n- name: manifests\n  url: file:///srv/m.git\n  branch: main\n  updates:\n  \
         - pattern: glob:develop-*\n    files: [dev/]\n  - pattern: semver:^1\n    files: [prod]\n"
    )
}

#[test]
fn json_lines_have_exactly_the_documented_keys() {
    let dir = checkout();
    let out = dir
        .laminar()
        .args(["scan", ".", "--json", "--registry", ECR])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(
        lines[1],
        format!(
            "{{\"file\":\"dev/app.yaml\",\"line\":2,\"column\":8,\"image\":\"{ECR}/app\",\"tag\":\"develop-1\",\"digest\":null,\"rule\":null,\"form\":\"inline\"}}"
        )
    );
    let files: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["file"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        files,
        [
            "README.md",
            "dev/app.yaml",
            "dev/app.yaml",
            "dev/compose.yml",
            "prod/app.yaml"
        ]
    );
}

#[test]
fn with_a_config_only_the_repos_files_are_scanned_and_rules_are_named() {
    let dir = checkout();
    dir.write("laminar.yaml", config());
    dir.laminar()
        .args(["scan", "."])
        .assert()
        .success()
        .stdout(format!(
            "dev/app.yaml:2:8: {ECR}/app:develop-1 [glob:develop-*]\n\
             dev/app.yaml:3:11: {ECR}/proxy:release-3\n\
             dev/compose.yml:3:13: {ECR}/web:develop-9 [glob:develop-*]\n\
             prod/app.yaml:1:8: {ECR}/app:1.2.3 [semver:^1]\n"
        ));
    let json = dir
        .laminar()
        .args(["scan", ".", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let first: serde_json::Value =
        serde_json::from_slice(json.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["rule"], "glob:develop-*");
}

#[test]
fn an_unknown_repo_or_a_bad_config_is_exit_2() {
    let dir = checkout();
    dir.write("laminar.yaml", config());
    dir.laminar()
        .args(["scan", ".", "--repo", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no repo named \"nope\""));
    dir.write("laminar.yaml", "git: [\n");
    dir.laminar().args(["scan", "."]).assert().code(2);
}

#[test]
fn a_missing_directory_is_a_runtime_failure() {
    let dir = Dir::new();
    dir.laminar()
        .args(["scan", "nowhere", "--registry", "reg.io"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot scan nowhere"));
}
