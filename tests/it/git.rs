//! The git layer against real remotes: sshd, git http-backend, file paths; checked with the
//! git CLI.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use laminar::config::{Environment, Repo, parse};
use laminar::git::{GitError, Identity, Push, Workspace};
use laminar::image::scanner::Scanner;
use laminar::image::walk::scan_paths;
use laminar::plan::{Change, TagTable, apply, plan};
use laminar::policy::{ImageTags, TagInfo};

use crate::fixtures::git::{BareRepo, HttpGitServer, SshServer, git};
use crate::util::Dir;

const APP: &str = "image: reg.io/acme/app:develop-1  # keep this comment\n";

fn repo_config(url: &str, extra: &str) -> Repo {
    let text = format!(
        "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: manifests\n  url: {url}\n  branch: main\n{extra}  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n"
    );
    let loaded = parse(Path::new("laminar.yaml"), &text, &Environment::default()).unwrap();
    loaded.config.repos.into_iter().next().unwrap()
}

fn ssh_config(server: &SshServer, remote: &BareRepo) -> Repo {
    ssh_config_trusting(server, remote, &server.known_hosts, "")
}

/// An SSH repo config with the server's key and `known_hosts` as the trusted host keys.
fn ssh_config_trusting(
    server: &SshServer,
    remote: &BareRepo,
    known_hosts: &Path,
    extra: &str,
) -> Repo {
    repo_config(
        &server.url(&remote.bare),
        &format!(
            "  key: {}\n  knownHosts: {}\n{extra}",
            server.key.display(),
            known_hosts.display()
        ),
    )
}

fn identity() -> Identity {
    Identity {
        name: "Laminar".into(),
        email: "laminar@example.org".into(),
        signing: None,
    }
}

fn open(data: &Dir, repo: &Repo) -> Workspace {
    Workspace::open(data.path(), repo, identity(), None).unwrap()
}

/// Scans the checkout, plans against tags develop-1..=newest (newer pushed later) and applies.
fn bump(dir: &Path, repo: &Repo, newest: u32) -> Result<Vec<Change>, String> {
    let scanner = Scanner::new(["reg.io/acme"]).unwrap();
    let files =
        scan_paths(dir, &repo.scan_paths(), &scanner, 1 << 20).map_err(|e| e.to_string())?;
    let tags: Vec<TagInfo> = (1..=newest)
        .map(|n| TagInfo {
            tag: format!("develop-{n}"),
            pushed: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n))),
            digest: None,
        })
        .collect();
    let table: TagTable = [(
        "reg.io/acme/app".to_string(),
        ImageTags::complete(std::sync::Arc::new(tags)),
    )]
    .into_iter()
    .collect();
    let plan = plan(
        repo,
        &files,
        &table,
        &Default::default(),
        std::time::SystemTime::now(),
    );
    apply(dir, &plan).map_err(|e| e.to_string())?;
    Ok(plan.changes)
}

/// Commits what is in the tree with `message` and pushes it once.
fn commit_and_push(workspace: &mut Workspace, message: &str) -> Push {
    let commit = workspace
        .commit(message)
        .unwrap()
        .expect("something to commit");
    workspace.push(commit).unwrap()
}

#[test]
fn clone_commit_and_push_over_ssh_changing_only_the_tag() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP), ("README.md", "manifests\n")]);
    remote.write("README.md", "manifests, with history\n");
    remote.commit_and_push("history laminar never reads");
    let repo = ssh_config(&server, &remote);
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    let synced = workspace.sync().unwrap();
    assert_eq!(synced.head.to_string(), remote.head());
    assert!(synced.moved());
    let dir = workspace.dir().to_path_buf();
    assert_eq!(
        git(&dir, &["rev-list", "--count", "HEAD"]),
        "1",
        "fetched shallow: the tip only"
    );
    assert!(!workspace.sync().unwrap().moved(), "nothing new upstream");

    assert_eq!(bump(&dir, &repo, 2).unwrap().len(), 1);
    let commit = workspace
        .commit("dev/app.yaml: app develop-1 → develop-2")
        .unwrap()
        .unwrap();
    assert_eq!(workspace.push(commit).unwrap(), Push::Pushed);
    assert_eq!(commit.to_string(), remote.head());
    assert_eq!(
        remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-2").trim_end()
    );
    assert_eq!(
        git(&remote.bare, &["log", "-1", "--format=%an <%ae>%n%s"]),
        "Laminar <laminar@example.org>\ndev/app.yaml: app develop-1 → develop-2"
    );
    assert_eq!(
        git(&remote.bare, &["diff", "--stat", "main~1", "main"])
            .lines()
            .count(),
        2,
        "one file changed"
    );

    // After its own push the workspace is in step: no reset, nothing moved.
    let synced = workspace.sync().unwrap();
    assert!(!synced.moved());
    assert_eq!(
        workspace.resets(),
        1,
        "only the first checkout reset the tree"
    );
    // The same change again: already upstream, no commit.
    assert!(bump(&dir, &repo, 2).unwrap().is_empty());
    assert_eq!(workspace.commit("nothing").unwrap(), None);
    assert_eq!(git(&remote.bare, &["rev-list", "--count", "main"]), "3");
}

