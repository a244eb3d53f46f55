//! Promotion chains end to end, with `laminar once` against the real `docker-registry` and
//! bare git repos whose history is written with chosen commit dates (the clock soak times are
//! measured on); forge checks from the scripted forges, Argo CD from a server answering as its
//! REST API documents an application (`GET /api/v1/applications/{name}`).

use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::RegistryServer;
use crate::forge_fake::{FakeForge, Kind};
use crate::util::Dir;

const OLD: &str = "2024-01-01T00:00:00Z";

/// Writes `files` in the outside clone and pushes them as one commit dated `hours` ago.
pub(crate) fn commit_at(repo: &BareRepo, files: &[(&str, String)], hours: u64) -> String {
    commit_ago(repo, files, Duration::from_secs(hours * 3600))
}

/// Writes `files` in the outside clone and pushes them as one commit dated `ago` ago.
fn commit_ago(repo: &BareRepo, files: &[(&str, String)], ago: Duration) -> String {
    for (file, content) in files {
        repo.write(file, content);
    }
    let when = SystemTime::now() - ago;
    let seconds = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = format!("@{seconds} +0000");
    git(&repo.outside, &["add", "-A"]);
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=Person",
            "-c",
            "user.email=person@example.org",
        ])
        .args([
            "commit",
            "-q",
            "-m",
            &format!("by hand, {} s ago", ago.as_secs()),
        ])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .current_dir(&repo.outside)
        .status()
        .unwrap();
    assert!(status.success());
    git(&repo.outside, &["push", "-q", "origin", "main"]);
    repo.head()
}

fn app(addr: &str, tag: &str) -> String {
    format!("image: {addr}/acme/app:{tag}\n")
}

fn registry_config(addr: &str) -> String {
    settings(addr, "")
}

/// `global` (with `more` lines in it) and the registry.
fn settings(addr: &str, more: &str) -> String {
    format!(
        "global:\n  dataDir: state\n  gitUser: Laminar\n  gitEmail: laminar@example.org\n{more}\
         dockerRegistries:\n- reg: {addr}/acme\n  name: local\n  insecure: true\n"
    )
}

async fn registry_with(tags: &[&str]) -> RegistryServer {
    let registry = RegistryServer::start().await;
    for tag in tags {
        registry.push("acme/app", tag, OLD).await;
    }
    registry
}

#[tokio::test]
async fn a_tag_walks_dev_staging_prod_once_each_step_has_soaked() {
    let registry = registry_with(&["1.0.0", "1.1.0", "1.2.0"]).await;
    let addr = &registry.addr;
    let remote = BareRepo::new(&[("README", "environments\n")]);
    let all = |tag: &str| {
        ["dev/app.yaml", "staging/app.yaml", "prod/app.yaml"].map(|f| (f, app(addr, tag)))
    };
    commit_at(&remote, &all("1.0.0"), 100);
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.1.0"))], 60);
    commit_at(&remote, &[("staging/app.yaml", app(addr, "1.1.0"))], 30);
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.2.0"))], 2);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    soak: 24h\n    files: [staging/]\n  \
             - name: prod\n    follow: staging\n    soak: 24h\n    files: [prod/]\n",
            registry_config(addr),
            remote.bare.display()
        ),
    );

    let out = dir.once(&[]);
    // dev's 1.2.0 has soaked 2 h of 24; staging's 1.1.0 has soaked 30 h: prod takes it.
    assert!(out.contains("soaking: 1.2.0 has 21 h left"), "{out}");
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(addr, "1.1.0").trim_end()
    );
    assert_eq!(remote.show("prod/app.yaml"), app(addr, "1.1.0").trim_end());
    assert_eq!(remote.show("dev/app.yaml"), app(addr, "1.2.0").trim_end());
    let subject = git(&remote.bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(subject, "staging → prod: app 1.1.0, soaked 30 h");

    // prod now holds staging's tag: nothing more moves, and nothing is committed.
    let head = remote.head();
    let out = dir.once(&[]);
    assert!(out.contains("envs: up to date"), "{out}");
    assert_eq!(remote.head(), head);
}

