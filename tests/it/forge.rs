//! The forge clients against scripted GitHub, GitLab and Gitea APIs ([`crate::forge_fake`]):
//! the calls made, in order, what they leave behind, and how refusals and rate limits end.

use std::path::Path;
use std::process::Command;

use laminar::config::{Environment, PullRequest, parse};
use laminar::forge::{Forge, ForgeError, NewPullRequest, PullState};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::forge_fake::{FakeForge, FakePull, Kind};
use crate::util::Dir;

fn pull_config(url: &str, block: &str) -> PullRequest {
    let text = format!(
        "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: manifests\n  url: {url}\n  branch: main\n  pullRequest:\n{block}  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n"
    );
    let loaded = parse(Path::new("laminar.yaml"), &text, &Environment::default()).unwrap();
    loaded.config.repos[0].pull_request.clone().unwrap()
}

const BRANCH: &str = "laminar/manifests/all";

fn proposal<'a>(title: &'a str) -> NewPullRequest<'a> {
    NewPullRequest {
        branch: BRANCH,
        base: "main",
        title,
        body: "| File | Image |",
    }
}

/// An RSA key as GitHub hands App keys out (PKCS#1 PEM), and its public half.
fn app_key(dir: &Dir) -> (std::path::PathBuf, Vec<u8>) {
    let key = dir.path().join("app.pem");
    let public = dir.path().join("app.pub");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl is installed: run scripts/install-deps.sh");
        assert!(status.success());
    };
    run(&[
        "genrsa",
        "-traditional",
        "-out",
        key.to_str().unwrap(),
        "2048",
    ]);
    run(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (key, std::fs::read(public).unwrap())
}

#[tokio::test]
async fn github_pull_requests_through_an_app_installation() {
    let dir = Dir::new();
    let (key, public) = app_key(&dir);
    let github = FakeForge::github_app(&public).await;
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    appId: 12345\n    installationId: 678\n    privateKeyFile: {}\n    labels: [dependencies]\n    assignees: [bob]\n    reviewers: [alice, acme/platform]\n    autoMerge: true\n",
            github.uri(),
            key.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();

    assert_eq!(forge.find_open(BRANCH, "main").await.unwrap(), None);
    let (opened, problems) = forge
        .open(&proposal("Update app to develop-2"))
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(opened.number, 1);
    assert_eq!(opened.url, "https://github.com/acme/manifests/pull/1");
    assert_eq!(opened.created_at.as_deref(), Some("2026-11-20T10:00:00Z"));
    assert_eq!(
        github.calls(),
        [
            "POST /app/installations/678/access_tokens",
            "GET /repos/acme/manifests/pulls",
            "POST /repos/acme/manifests/pulls",
            "POST /repos/acme/manifests/issues/1/labels",
            "POST /repos/acme/manifests/issues/1/assignees",
            "POST /repos/acme/manifests/pulls/1/requested_reviewers",
            "POST /graphql",
        ]
    );
    let pull = &github.pulls()[0];
    assert_eq!((pull.head.as_str(), pull.base.as_str()), (BRANCH, "main"));
    assert_eq!(pull.labels, ["dependencies"]);
    assert_eq!(pull.assignees, ["bob"]);
    assert_eq!(pull.reviewers, ["alice", "team:platform"]);
    assert!(pull.auto_merge);

    // Found again, updated, closed with a comment: one installation token throughout.
    assert_eq!(
        forge.find_open(BRANCH, "main").await.unwrap(),
        Some(opened.clone())
    );
    forge
        .update(1, "Update app to develop-3", "new body")
        .await
        .unwrap();
    assert_eq!(forge.state(1).await.unwrap(), PullState::Open);
    forge.close(1, "nothing left to change").await.unwrap();
    assert_eq!(forge.state(1).await.unwrap(), PullState::Closed);
    let pull = &github.pulls()[0];
    assert_eq!(
        (pull.title.as_str(), pull.body.as_str()),
        ("Update app to develop-3", "new body")
    );
    assert_eq!(pull.comments, ["nothing left to change"]);
    assert_eq!(github.state.lock().unwrap().tokens_issued, 1);

    // A token revoked early is replaced once, and the call goes through.
    github.state.lock().unwrap().token = "revoked".into();
    assert_eq!(forge.state(1).await.unwrap(), PullState::Closed);
    assert_eq!(github.state.lock().unwrap().tokens_issued, 2);

    // A token about to end is replaced before it is used.
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
    {
        let mut state = github.state.lock().unwrap();
        state.token_expires_at = Some(soon.to_string());
        state.token = "revoked again".into();
    }
    forge.state(1).await.unwrap();
    forge.state(1).await.unwrap();
    assert_eq!(
        github.state.lock().unwrap().tokens_issued,
        4,
        "the second call renews"
    );
    github.state.lock().unwrap().token_expires_at = None;

    // A second request for a branch with one open is never made: the open one is used.
    github.forget_calls();
    let (again, _) = forge.open(&proposal("Update app")).await.unwrap();
    let (same, _) = forge.open(&proposal("Update app")).await.unwrap();
    assert_eq!(again, same);
    assert_eq!(github.pulls().iter().filter(|p| p.open).count(), 1);
    assert!(
        github
            .calls()
            .contains(&"GET /repos/acme/manifests/pulls".to_string())
    );
}

