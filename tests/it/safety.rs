//! The daemon under abuse: SIGTERM while an action hangs, `kill -9` mid-cycle, outside
//! writers racing its pushes over every transport. Real registry, real git, the laminar
//! binary; results checked with the git CLI.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::fixtures::daemon::{Daemon, Setup, TOKEN, setup};
use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::Dir;

/// Whether `pid` is gone (a zombie waiting for its reaper counts as gone).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid an action wrote to `path`, once it is there whole.
fn wait_for_pid(path: &Path) -> u32 {
    let pid = || std::fs::read_to_string(path).ok()?.trim().parse().ok();
    wait_until("the action to start", Duration::from_secs(60), || {
        pid().is_some()
    });
    pid().unwrap_or_default()
}

/// A daemon with `shutdownGrace: grace` whose exec action hangs in its second cycle: it
/// starts a long sleep in the background, records its pid and waits. Returns the sleep's pid.
async fn hanging_action_running(grace: u32) -> (Setup, Daemon, u32) {
    // The daemon's HOME is its directory, and actions see HOME.
    let action = "  exec:\n  - if [ -f \"$HOME/block\" ]; then sleep 613 & echo $! > \"$HOME/sleep.pid\"; wait; fi\n";
    let s = setup(action, "").await;
    let config = std::fs::read_to_string(s.dir.path().join("laminar.yaml")).unwrap();
    s.dir.write(
        "laminar.yaml",
        config.replace("shutdownGrace: 10", &format!("shutdownGrace: {grace}")),
    );
    let daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;
    s.dir.write("block", "");
    s.registry
        .push("acme/app", "develop-4", "2024-04-01T00:00:00Z")
        .await;
    assert_eq!(daemon.post("/api/v1/sync", Some(TOKEN)).await.status(), 202);
    let sleeper = wait_for_pid(&s.dir.path().join("sleep.pid"));
    (s, daemon, sleeper)
}

#[tokio::test]
async fn sigterm_ends_the_daemon_within_the_grace_period_whatever_runs() {
    let (s, mut daemon, sleeper) = hanging_action_running(1).await;
    let before = s.remote.head();

    let asked = Instant::now();
    let status = daemon.terminate();
    let took = asked.elapsed();
    // shutdownGrace (1 s) + 10 s is the bound; the margin is for a loaded machine.
    assert!(took < Duration::from_secs(25), "shutdown took {took:?}");
    assert!(status.code().is_some(), "exited by itself: {status}");
    wait_until(
        "the action's process to die",
        Duration::from_secs(10),
        || dead(sleeper),
    );
    assert_eq!(
        s.remote.head(),
        before,
        "the abandoned cycle pushed nothing"
    );
}

#[tokio::test]
async fn an_exec_action_dies_with_a_killed_daemon() {
    let (_s, mut daemon, sleeper) = hanging_action_running(10).await;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    wait_until(
        "the action's background process to die with laminar",
        Duration::from_secs(10),
        || dead(sleeper),
    );
}

#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        "global:\n  dataDir: state\ndockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: gone\n  url: /nowhere.git\n  branch: main\n  updates:\n  - pattern: glob:*\n    files: [.]\n",
    );
    let output = dir
        .laminar()
        .args(["once", "--config", "laminar.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERROR"),
        "the failing cycle is logged: {stderr:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// A config for one repo at `url` on `registry`, polled every second, with `extra` keys.
fn daemon_config(dir: &Dir, registry: &RegistryServer, url: &str, extra: &str) {
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\n  listen: 127.0.0.1:{port}\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n  pushAttempts: 20\n\
             dockerRegistries:\n- reg: {addr}/acme\n  insecure: true\n  rateLimit: 1000\n\
             git:\n- name: manifests\n  url: {url}\n  branch: main\n  pollFreq: 1\n{extra}  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n",
            port = free_port(),
            addr = registry.addr,
        ),
    );
}

fn created(n: u32) -> String {
    format!("2024-01-01T00:{:02}:{:02}Z", n / 60, n % 60)
}

/// Every update of `main` recorded in the remote's reflog moved it forward.
fn assert_only_fast_forwards(bare: &Path) {
    let log = git(bare, &["reflog", "show", "--format=%H", "refs/heads/main"]);
    let heads: Vec<&str> = log.lines().collect();
    assert!(heads.len() > 1, "the reflog records updates");
    for pair in heads.windows(2) {
        let (newer, older) = (pair[0], pair[1]);
        git(bare, &["merge-base", "--is-ancestor", older, newer]);
    }
}

