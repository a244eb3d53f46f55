//! Pull-request mode end to end: real git over sshd (checked with the git CLI), a scripted
//! GitHub ([`crate::forge_fake`]), scripted tags.

use laminar::cycle::{CycleError, CycleReport, CycleResult, Mode, ProposalAction};
use laminar::status::RepoStatus;
use tokio::time::Instant;

use crate::fixtures::cycle::{APP, Fixture, errors};
use crate::fixtures::git::{BareRepo, SshServer, git};
use crate::forge_fake::{FakeForge, Kind};

const BRANCH: &str = "laminar/manifests/all";

fn pull_request_block(forge: &FakeForge, token: &std::path::Path) -> String {
    format!(
        "  pullRequest:\n    provider: github\n    apiUrl: {}\n    project: acme/manifests\n    tokenFile: {}\n    labels: [dependencies]\n",
        forge.uri(),
        token.display()
    )
}

fn actions(report: &CycleReport) -> Vec<(String, ProposalAction, Option<u64>)> {
    report
        .proposals
        .iter()
        .map(|p| {
            (
                p.branch.clone(),
                p.action,
                p.pull.as_ref().map(|p| p.number),
            )
        })
        .collect()
}

/// The remote's view of a ref.
fn rev(remote: &BareRepo, what: &str) -> String {
    git(&remote.bare, &["rev-parse", what])
}

fn shown(remote: &BareRepo, what: &str) -> String {
    git(&remote.bare, &["show", what])
}