#[tokio::test]
async fn a_merged_pull_request_reads_as_merged_and_a_bad_app_key_is_named() {
    let github = FakeForge::start(Kind::Github, "ghp_secret").await;
    let dir = Dir::new();
    let token = dir.write("token", "ghp_secret\n");
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            github.uri(),
            token.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();
    forge.open(&proposal("t")).await.unwrap();
    github.close(1, true);
    assert_eq!(forge.state(1).await.unwrap(), PullState::Merged);

    let bad_key = dir.write(
        "bad.pem",
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
    );
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    appId: 12345\n    installationId: 678\n    privateKeyFile: {}\n",
            github.uri(),
            bad_key.display()
        ),
    );
    let err = Forge::new(&config).unwrap().state(1).await.unwrap_err();
    assert_eq!(err.metric_label(), "forge_setup");
    assert!(err.to_string().contains("not an RSA key"), "{err}");
}

#[tokio::test]
async fn refusals_say_what_the_forge_said_and_never_the_token() {
    let github = FakeForge::start(Kind::Github, "ghp_right").await;
    let dir = Dir::new();
    let wrong = dir.write("token", "ghp_wrong_and_secret");
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            github.uri(),
            wrong.display()
        ),
    );
    let err = Forge::new(&config)
        .unwrap()
        .find_open(BRANCH, "main")
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "forge_auth");
    let text = err.to_string();
    assert!(
        text.contains("Bad credentials") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("ghp_wrong_and_secret"), "{text}");

    let right = dir.write("right", "ghp_right");
    let elsewhere = pull_config(
        "git@github.com:acme/other.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            github.uri(),
            right.display()
        ),
    );
    let err = Forge::new(&elsewhere).unwrap().state(3).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("is the project right"), "{err}");

    // A token without the permission: GitHub's 403, not a rate limit.
    let forbidding = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        })))
        .mount(&forbidding)
        .await;
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            forbidding.uri(),
            right.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();
    let err = forge.open(&proposal("t")).await.unwrap_err();
    assert_eq!(err.metric_label(), "forge_auth");
    assert!(
        err.to_string().contains("HTTP 403") && err.to_string().contains("not accessible"),
        "{err}"
    );
    forge.state(1).await.unwrap_err();
    assert_eq!(
        forbidding.received_requests().await.unwrap().len(),
        2,
        "no pause after a refusal"
    );

    // 422 for another reason than an open request is a refusal, with GitHub's words.
    let refusing = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and laminar/manifests/all"}],
        })))
        .mount(&refusing)
        .await;
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            refusing.uri(),
            right.display()
        ),
    );
    let err = Forge::new(&config)
        .unwrap()
        .open(&proposal("t"))
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "forge_refused");
    assert!(err.to_string().contains("No commits between"), "{err}");
}

