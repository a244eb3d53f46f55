use predicates::prelude::*;

use crate::util::{Dir, project_root};

const VALID: &str = "\
dockerRegistries:
- reg: reg.io/acme
git:
- name: manifests
  url: file:///srv/manifests.git
  branch: main
  key: ~/id_ed25519
  updates:
  - pattern: glob:develop-*
    files: [dev/]
  - pattern: semver:^1
    files: [prod/]
";

#[test]
fn a_valid_config_prints_a_summary() {
    let dir = Dir::new();
    dir.write("laminar.yaml", VALID);
    dir.write("id_ed25519", "key");
    dir.laminar()
        .arg("check")
        .assert()
        .success()
        .stdout("ok: 1 repos, 2 update rules, 1 registries\n")
        .stderr("");
}

#[test]
fn config_comes_from_the_flag_or_the_environment_before_or_after_the_command() {
    let dir = Dir::new();
    dir.write("other.yaml", VALID);
    dir.laminar()
        .args(["--config", "other.yaml", "check"])
        .assert()
        .success();
    dir.laminar()
        .args(["check", "-c", "other.yaml"])
        .assert()
        .success();
    dir.laminar()
        .arg("check")
        .env("LAMINAR_CONFIG", "other.yaml")
        .assert()
        .success();
}

#[test]
fn missing_files_the_config_points_at_are_warnings() {
    let dir = Dir::new();
    dir.write("laminar.yaml", VALID);
    dir.laminar()
        .arg("check")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: laminar.yaml:7:8: SSH key",
        ))
        .stderr(predicate::str::contains("does not exist on this machine"));
}

#[test]
fn every_error_is_printed_located_and_the_exit_code_is_2() {
    let dir = Dir::new();
    let broken = VALID
        .replace("  branch: main\n", "  branch: main\n  pollfreq: 10\n")
        .replace("glob:develop-*", "develop-*")
        .replace("[prod/]", "[../prod]");
    dir.write("laminar.yaml", broken);
    dir.laminar()
        .arg("check")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::eq(
            "laminar.yaml:7:3: unknown key \"pollfreq\" (did you mean \"pollFreq\"?)\n\
             laminar.yaml:10:14: pattern \"develop-*\" has no type: write glob:…, regex:… or semver:…\n\
             laminar.yaml:13:13: invalid path \"../prod\": must not contain \"..\"\n",
        ));
}

#[test]
fn an_unreadable_config_is_exit_2_and_says_which_file() {
    let dir = Dir::new();
    dir.laminar()
        .arg("check")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "error: cannot read laminar.yaml",
        ));
}

#[test]
fn the_annotated_example_passes_check() {
    let dir = Dir::new();
    dir.laminar()
        .arg("check")
        .arg("--config")
        .arg(project_root().join("laminar.example.yaml"))
        .assert()
        .success()
        .stdout("ok: 1 repos, 3 update rules, 2 registries\n");
}

#[test]
fn version_and_usage_errors() {
    let dir = Dir::new();
    dir.laminar()
        .arg("version")
        .assert()
        .success()
        .stdout(format!("laminar {}\n", env!("CARGO_PKG_VERSION")));
    dir.laminar().arg("frobnicate").assert().code(2);
    dir.laminar().assert().code(2);
}