/// Five outside writers push 200 commits while new tags keep arriving and laminar pushes its
/// updates to the same branch.
async fn race_with_outside_writers(url: impl FnOnce(&BareRepo) -> (String, String)) {
    let registry = RegistryServer::start().await;
    registry.push("acme/app", "develop-1", &created(1)).await;
    let remote = BareRepo::new(&[(
        "dev/app.yaml",
        &format!("image: {}/acme/app:develop-1\n", registry.addr),
    )]);
    git(&remote.bare, &["config", "core.logAllRefUpdates", "always"]);
    let dir = Dir::new();
    let (url, extra) = url(&remote);
    daemon_config(&dir, &registry, &url, &extra);
    let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;

    let writers: Vec<_> = (0..5)
        .map(|w| {
            let bare = remote.bare.clone();
            std::thread::spawn(move || outside_writer(&bare, w, 40))
        })
        .collect();
    let mut newest = 1;
    while !writers.iter().all(|w| w.is_finished()) {
        newest += 1;
        registry
            .push("acme/app", &format!("develop-{newest}"), &created(newest))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let outside: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(outside.len(), 200);
    let want = format!("image: {}/acme/app:develop-{newest}", registry.addr);
    daemon
        .wait_for(|| async { remote.show("dev/app.yaml") == want })
        .await;
    for commit in &outside {
        git(
            &remote.bare,
            &["merge-base", "--is-ancestor", commit, "main"],
        );
    }
    assert_only_fast_forwards(&remote.bare);
    drop(daemon);
}

/// Makes `count` commits in its own clone of `bare` and pushes each, retrying on races.
fn outside_writer(bare: &Path, writer: u32, count: u32) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let clone = home.path().join("clone");
    git(
        home.path(),
        &["clone", "-q", bare.to_str().unwrap(), "clone"],
    );
    (0..count)
        .map(|n| {
            std::fs::create_dir_all(clone.join("other")).unwrap();
            std::fs::write(clone.join(format!("other/{writer}-{n}.txt")), "theirs\n").unwrap();
            git(&clone, &["add", "-A"]);
            git(
                &clone,
                &["commit", "-q", "-m", &format!("writer {writer} #{n}")],
            );
            let commit_message = format!("writer {writer} #{n}");
            loop {
                git(&clone, &["pull", "-q", "--rebase", "origin", "main"]);
                let pushed = std::process::Command::new("git")
                    .args(["push", "-q", "origin", "main"])
                    .current_dir(&clone)
                    .output()
                    .unwrap();
                if pushed.status.success() {
                    break;
                }
            }
            git(
                &clone,
                &["log", "-1", "--format=%H", "--grep", &commit_message],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_over_file_urls_lose_nothing() {
    race_with_outside_writers(|remote| {
        (format!("file://{}", remote.bare.display()), String::new())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_over_ssh_lose_nothing() {
    let ssh = crate::fixtures::git::SshServer::start();
    race_with_outside_writers(|remote| {
        (
            ssh.url(&remote.bare),
            format!(
                "  key: {}\n  knownHosts: {}\n",
                ssh.key.display(),
                ssh.known_hosts.display()
            ),
        )
    })
    .await;
}

/// 50 times: a new tag, laminar started, killed with SIGKILL at a random moment of its
/// cycles (which run an exec action), restarted. Every restart must recover in its first
/// cycle, and the history must hold no garbled or duplicate commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kill_9s_leave_no_garbled_or_duplicate_commit() {
    let registry = RegistryServer::start().await;
    registry.push("acme/app", "develop-1", &created(1)).await;
    let remote = BareRepo::new(&[(
        "dev/app.yaml",
        &format!("image: {}/acme/app:develop-1\n", registry.addr),
    )]);
    let dir = Dir::new();
    // The action renders a copy of the manifest, slowly enough to be killed halfway.
    let action = "  exec:\n  - mkdir -p rendered; head -c 20 dev/app.yaml > rendered/app.yaml; sleep 0.1; cat dev/app.yaml > rendered/app.yaml\n";
    daemon_config(
        &dir,
        &registry,
        &format!("file://{}", remote.bare.display()),
        action,
    );
    let mut rng_state = 0x2545_f491_u64;
    let mut random_ms = |max: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % max
    };
    for round in 2..=51 {
        registry
            .push("acme/app", &format!("develop-{round}"), &created(round))
            .await;
        let mut daemon = Daemon::spawn(dir.path(), Some(TOKEN));
        if round > 2 {
            // The previous run was killed: this one must recover in its first cycle.
            daemon.wait_ready().await;
            let status = daemon.status().await;
            assert_ne!(
                status["repos"]["manifests"]["result"], "failed",
                "round {round}: {status}"
            );
        }
        tokio::time::sleep(Duration::from_millis(random_ms(1500))).await;
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap();
    }
    let daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    let want = format!("image: {}/acme/app:develop-51", registry.addr);
    daemon
        .wait_for(|| async { remote.show("dev/app.yaml") == want })
        .await;
    drop(daemon);

    assert_eq!(
        git(&remote.bare, &["rev-list", "--merges", "--count", "main"]),
        "0"
    );
    let commits = git(&remote.bare, &["rev-list", "main"]);
    let mut subjects = Vec::new();
    for commit in commits.lines() {
        let parents = git(&remote.bare, &["rev-list", "--parents", "-n1", commit]);
        if parents.split(' ').count() == 1 {
            continue; // the initial commit
        }
        let manifest = git(&remote.bare, &["show", &format!("{commit}:dev/app.yaml")]);
        let rendered = git(
            &remote.bare,
            &["show", &format!("{commit}:rendered/app.yaml")],
        );
        assert_eq!(
            rendered, manifest,
            "commit {commit} carries a half-rendered file"
        );
        subjects.push(git(&remote.bare, &["log", "-1", "--format=%s", commit]));
    }
    let mut unique = subjects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        subjects.len(),
        "duplicate commits: {subjects:?}"
    );
}
