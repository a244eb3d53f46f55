use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;

/// When the policies are asked; minAge is measured from here.
const NOW: SystemTime = UNIX_EPOCH;

fn at(tag: &str, secs: u64) -> TagInfo {
    TagInfo {
        tag: tag.to_string(),
        pushed: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        digest: None,
    }
}

fn policy(pattern: &str, exclude: &[&str], order: Option<Order>, extract: Option<&str>) -> Policy {
    let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    Policy::new(Pattern::parse(pattern).unwrap(), &exclude, order, extract).unwrap()
}

fn chosen<'t>(selection: &Selection<'t>) -> Option<&'t str> {
    match selection {
        Selection::Update { to, .. } => Some(&to.tag),
        Selection::Keep(_) => None,
    }
}

#[test]
fn glob_rules_follow_push_time_by_default() {
    let p = policy("glob:develop-*", &[], None, None);
    let tags = [
        at("develop-1", 100),
        at("develop-2", 300),
        at("develop-10", 200),
        at("main-9", 900),
    ];
    assert_eq!(p.order, Order::Time);
    assert_eq!(
        chosen(&p.select("develop-1", &tags, NOW)),
        Some("develop-2")
    );
    assert_eq!(
        p.select("develop-2", &tags, NOW),
        Selection::Keep(Keep::UpToDate)
    );
}

#[test]
fn never_downgrades_under_time_order() {
    let p = policy("glob:develop-*", &[], None, None);
    // The current tag was pushed after every other one: nothing to do.
    let tags = [at("develop-1", 500), at("develop-2", 300)];
    assert_eq!(
        p.select("develop-1", &tags, NOW),
        Selection::Keep(Keep::UpToDate)
    );
}

#[test]
fn a_tie_with_the_current_tag_is_not_an_update() {
    let p = policy("glob:develop-*", &[], None, None);
    let tags = [at("develop-1", 100), at("develop-2", 100)];
    assert_eq!(
        p.select("develop-1", &tags, NOW),
        Selection::Keep(Keep::UpToDate)
    );
    // Among candidates, ties break by tag string so the choice is stable.
    let tags = [
        at("develop-1", 50),
        at("develop-b", 100),
        at("develop-a", 100),
    ];
    assert_eq!(
        chosen(&p.select("develop-1", &tags, NOW)),
        Some("develop-b")
    );
}

#[test]
fn unknown_push_times_sort_oldest() {
    let p = policy("glob:develop-*", &[], None, None);
    let tags = [TagInfo::named("develop-9"), at("develop-3", 10)];
    assert_eq!(
        chosen(&p.select("develop-9", &tags, NOW)),
        Some("develop-3")
    );
}

#[test]
fn a_current_tag_unknown_to_the_registry_moves_to_the_newest_and_says_so() {
    let p = policy("glob:develop-*", &[], None, None);
    let tags = [at("develop-2", 100), at("develop-3", 200)];
    let Selection::Update { to, reason } = p.select("develop-1", &tags, NOW) else {
        panic!("expected an update")
    };
    assert_eq!(to.tag, "develop-3");
    assert!(reason.contains("unknown to the registry"), "{reason}");
}

#[test]
fn semver_rules_take_the_highest_version_and_keep_the_registry_spelling() {
    let p = policy("semver:^1.2", &[], None, None);
    let tags = [
        TagInfo::named("v1.2.0"),
        TagInfo::named("1.10"),
        TagInfo::named("v1.9.3"),
        TagInfo::named("2.0.0"),
        TagInfo::named("1.11.0-rc.1"),
    ];
    assert_eq!(chosen(&p.select("v1.2.0", &tags, NOW)), Some("1.10"));
    assert_eq!(
        p.select("1.10.0", &tags, NOW),
        Selection::Keep(Keep::UpToDate)
    );
}

#[test]
fn exclude_globs_remove_candidates() {
    let p = policy("glob:develop-*", &["*-canary", "develop-3"], None, None);
    let tags = [
        at("develop-1", 1),
        at("develop-2", 2),
        at("develop-3", 3),
        at("develop-4-canary", 4),
    ];
    assert_eq!(
        chosen(&p.select("develop-1", &tags, NOW)),
        Some("develop-2")
    );
}

#[test]
fn numerical_and_alphabetical_orders() {
    let numeric = policy("regex:^[0-9]+$", &[], Some(Order::Numerical), None);
    let tags = [
        TagInfo::named("9"),
        TagInfo::named("10"),
        TagInfo::named("100"),
    ];
    assert_eq!(chosen(&numeric.select("9", &tags, NOW)), Some("100"));
    let alpha = policy("regex:^[0-9]+$", &[], Some(Order::Alphabetical), None);
    assert_eq!(chosen(&alpha.select("10", &tags, NOW)), Some("9"));
}