#[test]
fn a_key_with_a_passphrase_read_from_a_file() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let passphrase = server.file("passphrase", "open sesame\n");
    let repo = repo_config(
        &server.url(&remote.bare),
        &format!(
            "  key: {}\n  keyPassphraseFile: {}\n  knownHosts: {}\n",
            server.key_with_passphrase.display(),
            passphrase.display(),
            server.known_hosts.display()
        ),
    );
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    assert_eq!(workspace.sync().unwrap().head.to_string(), remote.head());
}

#[test]
fn an_unknown_host_is_refused_with_a_way_to_add_it() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let empty = server.file("empty_known_hosts", "");
    let repo = ssh_config_trusting(&server, &remote, &empty, "");
    let data = Dir::new();
    let err = open(&data, &repo).sync().unwrap_err();
    let text = err.to_string();
    assert_eq!(err.metric_label(), "host_key", "{text}");
    assert!(
        text.contains(&format!("unknown SSH host [127.0.0.1]:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("ssh-ed25519 key SHA256:"), "{text}");
    assert!(
        text.contains(&format!(
            "ssh-keyscan -p {} -t ssh-ed25519 127.0.0.1",
            server.port
        )),
        "{text}"
    );
}

#[test]
fn a_mismatched_host_key_is_refused_and_nothing_is_pushed() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let before = remote.head();
    let forged = server.file(
        "forged_known_hosts",
        &format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", server.port),
    );
    let repo = ssh_config_trusting(&server, &remote, &forged, "");
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    let err = workspace.sync().unwrap_err();
    assert!(err.to_string().contains("SSH host key mismatch"), "{err}");
    assert!(workspace.commit("never").is_err(), "not in step: no commit");
    assert_eq!(remote.head(), before);
}

#[test]
fn the_opt_out_of_host_key_checks_is_explicit() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let empty = server.file("none", "");
    let repo = ssh_config_trusting(
        &server,
        &remote,
        &empty,
        "  insecureSkipHostKeyVerification: true\n",
    );
    let data = Dir::new();
    assert!(open(&data, &repo).sync().is_ok());
}

#[test]
fn a_force_pushed_remote_is_followed() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    remote.write("dev/extra.yaml", "x: 1\n");
    remote.commit_and_push("extra");
    let repo = repo_config(remote.bare.to_str().unwrap(), "");
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    assert!(workspace.dir().join("dev/extra.yaml").exists());

    // Rewrite history upstream: drop the last commit, add another.
    git(&remote.outside, &["reset", "-q", "--hard", "HEAD~1"]);
    remote.write("dev/other.yaml", "y: 2\n");
    git(&remote.outside, &["add", "-A"]);
    git(&remote.outside, &["commit", "-q", "-m", "rewritten"]);
    git(
        &remote.outside,
        &["push", "-q", "--force", "origin", "main"],
    );

    let synced = workspace.sync().unwrap();
    assert!(synced.moved());
    assert_eq!(synced.head.to_string(), remote.head());
    assert!(!workspace.dir().join("dev/extra.yaml").exists());
    assert!(workspace.dir().join("dev/other.yaml").exists());
}