/// Argo CD's answer for an application: `status.health.status`, `status.sync.{status, revision}`.
async fn argo_answers(argo: &MockServer, health: &str, sync: &str, revision: &str) {
    argo.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/applications/staging"))
        .and(header("authorization", "Bearer argo-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "metadata": {"name": "staging", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git.example.com/apps.git", "path": "staging", "targetRevision": "main"}},
            "status": {
                "health": {"status": health},
                "sync": {"status": sync, "revision": revision},
                "operationState": {"phase": "Succeeded"},
            },
        })))
        .mount(argo)
        .await;
}

#[tokio::test]
async fn another_repos_checks_and_argo_cd_health_hold_a_promotion_until_green_and_healthy() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    let forge = FakeForge::start(Kind::Github, "forge-token").await;
    let argo = MockServer::start().await;
    let apps = BareRepo::new(&[("README", "apps\n")]);
    let before = commit_at(&apps, &[("staging/app.yaml", app(addr, "1.0.0"))], 50);
    let set = commit_at(&apps, &[("staging/app.yaml", app(addr, "1.1.0"))], 10);
    let prod = BareRepo::new(&[("prod/app.yaml", &app(addr, "1.0.0"))]);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n\
             - name: prod\n  url: {prod}\n  branch: main\n  updates:\n  \
             - follow: apps/staging\n    files: [prod/]\n    requireChecks: [e2e]\n    \
             requireHealthy:\n      argocd:\n        url: {argo}\n        tokenEnv: ARGO_TOKEN\n        application: staging\n\
             - name: apps\n  url: {apps}\n  branch: main\n  \
             forge:\n    provider: github\n    apiUrl: {api}\n    project: acme/manifests\n    tokenEnv: FORGE_TOKEN\n  \
             updates:\n  - name: staging\n    pattern: semver:^1\n    files: [staging/]\n",
            registry_config(addr),
            prod = prod.bare.display(),
            apps = apps.bare.display(),
            argo = argo.uri(),
            api = forge.uri(),
        ),
    );
    let run = || {
        // Only prod is cycled: the repo it follows is read, not changed.
        let out = dir
            .laminar()
            .args(["once", "--repo", "prod"])
            .env("ARGO_TOKEN", "argo-token")
            .env("FORGE_TOKEN", "forge-token")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let stays = |out: &str, why: &str| {
        assert!(
            out.contains(&format!("stays: {why}")),
            "expected {why:?} in {out}"
        );
        assert_eq!(prod.show("prod/app.yaml"), app(addr, "1.0.0").trim_end());
    };
    argo_answers(&argo, "Healthy", "Synced", &set).await;

    // Nothing reported on the commit that set 1.1.0 yet: e2e counts as pending.
    stays(&run(), "1.1.0: check e2e pending");
    forge.report(&set, "status", "e2e", "pending");
    forge.report(&set, "run", "lint", "success");
    stays(&run(), "1.1.0: check e2e pending");
    // A failure blocks the tag (no older tag is newer than prod's).
    forge.report(&set, "status", "e2e", "failure");
    stays(&run(), "1.1.0: check e2e failed");
    // Green now; Argo CD says the staging application is Degraded, then synced elsewhere.
    forge.report(&set, "status", "e2e", "success");
    argo_answers(&argo, "Degraded", "Synced", &set).await;
    stays(&run(), "1.1.0 waits: upstream staging Degraded");
    argo_answers(&argo, "Healthy", "Synced", &before).await;
    let out = run();
    assert!(out.contains("waits: upstream staging synced to"), "{out}");

    argo_answers(&argo, "Healthy", "Synced", &set).await;
    let out = run();
    assert!(out.contains("prod: updated 1 reference(s)"), "{out}");
    assert_eq!(prod.show("prod/app.yaml"), app(addr, "1.1.0").trim_end());
    let subject = git(&prod.bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(
        subject,
        "apps/staging → prod: app 1.1.0, e2e green, healthy"
    );
    // The checks were read with the forge's token, on the upstream commits only.
    let calls = forge.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.contains(&set) || c.contains(&before)),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_rollback_upstream_stops_the_chain_and_a_closed_window_waits() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    let remote = BareRepo::new(&[("README", "environments\n")]);
    commit_at(
        &remote,
        &[
            ("dev/app.yaml", app(addr, "1.2.0")),
            ("staging/app.yaml", app(addr, "1.0.0")),
            ("qa/app.yaml", app(addr, "1.2.0")),
            ("prod/app.yaml", app(addr, "1.0.0")),
        ],
        50,
    );
    // Someone rolls dev back from 1.2.0.
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.1.0"))], 40);
    // A window that opens in two hours' time, for an hour, every day.
    let hour = (SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        + 2)
        % 24;
    let window = format!("daily {hour:02}:00-{:02}:00 UTC", (hour + 1) % 24);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    files: [staging/]\n  \
             - name: qa\n    follow: dev\n    files: [qa/]\n  \
             - name: prod\n    follow: dev\n    files: [prod/]\n    window: \"{window}\"\n",
            registry_config(addr),
            remote.bare.display()
        ),
    );
    let out = dir.once(&[]);
    // Staging takes what dev holds now, never the tag dev rolled back from.
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(addr, "1.1.0").trim_end()
    );
    // qa already has 1.2.0: left alone, and said why.
    assert!(
        out.contains(
            "dev rolled back from 1.2.0: not touched automatically (promotion chain dev → qa)"
        ),
        "{out}"
    );
    assert_eq!(remote.show("qa/app.yaml"), app(addr, "1.2.0").trim_end());
    // prod waits for its window.
    assert!(
        out.contains("outside the rule's window: waits until"),
        "{out}"
    );
    assert_eq!(remote.show("prod/app.yaml"), app(addr, "1.0.0").trim_end());
}

