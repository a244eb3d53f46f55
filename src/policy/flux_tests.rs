//! Flux's image policy tables (github.com/fluxcd/image-reflector-controller, Apache-2.0,
//! `internal/policy/*_test.go` at debe2aaa): for each, the tag Flux picks as latest is the one
//! laminar ranks first.

use super::*;

/// The tag `rank` puts first, as Flux's `Latest` would pick it.
fn latest(policy: &Policy, tags: &[&str]) -> Option<String> {
    let infos: Vec<TagInfo> = tags.iter().map(|t| TagInfo::named(*t)).collect();
    policy
        .rank(&infos)
        .first()
        .filter(|info| policy.key_of(&info.tag).is_some())
        .map(|info| info.tag.clone())
}

fn sorted(order: Order, descending: bool) -> Policy {
    let policy = Policy::new(Pattern::parse("glob:*").unwrap(), &[], Some(order), None).unwrap();
    match descending {
        true => policy.descending().unwrap(),
        false => policy,
    }
}

#[test]
fn alphabetical() {
    let calver = ["16.04", "16.04.1", "16.10", "20.04", "20.10"];
    let names = ["xenial", "yakkety", "zesty", "artful", "bionic"];
    let stamps = [
        "1606234201",
        "1606364286",
        "1606334092",
        "1606334284",
        "1606334201",
    ];
    let prefixed = [
        "rel-1606234201",
        "rel-1606364286",
        "rel-1606334092",
        "rel-1606334284",
        "rel-1606334201",
    ];
    let rfc3339 = [
        "2021-01-08T21-18-21Z",
        "2020-05-08T21-18-21Z",
        "2021-01-08T19-20-00Z",
        "1990-01-08T00-20-00Z",
        "2023-05-08T00-20-00Z",
    ];
    let cases: [(&[&str], bool, &str); 9] = [
        (&calver, false, "20.10"),
        (&calver, true, "16.04"),
        (&names, false, "zesty"),
        (&names, true, "artful"),
        (&stamps, false, "1606364286"),
        (&stamps, true, "1606234201"),
        (&prefixed, false, "rel-1606364286"),
        (&rfc3339, false, "2023-05-08T00-20-00Z"),
        (&rfc3339, true, "1990-01-08T00-20-00Z"),
    ];
    for (tags, descending, expected) in cases {
        let policy = sorted(Order::Alphabetical, descending);
        assert_eq!(
            latest(&policy, tags).as_deref(),
            Some(expected),
            "{tags:?} desc={descending}"
        );
    }
    assert_eq!(latest(&sorted(Order::Alphabetical, false), &[]), None);
}

#[test]
fn numerical() {
    let cases: [(&[&str], bool, &str); 8] = [
        (
            &[
                "-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91",
            ],
            false,
            "73",
        ),
        (
            &["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"],
            true,
            "-78",
        ),
        (
            &[
                "47.40896403322944",
                "-27.8520927455902",
                "-27.930666514224427",
                "-31.352485948094568",
                "-50.41072694704882",
                "-21.962849842263736",
                "24.71884721436865",
                "-39.99177354004344",
                "53.47333823144817",
                "3.2008658570411086",
            ],
            false,
            "53.47333823144817",
        ),
        (
            &[
                "-65.27202780220686",
                "57.82948329142309",
                "22.40184684363291",
                "-86.36934305697784",
                "-90.29082099756083",
                "-12.041712603564264",
                "77.70488240399305",
                "-38.98425003883552",
                "16.06867070412028",
                "53.735674335181216",
            ],
            true,
            "-90.29082099756083",
        ),
        (
            &[
                "1606234201",
                "1606364286",
                "1606334092",
                "1606334284",
                "1606334201",
            ],
            false,
            "1606364286",
        ),
        (
            &[
                "1606234201",
                "1606364286",
                "1606334092",
                "1606334284",
                "1606334201",
            ],
            true,
            "1606234201",
        ),
        (&["1"], false, "1"),
        (&["1"], true, "1"),
    ];
    for (tags, descending, expected) in cases {
        let policy = sorted(Order::Numerical, descending);
        assert_eq!(
            latest(&policy, tags).as_deref(),
            Some(expected),
            "{tags:?} desc={descending}"
        );
    }
    // Flux refuses a list with a value that is not a number; laminar leaves such tags out.
    assert_eq!(
        latest(&sorted(Order::Numerical, false), &["0", "1a", "b"]).as_deref(),
        Some("0")
    );
}

#[test]
fn semver() {
    let range = |r: &str| {
        Policy::new(
            Pattern::parse(&format!("semver:{r}")).unwrap(),
            &[],
            None,
            None,
        )
        .unwrap()
    };
    let cases: [(&[&str], &str, Option<&str>); 5] = [
        (
            &["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"],
            "1.0.x",
            Some("1.0.1"),
        ),
        (&["v1.2.3", "v1.0.0", "v0.1.0"], "1.0.x", Some("v1.0.0")),
        (&["b1.2.3", "b1.0.0", "b0.1.0"], "1.0.x", None),
        (&[], "1.0.x", None),
        (&["1.2.0"], "1.0.x", None),
    ];
    for (tags, r, expected) in cases {
        assert_eq!(latest(&range(r), tags).as_deref(), expected, "{tags:?} {r}");
    }
}

#[test]
fn filter_with_extract_then_an_order() {
    let extract = |pattern: &str, extract: &str, order: Order| {
        Policy::new(
            Pattern::parse(pattern).unwrap(),
            &[],
            Some(order),
            Some(extract),
        )
        .unwrap()
    };
    let p = extract("regex:^ver", "ver(\\d+)", Order::Numerical);
    assert_eq!(
        latest(&p, &["ver1", "ver2", "ver3", "rel1"]).as_deref(),
        Some("ver3")
    );
    // Flux's filter+semver: extract the version, rank by it, only inside the range.
    let p = extract("regex:^main-", "^main-(?P<v>.+)-[a-f0-9]+$", Order::Semver)
        .with_range(">=1.4 <2")
        .unwrap();
    let tags = [
        "main-1.3.9-abc123",
        "main-1.4.2-abcdef",
        "main-1.10.0-0123ab",
        "main-2.0.0-fedcba",
        "main-x-aaaaaa",
    ];
    assert_eq!(latest(&p, &tags).as_deref(), Some("main-1.10.0-0123ab"));
    assert!(!p.allows("main-2.0.0-fedcba"));
    let desc = extract("glob:build-*", "build-(\\d+)", Order::Numerical)
        .descending()
        .unwrap();
    assert_eq!(
        latest(&desc, &["build-9", "build-10", "build-2"]).as_deref(),
        Some("build-2")
    );
    assert_eq!(
        extract("glob:*", "(.+)", Order::Semver)
            .descending()
            .unwrap_err(),
        PolicyError::DescendingOrder
    );
}
