//! Partial workspaces: only the files the rules (and exec actions) need are on disk, and
//! commits carry only what laminar and its actions changed — never a file left off disk shown
//! as deleted.

use laminar::cycle::{CycleResult, RepoCycle};

use crate::fixtures::cycle::{APP, Fixture, errors, racing_action};
use crate::fixtures::git::{BareRepo, git};

/// A repo whose rules cover `dev/` only, with files elsewhere (and one whose name merely
/// starts like the rules' path).
const TREE: &[(&str, &str)] = &[
    ("dev/app.yaml", APP),
    ("docs/guide.md", "guide\n"),
    ("src/lib/x.rs", "fn x() {}\n"),
    ("devx/other.yaml", "image: reg.io/acme/app:develop-1\n"),
];

fn files_on(remote: &BareRepo) -> String {
    git(&remote.bare, &["ls-tree", "-r", "--name-only", "main"])
}

/// The files the last commit on the remote changed.
fn last_commit_touched(remote: &BareRepo) -> String {
    git(&remote.bare, &["show", "--name-only", "--format=", "main"])
}

#[tokio::test]
async fn only_the_rules_paths_are_checked_out_and_commits_carry_only_the_change() {
    let mut f = Fixture::new(TREE, "", "");
    let before = files_on(&f.remote);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    let dir = f.workspace_dir();
    assert!(dir.join("dev/app.yaml").is_file());
    for absent in ["docs", "src", "devx"] {
        assert!(
            !dir.join(absent).exists(),
            "{absent} lies outside the rules"
        );
    }
    assert_eq!(last_commit_touched(&f.remote), "dev/app.yaml");
    assert_eq!(files_on(&f.remote), before, "no file lost");

    // An outside commit on both sides of the rules' paths moves the tree, no reset.
    f.remote.write("docs/guide.md", "guide, v2\n");
    f.remote.write("src/new.rs", "fn new() {}\n");
    f.remote
        .write("dev/more.yaml", "image: reg.io/acme/app:develop-2\n");
    f.remote.commit_and_push("outside");
    f.script.develop("reg.io/acme/app", 3);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(f.cycle.resets(), 1, "the tree was moved, not reset");
    assert!(dir.join("dev/more.yaml").is_file());
    assert!(!dir.join("docs").exists() && !dir.join("src").exists());
    assert_eq!(
        last_commit_touched(&f.remote),
        "dev/app.yaml\ndev/more.yaml"
    );
    assert_eq!(f.remote.show("docs/guide.md"), "guide, v2");
    assert_eq!(f.remote.show("src/new.rs"), "fn new() {}");
}

#[tokio::test]
async fn a_partial_workspace_follows_a_force_push() {
    let mut f = Fixture::new(TREE, "", "");
    assert_eq!(f.run().await.result, CycleResult::Updated);
    // History rewritten: back to the first commit, a different change on top.
    let outside = &f.remote.outside;
    git(outside, &["pull", "-q", "--rebase", "origin", "main"]);
    git(outside, &["reset", "-q", "--hard", "HEAD~1"]);
    f.remote.write("docs/guide.md", "rewritten\n");
    git(outside, &["commit", "-qam", "rewritten"]);
    git(outside, &["push", "-q", "--force", "origin", "main"]);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(f.remote.show("docs/guide.md"), "rewritten");
    assert_eq!(
        f.remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-2").trim_end()
    );
    assert_eq!(last_commit_touched(&f.remote), "dev/app.yaml");
    assert!(!f.workspace_dir().join("docs").exists());
}

#[tokio::test]
async fn a_push_race_is_redone_in_a_partial_workspace() {
    let remote = BareRepo::new(TREE);
    let action = racing_action(&remote, 2) + "  execPaths: [dev/]\n";
    let mut f = Fixture::on(remote, "", &action);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(report.push_attempts, 3);
    let files = files_on(&f.remote);
    for kept in ["docs/guide.md", "src/lib/x.rs", "race-0.txt", "race-1.txt"] {
        assert!(files.contains(kept), "{kept} kept: {files}");
    }
    assert_eq!(last_commit_touched(&f.remote), "dev/app.yaml");
    assert!(!f.workspace_dir().join("docs").exists());
}