#[test]
fn a_chain_that_comes_round_or_follows_nothing_is_a_located_error() {
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        "dockerRegistries:\n- reg: r.example.com\ngit:\n- name: envs\n  url: /tmp/x.git\n  branch: main\n  updates:\n  \
         - name: dev\n    follow: prod\n    files: [dev/]\n  \
         - name: staging\n    follow: dev\n    files: [staging/]\n  \
         - name: prod\n    follow: staging\n    files: [prod/]\n  \
         - name: qa\n    follow: other/dev\n    files: [qa/]\n    soak: 1h\n",
    );
    let out = dir.laminar().arg("check").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("laminar.yaml:9:13: promotion chain comes round to itself: envs/dev → envs/prod → envs/staging → envs/dev"),
        "{text}"
    );
    assert!(
        text.contains("laminar.yaml:18:13: follow: no rule named dev in repo other"),
        "{text}"
    );
}

#[tokio::test]
async fn in_pull_request_mode_each_promotion_is_a_pull_request_of_its_own() {
    let registry = registry_with(&["1.0.0", "1.0.5", "1.1.0"]).await;
    let addr = &registry.addr;
    let forge = FakeForge::start(Kind::Github, "forge-token").await;
    let remote = BareRepo::new(&[("README", "environments\n")]);
    commit_at(
        &remote,
        &[
            ("dev/app.yaml", app(addr, "1.0.5")),
            ("staging/app.yaml", app(addr, "1.0.0")),
        ],
        30,
    );
    let main = remote.head();
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  \
             pullRequest:\n    provider: github\n    apiUrl: {}\n    project: acme/manifests\n    tokenEnv: FORGE_TOKEN\n  \
             updates:\n  - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    soak: 1d\n    files: [staging/]\n",
            registry_config(addr),
            remote.bare.display(),
            forge.uri()
        ),
    );
    let out = dir
        .laminar()
        .arg("once")
        .env("FORGE_TOKEN", "forge-token")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(remote.head(), main, "main is never pushed");
    let mut pulls: Vec<(String, String)> = forge
        .pulls()
        .into_iter()
        .map(|p| (p.head, p.title))
        .collect();
    pulls.sort();
    assert_eq!(
        pulls,
        [
            (
                "laminar/envs/all".to_string(),
                format!("Update {addr}/acme/app to 1.1.0")
            ),
            (
                "laminar/envs/promote-staging".to_string(),
                "dev → staging: app 1.0.5, soaked 30 h".to_string()
            ),
        ]
    );
    let promoted = git(
        &remote.bare,
        &["show", "laminar/envs/promote-staging:staging/app.yaml"],
    );
    assert_eq!(promoted, app(addr, "1.0.5").trim_end());
}