#[tokio::test]
async fn branches_are_built_proposed_rebuilt_leased_and_retired_over_ssh() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let github = FakeForge::start(Kind::Github, "ghp_test").await;
    let token = server.file("token", "ghp_test\n");
    let url = server.url(&remote.bare);
    let extra = format!(
        "  key: {}\n  knownHosts: {}\n{}",
        server.key.display(),
        server.known_hosts.display(),
        pull_request_block(&github, &token)
    );
    let mut f = Fixture::at(remote, &url, "", &extra);
    let main = f.remote.head();

    // 1. The change goes to laminar's branch, built on main, and a pull request is opened.
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Opened, Some(1))]
    );
    assert_eq!(f.remote.head(), main, "main is never pushed");
    assert_eq!(rev(&f.remote, &format!("{BRANCH}^")), main);
    assert!(shown(&f.remote, &format!("{BRANCH}:dev/app.yaml")).contains("develop-2"));
    assert_eq!(
        git(&f.remote.bare, &["log", "-1", "--format=%an <%ae>", BRANCH]),
        "Laminar <laminar@example.org>"
    );
    let pull = &github.pulls()[0];
    assert_eq!(pull.title, "Update reg.io/acme/app to develop-2");
    assert!(
        pull.body
            .contains("| `dev/app.yaml:1` | `reg.io/acme/app` | `develop-1` | `develop-2` |"),
        "{}",
        pull.body
    );
    assert_eq!(pull.labels, ["dependencies"]);
    let status = RepoStatus::after(&RepoStatus::default(), &report);
    assert_eq!(status.pull_requests.len(), 1);
    assert_eq!(
        status.pull_requests[0].url,
        "https://github.com/acme/manifests/pull/1"
    );
    let series = "laminar_pull_request_created_timestamp_seconds{repo=\"manifests\",branch=\"laminar/manifests/all\",number=\"1\"} 1795168800.0";
    assert!(
        f.shared.metrics.render().contains(series),
        "{}",
        f.shared.metrics.render()
    );

    // 2. Nothing new: no push, no forge call.
    github.forget_calls();
    let tip = rev(&f.remote, BRANCH);
    let report = f.run().await;
    assert_eq!(
        report.result,
        CycleResult::Unchanged,
        "{:?}",
        errors(&report)
    );
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::UpToDate, Some(1))]
    );
    assert_eq!(github.calls(), Vec::<String>::new());
    assert_eq!(rev(&f.remote, BRANCH), tip);

    // 3. A newer tag: the branch is rebuilt from main (pushed over laminar's own commit) and
    // the same pull request updated.
    f.script.develop("reg.io/acme/app", 3);
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Updated, Some(1))]
    );
    assert_eq!(rev(&f.remote, &format!("{BRANCH}^")), main);
    assert!(shown(&f.remote, &format!("{BRANCH}:dev/app.yaml")).contains("develop-3"));
    assert_eq!(github.pulls().len(), 1);
    assert_eq!(
        github.pulls()[0].title,
        "Update reg.io/acme/app to develop-3"
    );
    assert_eq!(
        github.calls(),
        [
            "GET /repos/acme/manifests/pulls",
            "PATCH /repos/acme/manifests/pulls/1"
        ]
    );

    // 4. main moves: the branch follows it.
    f.remote.write("README.md", "manifests\n");
    let main = f.remote.commit_and_push("docs");
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Updated, Some(1))]
    );
    assert_eq!(rev(&f.remote, &format!("{BRANCH}^")), main);
    assert_eq!(
        shown(&f.remote, &format!("{BRANCH}:README.md")),
        "manifests"
    );

    // 5. Someone adds a commit to laminar's branch: it is never overwritten.
    let outside = &f.remote.outside;
    git(outside, &["fetch", "-q", "origin", BRANCH]);
    git(outside, &["checkout", "-q", "-b", "fixup", "FETCH_HEAD"]);
    std::fs::write(outside.join("dev/notes.txt"), "reviewed\n").unwrap();
    git(outside, &["add", "-A"]);
    git(outside, &["commit", "-q", "-m", "a reviewer's fix"]);
    git(
        outside,
        &["push", "-q", "origin", &format!("HEAD:{BRANCH}")],
    );
    git(outside, &["checkout", "-q", "main"]);
    let theirs = rev(&f.remote, BRANCH);
    f.script.develop("reg.io/acme/app", 4);
    github.forget_calls();
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    assert!(
        report
            .errors
            .iter()
            .any(|e| matches!(e, CycleError::BranchTaken { .. })),
        "{:?}",
        errors(&report)
    );
    assert_eq!(rev(&f.remote, BRANCH), theirs);
    assert_eq!(
        github.calls(),
        Vec::<String>::new(),
        "the pull request is left alone"
    );

    // 6. Someone makes the change on main themselves: the pull request is closed, with a word.
    f.remote
        .write("dev/app.yaml", &APP.replace("develop-1", "develop-4"));
    f.remote.commit_and_push("app develop-4, by hand");
    let report = f.run().await;
    assert_eq!(
        report.result,
        CycleResult::Unchanged,
        "{:?}",
        errors(&report)
    );
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Closed, Some(1))]
    );
    let pull = &github.pulls()[0];
    assert!(!pull.open);
    assert!(
        pull.comments[0].contains("no longer needs these changes"),
        "{:?}",
        pull.comments
    );
    assert_eq!(
        RepoStatus::after(&RepoStatus::default(), &report).pull_requests,
        []
    );
    assert!(
        !f.shared
            .metrics
            .render()
            .contains("laminar_pull_request_created_timestamp_seconds{")
    );
    assert_eq!(rev(&f.remote, BRANCH), theirs, "their branch stays");
}