#[tokio::test]
async fn an_action_writing_outside_the_rules_paths_gets_its_file_committed() {
    let action = "  exec:\n  - mkdir -p rendered && cp dev/app.yaml rendered/all.yaml\n  execPaths: [dev/]\n";
    let mut f = Fixture::new(TREE, "", action);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(
        last_commit_touched(&f.remote),
        "dev/app.yaml\nrendered/all.yaml"
    );
    assert_eq!(
        f.remote.show("rendered/all.yaml"),
        f.remote.show("dev/app.yaml")
    );
    assert_eq!(f.remote.show("docs/guide.md"), "guide");
    assert!(!f.workspace_dir().join("docs").exists());

    // The next cycle, and one after an outside change to that file, stay clean.
    assert_eq!(f.run().await.result, CycleResult::Unchanged);
    git(
        &f.remote.outside,
        &["pull", "-q", "--rebase", "origin", "main"],
    );
    f.remote.write("rendered/all.yaml", "by hand\n");
    f.remote.commit_and_push("hand-edited render");
    assert_eq!(f.run().await.result, CycleResult::Unchanged);
    assert_eq!(f.cycle.resets(), 1);
    let dir = f.workspace_dir();
    assert_eq!(
        std::fs::read_to_string(dir.join("rendered/all.yaml")).unwrap(),
        "by hand\n",
        "a file laminar committed is kept current on disk"
    );
}

#[tokio::test]
async fn actions_without_declared_paths_see_the_whole_tree() {
    let action = "  exec:\n  - cat docs/guide.md > dev/guide-copy.txt\n";
    let mut f = Fixture::new(TREE, "", action);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(f.remote.show("dev/guide-copy.txt"), "guide");
    assert!(f.workspace_dir().join("src/lib/x.rs").is_file());
}

#[tokio::test]
async fn a_restarted_process_finds_its_partial_workspace_warm() {
    let mut f = Fixture::new(TREE, "", "");
    assert_eq!(f.run().await.result, CycleResult::Updated);
    f.remote.write("docs/guide.md", "v2\n");
    f.remote.commit_and_push("docs");
    f.script.develop("reg.io/acme/app", 3);
    f.cycle = RepoCycle::new(f.cycle.repo.clone());
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(f.cycle.resets(), 0, "started warm");
    assert!(!f.workspace_dir().join("docs").exists());
    assert_eq!(f.remote.show("docs/guide.md"), "v2");
}

#[tokio::test]
async fn a_rules_path_that_is_a_symlink_brings_the_whole_tree() {
    let remote = BareRepo::new(&[("envs/dev/app.yaml", APP), ("docs/guide.md", "guide\n")]);
    std::os::unix::fs::symlink("envs/dev", remote.outside.join("dev")).unwrap();
    remote.commit_and_push("dev is a link");
    let mut f = Fixture::on(remote, "", "");
    let report = f.run().await;
    assert!(report.errors.is_empty(), "{:?}", errors(&report));
    // The link's target could be anywhere in the tree: all of it is there.
    let dir = f.workspace_dir();
    assert!(dir.join("dev/app.yaml").is_file(), "the link resolves");
    assert!(dir.join("docs/guide.md").is_file());
}

#[tokio::test]
async fn rules_from_the_repo_file_widen_the_workspace() {
    let rules = "updates:\n- pattern: glob:develop-*\n  files: [charts/]\n";
    let mut f = Fixture::new(
        &[
            ("dev/app.yaml", APP),
            ("charts/values.yaml", APP),
            ("docs/guide.md", "guide\n"),
            (".laminar.yaml", rules),
        ],
        "",
        "  remoteConfig: true\n",
    );
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(
        f.remote.show("charts/values.yaml"),
        APP.replace("develop-1", "develop-2").trim_end()
    );
    let dir = f.workspace_dir();
    assert!(dir.join("charts/values.yaml").is_file());
    assert!(!dir.join("docs").exists());
}
