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
        .stdout("ok: 1 repos, 4 update rules, 4 registries\n");
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

/// `laminar check` on `text`: exit 2 and the message, which must name no library internals.
fn rejected(text: impl AsRef<[u8]>) -> String {
    let dir = Dir::new();
    dir.write("laminar.yaml", text);
    let output = dir.laminar().arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for internal in ["Options", "from_str", "budget", "Policy", "{"] {
        assert!(!stderr.contains(internal), "{internal} in {stderr}");
    }
    stderr
}

#[test]
fn bytes_that_are_not_utf8_are_located() {
    let mut text = VALID.replace("file:///srv", "file:///sr\u{e9}");
    text = text.replace('\u{e9}', "\u{0}");
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b == 0 { 0xe9 } else { b })
        .collect();
    assert_eq!(
        rejected(bytes),
        "laminar.yaml:5:18: the file is not UTF-8 text\n"
    );
}

#[test]
fn yaml_tags_are_refused_where_they_stand() {
    let text = VALID.replace("branch: main", "branch: !!python/object:os.system main");
    let stderr = rejected(text);
    assert!(stderr.starts_with("laminar.yaml:6:"), "{stderr}");
    assert!(stderr.contains("YAML tags such as"), "{stderr}");
}

#[test]
fn parser_errors_speak_the_users_language() {
    let duplicate = rejected(VALID.replace("  branch: main\n", "  branch: main\n  branch: dev\n"));
    assert!(
        duplicate.contains("duplicate key \"branch\""),
        "{duplicate}"
    );
    let two_docs = rejected(format!("{VALID}---\n{VALID}"));
    assert!(
        two_docs.contains("more than one YAML document"),
        "{two_docs}"
    );
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"));
    }
    let bomb = rejected(bomb);
    assert!(bomb.contains("too large or too deeply nested"), "{bomb}");
}

#[test]
fn several_files_are_each_checked_and_every_broken_one_is_shown() {
    let dir = Dir::new();
    dir.write("id_ed25519", "key");
    dir.write("a.yaml", VALID);
    dir.write("b.yaml", VALID.replace("branch: main", "brunch: main"));
    dir.write("c.yaml", VALID.replace("glob:develop-*", "glob:[x"));
    dir.laminar()
        .args(["check", "a.yaml", "b.yaml", "c.yaml"])
        .assert()
        .code(2)
        .stdout("a.yaml: ok: 1 repos, 2 update rules, 1 registries\n")
        .stderr(predicate::str::contains("b.yaml:6:3"))
        .stderr(predicate::str::contains("c.yaml:"))
        .stderr(predicate::str::contains("2 of 3 config files are invalid"));
}

/// The hook in `.pre-commit-hooks.yaml`, run by the real `pre-commit` on a sample repo: a bad
/// config fails the commit with its located error; a good one goes in.
#[test]
fn the_pre_commit_hook_refuses_a_bad_config() {
    use std::process::Command;

    let dir = Dir::new();
    let git = |cwd: &std::path::Path, args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@e",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The hook repository: this project's hook definition, committed.
    let hooks = dir.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::copy(
        project_root().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    git(&hooks, &["init", "-q"]);
    git(&hooks, &["add", "-A"]);
    git(&hooks, &["commit", "-q", "-m", "hooks"]);
    let rev = git(&hooks, &["rev-parse", "HEAD"]);
    // A repo using it.
    let repo = dir.path().join("ops");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(
        repo.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: laminar-check\n",
            hooks.display()
        ),
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("laminar");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pre_commit = |args: &[&str]| {
        Command::new("pre-commit")
            .args(args)
            .current_dir(&repo)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", dir.path().join("cache"))
            .env("HOME", dir.path())
            .output()
            .expect("pre-commit is installed: run scripts/install-deps.sh")
    };
    assert!(pre_commit(&["install"]).status.success());
    let commit = || {
        Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@e",
                "commit",
                "-q",
                "-m",
                "config",
            ])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", dir.path().join("cache"))
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };
    std::fs::write(repo.join("id_ed25519"), "key").unwrap();
    std::fs::write(
        repo.join("laminar.yaml"),
        VALID.replace("branch: main", "brunch: main"),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    let refused = commit();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("laminar.yaml:6:3"), "{said}");
    assert!(said.contains("brunch"), "{said}");

    std::fs::write(repo.join("laminar.yaml"), VALID).unwrap();
    git(&repo, &["add", "-A"]);
    let accepted = commit();
    assert!(
        accepted.status.success(),
        "{}{}",
        String::from_utf8_lossy(&accepted.stdout),
        String::from_utf8_lossy(&accepted.stderr)
    );
}