#[test]
fn extract_sorts_on_a_capture_and_defaults_to_numeric() {
    let p = policy("glob:develop-*", &[], None, Some(r"^develop-(?P<n>\d+)$"));
    assert_eq!(p.order, Order::Numerical);
    let tags = [
        TagInfo::named("develop-9"),
        TagInfo::named("develop-12"),
        TagInfo::named("develop-x"),
    ];
    assert_eq!(
        chosen(&p.select("develop-9", &tags, NOW)),
        Some("develop-12")
    );
    assert_eq!(
        p.select("develop-x", &tags, NOW),
        Selection::Keep(Keep::CurrentUnordered)
    );
    let dated = policy(
        "glob:main-*",
        &[],
        Some(Order::Alphabetical),
        Some(r"^main-[0-9a-f]+-(\d{8})$"),
    );
    let tags = [
        TagInfo::named("main-ffff-20240101"),
        TagInfo::named("main-0000-20250101"),
    ];
    assert_eq!(
        chosen(&dated.select("main-ffff-20240101", &tags, NOW)),
        Some("main-0000-20250101")
    );
}

#[test]
fn ranking_lists_allowed_tags_newest_first_and_unorderable_ones_last() {
    let p = policy("glob:*", &["*-rc"], Some(Order::Semver), None);
    let tags = [
        TagInfo::named("latest"),
        TagInfo::named("1.9.0"),
        TagInfo::named("v1.10"),
        TagInfo::named("2.0-rc"),
        TagInfo::named("edge"),
    ];
    let ranked: Vec<&str> = p.rank(&tags).iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(ranked, ["v1.10", "1.9.0", "edge", "latest"]);
}

#[test]
fn no_allowed_tag_keeps_the_reference() {
    let p = policy("glob:develop-*", &[], None, None);
    assert_eq!(
        p.select("develop-1", &[at("main-1", 1)], NOW),
        Selection::Keep(Keep::NoCandidates)
    );
}

#[test]
fn invalid_rules_are_rejected() {
    let pattern = || Pattern::parse("glob:*").unwrap();
    let err = Policy::new(pattern(), &["a[".into()], None, None).unwrap_err();
    assert!(matches!(err, PolicyError::Exclude(..)));
    let err = Policy::new(pattern(), &[], None, Some("^develop-\\d+$")).unwrap_err();
    assert!(matches!(err, PolicyError::ExtractWithoutGroup(..)));
    let err = Policy::new(pattern(), &[], Some(Order::Time), Some("(\\d+)")).unwrap_err();
    assert_eq!(err, PolicyError::ExtractWithTime);
    let err = Policy::new(pattern(), &[], None, Some("(")).unwrap_err();
    assert!(matches!(err, PolicyError::Extract(..)));
}

fn arb_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..40).prop_map(|n| format!("develop-{n}")),
        (0u32..40).prop_map(|n| format!("develop-{n}-canary")),
        (0u32..40).prop_map(|n| format!("release-{n}")),
        (0u64..4, 0u64..12, 0u64..5).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (0u64..4, 0u64..12).prop_map(|(a, b)| format!("v{a}.{b}")),
        (0u64..4, 0u64..12).prop_map(|(a, b)| format!("{a}.{b}.0-rc.1")),
        (0u32..1000).prop_map(|n| n.to_string()),
    ]
}

fn arb_tags() -> impl Strategy<Value = Vec<TagInfo>> {
    // A registry lists each tag once.
    prop::collection::btree_map(arb_tag(), prop::option::of(0u64..50), 0..30).prop_map(|tags| {
        tags.into_iter()
            .map(|(tag, secs)| TagInfo {
                tag,
                pushed: secs.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                digest: None,
            })
            .collect()
    })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    let patterns = prop_oneof![
        Just("glob:develop-*"),
        Just("glob:*"),
        Just("regex:^release-"),
        Just("regex:[0-9]"),
        Just("semver:^1.2"),
        Just("semver:>=0.3, <3"),
        Just("semver:>=1.0.0-rc.0"),
    ];
    let orders = prop_oneof![
        Just(None),
        Just(Some(Order::Time)),
        Just(Some(Order::Semver)),
        Just(Some(Order::Alphabetical)),
        Just(Some(Order::Numerical)),
    ];
    let excludes = prop_oneof![
        Just(vec![]),
        Just(vec!["*-canary".to_string()]),
        Just(vec!["*1*".to_string()])
    ];
    let extracts = prop_oneof![Just(None), Just(Some(r"(\d+)$"))];
    (patterns, excludes, orders, extracts)
        .prop_filter_map("time with extract", |(p, ex, order, extract)| {
            Policy::new(Pattern::parse(p).unwrap(), &ex, order, extract).ok()
        })
}