#[test]
fn a_dirty_interrupted_workspace_is_reset() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let repo = repo_config(&format!("file://{}", remote.bare.display()), "");
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    let dir = workspace.dir().to_path_buf();
    std::fs::write(dir.join("dev/app.yaml"), "half-written").unwrap();
    std::fs::create_dir_all(dir.join("rendered/deep")).unwrap();
    std::fs::write(dir.join("rendered/deep/out.yaml"), "leftover").unwrap();
    std::fs::write(dir.join(".git/index.lock"), "").unwrap();
    // laminar was killed mid-cycle; the restarted one finds the mess.
    drop(workspace);
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("dev/app.yaml")).unwrap(),
        APP
    );
    assert!(!dir.join("rendered").exists());
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}

#[test]
fn new_and_deleted_files_are_committed_and_ignored_ones_are_not() {
    let remote = BareRepo::new(&[
        ("dev/app.yaml", APP),
        ("old.txt", "old\n"),
        (".gitignore", "*.tmp\n"),
    ]);
    let repo = repo_config(remote.bare.to_str().unwrap(), "");
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    let dir = workspace.dir().to_path_buf();
    // What an exec action might do: render new files, delete others.
    std::fs::create_dir_all(dir.join("compiled")).unwrap();
    std::fs::write(dir.join("compiled/app.json"), "{}\n").unwrap();
    std::fs::write(dir.join("scratch.tmp"), "ignored\n").unwrap();
    std::fs::remove_file(dir.join("old.txt")).unwrap();
    bump(&dir, &repo, 3).unwrap();
    assert_eq!(commit_and_push(&mut workspace, "render"), Push::Pushed);
    let files = git(
        &remote.bare,
        &["show", "--name-status", "--format=", "main"],
    );
    let mut lines: Vec<&str> = files.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["A\tcompiled/app.json", "D\told.txt", "M\tdev/app.yaml"]
    );
}

/// A push after someone else pushed is refused as a compare-and-swap on every transport,
/// leaving their commit in place; after a sync the redone change goes through.
fn a_raced_push_is_rejected_and_redone(repo: Repo, remote: &BareRepo) {
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    let dir = workspace.dir().to_path_buf();
    bump(&dir, &repo, 2).unwrap();
    let commit = workspace.commit("laminar's change").unwrap().unwrap();
    remote.write("other.txt", "theirs\n");
    let theirs = remote.commit_and_push("outside change");
    let Push::Rejected(why) = workspace.push(commit).unwrap() else {
        panic!("a push over a moved branch must be refused")
    };
    assert!(!why.is_empty());
    assert_eq!(remote.head(), theirs, "their commit stays");
    assert!(workspace.sync().unwrap().moved());
    bump(&dir, &repo, 2).unwrap();
    assert_eq!(commit_and_push(&mut workspace, "redone"), Push::Pushed);
    git(
        &remote.bare,
        &["merge-base", "--is-ancestor", &theirs, "main"],
    );
    assert_eq!(
        remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-2").trim_end()
    );
}

#[test]
fn a_raced_push_over_a_plain_path_is_rejected() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_raced_push_is_rejected_and_redone(repo_config(remote.bare.to_str().unwrap(), ""), &remote);
}

#[test]
fn a_raced_push_over_file_urls_is_rejected() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let url = format!("file://{}", remote.bare.display());
    a_raced_push_is_rejected_and_redone(repo_config(&url, ""), &remote);
}

#[test]
fn a_raced_push_over_ssh_is_rejected() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_raced_push_is_rejected_and_redone(ssh_config(&server, &remote), &remote);
}