#[tokio::test]
async fn a_rate_limit_pauses_every_call_until_the_time_it_names() {
    let limited = MockServer::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(serde_json::json!({"message": "API rate limit exceeded for installation ID 678."})),
        )
        .mount(&limited)
        .await;
    let dir = Dir::new();
    let token = dir.write("token", "t");
    let config = pull_config(
        "git@github.com:acme/manifests.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            limited.uri(),
            token.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();
    let first = forge.find_open(BRANCH, "main").await.unwrap_err();
    assert_eq!(first.metric_label(), "forge_rate_limited");
    let second = forge.state(1).await.unwrap_err();
    assert_eq!(second.metric_label(), "forge_rate_limited");
    assert_eq!(first.to_string(), second.to_string());
    assert_eq!(
        limited.received_requests().await.unwrap().len(),
        1,
        "the second call waits"
    );

    // GitLab's 429 with Retry-After.
    let gitlab = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&gitlab)
        .await;
    let config = pull_config(
        "https://gitlab.com/group/sub/deploy.git",
        &format!(
            "    apiUrl: {}\n    tokenFile: {}\n",
            gitlab.uri(),
            token.display()
        ),
    );
    let err = Forge::new(&config).unwrap().state(1).await.unwrap_err();
    assert!(matches!(err, ForgeError::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn gitlab_merge_requests_by_path_with_users_looked_up() {
    let gitlab = FakeForge::start(Kind::Gitlab, "glpat-secret").await;
    let dir = Dir::new();
    let token = dir.write("token", "glpat-secret");
    let config = pull_config(
        "https://gitlab.example.com/group/sub/deploy.git",
        &format!(
            "    provider: gitlab\n    apiUrl: {}/api/v4\n    tokenFile: {}\n    labels: [dependencies, images]\n    assignees: [bob]\n    reviewers: [alice, ghost]\n    draft: true\n    autoMerge: true\n",
            gitlab.uri(),
            token.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();
    assert_eq!(forge.find_open(BRANCH, "main").await.unwrap(), None);
    let (opened, problems) = forge.open(&proposal("Update app")).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].to_string().contains("no user named \"ghost\""),
        "{problems:?}"
    );
    assert_eq!(opened.number, 1);
    assert!(
        opened.url.ends_with("/group/sub/deploy/-/merge_requests/1"),
        "{}",
        opened.url
    );
    let request = &gitlab.pulls()[0];
    assert_eq!(request.title, "Draft: Update app");
    assert_eq!(request.labels, ["dependencies", "images"]);
    assert_eq!(request.assignees, ["12"]);
    assert_eq!(request.reviewers, ["11"]);
    assert!(request.auto_merge);
    assert_eq!(
        gitlab.calls(),
        [
            "GET /api/v4/projects/group%2Fsub%2Fdeploy/merge_requests",
            "GET /api/v4/users",
            "GET /api/v4/users",
            "GET /api/v4/users",
            "POST /api/v4/projects/group%2Fsub%2Fdeploy/merge_requests",
            "PUT /api/v4/projects/group%2Fsub%2Fdeploy/merge_requests/1/merge",
        ]
    );
    // An open request for the branch is adopted, not doubled (GitLab answers 409).
    let (again, _) = forge.open(&proposal("Update app")).await.unwrap();
    assert_eq!(again, opened);
    assert_eq!(gitlab.pulls().len(), 1);

    forge
        .update(1, "Update app to develop-3", "b")
        .await
        .unwrap();
    assert_eq!(gitlab.pulls()[0].title, "Draft: Update app to develop-3");
    forge.close(1, "nothing left").await.unwrap();
    assert_eq!(gitlab.pulls()[0].comments, ["nothing left"]);
    assert_eq!(forge.state(1).await.unwrap(), PullState::Closed);
}

#[tokio::test]
async fn gitea_pull_requests_found_across_pages_with_labels_by_id() {
    let gitea = FakeForge::start(Kind::Gitea, "gitea-secret").await;
    // Sixty other open pull requests: laminar's is on the second page.
    gitea.state.lock().unwrap().pulls = (1..=60)
        .map(|n| FakePull {
            number: n,
            head: format!("feature-{n}"),
            base: "main".into(),
            open: true,
            ..FakePull::default()
        })
        .collect();
    let dir = Dir::new();
    let token = dir.write("token", "gitea-secret");
    let config = pull_config(
        "file:///srv/manifests.git",
        &format!(
            "    provider: forgejo\n    apiUrl: {}/api/v1\n    project: ops/manifests\n    tokenFile: {}\n    labels: [dependencies, missing]\n    reviewers: [alice]\n    assignees: [bob]\n    autoMerge: true\n",
            gitea.uri(),
            token.display()
        ),
    );
    let forge = Forge::new(&config).unwrap();
    assert_eq!(forge.find_open(BRANCH, "main").await.unwrap(), None);
    let (opened, problems) = forge.open(&proposal("Update app")).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .to_string()
            .contains("no label named \"missing\"")
    );
    assert_eq!(opened.number, 61);
    let pull = gitea.pulls().pop().unwrap();
    assert_eq!(pull.labels, ["7"]);
    assert_eq!(pull.assignees, ["bob"]);
    assert_eq!(pull.reviewers, ["alice"]);
    assert!(pull.auto_merge);
    gitea.forget_calls();
    assert_eq!(forge.find_open(BRANCH, "main").await.unwrap(), Some(opened));
    assert_eq!(
        gitea.calls(),
        [
            "GET /api/v1/repos/ops/manifests/pulls",
            "GET /api/v1/repos/ops/manifests/pulls",
        ],
        "read page by page until found"
    );
    forge
        .update(61, "Update app to develop-3", "b")
        .await
        .unwrap();
    forge.close(61, "nothing left").await.unwrap();
    let pull = gitea.pulls().pop().unwrap();
    assert_eq!(pull.title, "Update app to develop-3");
    assert_eq!(pull.comments, ["nothing left"]);
    assert_eq!(forge.state(61).await.unwrap(), PullState::Closed);
}
