//! The repo cycle and the scheduler against scripted tag sources (the registry is the one I/O
//! boundary faked here) and real git remotes on disk, checked with the git CLI.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use laminar::config::{Environment, parse};
use laminar::cycle::{CycleError, CycleResult, RepoCycle};
use laminar::notify::Notifier;
use laminar::policy::TagInfo;
use laminar::registry::Failure;
use laminar::scheduler::{self, Outlets, Triggers};
use laminar::status::{RepoStatus, StatusBoard};

use crate::fixtures::cycle::{
    APP, Fixture, Script, config, develop, errors, racing_action, shared,
};
use crate::fixtures::git::{BareRepo, git};
use crate::util::{Dir, eventually};

/// How long a scheduler test waits for what it asked before it fails.
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_cycle_pushes_its_change_and_the_next_one_costs_no_reset() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "");
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.push_attempts, 1);
    assert_eq!(report.head.unwrap().to_string(), f.remote.head());
    assert_eq!(
        f.remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-2").trim_end()
    );
    assert_eq!(
        git(&f.remote.bare, &["log", "-1", "--format=%an <%ae>%n%s"]),
        "Laminar <laminar@example.org>\ndev/app.yaml: app develop-1 → develop-2"
    );
    assert_eq!(f.cycle.resets(), 1, "the first checkout");

    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Unchanged);
    assert_eq!(f.cycle.resets(), 1, "laminar's own push needs no reset");
    assert_eq!(git(&f.remote.bare, &["rev-list", "--count", "main"]), "2");
}

#[tokio::test]
async fn a_failing_registry_is_reported_and_other_images_still_move() {
    let two = "a: reg.io/acme/app:develop-1\nb: reg.io/acme/broken:develop-1\n";
    let mut f = Fixture::new(&[("dev/app.yaml", two)], "", "");
    f.script.set(
        "reg.io/acme/broken",
        Err(Failure::RateLimited {
            status: 429,
            attempts: 3,
        }),
    );
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    assert!(matches!(report.errors[..], [CycleError::Registry(_)]));
    assert_eq!(report.errors[0].metric_label(), "rate_limited");
    assert_eq!(
        f.remote.show("dev/app.yaml"),
        "a: reg.io/acme/app:develop-2\nb: reg.io/acme/broken:develop-1"
    );
}

#[tokio::test]
async fn a_push_rejected_twice_is_redone_on_top_of_the_new_head() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let action = racing_action(&remote, 2);
    let mut f = Fixture::on(remote, "", &action);
    f.script.develop("reg.io/acme/app", 3);
    let report = f.run().await;
    let remote = &f.remote;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(report.push_attempts, 3, "two rejections, then through");
    for n in 0..2 {
        let theirs = git(
            &remote.bare,
            &[
                "log",
                "--format=%H",
                "-1",
                "--grep",
                &format!("outside-{n}"),
                "main",
            ],
        );
        git(
            &remote.bare,
            &["merge-base", "--is-ancestor", &theirs, "main"],
        );
    }
    assert_eq!(
        git(&remote.bare, &["rev-list", "--merges", "--count", "main"]),
        "0"
    );
    assert_eq!(
        remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-3").trim_end()
    );
    let metrics = f.shared.metrics.render();
    assert!(
        metrics.contains("laminar_push_retries_total{repo=\"manifests\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_branch_that_keeps_moving_exhausts_the_attempts_without_force() {
    let remote = BareRepo::new(&[("dev/app.yaml", APP)]);
    let action = racing_action(&remote, 100);
    let mut f = Fixture::on(remote, "  pushAttempts: 2\n", &action);
    let report = f.run().await;
    let remote = &f.remote;
    assert!(
        matches!(report.errors[..], [CycleError::PushRaces { attempts: 2 }]),
        "{:?}",
        errors(&report)
    );
    assert!(report.changes.is_empty(), "nothing was pushed");
    assert_eq!(remote.show("dev/app.yaml"), APP.trim_end());
    assert_eq!(git(&remote.bare, &["rev-list", "--count", "main"]), "3");
}

#[tokio::test]
async fn a_failing_exec_action_means_no_commit_and_a_clean_tree() {
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        "  exec:\n  - echo rendered > dev/out.yaml; echo broken >&2; exit 3\n",
    );
    let before = f.remote.head();
    let report = f.run().await;
    assert!(
        matches!(report.errors[..], [CycleError::Exec(_)]),
        "{:?}",
        errors(&report)
    );
    assert!(errors(&report)[0].contains("broken"));
    assert_eq!(f.remote.head(), before);
    let dir = f.workspace_dir();
    assert_eq!(
        git(&dir, &["status", "--porcelain"]),
        "",
        "reset after the failure"
    );
}

