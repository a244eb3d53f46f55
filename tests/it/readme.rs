//! The README's try-it command must keep working.

use crate::util::{Dir, project_root};

#[test]
fn the_quickstart_example_checks_and_scans() {
    let dir = Dir::new();
    let example = project_root().join("examples/quickstart");
    let config = example.join("laminar.yaml");
    dir.laminar()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .assert()
        .success()
        .stdout("ok: 1 repos, 2 update rules, 2 registries\n");
    let ecr = "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp";
    dir.laminar()
        .arg("scan")
        .arg(example.join("checkout"))
        .arg("--config")
        .arg(&config)
        .assert()
        .success()
        .stdout(format!(
            "dev/app.yaml:10:16: {ecr}/app:develop-41 [glob:develop-*]\n\
             dev/app.yaml:12:17: ghcr.io/acmecorp/proxy:develop-7 [glob:develop-*]\n\
             dev/docker-compose.yml:3:13: {ecr}/worker:develop-12 [glob:develop-*]\n\
             dev/docker-compose.yml:4:32: ghcr.io/acmecorp/sidecar:release-3\n\
             prod/values.yaml:4:6: ghcr.io/acmecorp/api:v1.2.7 [semver:^1.2]\n"
        ));
}

#[test]
fn the_readme_names_the_commands_it_documents() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    assert!(readme.contains("scripts/test.sh"));
    assert!(readme.contains("scripts/demo.sh"));
    assert!(readme.contains("examples/quickstart/laminar.yaml"));
    let ci = std::fs::read_to_string(project_root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("scripts/test.sh"),
        ".ci/run runs the README's test command"
    );
}