proptest! {
    #[test]
    fn selection_is_allowed_and_strictly_newer(
        policy in arb_policy(),
        tags in arb_tags(),
        current in arb_tag(),
    ) {
        prop_assume!(policy.manages(&current));
        if let Selection::Update { to, .. } = policy.select(&current, &tags, NOW) {
            prop_assert!(policy.pattern.matches(&to.tag), "{} fails the pattern", to.tag);
            prop_assert!(!policy.exclude.is_match(&to.tag), "{} is excluded", to.tag);
            prop_assert!(to.tag != current);
            let new_key = policy.key(to).expect("a chosen tag has a key");
            match tags.iter().find(|t| t.tag == current).cloned().or_else(|| {
                (policy.order != Order::Time).then(|| TagInfo::named(current.clone()))
            }) {
                Some(current_info) => {
                    if let Some(current_key) = policy.key(&current_info) {
                        prop_assert!(new_key > current_key, "{} is not newer than {}", to.tag, current);
                    }
                }
                None => prop_assert_eq!(policy.order, Order::Time),
            }
        }
    }

    #[test]
    fn selecting_again_from_the_chosen_tag_changes_nothing(
        policy in arb_policy(),
        tags in arb_tags(),
        current in arb_tag(),
    ) {
        prop_assume!(policy.manages(&current));
        if let Selection::Update { to, .. } = policy.select(&current, &tags, NOW) {
            let again = policy.select(&to.tag, &tags, NOW);
            prop_assert!(matches!(again, Selection::Keep(_)), "moved again: {:?}", again);
        }
    }
}

#[test]
fn min_age_holds_young_tags_and_fails_closed_on_unknown_times() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let hours_ago = |tag: &str, h: u64| TagInfo {
        tag: tag.into(),
        pushed: Some(now - Duration::from_secs(h * 3600)),
        digest: None,
    };
    let p = policy("glob:develop-*", &[], None, None).with_min_age(Duration::from_secs(72 * 3600));
    assert!(p.needs_times());
    let tags = [
        hours_ago("develop-1", 200),
        hours_ago("develop-2", 100),
        hours_ago("develop-3", 5),
    ];
    let Selection::Update { to, reason } = p.select("develop-1", &tags, now) else {
        panic!("an old enough tag is newer")
    };
    assert_eq!(to.tag, "develop-2");
    assert!(
        reason.ends_with("held: develop-3 is younger than minAge (pushed 5 h ago)"),
        "{reason}"
    );
    let held = p.select("develop-2", &tags, now);
    assert_eq!(
        held,
        Selection::Keep(Keep::Held {
            tag: "develop-3".into(),
            age: Some(Duration::from_secs(5 * 3600))
        })
    );
    let Selection::Keep(keep) = held else {
        unreachable!()
    };
    assert_eq!(
        keep.to_string(),
        "held: develop-3 is younger than minAge (pushed 5 h ago)"
    );

    let versions = policy("semver:^1", &[], None, None).with_min_age(Duration::from_secs(3600));
    let unknown = [TagInfo::named("1.1.0"), hours_ago("1.0.0", 10)];
    assert_eq!(
        versions.select("1.0.0", &unknown, now),
        Selection::Keep(Keep::Held {
            tag: "1.1.0".into(),
            age: None
        }),
        "a tag of unknown age is never chosen"
    );
}

#[test]
fn older_is_judged_by_the_rules_own_ordering() {
    let semver = policy("semver:^1", &["*-rc*"], None, None);
    assert!(semver.is_older("1.3.2", "1.4.0", &[]));
    assert!(!semver.is_older("1.4.0", "1.3.2", &[]));
    assert!(!semver.is_older("1.4.0", "1.4.0", &[]));
    assert!(!semver.is_older("latest", "1.4.0", &[]), "unordered");
    assert!(semver.excludes("1.5.0-rc1"));
    assert!(!semver.excludes("1.5.0"));
    let by_time = policy("glob:develop-*", &[], None, None);
    let tags = [at("develop-20", 100), at("develop-3", 300)];
    assert!(by_time.is_older("develop-20", "develop-3", &tags));
    assert!(!by_time.is_older("develop-3", "develop-20", &tags));
    assert!(
        !by_time.is_older("develop-1", "develop-3", &tags),
        "no known time"
    );
}