/// laminar's own branches are pushed forced, but only over the value laminar saw there: a
/// branch someone pushed to in between, or created first, is never overwritten.
fn a_branch_is_pushed_only_over_what_laminar_saw(repo: Repo, remote: &BareRepo) {
    let branch = "laminar/manifests/all";
    let data = Dir::new();
    let main = remote.head();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    let dir = workspace.dir().to_path_buf();
    assert_eq!(workspace.branch_tip(branch).unwrap(), None);
    bump(&dir, &repo, 2).unwrap();
    let first = workspace.commit("laminar's change").unwrap().unwrap();
    workspace.discard().unwrap();
    assert_eq!(
        workspace.push_branch(first, branch, None).unwrap(),
        Push::Pushed
    );
    assert_eq!(git(&remote.bare, &["rev-parse", branch]), first.to_string());
    assert_eq!(remote.head(), main, "main stays");
    assert_eq!(workspace.branch_tip(branch).unwrap(), Some(first));
    assert!(workspace.made_by_laminar(first));

    // A rebuilt commit replaces laminar's own (not a fast-forward: forced, with the lease).
    bump(&dir, &repo, 3).unwrap();
    let second = workspace.commit("rebuilt").unwrap().unwrap();
    workspace.discard().unwrap();
    assert_eq!(
        workspace.push_branch(second, branch, Some(first)).unwrap(),
        Push::Pushed
    );
    assert_eq!(
        git(&remote.bare, &["rev-parse", branch]),
        second.to_string()
    );

    // Someone pushes there after laminar looked: laminar's next push is refused.
    let outside = &remote.outside;
    git(outside, &["fetch", "-q", "origin", branch]);
    git(outside, &["checkout", "-q", "-b", "theirs", "FETCH_HEAD"]);
    std::fs::write(outside.join("theirs.txt"), "theirs\n").unwrap();
    git(outside, &["add", "-A"]);
    git(outside, &["commit", "-q", "-m", "theirs"]);
    git(
        outside,
        &["push", "-q", "origin", &format!("HEAD:{branch}")],
    );
    git(outside, &["checkout", "-q", "main"]);
    let theirs = git(&remote.bare, &["rev-parse", branch]);
    bump(&dir, &repo, 4).unwrap();
    let third = workspace.commit("again").unwrap().unwrap();
    workspace.discard().unwrap();
    let Push::Rejected(why) = workspace.push_branch(third, branch, Some(second)).unwrap() else {
        panic!("a push over someone else's commit must be refused")
    };
    assert!(why.contains("lease"), "{why}");
    assert_eq!(git(&remote.bare, &["rev-parse", branch]), theirs);
    // Nor may laminar create a branch that already exists.
    let Push::Rejected(_) = workspace.push_branch(third, branch, None).unwrap() else {
        panic!("an existing branch must not be taken over")
    };
    assert_eq!(git(&remote.bare, &["rev-parse", branch]), theirs);
    let tip = workspace.branch_tip(branch).unwrap().unwrap();
    assert_eq!(tip.to_string(), theirs);
    assert!(!workspace.made_by_laminar(tip), "their commit is theirs");
}

#[test]
fn a_branch_over_a_plain_path_is_leased() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_branch_is_pushed_only_over_what_laminar_saw(
        repo_config(remote.bare.to_str().unwrap(), ""),
        &remote,
    );
}

#[test]
fn a_branch_over_ssh_is_leased() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_branch_is_pushed_only_over_what_laminar_saw(ssh_config(&server, &remote), &remote);
}

/// A push onto a remote branch whose ref lock another writer holds (or a crash left behind)
/// is reported as a lock, not as a race to retry.
fn a_locked_remote_branch_is_reported(repo: Repo, remote: &BareRepo) {
    let data = Dir::new();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    bump(workspace.dir(), &repo, 2).unwrap();
    let commit = workspace.commit("change").unwrap().unwrap();
    std::fs::write(remote.bare.join("refs/heads/main.lock"), "").unwrap();
    let err = workspace.push(commit).unwrap_err();
    assert_eq!(err.metric_label(), "remote_locked", "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
}

#[test]
fn a_locked_remote_branch_on_a_path_is_reported_as_such() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_locked_remote_branch_is_reported(repo_config(remote.bare.to_str().unwrap(), ""), &remote);
}

#[test]
fn a_locked_remote_branch_over_ssh_is_reported_as_such() {
    let server = SshServer::start();
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    a_locked_remote_branch_is_reported(ssh_config(&server, &remote), &remote);
}