#[tokio::test]
async fn a_declined_pull_request_is_not_proposed_again_until_a_newer_tag() {
    let github = FakeForge::start(Kind::Github, "ghp_test").await;
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "ghp_test").unwrap();
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        &pull_request_block(&github, token.path()),
    );

    // A dry run says what it would do and does nothing.
    let dry = f.cycle.run(&f.shared, Mode::DryRun, Instant::now()).await;
    assert_eq!(
        actions(&dry),
        [(BRANCH.into(), ProposalAction::WouldOpen, None)]
    );
    assert!(
        dry.diff.contains("+image: reg.io/acme/app:develop-2"),
        "{}",
        dry.diff
    );
    assert_eq!(github.calls(), Vec::<String>::new());

    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Opened, Some(1))]
    );
    github.close(1, false);
    f.remote.write("README.md", "manifests\n");
    f.remote.commit_and_push("docs");
    let tip = rev(&f.remote, BRANCH);
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Declined, Some(1))]
    );
    github.forget_calls();
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Declined, Some(1))]
    );
    assert_eq!(github.calls(), Vec::<String>::new(), "asked once");
    assert_eq!(rev(&f.remote, BRANCH), tip, "not rebuilt");

    // A newer tag is a new proposal.
    f.script.develop("reg.io/acme/app", 3);
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Opened, Some(2))]
    );
    assert!(shown(&f.remote, &format!("{BRANCH}:dev/app.yaml")).contains("develop-3"));

    // A registry outage is not an empty plan: the pull request stays open.
    f.script.fail("reg.io/acme/app");
    github.forget_calls();
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    assert!(github.pulls()[1].open);
    assert_eq!(github.calls(), Vec::<String>::new());

    // With its record lost (a new data directory on a restarted pod, say), laminar knows its
    // own branch by the commit and updates the same pull request.
    f.script.develop("reg.io/acme/app", 4);
    let record = std::fs::read_dir(f.shared.config.global.data_dir.join("workspaces"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".pulls.json"))
        .unwrap()
        .path();
    std::fs::remove_file(record).unwrap();
    let mut restarted = laminar::cycle::RepoCycle::new(f.shared.config.repos[0].clone());
    let report = restarted.run(&f.shared, Mode::Apply, Instant::now()).await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Updated, Some(2))],
        "{:?}",
        errors(&report)
    );
    assert_eq!(github.pulls().len(), 2);
}

#[tokio::test]
async fn a_deploy_request_in_pull_request_mode_is_proposed_on_a_branch_of_its_own() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let github = FakeForge::start(Kind::Github, "ghp_test").await;
    let data = crate::util::Dir::new();
    data.write("token", "ghp_test\n");
    let extra = pull_request_block(&github, &data.path().join("token"));
    let mut f = crate::fixtures::cycle::Fixture::on(remote, "", &extra);
    let main = f.remote.head();
    let order = laminar::plan::DeployOrder {
        id: "00c0ffee00c0ffee".into(),
        image: "reg.io/acme/app".into(),
        tag: "develop-2".into(),
        files: Vec::new(),
        reason: Some("release 7 | approved".into()),
        force: false,
    };
    let report = f.cycle.deploy(&f.shared, &order).await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    let branch = "laminar/manifests/deploy-00c0ffee00c0ffee";
    let outcome = serde_json::to_value(laminar::deploy::RepoOutcome::of(&report)).unwrap();
    assert_eq!(outcome["state"], "proposed", "{outcome}");
    assert_eq!(outcome["branch"], branch);
    assert_eq!(
        outcome["pull_request"],
        "https://github.com/acme/manifests/pull/1"
    );
    assert_eq!(f.remote.head(), main, "main is never pushed");
    assert!(shown(&f.remote, &format!("{branch}:dev/app.yaml")).contains("develop-2"));
    let pull = &github.pulls()[0];
    assert_eq!(pull.title, "Deploy app:develop-2 as requested");
    assert!(
        pull.body
            .starts_with("Requested by deploy `00c0ffee00c0ffee`.\n\n> release 7 | approved\n"),
        "{}",
        pull.body
    );

    // The regular cycle proposes on its own branch and leaves the deploy's alone.
    let tip = rev(&f.remote, branch);
    let report = f.run().await;
    assert_eq!(
        actions(&report),
        [(BRANCH.into(), ProposalAction::Opened, Some(2))]
    );
    assert_eq!(rev(&f.remote, branch), tip);
    assert_eq!(github.pulls().len(), 2);
}
