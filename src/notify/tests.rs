use super::message::body;
use super::*;
use crate::config::NotificationKind;

fn event(kind: EventKind) -> Event {
    Event {
        kind,
        repo: "manifests".into(),
        branch: "main".into(),
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        link: Some("https://github.com/acme/manifests/commit/0123456789abcdef".into()),
        changes: vec![ChangeNote {
            file: "dev/app.yaml".into(),
            line: 3,
            image: "reg.io/acme/app".into(),
            old: "develop-1".into(),
            new: "develop-2".into(),
        }],
        error: None,
        pull_requests: Vec::new(),
    }
}

#[test]
fn commit_links_come_from_forge_urls_only() {
    let link = |url| commit_link(url, "abc");
    assert_eq!(
        link("git@github.com:acme/manifests.git").as_deref(),
        Some("https://github.com/acme/manifests/commit/abc")
    );
    assert_eq!(
        link("ssh://git@gitlab.example:2222/group/sub/repo.git").as_deref(),
        Some("https://gitlab.example/group/sub/repo/commit/abc")
    );
    assert_eq!(
        link("https://bot:token@gitea.example/acme/manifests").as_deref(),
        Some("https://gitea.example/acme/manifests/commit/abc")
    );
    assert_eq!(link("file:///srv/manifests.git"), None);
    assert_eq!(link("/srv/manifests.git"), None);
    assert_eq!(link("git@evil.example:a/b\"><script>"), None);
}

#[test]
fn hostile_text_cannot_break_out_of_the_markup_or_mention_anyone() {
    let mut hostile = event(EventKind::Failed);
    hostile.error = Some("<!channel> @everyone `rm` <https://evil|click> & more".into());
    let slack = body(NotificationKind::Slack, &hostile);
    assert!(!slack.contains("<!channel>"), "{slack}");
    assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
    assert!(!slack.contains("<https://evil"), "{slack}");
    let discord: serde_json::Value =
        serde_json::from_str(&body(NotificationKind::Discord, &hostile)).unwrap();
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    let text = discord["content"].as_str().unwrap();
    assert!(text.contains("`<!channel> @everyone 'rm'"), "{text}");
    let long = Event {
        error: Some("x".repeat(10_000)),
        ..hostile
    };
    let content =
        serde_json::from_str::<serde_json::Value>(&body(NotificationKind::Discord, &long)).unwrap()
            ["content"]
            .as_str()
            .unwrap()
            .chars()
            .count();
    assert!(content <= 2000, "{content}");
}

#[test]
fn each_kind_gets_its_own_shape() {
    let updated = event(EventKind::Updated);
    let slack: serde_json::Value =
        serde_json::from_str(&body(NotificationKind::Slack, &updated)).unwrap();
    assert_eq!(
        slack["text"],
        "laminar updated 1 image reference in `manifests (main)`"
    );
    assert_eq!(
        slack["blocks"][1]["text"]["text"],
        "• `dev/app.yaml:3`: `reg.io/acme/app` `develop-1` → `develop-2`"
    );
    assert_eq!(
        slack["blocks"][2]["elements"][0]["text"],
        "<https://github.com/acme/manifests/commit/0123456789abcdef|0123456789ab>"
    );
    let teams: serde_json::Value =
        serde_json::from_str(&body(NotificationKind::Teams, &updated)).unwrap();
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        teams["attachments"][0]["content"]["actions"][0]["url"],
        "https://github.com/acme/manifests/commit/0123456789abcdef"
    );
    let webhook: serde_json::Value =
        serde_json::from_str(&body(NotificationKind::Webhook, &updated)).unwrap();
    assert_eq!(webhook["event"], "updated");
    assert_eq!(webhook["time"], "2023-11-14T22:13:20Z");
    assert_eq!(webhook["changes"][0]["new"], "develop-2");
}

#[test]
fn signatures_cover_the_timestamp_and_the_body() {
    // HMAC-SHA256("key", "1700000000.{}"), as `openssl dgst -sha256 -hmac key` computes it.
    let signed = message::signature(b"key", 1_700_000_000, "{}");
    assert_eq!(
        signed,
        "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
    );
    assert_ne!(signed, message::signature(b"key", 1_700_000_001, "{}"));
    assert_ne!(signed, message::signature(b"key", 1_700_000_000, "{ }"));
    assert_ne!(signed, message::signature(b"other", 1_700_000_000, "{}"));
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_up_nothing_and_overflow_is_counted() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let target = Notification {
        name: "stuck".into(),
        kind: NotificationKind::Slack,
        url: crate::secret::SecretSource::Inline(crate::secret::Secret::new(url)),
        secret: None,
        repos: None,
        events: EventKind::ALL.to_vec(),
    };
    let metrics = Arc::new(Metrics::new(Default::default(), None));
    let notifier = Notifier::start(&[target], metrics.clone());
    for _ in 0..150 {
        notifier.publish(&event(EventKind::Updated));
    }
    let rendered = metrics.render();
    let dropped: u64 = rendered
        .lines()
        .find(|l| {
            l.starts_with("laminar_notifications_total{notification=\"stuck\",result=\"dropped\"}")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    // The queue holds 100; the delivery task may have taken one.
    assert!((49..=50).contains(&dropped), "{rendered}");
    held.abort();
}

#[test]
fn targets_get_only_the_events_and_repos_they_ask_for() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let target = |name: &str, events: Vec<EventKind>, repos: Option<Vec<String>>| Notification {
        name: name.into(),
        kind: NotificationKind::Webhook,
        url: crate::secret::SecretSource::Inline(crate::secret::Secret::new("http://127.0.0.1:9/")),
        secret: None,
        repos,
        events,
    };
    let metrics = Arc::new(Metrics::new(Default::default(), None));
    let notifier = Notifier::start(
        &[
            target("failures", vec![EventKind::Failed], None),
            target(
                "other-repo",
                EventKind::ALL.to_vec(),
                Some(vec!["other".into()]),
            ),
        ],
        metrics,
    );
    let queued = |name: &str| {
        let (_, queue) = notifier
            .targets
            .iter()
            .find(|(t, _)| t.name == name)
            .unwrap();
        QUEUE - queue.capacity()
    };
    notifier.publish(&event(EventKind::Updated));
    notifier.publish(&event(EventKind::Failed));
    assert_eq!(queued("failures"), 1);
    assert_eq!(queued("other-repo"), 0);
}

#[test]
fn proposals_link_their_pull_requests() {
    let mut proposed = event(EventKind::Updated);
    proposed.commit = None;
    proposed.link = Some("https://github.com/acme/manifests/pull/7".into());
    proposed.pull_requests = vec![(
        "laminar/manifests/all".into(),
        crate::forge::PullRequestRef {
            number: 7,
            url: "https://github.com/acme/manifests/pull/7".into(),
            created_at: None,
        },
    )];
    let slack = body(NotificationKind::Slack, &proposed);
    assert!(
        slack.contains("laminar proposed 1 image reference change"),
        "{slack}"
    );
    assert!(
        slack.contains("<https://github.com/acme/manifests/pull/7|#7>"),
        "{slack}"
    );
    let teams = body(NotificationKind::Teams, &proposed);
    assert!(teams.contains("\"title\":\"Pull request\""), "{teams}");
    let hook: serde_json::Value =
        serde_json::from_str(&body(NotificationKind::Webhook, &proposed)).unwrap();
    assert_eq!(hook["pull_requests"][0]["number"], 7);
    assert_eq!(hook["pull_requests"][0]["branch"], "laminar/manifests/all");
    assert_eq!(hook["link"], "https://github.com/acme/manifests/pull/7");
}
