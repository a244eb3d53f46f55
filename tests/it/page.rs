//! The status page in a real browser: Debian's headless Chromium renders what a running
//! laminar serves (a working repo, a failing one), and leaves screenshots under
//! `target/status-page/`. The token flow and the headers are checked over plain HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::daemon::{Daemon, TOKEN};
use crate::fixtures::git::BareRepo;
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::{Dir, project_root};

fn config(port: u16, addr: &str, good: &Path, broken: &Path, access: &str) -> String {
    format!(
        r#"global:
  dataDir: state
  listen: 127.0.0.1:{port}
  gitUser: Laminar
  gitEmail: laminar@example.org
  statusPage: {access}
dockerRegistries:
- reg: {addr}/acme
  name: local
  insecure: true
git:
- name: manifests
  url: {good}
  branch: main
  pollFreq: 3600
  updates:
  - pattern: semver:^1
    files: [dev/]
- name: broken
  url: {broken}
  branch: main
  pollFreq: 3600
  updates:
  - pattern: semver:^1
    files: [dev/]
"#,
        good = good.display(),
        broken = broken.display(),
    )
}

fn chromium(args: &[&str]) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .args(args)
        .output()
        .expect("chromium (scripts/install-deps.sh installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The DOM after Chromium rendered `url`, as text without the markup's tags.
fn rendered(url: &str, home: &Path) -> String {
    chromium(&[
        &format!("--user-data-dir={}", home.display()),
        "--dump-dom",
        url,
    ])
}

fn screenshot(url: &str, home: &Path, name: &str, size: &str) -> PathBuf {
    let dir = project_root().join("target/status-page");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    let _ = std::fs::remove_file(&file);
    chromium(&[
        &format!("--user-data-dir={}", home.display()),
        &format!("--screenshot={}", file.display()),
        &format!("--window-size={size}"),
        url,
    ]);
    file
}

#[tokio::test]
async fn chromium_renders_repos_references_registries_and_errors_escaped() {
    let registry = RegistryServer::start().await;
    for tag in ["1.0.0", "1.1.0"] {
        registry.push("acme/app", tag, "2024-01-01T00:00:00Z").await;
    }
    registry
        .push("acme/api", "1.0.0", "2024-01-01T00:00:00Z")
        .await;
    let addr = &registry.addr;
    let good = BareRepo::new(&[(
        "dev/app.yaml",
        &format!("app: {addr}/acme/app:1.0.0\napi: {addr}/acme/api:1.0.0\n"),
    )]);
    let dir = Dir::new();
    // A path that is no repo, whose name tries to smuggle markup into the error shown.
    let broken = dir.path().join("<script>alert(1)</script>.git");
    let port = free_port();
    dir.write(
        "laminar.yaml",
        config(port, addr, &good.bare, &broken, "public"),
    );
    let daemon = Daemon::start(dir.path(), None).await;
    let base = format!("http://127.0.0.1:{port}");
    let browser = Dir::new();

    let dom = rendered(&format!("{base}/"), browser.path());
    for expected in [
        ">manifests</a>",
        ">broken</a>",
        "updated",
        "failed",
        ">local<",
        "1.0.0 → 1.1.0",
        &format!("{addr}/acme/app"),
    ] {
        assert!(dom.contains(expected), "{expected:?} not in {dom}");
    }
    // The failing repo's error is shown in full, as text: no element came from it.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;.git"),
        "{dom}"
    );
    assert!(!dom.contains("<script>"), "{dom}");

    let dom = rendered(&format!("{base}/repos/manifests"), browser.path());
    assert!(dom.contains("dev/app.yaml:2"), "{dom}");
    assert!(dom.contains("semver:^1"), "{dom}");
    assert!(dom.contains("already the newest allowed tag"), "{dom}");
    let dom = rendered(&format!("{base}/images/{addr}/acme/app"), browser.path());
    assert!(
        dom.contains(">manifests</a>") && dom.contains("1.1.0"),
        "{dom}"
    );
    assert!(!dom.contains(">broken</a>"), "{dom}");

    for (name, size) in [("phone.png", "390,844"), ("desktop.png", "1280,900")] {
        let shot = screenshot(&format!("{base}/"), browser.path(), name, size);
        let bytes = std::fs::read(&shot).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
            "{shot:?}"
        );
    }
    drop(daemon);
}

