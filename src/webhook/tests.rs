use std::time::UNIX_EPOCH;

use reqwest::header::{HeaderMap, HeaderValue};

use super::auth::{Seen, authenticate};
use super::*;
use crate::secret::Secret;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn sign(key: &str, parts: &[&[u8]]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn pushes(kind: WebhookKind, headers: &HeaderMap, body: &str) -> Vec<(String, Option<String>)> {
    match parse::parse(kind, headers, body.as_bytes(), None).unwrap() {
        Parsed::Pushes(p) => p.into_iter().map(|p| (p.image, p.tag)).collect(),
        other => panic!("{other:?}"),
    }
}

fn one(image: &str, tag: &str) -> Vec<(String, Option<String>)> {
    vec![(image.to_string(), Some(tag.to_string()))]
}

#[test]
fn token_senders_may_use_a_bearer_basic_a_raw_header_or_the_query() {
    let secret = Secret::new("s3cret");
    let seen = Seen::default();
    let now = SystemTime::now();
    let check = |h: &HeaderMap, q: Option<&str>| {
        authenticate(
            WebhookKind::Distribution,
            &secret,
            &auth::Request {
                headers: h,
                query: q,
                body: b"{}",
            },
            &seen,
            now,
        )
    };
    assert_eq!(
        check(&headers(&[("authorization", "Bearer s3cret")]), None),
        Ok(())
    );
    // Harbor sends its auth header as configured.
    assert_eq!(
        check(&headers(&[("authorization", "s3cret")]), None),
        Ok(())
    );
    // EventBridge API destinations and SNS URLs with credentials use basic auth.
    assert_eq!(
        check(
            &headers(&[("authorization", "Basic YXdzOnMzY3JldA==")]),
            None
        ),
        Ok(())
    );
    assert_eq!(check(&HeaderMap::new(), Some("token=s3cret")), Ok(()));
    assert_eq!(
        check(&HeaderMap::new(), Some("a=b&token=s3cre")),
        Err(Rejection::BadCredentials)
    );
    assert_eq!(
        check(&headers(&[("authorization", "Bearer s3cre")]), None),
        Err(Rejection::BadCredentials)
    );
    assert_eq!(
        check(&HeaderMap::new(), None),
        Err(Rejection::MissingCredentials)
    );
}

#[test]
fn github_signs_the_body_and_a_delivery_counts_once() {
    let secret = Secret::new("key");
    let seen = Seen::default();
    let body = br#"{"action":"published"}"#;
    let good = headers(&[
        ("x-hub-signature-256", &sign("key", &[body])),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    let check = |h: &HeaderMap, b: &[u8]| {
        authenticate(
            WebhookKind::Github,
            &secret,
            &auth::Request {
                headers: h,
                query: None,
                body: b,
            },
            &seen,
            SystemTime::now(),
        )
    };
    assert_eq!(check(&good, body), Ok(()));
    assert_eq!(check(&good, body), Err(Rejection::Replayed));
    let tampered = br#"{"action":"published "}"#;
    let fresh = headers(&[("x-hub-signature-256", &sign("key", &[body]))]);
    assert_eq!(check(&fresh, tampered), Err(Rejection::BadSignature));
    let wrong_key = headers(&[("x-hub-signature-256", &sign("other", &[body]))]);
    assert_eq!(check(&wrong_key, body), Err(Rejection::BadSignature));
    assert_eq!(
        check(&headers(&[("x-hub-signature-256", "sha256=zz")]), body),
        Err(Rejection::BadSignature)
    );
    // A token is not enough for GitHub.
    assert_eq!(
        check(&headers(&[("authorization", "Bearer key")]), body),
        Err(Rejection::MissingCredentials)
    );
}

#[test]
fn a_github_replay_is_refused_whatever_its_delivery_header_says() {
    let secret = Secret::new("key");
    let seen = Seen::default();
    let body = br#"{"action":"published","package":{"name":"app"}}"#;
    let signature = sign("key", &[body]);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let check = |pairs: &[(&'static str, &str)], at: SystemTime| {
        authenticate(
            WebhookKind::Github,
            &secret,
            &auth::Request {
                headers: &headers(pairs),
                query: None,
                body,
            },
            &seen,
            at,
        )
    };
    let first = [
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ];
    assert_eq!(check(&first, now), Ok(()));
    let other_delivery = [
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", "00000000-0000-0000-0000-000000000000"),
    ];
    assert_eq!(check(&other_delivery, now), Err(Rejection::Replayed));
    let no_delivery = [("x-hub-signature-256", signature.as_str())];
    let an_hour_later = now + Duration::from_secs(3600);
    assert_eq!(check(&no_delivery, an_hour_later), Err(Rejection::Replayed));
    let upper = format!("sha256={}", signature["sha256=".len()..].to_uppercase());
    let upper_case = [("x-hub-signature-256", upper.as_str())];
    assert_eq!(check(&upper_case, an_hour_later), Err(Rejection::Replayed));
    // The memory is bounded in time: a day on, the same body counts again.
    let next_day = now + auth::GITHUB_REPLAY_WINDOW + Duration::from_secs(1);
    assert_eq!(check(&no_delivery, next_day), Ok(()));
}

#[test]
fn a_generic_signature_resent_in_other_letters_is_a_replay() {
    let secret = Secret::new("key");
    let seen = Seen::default();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let body = br#"{"image":"reg.io/acme/app","tag":"1.2.3"}"#;
    let stamp = (1_800_000_000u64 - 5).to_string();
    let signature = sign("key", &[stamp.as_bytes(), b".", body]);
    let hex = &signature["sha256=".len()..];
    let mut one_flipped = hex.to_string();
    let letter = one_flipped.find(|c: char| c.is_ascii_lowercase()).unwrap();
    one_flipped.replace_range(letter..=letter, &hex[letter..=letter].to_uppercase());
    let check = |signature: &str| {
        let h = headers(&[
            ("x-laminar-timestamp", &stamp),
            ("x-laminar-signature", signature),
        ]);
        authenticate(
            WebhookKind::Generic,
            &secret,
            &auth::Request {
                headers: &h,
                query: None,
                body,
            },
            &seen,
            now,
        )
    };
    assert_eq!(check(&signature), Ok(()));
    assert_eq!(
        check(&format!("sha256={}", hex.to_uppercase())),
        Err(Rejection::Replayed)
    );
    assert_eq!(
        check(&format!("sha256={one_flipped}")),
        Err(Rejection::Replayed)
    );
}

#[test]
fn generic_events_sign_a_timestamp_too_old_ones_and_replays_are_refused() {
    let secret = Secret::new("key");
    let seen = Seen::default();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let body = br#"{"image":"reg.io/acme/app","tag":"1.2.3"}"#;
    let signed = |at: u64| {
        let stamp = at.to_string();
        headers(&[
            ("x-laminar-timestamp", &stamp),
            (
                "x-laminar-signature",
                &sign("key", &[stamp.as_bytes(), b".", body]),
            ),
        ])
    };
    let check = |h: &HeaderMap| {
        authenticate(
            WebhookKind::Generic,
            &secret,
            &auth::Request {
                headers: h,
                query: None,
                body,
            },
            &seen,
            now,
        )
    };
    assert_eq!(check(&signed(1_800_000_000 - 10)), Ok(()));
    assert_eq!(check(&signed(1_800_000_000 - 10)), Err(Rejection::Replayed));
    assert_eq!(check(&signed(1_800_000_000 - 301)), Err(Rejection::Stale));
    assert_eq!(check(&signed(1_800_000_000 + 301)), Err(Rejection::Stale));
    // The signature covers the timestamp: moving it breaks the signature.
    let mut moved = signed(1_800_000_000 - 20);
    moved.insert(
        "x-laminar-timestamp",
        HeaderValue::from_static("1799999990"),
    );
    assert_eq!(check(&moved), Err(Rejection::BadSignature));
}

#[test]
fn each_sender_is_read_as_it_documents_its_payload() {
    let none = HeaderMap::new();
    let distribution = r#"{"events":[
        {"id":"1","timestamp":"2026-11-22T10:00:00Z","action":"push",
         "target":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:aa","repository":"acme/app"},
         "request":{"id":"r","addr":"10.0.0.1:1234","host":"reg.example:5000","method":"PUT"}},
        {"id":"2","action":"push",
         "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","repository":"acme/app","tag":"1.2.3"},
         "request":{"host":"reg.example:5000","method":"PUT"}},
        {"id":"3","action":"pull","target":{"repository":"acme/app","tag":"1.2.3"},"request":{"host":"reg.example:5000"}}
    ]}"#;
    assert_eq!(
        pushes(WebhookKind::Distribution, &none, distribution),
        one("reg.example:5000/acme/app", "1.2.3")
    );

    let hub = r#"{"callback_url":"https://registry.hub.docker.com/u/acme/app/hook/x/",
        "push_data":{"pushed_at":1417566161,"pusher":"trustedbuilder","tag":"1.2.3"},
        "repository":{"repo_name":"acme/app","name":"app","namespace":"acme","status":"Active"}}"#;
    assert_eq!(
        pushes(WebhookKind::Dockerhub, &none, hub),
        one("docker.io/acme/app", "1.2.3")
    );
    let official = hub.replace("\"acme/app\"", "\"nginx\"");
    assert_eq!(
        pushes(WebhookKind::Dockerhub, &none, &official),
        one("docker.io/library/nginx", "1.2.3")
    );

    let github = r#"{"action":"published","package":{"id":1,"name":"app","namespace":"Acme",
        "package_type":"CONTAINER","owner":{"login":"Acme"},
        "package_version":{"id":2,"version":"sha256:cc","container_metadata":{"tag":{"name":"1.2.3","digest":"sha256:cc"}}},
        "registry":{"about_url":"https://docs.github.com","name":"GitHub CONTAINER registry","type":"CONTAINER","url":"https://ghcr.io/acme","vendor":"GitHub Inc"}}}"#;
    let event = headers(&[("x-github-event", "package")]);
    assert_eq!(
        pushes(WebhookKind::Github, &event, github),
        one("ghcr.io/acme/app", "1.2.3")
    );
    let ping = headers(&[("x-github-event", "ping")]);
    assert_eq!(
        parse::parse(WebhookKind::Github, &ping, b"{\"zen\":\"x\"}", None),
        Ok(Parsed::Ping)
    );
    let npm = github.replace("CONTAINER\",\"owner", "npm\",\"owner");
    assert_eq!(pushes(WebhookKind::Github, &event, &npm), vec![]);

    let quay = r#"{"repository":"acme/app","namespace":"acme","name":"app","docker_url":"quay.io/acme/app",
        "homepage":"https://quay.io/repository/acme/app","updated_tags":["1.2.3","latest"]}"#;
    assert_eq!(pushes(WebhookKind::Quay, &none, quay).len(), 2);

    let harbor = r#"{"type":"PUSH_ARTIFACT","occur_at":1680000000,"operator":"admin",
        "event_data":{"resources":[{"digest":"sha256:dd","tag":"1.2.3","resource_url":"harbor.example.com/library/app:1.2.3"}],
        "repository":{"date_created":1680000000,"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"}}}"#;
    assert_eq!(
        pushes(WebhookKind::Harbor, &none, harbor),
        one("harbor.example.com/library/app", "1.2.3")
    );
    let scan = harbor.replace("PUSH_ARTIFACT", "SCANNING_COMPLETED");
    assert_eq!(pushes(WebhookKind::Harbor, &none, &scan), vec![]);

    let ecr = r#"{"version":"0","id":"13cde686-328b-6117-af20-0e5566167482","detail-type":"ECR Image Action",
        "source":"aws.ecr","account":"123456789012","time":"2019-11-16T01:54:34Z","region":"us-west-2","resources":[],
        "detail":{"result":"SUCCESS","repository-name":"team/app","image-digest":"sha256:ee","action-type":"PUSH","image-tag":"1.2.3"}}"#;
    let expected = one(
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
        "1.2.3",
    );
    assert_eq!(pushes(WebhookKind::Ecr, &none, ecr), expected);
    let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-west-2:123456789012:ecr",
        "Message": ecr, "Timestamp": "2019-11-16T01:54:35Z"}).to_string();
    assert_eq!(pushes(WebhookKind::Ecr, &none, &sns), expected);
    let confirm = r#"{"Type":"SubscriptionConfirmation","Token":"t","TopicArn":"arn:aws:sns:us-west-2:123456789012:ecr",
        "SubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"}"#;
    assert!(matches!(
        parse::parse(WebhookKind::Ecr, &none, confirm.as_bytes(), None),
        Ok(Parsed::ConfirmSubscription { .. })
    ));

    let generic = r#"{"image":"reg.io/acme/app","tag":"1.2.3"}"#;
    assert_eq!(
        pushes(WebhookKind::Generic, &none, generic),
        one("reg.io/acme/app", "1.2.3")
    );
}