#[tokio::test]
async fn deploy_requests_pass_the_chain_or_skip_it_with_force_which_the_commit_records() {
    let registry = registry_with(&["1.0.0", "1.1.0", "1.2.0"]).await;
    let addr = &registry.addr;
    let remote = BareRepo::new(&[("README", "environments\n")]);
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.0.0"))], 100);
    commit_at(
        &remote,
        &[
            ("dev/app.yaml", app(addr, "1.1.0")),
            ("qa/app.yaml", app(addr, "1.1.0")),
            ("staging/app.yaml", app(addr, "1.0.0")),
        ],
        60,
    );
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.2.0"))], 2);
    let hour = (SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        + 2)
        % 24;
    let window = format!("daily {hour:02}:00-{:02}:00 UTC", (hour + 1) % 24);
    let port = crate::fixtures::registry::free_port();
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  pollFreq: 3600\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: qa\n    follow: dev\n    soak: 24h\n    files: [qa/]\n  \
             - name: staging\n    follow: dev\n    soak: 24h\n    files: [staging/]\n    window: \"{window}\"\n",
            settings(addr, &format!("  listen: 127.0.0.1:{port}\n")),
            remote.bare.display()
        ),
    );
    let daemon =
        crate::fixtures::daemon::Daemon::start(dir.path(), Some(crate::fixtures::daemon::TOKEN))
            .await;
    let deploy = |body: serde_json::Value| async move {
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/deploy?wait=true"))
            .bearer_auth(crate::fixtures::daemon::TOKEN)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
        )
    };
    let image = format!("{addr}/acme/app");

    // qa: 1.2.0 has soaked 2 h of 24 — refused; 1.0.0, which dev ran for 40 h, is let through.
    let (status, answer) = deploy(json!({"image": image, "tag": "1.2.0", "files": ["qa/"]})).await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["repos"]["envs"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("follows a promotion chain: soaking: 1.2.0 has 21 h left"),
        "{answer}"
    );
    let (status, answer) = deploy(json!({"image": image, "tag": "1.0.0", "files": ["qa/"]})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(remote.show("qa/app.yaml"), app(addr, "1.0.0").trim_end());
    let message = git(&remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains("Promotion chain dev → qa: soaked 40 h"),
        "{message}"
    );

    // staging: its window is closed — refused, unless forced, which also skips the chain.
    let (status, answer) =
        deploy(json!({"image": image, "tag": "1.2.0", "files": ["staging/"]})).await;
    assert_eq!(status, 409, "{answer}");
    let (status, answer) =
        deploy(json!({"image": image, "tag": "1.2.0", "files": ["staging/"], "force": true})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(addr, "1.2.0").trim_end()
    );
    let message = git(&remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message
            .contains("Promotion chain dev → staging: forced past the chain by a deploy request"),
        "{message}"
    );
    drop(daemon);
}

