//! How changes are delivered and announced: signing, notifications, pull requests, webhooks,
//! the HTTP surface.

use super::*;

#[test]
fn signing_is_per_repo_or_global_and_its_key_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing");
    std::fs::write(&key, "key").unwrap();
    let global = format!(
        "global:\n  signing:\n    format: openpgp\n    keyFile: {}\n    passphraseEnv: GPG_PASSPHRASE\n{MINIMAL}",
        key.display()
    );
    let config = ok(&global).config;
    assert_eq!(
        config.repos[0].signing,
        Some(Signing {
            format: SigningFormat::OpenPgp,
            key_file: key.clone(),
            passphrase: Some(SecretSource::Env("GPG_PASSPHRASE".into())),
        })
    );
    let own = format!(
        "{global}  signing:\n    format: ssh\n    keyFile: {}\n",
        key.display()
    );
    assert_eq!(
        ok(&own).config.repos[0].signing.as_ref().unwrap().format,
        SigningFormat::Ssh,
        "a repo's own signing wins"
    );
    let unknown = errors(&format!(
        "{MINIMAL}  signing:\n    format: x509\n    keyFile: {}\n",
        key.display()
    ));
    assert!(
        unknown.contains("unknown signing format \"x509\""),
        "{unknown}"
    );
    // A key that is not on this machine (a config checked elsewhere) is a located warning.
    let missing = ok(&format!(
        "{MINIMAL}  signing:\n    format: ssh\n    keyFile: /no/such/key\n"
    ))
    .warnings
    .map(|w| w.to_string())
    .unwrap_or_default();
    assert!(
        missing.starts_with("laminar.yaml:") && missing.contains("/no/such/key"),
        "{missing}"
    );
}

#[test]
fn notifications_are_checked_where_they_are_written() {
    let with = |entry: &str| format!("{MINIMAL}notifications:\n{entry}");
    let config = ok(&with(
        "- name: team-chat\n  kind: slack\n  urlEnv: SLACK_WEBHOOK_URL\n  events: [failed, recovered]\n  repos: [manifests]\n",
    ))
    .config;
    assert_eq!(
        config.notifications,
        [Notification {
            name: "team-chat".into(),
            kind: NotificationKind::Slack,
            url: SecretSource::Env("SLACK_WEBHOOK_URL".into()),
            secret: None,
            repos: Some(vec!["manifests".into()]),
            events: vec![EventKind::Failed, EventKind::Recovered],
        }]
    );
    let all = ok(&with(
        "- name: ci\n  kind: webhook\n  url: https://ci.example/hook\n  secretEnv: HOOK_KEY\n",
    ))
    .config;
    assert_eq!(all.notifications[0].events, EventKind::ALL);
    for (entry, expected) in [
        (
            "- name: a\n  kind: pager\n  urlEnv: HOOK_URL\n",
            "unknown notification kind \"pager\"",
        ),
        (
            "- name: a\n  kind: slack\n",
            "give exactly one of url, urlEnv and urlFile",
        ),
        (
            "- name: a\n  kind: webhook\n  urlEnv: HOOK_URL\n",
            "a webhook notification is signed",
        ),
        (
            "- name: a\n  kind: slack\n  urlEnv: HOOK_URL\n  repos: [nope]\n",
            "no repo named \"nope\"",
        ),
        (
            "- name: a\n  kind: slack\n  urlEnv: HOOK_URL\n  events: [deployed]\n",
            "unknown event \"deployed\"",
        ),
        (
            "- name: a\n  kind: slack\n  url: ftp://x\n",
            "url must be an http:// or https:// URL",
        ),
        (
            "- name: a\n  kind: slack\n  urlEnv: HOOK_URL\n- name: a\n  kind: teams\n  urlEnv: TEAMS_URL\n",
            "duplicate notification name \"a\"",
        ),
    ] {
        let error = errors(&with(entry));
        assert!(
            error.starts_with("laminar.yaml:") && error.contains(expected),
            "{entry}: {error}"
        );
    }
    // An inline URL is a secret too: it never shows in debug output.
    let inline = ok(&with(
        "- name: a\n  kind: discord\n  url: https://discord.example/api/webhooks/1/s3cret\n",
    ))
    .config;
    assert!(!format!("{:?}", inline.notifications).contains("s3cret"));
}

fn with_pull_request(url: &str, block: &str) -> String {
    MINIMAL.replace("file:///srv/manifests.git", url).replace(
        "  updates:\n",
        &format!("  pullRequest:\n{block}  updates:\n"),
    )
}