#[tokio::test]
async fn an_invalid_repo_file_is_reported_and_the_last_valid_one_stays() {
    let rules = "updates:\n- pattern: glob:release-*\n  files: [prod/]\n";
    let mut f = Fixture::new(
        &[
            ("dev/app.yaml", APP),
            ("prod/app.yaml", "image: reg.io/acme/app:release-1\n"),
            (".laminar.yaml", rules),
        ],
        "",
        "  remoteConfig: true\n",
    );
    let release = |n: u32| TagInfo {
        tag: format!("release-{n}"),
        pushed: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + u64::from(n))),
        digest: None,
    };
    let mut tags: Vec<TagInfo> = (1..=2).map(develop).collect();
    tags.push(release(1));
    f.script.set("reg.io/acme/app", Ok(tags.clone()));
    assert_eq!(f.run().await.result, CycleResult::Updated);

    f.remote
        .write(".laminar.yaml", "updates: [{pattern: 'nonsense'}]\n");
    f.remote.commit_and_push("break the rules");
    tags.push(release(2));
    f.script.set("reg.io/acme/app", Ok(tags));
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    assert!(
        matches!(report.errors[..], [CycleError::RepoRules(_)]),
        "{:?}",
        errors(&report)
    );
    assert!(errors(&report)[0].contains("the last valid .laminar.yaml stays in force"));
    assert_eq!(
        f.remote.show("prod/app.yaml"),
        "image: reg.io/acme/app:release-2",
        "the last valid rules still apply"
    );
}

#[tokio::test]
async fn a_symlinked_repo_file_is_refused_without_echoing_its_target() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "  remoteConfig: true\n");
    let secret = f.remote.outside.parent().unwrap().join("secret.txt");
    std::fs::write(&secret, "password: hunter2\n").unwrap();
    std::os::unix::fs::symlink(&secret, f.remote.outside.join(".laminar.yaml")).unwrap();
    f.remote.commit_and_push("symlink");
    let report = f.run().await;
    let text = errors(&report).join("\n");
    assert!(text.contains("not a regular file"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let status = RepoStatus::after(&RepoStatus::default(), &report);
    assert!(!serde_json::to_string(&status).unwrap().contains("hunter2"));
}

#[tokio::test]
async fn an_abandoned_cycle_stops_its_action_and_pushes_nothing() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "  exec:\n  - sleep 30\n");
    let before = f.remote.head();
    let abort = f.shared.abort.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        abort.store(true, Ordering::SeqCst);
    });
    let started = std::time::Instant::now();
    let report = f.run().await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the action was stopped"
    );
    assert_eq!(
        report.errors[0].metric_label(),
        "abandoned",
        "{:?}",
        errors(&report)
    );
    assert_eq!(f.remote.head(), before);
}

#[tokio::test]
async fn the_status_keeps_the_last_known_head_and_references_through_an_outage() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "");
    let good = RepoStatus::after(&RepoStatus::default(), &f.run().await);
    assert!(!good.stale);
    assert_eq!(good.references.len(), 1);
    let hidden = f.remote.bare.with_extension("hidden");
    std::fs::rename(&f.remote.bare, &hidden).unwrap();
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    let during = RepoStatus::after(&good, &report);
    assert!(during.stale);
    assert_eq!(during.head, good.head);
    assert_eq!(during.references, good.references);
    assert!(during.error.is_some());
    assert_eq!(during.cycles, 2);
    std::fs::rename(&hidden, &f.remote.bare).unwrap();
}