#[tokio::test]
async fn the_page_asks_for_the_token_once_and_keeps_it_in_a_strict_cookie() {
    let registry = RegistryServer::start().await;
    registry
        .push("acme/app", "1.0.0", "2024-01-01T00:00:00Z")
        .await;
    let addr = &registry.addr;
    let good = BareRepo::new(&[("dev/app.yaml", &format!("app: {addr}/acme/app:1.0.0\n"))]);
    let dir = Dir::new();
    let port = free_port();
    let broken = dir.path().join("missing.git");
    dir.write(
        "laminar.yaml",
        config(port, addr, &good.bare, &broken, "token"),
    );
    let _daemon = Daemon::start(dir.path(), Some(TOKEN)).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // No cookie: asked for the token, nothing shown.
    let asked = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(asked.status(), 401);
    let policy = asked.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    assert_eq!(asked.headers()["x-frame-options"], "DENY");
    let text = asked.text().await.unwrap();
    assert!(
        text.contains("name=\"token\"") && !text.contains("manifests"),
        "{text}"
    );

    // A wrong token is refused.
    let wrong = client
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    // The right one: a cookie only this site's requests carry, and the page.
    let right = client
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(">manifests</a>"));
    let forged = client
        .get(format!("{base}/"))
        .header("cookie", "laminar_token=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

/// A realistic demo for the README's picture: a chain dev → staging → prod with a tag soaking,
/// a repo laminar updates, and one whose registry is down.
#[tokio::test]
async fn chromium_renders_the_glance_chains_and_timeline_of_a_realistic_demo() {
    let registry = RegistryServer::start().await;
    for (image, tag) in [
        ("acme/payments", "1.4.0"),
        ("acme/payments", "1.4.1"),
        ("acme/payments", "1.4.2"),
        ("acme/web", "2.3.0"),
        ("acme/web", "2.4.0"),
    ] {
        registry.push(image, tag, "2024-01-01T00:00:00Z").await;
    }
    let addr = &registry.addr;
    let payments = |tag: &str| format!("image: {addr}/acme/payments:{tag}\n");
    let platform = BareRepo::new(&[("README.md", "# platform\n")]);
    crate::chains::commit_at(
        &platform,
        &[
            ("envs/dev/payments.yaml", payments("1.4.0")),
            ("envs/staging/payments.yaml", payments("1.4.0")),
            ("envs/prod/payments.yaml", payments("1.4.0")),
        ],
        120,
    );
    crate::chains::commit_at(
        &platform,
        &[("envs/dev/payments.yaml", payments("1.4.1"))],
        50,
    );
    crate::chains::commit_at(
        &platform,
        &[("envs/staging/payments.yaml", payments("1.4.1"))],
        20,
    );
    let web = BareRepo::new(&[("k8s/web.yaml", &format!("image: {addr}/acme/web:2.3.0\n"))]);
    let search = BareRepo::new(&[(
        "k8s/search.yaml",
        "image: 127.0.0.1:9/mirror/search:0.9.0\n",
    )]);
    let dir = Dir::new();
    let port = free_port();
    dir.write(
        "laminar.yaml",
        format!(
            r#"global:
  dataDir: state
  listen: 127.0.0.1:{port}
  gitUser: Laminar
  gitEmail: laminar@example.org
  statusPage: public
dockerRegistries:
- reg: {addr}/acme
  name: harbor
  insecure: true
- reg: 127.0.0.1:9/mirror
  name: mirror
  insecure: true
git:
- name: platform
  url: {platform}
  branch: main
  pollFreq: 3600
  updates:
  - name: dev
    pattern: semver:^1
    files: [envs/dev/]
  - name: staging
    follow: dev
    soak: 24h
    files: [envs/staging/]
  - name: prod
    follow: staging
    soak: 24h
    files: [envs/prod/]
- name: web
  url: {web}
  branch: main
  pollFreq: 3600
  updates:
  - pattern: semver:^2
    files: [k8s/]
- name: search
  url: {search}
  branch: main
  pollFreq: 3600
  updates:
  - pattern: semver:0.x
    files: [k8s/]
"#,
            platform = platform.bare.display(),
            web = web.bare.display(),
            search = search.bare.display(),
        ),
    );
    let daemon = Daemon::start(dir.path(), None).await;
    let base = format!("http://127.0.0.1:{port}");
    let browser = Dir::new();
    daemon
        .wait_for(|| async { web.show("k8s/web.yaml").contains("2.4.0") })
        .await;
    let dom = rendered(&format!("{base}/"), browser.path());
    for expected in [
        "failing",
        ">search</a>",
        "waiting in a chain",
        "updated in the last day",
        "Promotion chains",
        "platform/dev → platform/staging → platform/prod",
        "soaking: 1.4.2 has 23 h left",
        "soaking: 1.4.1 has 3 h left",
        "<svg",
        "web: updated 1 at",
        "search: failed at",
    ] {
        assert!(dom.contains(expected), "{expected:?} not in {dom}");
    }
    let shot = screenshot(&format!("{base}/"), browser.path(), "demo.png", "1280,1300");
    let bytes = std::fs::read(&shot).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
        "{shot:?}"
    );
    drop(daemon);
}