#[test]
fn pull_requests_take_forge_and_project_from_the_git_url() {
    let config = ok(&with_pull_request(
        "git@github.com:acme/manifests.git",
        "    tokenEnv: GITHUB_TOKEN\n    labels: [dependencies]\n    autoMerge: true\n",
    ))
    .config;
    let pull = config.repos[0].pull_request.clone().unwrap();
    assert_eq!(pull.provider, Provider::Github);
    assert_eq!(pull.api_url, "https://api.github.com");
    assert_eq!(pull.project, "acme/manifests");
    assert_eq!(
        pull.auth,
        ForgeAuth::Token(SecretSource::Env("GITHUB_TOKEN".into()))
    );
    assert_eq!(pull.branch, "laminar/{repo}/{group}");
    assert_eq!(pull.group_by, GroupBy::Repo);
    assert_eq!(pull.labels, ["dependencies"]);
    assert!(pull.auto_merge && !pull.draft);

    let enterprise = ok(&with_pull_request(
        "ssh://git@ghe.example.com:2222/platform/deploy.git",
        "    provider: github\n    appId: 12345\n    installationId: 678\n    privateKeyFile: /etc/laminar/app.pem\n    groupBy: image\n",
    ))
    .config;
    let pull = enterprise.repos[0].pull_request.clone().unwrap();
    assert_eq!(pull.api_url, "https://ghe.example.com/api/v3");
    assert_eq!(pull.project, "platform/deploy");
    assert_eq!(
        pull.auth,
        ForgeAuth::GithubApp {
            app_id: 12345,
            installation_id: 678,
            private_key_file: PathBuf::from("/etc/laminar/app.pem"),
        }
    );

    let gitlab = ok(&with_pull_request(
        "https://gitlab.example.com/group/sub/deploy.git",
        "    provider: gitlab\n    tokenFile: /run/secrets/gitlab\n",
    ))
    .config;
    let pull = gitlab.repos[0].pull_request.clone().unwrap();
    assert_eq!(pull.api_url, "https://gitlab.example.com/api/v4");
    assert_eq!(pull.project, "group/sub/deploy");

    let forgejo = ok(&with_pull_request(
        "file:///srv/manifests.git",
        "    provider: forgejo\n    apiUrl: https://code.example.org/api/v1/\n    project: ops/manifests\n    tokenEnv: T\n",
    ))
    .config;
    let pull = forgejo.repos[0].pull_request.clone().unwrap();
    assert_eq!(pull.provider, Provider::Gitea);
    assert_eq!(pull.api_url, "https://code.example.org/api/v1");
}

#[test]
fn pull_request_mistakes_are_located() {
    let local = errors(&with_pull_request(
        "file:///srv/manifests.git",
        "    provider: gitea\n    tokenEnv: T\n",
    ));
    assert!(local.contains("give apiUrl"), "{local}");
    let unknown_host = errors(&with_pull_request(
        "git@git.example.org:a/b.git",
        "    tokenEnv: T\n",
    ));
    assert!(unknown_host.contains("give provider"), "{unknown_host}");
    let no_auth = errors(&with_pull_request(
        "git@github.com:a/b.git",
        "    draft: true\n",
    ));
    assert!(no_auth.contains("give tokenEnv or tokenFile"), "{no_auth}");
    let app_elsewhere = errors(&with_pull_request(
        "git@gitlab.com:a/b.git",
        "    appId: 1\n    installationId: 2\n    privateKeyFile: /k.pem\n",
    ));
    assert!(
        app_elsewhere.contains("for provider github"),
        "{app_elsewhere}"
    );
    let shared_branch = errors(&with_pull_request(
        "git@github.com:a/b.git",
        "    tokenEnv: T\n    groupBy: rule\n    branch: laminar/updates\n",
    ));
    assert!(
        shared_branch.contains("must contain {group}"),
        "{shared_branch}"
    );
    assert!(shared_branch.contains("laminar.yaml:"), "{shared_branch}");
    let bad_branch = errors(&with_pull_request(
        "git@github.com:a/b.git",
        "    tokenEnv: T\n    branch: \"laminar..{group}\"\n",
    ));
    assert!(bad_branch.contains("valid branch name"), "{bad_branch}");
    let bad_project = errors(&with_pull_request(
        "git@github.com:a/b.git",
        "    tokenEnv: T\n    project: \"../etc\"\n",
    ));
    assert!(bad_project.contains("invalid project"), "{bad_project}");
    let typo = errors(&with_pull_request(
        "git@github.com:a/b.git",
        "    tokenEnv: T\n    reviewer: [alice]\n",
    ));
    assert!(typo.contains("did you mean \"reviewers\""), "{typo}");
}