#[tokio::test]
async fn the_daemon_wakes_followers_when_the_upstream_moves_and_laminar_chains_shows_each_stage() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    let apps = BareRepo::new(&[("staging/app.yaml", &app(addr, "1.0.0"))]);
    let prod = BareRepo::new(&[("prod/app.yaml", &app(addr, "1.0.0"))]);
    let port = crate::fixtures::registry::free_port();
    let dir = Dir::new();
    // prod is listed, and so first cycles, before the repo it follows; every poll is an hour.
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n\
             - name: prod\n  url: {}\n  branch: main\n  pollFreq: 3600\n  updates:\n  \
             - follow: apps/staging\n    files: [prod/]\n\
             - name: apps\n  url: {}\n  branch: main\n  pollFreq: 3600\n  updates:\n  \
             - name: staging\n    pattern: semver:^1\n    files: [staging/]\n",
            settings(addr, &format!("  listen: 127.0.0.1:{port}\n")),
            prod.bare.display(),
            apps.bare.display(),
        ),
    );
    let token = crate::fixtures::daemon::TOKEN;
    let daemon = crate::fixtures::daemon::Daemon::start(dir.path(), Some(token)).await;
    // apps moves staging to 1.1.0; what staging holds moved, so prod is woken and follows.
    daemon
        .wait_for(|| async { prod.show("prod/app.yaml") == app(addr, "1.1.0").trim_end() })
        .await;
    assert_eq!(apps.show("staging/app.yaml"), app(addr, "1.1.0").trim_end());
    let subject = git(&prod.bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(subject, "apps/staging → prod: app 1.1.0");

    let out = dir
        .laminar()
        .args(["chains", "--url", &format!("http://127.0.0.1:{port}")])
        .env("LAMINAR_API_TOKEN", token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("apps/staging → prod\n"), "{text}");
    assert!(
        text.contains(&format!(
            "  {addr}/acme/app\n    apps/staging: 1.1.0 (held "
        )),
        "{text}"
    );
    assert!(text.contains("    prod: 1.1.0\n"), "{text}");

    let metrics = daemon.get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            "laminar_promotions_total{repo=\"prod\",chain=\"apps/staging → prod\",result=\"promoted\"} 1"
        ),
        "{metrics}"
    );
    // staging took 1.1.0 a moment before prod did.
    assert!(
        metrics.contains(
            "laminar_promotion_lead_seconds_bucket{le=\"600.0\",chain=\"apps/staging → prod\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn gitlab_pipelines_and_statuses_and_gitea_statuses_gate_a_promotion_too() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    for (kind, api, project, checks) in [
        (
            Kind::Gitlab,
            "/api/v4",
            "group/sub/deploy",
            "[e2e, pipeline]",
        ),
        (Kind::Gitea, "/api/v1", "ops/manifests", "[e2e]"),
    ] {
        let forge = FakeForge::start(kind, "forge-token").await;
        let apps = BareRepo::new(&[("README", "apps\n")]);
        let set = commit_at(&apps, &[("staging/app.yaml", app(addr, "1.1.0"))], 10);
        let prod = BareRepo::new(&[("prod/app.yaml", &app(addr, "1.0.0"))]);
        let provider = if kind == Kind::Gitlab {
            "gitlab"
        } else {
            "gitea"
        };
        let dir = Dir::new();
        dir.write(
            "laminar.yaml",
            format!(
                "{}git:\n\
                 - name: apps\n  url: {}\n  branch: main\n  \
                 forge: {{provider: {provider}, apiUrl: \"{}{api}\", project: {project}, tokenEnv: FORGE_TOKEN}}\n  \
                 updates:\n  - name: staging\n    pattern: semver:^1\n    files: [staging/]\n\
                 - name: prod\n  url: {}\n  branch: main\n  updates:\n  \
                 - follow: apps/staging\n    files: [prod/]\n    requireChecks: {checks}\n",
                registry_config(addr),
                apps.bare.display(),
                forge.uri(),
                prod.bare.display(),
            ),
        );
        let run = || {
            let out = dir
                .laminar()
                .arg("once")
                .env("FORGE_TOKEN", "forge-token")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        forge.report(&set, "status", "e2e", "success");
        forge.report(&set, "run", "pipeline", "pending");
        let out = run();
        match kind {
            Kind::Gitlab => assert!(
                out.contains("stays: 1.1.0: check pipeline pending"),
                "{out}"
            ),
            _ => assert!(out.contains("prod: updated 1 reference(s)"), "{out}"),
        }
        forge.report(&set, "run", "pipeline", "success");
        run();
        assert_eq!(
            prod.show("prod/app.yaml"),
            app(addr, "1.1.0").trim_end(),
            "{provider}"
        );
    }
}

/// Over HTTP a workspace fetches the branch's tip alone until a chain follows one of its
/// rules; then it fetches the history the soak is measured on (deepening the clone it has).
#[tokio::test]
async fn a_shallow_workspace_over_http_is_deepened_once_a_chain_follows_it() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    let remote = BareRepo::new(&[("README", "environments\n")]);
    commit_at(
        &remote,
        &[
            ("dev/app.yaml", app(addr, "1.0.0")),
            ("staging/app.yaml", app(addr, "1.0.0")),
        ],
        100,
    );
    commit_at(&remote, &[("dev/app.yaml", app(addr, "1.1.0"))], 30);
    commit_at(&remote, &[("README", "notes\n".to_string())], 1);
    let server = crate::fixtures::git::HttpGitServer::start(remote.bare.parent().unwrap());
    let dir = Dir::new();
    let token = dir.write("token", "s3cret\n");
    let config = |staging: &str| {
        format!(
            "{}git:\n- name: envs\n  url: http://127.0.0.1:{}/remote.git\n  branch: main\n  \
             username: bot\n  passwordFile: {}\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n{staging}",
            registry_config(addr),
            server.port,
            token.display()
        )
    };
    dir.write("laminar.yaml", config(""));
    let out = dir.once(&[]);
    assert!(out.contains("envs: up to date"), "{out}");
    dir.write(
        "laminar.yaml",
        config("  - name: staging\n    follow: dev\n    soak: 24h\n    files: [staging/]\n"),
    );
    let out = dir.once(&[]);
    assert!(out.contains("promoted dev → staging: soaked 30 h"), "{out}");
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(addr, "1.1.0").trim_end()
    );
}