#[test]
fn crafted_payloads_are_refused_whole() {
    let none = HeaderMap::new();
    let bad = |kind, body: &str| parse::parse(kind, &none, body.as_bytes(), None).unwrap_err();
    assert!(bad(WebhookKind::Distribution, "not json").contains("not JSON"));
    let tag = r#"{"events":[{"action":"push","target":{"repository":"acme/app","tag":"x;rm -rf"},"request":{"host":"reg.io"}}]}"#;
    assert!(bad(WebhookKind::Distribution, tag).contains("not an image reference"));
    let path = r#"{"events":[{"action":"push","target":{"repository":"../../etc","tag":"1"},"request":{"host":"reg.io"}}]}"#;
    assert!(bad(WebhookKind::Distribution, path).contains("not an image reference"));
    let many: Vec<String> = (0..101)
        .map(|n| format!(r#"{{"action":"push","target":{{"repository":"acme/app","tag":"t{n}"}},"request":{{"host":"reg.io"}}}}"#))
        .collect();
    let batch = format!(r#"{{"events":[{}]}}"#, many.join(","));
    assert!(bad(WebhookKind::Distribution, &batch).contains("more than 100"));
    let region = r#"{"detail-type":"ECR Image Action","account":"1","region":"us-west-2.evil.com/x","detail":{"action-type":"PUSH","result":"SUCCESS","repository-name":"a","image-tag":"1"}}"#;
    assert!(bad(WebhookKind::Ecr, region).contains("account or region"));
}

#[test]
fn subscriptions_are_confirmed_with_sns_only() {
    assert!(is_sns(
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        None
    ));
    assert!(is_sns(
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=x",
        None
    ));
    assert!(!is_sns(
        "http://sns.us-west-2.amazonaws.com/?Action=x",
        None
    ));
    assert!(!is_sns(
        "https://sns.us-west-2.amazonaws.com.evil.com/",
        None
    ));
    assert!(!is_sns(
        "https://evil.com/sns.us-west-2.amazonaws.com/",
        None
    ));
    assert!(!is_sns("https://169.254.169.254/latest/meta-data", None));
    let endpoint = Some("http://127.0.0.1:9999");
    assert!(is_sns(
        "http://127.0.0.1:9999/?Action=ConfirmSubscription",
        endpoint
    ));
    assert!(!is_sns("http://127.0.0.1:99990/", endpoint));
}