#[tokio::test]
async fn commit_message_templates_list_every_change() {
    let two = "a: reg.io/acme/app:develop-1\nb: reg.io/acme/app:develop-1\n";
    let mut f = Fixture::new(
        &[("dev/app.yaml", two)],
        "  commitMessage: \"deploy({repo}): {count} bump\\n\\n{changes}\\n\\nSigned-off-by: CI\"\n",
        "",
    );
    assert_eq!(f.run().await.result, CycleResult::Updated);
    assert_eq!(
        git(&f.remote.bare, &["log", "-1", "--format=%B", "main"]),
        "deploy(manifests): 2 bump\n\n\
         dev/app.yaml: reg.io/acme/app develop-1 → develop-2\n\
         dev/app.yaml: reg.io/acme/app develop-1 → develop-2\n\nSigned-off-by: CI"
    );
}

#[tokio::test]
async fn each_change_line_follows_its_own_template() {
    let two = "a: reg.io/acme/app:develop-1\nb: reg.io/acme/app:develop-1\n";
    let mut f = Fixture::new(
        &[("dev/app.yaml", two)],
        "  commitMessage: \"{changes}\"\n  commitChangeLine: \"{base}: {name}:{new} (was {old}) {x}\"\n",
        "",
    );
    assert_eq!(f.run().await.result, CycleResult::Updated);
    assert_eq!(
        git(&f.remote.bare, &["log", "-1", "--format=%B", "main"]),
        "app.yaml: app:develop-2 (was develop-1) {x}\napp.yaml: app:develop-2 (was develop-1) {x}"
    );
}

#[tokio::test]
async fn the_scheduler_runs_every_repo_reports_failures_and_stops_when_told() {
    let good = BareRepo::new(&[("dev/app.yaml", APP)]);
    let data = Dir::new();
    let good_url = good.bare.display().to_string();
    let missing = data.path().join("nowhere.git").display().to_string();
    let config = config(
        &data,
        &[("good", &good_url), ("broken", &missing)],
        "",
        "  pollFreq: 1h\n",
    );
    let script = Script::default();
    script.develop("reg.io/acme/app", 2);
    let shared = Arc::new(shared(config.clone(), &script, &data));
    let names = || config.repos.iter().map(|r| r.name.as_str());
    let status = Arc::new(StatusBoard::new(names()));
    let triggers = Arc::new(Triggers::new(names()));
    let repos = config.repos.iter().cloned().map(RepoCycle::new).collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let outlets = Outlets {
        status: status.clone(),
        notifier: Arc::new(Notifier::start(
            &config.notifications,
            shared.metrics.clone(),
        )),
    };
    let running = tokio::spawn(scheduler::run(
        shared.clone(),
        outlets,
        repos,
        triggers.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    eventually(LIMIT, || async { status.ready() }).await;
    let board = status.snapshot();
    assert_eq!(board["good"].result, Some(CycleResult::Updated));
    assert_eq!(board["broken"].result, Some(CycleResult::Failed));
    assert!(board["broken"].error.is_some());

    // A new tag and a trigger: the next cycle sees it at once, despite pollFreq: 1h.
    script.develop("reg.io/acme/app", 3);
    assert!(triggers.trigger("good"));
    eventually(LIMIT, || async { status.snapshot()["good"].cycles >= 2 }).await;
    assert_eq!(
        good.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-3").trim_end()
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the scheduler stops")
        .unwrap();
    let metrics = shared.metrics.render();
    assert!(
        metrics.contains("laminar_sync_total{repo=\"broken\",result=\"unchanged\"} 0"),
        "series exist for a repo that never succeeded: {metrics}"
    );
}

#[tokio::test]
async fn a_new_process_starts_warm_and_resets_only_a_tree_changed_outside_laminar() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP), ("docs/a.md", "a\n")], "", "");
    assert_eq!(f.run().await.result, CycleResult::Updated);
    f.remote.write("docs/a.md", "b\n");
    f.remote.commit_and_push("an unrelated change");
    f.script.develop("reg.io/acme/app", 3);

    // `laminar once`, or a restarted daemon: a new cycle state over the same data directory.
    let repo = f.cycle.repo.clone();
    f.cycle = RepoCycle::new(repo.clone());
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(
        f.cycle.resets(),
        0,
        "started warm: the tree was moved, not reset"
    );
    assert_eq!(
        f.remote.show("dev/app.yaml"),
        APP.replace("develop-1", "develop-3").trim_end()
    );

    // A file changed by hand in the working copy: the next process notices and resets.
    let dir = f.workspace_dir();
    std::fs::write(dir.join("dev/app.yaml"), "edited by hand\n").unwrap();
    f.cycle = RepoCycle::new(repo);
    assert_eq!(f.run().await.result, CycleResult::Unchanged);
    assert_eq!(f.cycle.resets(), 1);
    // The workspace holds only the rules' paths; what it holds matches its index.
    assert_eq!(
        git(&dir, &["status", "--porcelain", "--no-renames", "dev"]),
        ""
    );
    assert!(
        !dir.join("docs").exists(),
        "docs/ lies outside the rules' paths"
    );
}