#[test]
fn a_second_process_on_the_same_workspace_is_refused_clearly() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let repo = repo_config(remote.bare.to_str().unwrap(), "");
    let data = Dir::new();
    let _first = open(&data, &repo);
    let err = Workspace::open(data.path(), &repo, identity(), None).unwrap_err();
    assert!(matches!(err, GitError::Busy { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[test]
fn stale_git_locks_from_a_crash_are_removed() {
    let (remote, repo, data, dir) = synced_once();
    for lock in [
        "index.lock",
        "HEAD.lock",
        "refs/heads/main.lock",
        "refs/remotes/origin/main.lock",
    ] {
        std::fs::write(dir.join(".git").join(lock), "").unwrap();
    }
    remote.write("dev/new.yaml", "x: 1\n");
    let head = remote.commit_and_push("outside");
    let mut workspace = open(&data, &repo);
    assert_eq!(workspace.sync().unwrap().head.to_string(), head);
    assert!(dir.join("dev/new.yaml").exists());
    bump(&dir, &repo, 2).unwrap();
    assert_eq!(
        commit_and_push(&mut workspace, "after the crash"),
        Push::Pushed
    );
}

#[test]
fn a_workspace_with_missing_objects_is_cloned_afresh() {
    let (remote, repo, data, dir) = synced_once();
    let objects = dir.join(".git/objects");
    for entry in std::fs::read_dir(&objects).unwrap().flatten() {
        let name = entry.file_name();
        if name != "info" {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    std::fs::create_dir_all(objects.join("pack")).unwrap();
    let mut workspace = open(&data, &repo);
    assert_eq!(workspace.sync().unwrap().head.to_string(), remote.head());
    assert_eq!(
        std::fs::read_to_string(dir.join("dev/app.yaml")).unwrap(),
        APP
    );
    bump(&dir, &repo, 2).unwrap();
    assert_eq!(commit_and_push(&mut workspace, "healed"), Push::Pushed);
}

/// A remote, its config, and the directory of a workspace that synced once and was closed.
fn synced_once() -> (BareRepo, Repo, Dir, std::path::PathBuf) {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let repo = repo_config(remote.bare.to_str().unwrap(), "");
    let data = Dir::new();
    let dir = {
        let mut workspace = open(&data, &repo);
        workspace.sync().unwrap();
        workspace.dir().to_path_buf()
    };
    (remote, repo, data, dir)
}

#[test]
fn corrupt_or_retargeted_workspaces_are_moved_aside() {
    let (remote, repo, data, dir) = synced_once();
    std::fs::write(dir.join(".git/HEAD"), "garbage").unwrap();
    assert_eq!(
        open(&data, &repo).sync().unwrap().head.to_string(),
        remote.head()
    );
    git(&dir, &["remote", "set-url", "origin", "/elsewhere.git"]);
    assert_eq!(
        open(&data, &repo).sync().unwrap().head.to_string(),
        remote.head()
    );
    let aside = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok);
    assert_eq!(
        aside
            .filter(|e| e.file_name().to_string_lossy().contains(".old-"))
            .count(),
        2
    );
}

#[test]
fn a_missing_branch_is_a_clear_error() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let repo = repo_config(remote.bare.to_str().unwrap(), "").clone();
    let repo = Repo {
        branch: "release".into(),
        ..repo
    };
    let data = Dir::new();
    let err = open(&data, &repo).sync().unwrap_err();
    assert_eq!(err.metric_label(), "no_branch");
    assert!(
        err.to_string().contains("branch release does not exist"),
        "{err}"
    );
}

#[test]
fn https_style_remotes_with_a_token_and_redacted_errors() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let root = remote.bare.parent().unwrap();
    let server = HttpGitServer::start(root);
    let url = format!("http://127.0.0.1:{}/remote.git", server.port);
    let data = Dir::new();
    let token = data.write("token", "s3cret\n");
    let repo = repo_config(
        &url,
        &format!("  username: bot\n  passwordFile: {}\n", token.display()),
    );
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    bump(workspace.dir(), &repo, 4).unwrap();
    assert_eq!(commit_and_push(&mut workspace, "over http"), Push::Pushed);
    assert_eq!(
        remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-4").trim_end()
    );

    let wrong = data.write("wrong", "nope");
    let bad = repo_config(
        &format!(
            "http://bot:leaked-password@127.0.0.1:{}/remote.git",
            server.port
        ),
        &format!("  username: bot\n  passwordFile: {}\n", wrong.display()),
    );
    let err = open(&data, &bad).sync().unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("leaked-password"), "{text}");
    assert!(text.contains("bot:***@"), "{text}");
}

#[test]
fn a_damaged_index_is_rebuilt() {
    let (_remote, repo, data, dir) = synced_once();
    std::fs::write(dir.join(".git/index"), "not an index").unwrap();
    let mut workspace = open(&data, &repo);
    workspace.sync().unwrap();
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}