#[tokio::test]
async fn the_daemon_promotes_when_a_soak_runs_out_not_at_the_next_poll() {
    let registry = registry_with(&["1.0.0", "1.1.0"]).await;
    let addr = &registry.addr;
    let remote = BareRepo::new(&[("staging/app.yaml", &app(addr, "1.0.0"))]);
    // dev took 1.1.0 an hour ago, less 3 s: its hour of soak runs out in 3 s.
    commit_ago(
        &remote,
        &[("dev/app.yaml", app(addr, "1.1.0"))],
        Duration::from_secs(3600 - 3),
    );
    let port = crate::fixtures::registry::free_port();
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  pollFreq: 3600\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    soak: 1h\n    files: [staging/]\n",
            settings(addr, &format!("  listen: 127.0.0.1:{port}\n")),
            remote.bare.display()
        ),
    );
    let daemon =
        crate::fixtures::daemon::Daemon::start(dir.path(), Some(crate::fixtures::daemon::TOKEN))
            .await;
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(addr, "1.0.0").trim_end()
    );
    daemon
        .wait_for(|| async { remote.show("staging/app.yaml") == app(addr, "1.1.0").trim_end() })
        .await;
    let subject = git(&remote.bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(subject, "dev → staging: app 1.1.0, soaked 60 min");
}

#[test]
fn following_asks_no_registry_so_promotions_go_on_while_the_registry_is_down() {
    let down = "127.0.0.1:9";
    let remote = BareRepo::new(&[("README", "environments\n")]);
    commit_at(
        &remote,
        &[
            ("dev/app.yaml", app(down, "1.1.0")),
            ("staging/app.yaml", app(down, "1.0.0")),
        ],
        30,
    );
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "{}git:\n- name: envs\n  url: {}\n  branch: main\n  updates:\n  \
             - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
             - name: staging\n    follow: dev\n    soak: 24h\n    files: [staging/]\n",
            registry_config(down),
            remote.bare.display()
        ),
    );
    let out = dir.laminar().arg("once").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // dev's registry cannot be asked: the cycle reports it, and staging still moves.
    assert!(text.contains("error: registry local"), "{text}");
    assert!(
        text.contains("promoted dev → staging: soaked 30 h"),
        "{text}"
    );
    assert_eq!(
        remote.show("staging/app.yaml"),
        app(down, "1.1.0").trim_end()
    );
}