#[test]
fn webhooks_are_named_kinds_with_a_secret() {
    let config = ok(&format!(
        "{MINIMAL}webhooks:\n- name: registry\n  kind: distribution\n  secretEnv: HOOK\n  host: Registry.Example.com:5000\n- name: pushes\n  kind: ecr\n  secretFile: /run/hook\n  snsEndpoint: https://vpce-1.sns.eu-west-1.vpce.amazonaws.com/\n"
    ))
    .config;
    assert_eq!(
        config.webhooks[0],
        Webhook {
            name: "registry".into(),
            kind: WebhookKind::Distribution,
            secret: SecretSource::Env("HOOK".into()),
            host: Some("registry.example.com:5000".into()),
            sns_endpoint: None,
        }
    );
    assert_eq!(
        config.webhooks[1].sns_endpoint.as_deref(),
        Some("https://vpce-1.sns.eu-west-1.vpce.amazonaws.com")
    );
    let unknown = errors(&format!(
        "{MINIMAL}webhooks:\n- name: r\n  kind: acr\n  secretEnv: H\n"
    ));
    assert!(
        unknown.contains("unknown webhook kind \"acr\""),
        "{unknown}"
    );
    let open = errors(&format!(
        "{MINIMAL}webhooks:\n- name: r\n  kind: dockerhub\n"
    ));
    assert!(open.contains("give secretEnv or secretFile"), "{open}");
    let twice = errors(&format!(
        "{MINIMAL}webhooks:\n- name: r\n  kind: quay\n  secretEnv: H\n- name: r\n  kind: harbor\n  secretEnv: H\n"
    ));
    assert!(twice.contains("duplicate"), "{twice}");
    let sns_elsewhere = errors(&format!(
        "{MINIMAL}webhooks:\n- name: r\n  kind: github\n  secretEnv: H\n  snsEndpoint: https://x\n"
    ));
    assert!(
        sns_elsewhere.contains("snsEndpoint is for kind ecr"),
        "{sns_elsewhere}"
    );
    let path = errors(&format!(
        "{MINIMAL}webhooks:\n- name: ../x\n  kind: generic\n  secretEnv: H\n"
    ));
    assert!(path.contains("invalid repo name"), "{path}");
}

#[test]
fn the_http_surface_is_bounded_and_guarded_as_configured() {
    let defaults = ok(MINIMAL).config.global;
    assert_eq!(defaults.http, HttpLimits::default());
    assert_eq!(defaults.metrics_auth, MetricsAuth::Public);
    assert_eq!(defaults.max_holds, 1000);
    let global = ok(&format!(
        "global:\n  httpHeaderTimeout: 3s\n  httpMaxConnections: 64\n  metricsAuth: token\n  \
         trustedProxies: [10.0.0.0/8, \"::1\"]\n  maxHolds: 50\n  statusPage: public\n{MINIMAL}"
    ))
    .config
    .global;
    assert_eq!(global.http.header_timeout, Duration::from_secs(3));
    assert_eq!(global.http.max_connections, 64);
    assert_eq!(global.metrics_auth, MetricsAuth::Token);
    assert_eq!(global.status_page, StatusPage::Public);
    assert_eq!(global.max_holds, 50);
    assert!(global.trusted_proxies[0].contains("10.200.0.1".parse().unwrap()));
    assert!(!global.trusted_proxies[0].contains("11.0.0.1".parse().unwrap()));
    assert!(global.trusted_proxies[1].contains("::1".parse().unwrap()));
    let bad = errors(&format!(
        "global:\n  metricsAuth: secret\n  trustedProxies: [10.0.0.0/33]\n  statusPage: maybe\n{MINIMAL}"
    ));
    assert!(
        bad.contains(
            "laminar.yaml:2:16: unknown metricsAuth \"secret\": expected one of public, token"
        ),
        "{bad}"
    );
    assert!(bad.contains("invalid proxy \"10.0.0.0/33\""), "{bad}");
    assert!(
        bad.contains("unknown statusPage \"maybe\": expected one of token, public, off"),
        "{bad}"
    );
}