#[tokio::test]
async fn notifications_tell_of_updates_a_failure_once_and_the_recovery_signed() {
    use hmac::{Hmac, Mac};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    // A Slack target that accepts and never answers: it must hold up no cycle.
    let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}/services/T0/B0/x", stuck.local_addr().unwrap());
    let (accepted, mut first_accept) = tokio::sync::mpsc::channel(1);
    let holder = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = stuck.accept().await {
            open.push(socket);
            let _ = accepted.try_send(());
        }
    });

    let good = BareRepo::new(&[("dev/app.yaml", APP)]);
    let data = Dir::new();
    let secret = data.write("hook-secret", "hmac-key\n");
    let good_url = good.bare.display().to_string();
    let missing = data.path().join("later.git");
    let notifications = format!(
        "notifications:\n- name: hook\n  kind: webhook\n  url: {}/laminar\n  secretFile: {}\n- name: chat\n  kind: slack\n  url: {stuck_url}\n  events: [failed]\n",
        receiver.uri(),
        secret.display()
    );
    let text = {
        let mut text = format!(
            "global:\n  dataDir: {}\n  gitUser: Laminar\n  gitEmail: laminar@example.org\ndockerRegistries:\n- reg: reg.io/acme\ngit:\n",
            data.path().join("state").display()
        );
        for (name, url) in [
            ("good", good_url.clone()),
            ("broken", missing.display().to_string()),
        ] {
            text.push_str(&format!(
                "- name: {name}\n  url: {url}\n  branch: main\n  pollFreq: 1h\n  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n"
            ));
        }
        text + &notifications
    };
    let config = Arc::new(
        parse(Path::new("laminar.yaml"), &text, &Environment::default())
            .unwrap()
            .config,
    );
    let script = Script::default();
    script.develop("reg.io/acme/app", 2);
    let shared = Arc::new(shared(config.clone(), &script, &data));
    let names = || config.repos.iter().map(|r| r.name.as_str());
    let status = Arc::new(StatusBoard::new(names()));
    let triggers = Arc::new(Triggers::new(names()));
    let repos = config.repos.iter().cloned().map(RepoCycle::new).collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let outlets = Outlets {
        status: status.clone(),
        notifier: Arc::new(Notifier::start(
            &config.notifications,
            shared.metrics.clone(),
        )),
    };
    let running = tokio::spawn(scheduler::run(
        shared.clone(),
        outlets,
        repos,
        triggers.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let wait_for = |cycles: u64, repo: &'static str| {
        let status = status.clone();
        eventually(LIMIT, move || {
            let status = status.clone();
            async move { status.snapshot()[repo].cycles >= cycles }
        })
    };
    wait_for(1, "good").await;
    wait_for(1, "broken").await;
    // The Slack delivery is under way and hangs…
    tokio::time::timeout(Duration::from_secs(30), first_accept.recv())
        .await
        .expect("the stuck receiver was called");
    // … while cycles go on: broken fails again (no second notice), then recovers.
    assert!(triggers.trigger("broken"));
    wait_for(2, "broken").await;
    git(
        data.path(),
        &[
            "clone",
            "-q",
            "--bare",
            good.bare.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
    );
    assert!(triggers.trigger("broken"));
    wait_for(3, "broken").await;
    assert_eq!(
        status.snapshot()["broken"].result,
        Some(CycleResult::Unchanged)
    );

    // The webhook heard of three events, each signed over its timestamp and body.
    eventually(LIMIT, || async {
        receiver.received_requests().await.unwrap_or_default().len() >= 3
    })
    .await;
    let received = receiver.received_requests().await.unwrap_or_default();
    let mut events = Vec::new();
    for request in &received {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        let body = String::from_utf8(request.body.clone()).unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"hmac-key").unwrap();
        mac.update(format!("{}.{body}", header("x-laminar-timestamp")).as_bytes());
        mac.verify_slice(&hex_decode(
            header("x-laminar-signature")
                .strip_prefix("sha256=")
                .unwrap(),
        ))
        .expect("the signature verifies");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["event"], header("x-laminar-event"));
        events.push(format!(
            "{} {}",
            json["repo"].as_str().unwrap(),
            json["event"].as_str().unwrap()
        ));
        if json["event"] == "updated" {
            assert_eq!(json["changes"][0]["old"], "develop-1");
            assert_eq!(json["changes"][0]["new"], "develop-2");
            assert_eq!(json["commit"].as_str().unwrap(), good.head());
        }
        if json["event"] == "failed" {
            assert!(
                json["error"].as_str().unwrap().contains("later.git"),
                "{json}"
            );
        }
    }
    events.sort();
    assert_eq!(
        events,
        ["broken failed", "broken recovered", "good updated"]
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the scheduler stops")
        .unwrap();
    assert!(
        shared
            .metrics
            .render()
            .contains("laminar_notifications_total{notification=\"hook\",result=\"sent\"} 3")
    );
    holder.abort();
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_tag_a_push_event_announced_is_waited_for_until_the_registry_lists_it() {
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "");
    // The registry announces develop-3 a moment before its listing shows it.
    f.script.develop_lagging("reg.io/acme/app", 2, 3);
    f.cycle
        .announced(vec![("reg.io/acme/app".into(), "develop-3".into())]);
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(report.changes[0].new_tag, "develop-3");

    // A tag that never shows up holds a cycle up briefly, then it goes on with what is listed.
    let mut f = Fixture::new(&[("dev/app.yaml", APP)], "", "");
    f.cycle
        .announced(vec![("reg.io/acme/app".into(), "develop-9".into())]);
    let report = f.run().await;
    assert_eq!(report.changes[0].new_tag, "develop-2");
}

#[tokio::test]
async fn a_hold_comment_keeps_its_reference_until_it_ends() {
    let held = "image: reg.io/acme/app:develop-1  # laminar:hold until=2999-01-01\n";
    let ended = "image: reg.io/acme/app:develop-1  # laminar:hold until=2000-01-01\n";
    let mut f = Fixture::new(
        &[("dev/held.yaml", held), ("dev/ended.yaml", ended)],
        "",
        "",
    );
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", errors(&report));
    assert_eq!(f.remote.show("dev/held.yaml"), held.trim_end());
    assert!(f.remote.show("dev/ended.yaml").contains("app:develop-2"));
    let status = RepoStatus::after(&RepoStatus::default(), &report);
    let kept = status
        .references
        .iter()
        .find(|r| r.file == "dev/held.yaml")
        .and_then(|r| r.kept.clone());
    assert_eq!(
        kept.as_deref(),
        Some("held until 2999-01-01 by a `# laminar:hold` comment on its line")
    );
}
