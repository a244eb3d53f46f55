//! Holds, rollbacks and deploy requests.

use super::*;

/// A deploy in the test repo, as of the epoch.
fn deploying(
    files: &[FileRefs],
    order: &DeployOrder,
    tags: &TagTable,
    standing: &Standing,
) -> Result<Plan, DeployRefusal> {
    let inputs = Inputs {
        repo: &repo(),
        tags,
        standing,
        now: UNIX_EPOCH,
    };
    deploy(&inputs, files, order)
}

fn semver_tags(names: &[&str]) -> TagTable {
    table(
        &["reg.io/acme/app"],
        names.iter().map(|n| TagInfo::named(*n)).collect(),
    )
}

fn wrote(tag: &str) -> Standing {
    let mut standing = Standing::default();
    standing
        .written
        .set("prod/app.yaml", "reg.io/acme/app", tag, "c0ffee");
    standing
}

#[test]
fn a_rollback_by_other_hands_is_held_until_a_tag_newer_than_the_one_rolled_back_from() {
    let files = scan("prod/app.yaml", "image: reg.io/acme/app:1.3.2\n");
    let tags = semver_tags(&["1.3.2", "1.4.0"]);
    let planned = plan(&repo(), &files, &tags, &wrote("1.4.0"), UNIX_EPOCH);
    assert!(planned.changes.is_empty());
    let [hold] = &planned.holds_made[..] else {
        panic!("{planned:?}")
    };
    assert_eq!(hold.kind, crate::holds::HoldKind::Rollback);
    assert_eq!(hold.file.as_deref(), Some("prod/app.yaml"));
    assert_eq!(hold.tag.as_deref(), Some("1.3.2"));
    assert_eq!(hold.release_after.as_deref(), Some("1.4.0"));
    assert_eq!(
        planned.forgotten,
        [("prod/app.yaml".into(), "reg.io/acme/app".into())]
    );
    assert!(
        planned.kept[0]
            .reason
            .to_string()
            .starts_with("rolled back from 1.4.0 by a commit not made by laminar"),
        "{}",
        planned.kept[0].reason
    );

    // Next cycles: the hold keeps it while 1.4.0 is the newest…
    let standing = Standing {
        holds: planned.holds_made.clone(),
        ..Standing::default()
    };
    let again = plan(&repo(), &files, &tags, &standing, UNIX_EPOCH);
    assert!(again.changes.is_empty() && again.holds_made.is_empty());
    assert!(again.holds_ended.is_empty());
    // …and 1.4.1 ends it: the reference moves to the newest.
    let newer = semver_tags(&["1.3.2", "1.4.0", "1.4.1"]);
    let released = plan(&repo(), &files, &newer, &standing, UNIX_EPOCH);
    assert_eq!(released.holds_ended, std::slice::from_ref(&hold.id));
    assert_eq!(released.changes[0].new_tag, "1.4.1");
}

#[test]
fn a_forward_move_by_other_hands_is_no_rollback() {
    let files = scan("prod/app.yaml", "image: reg.io/acme/app:1.4.0\n");
    let tags = semver_tags(&["1.3.2", "1.4.0", "1.5.0"]);
    let planned = plan(&repo(), &files, &tags, &wrote("1.3.2"), UNIX_EPOCH);
    assert!(planned.holds_made.is_empty());
    assert_eq!(planned.forgotten.len(), 1);
    assert_eq!(planned.changes[0].new_tag, "1.5.0");
    // A rollback when a newer tag than the one rolled back from exists already is not held.
    let files = scan("prod/app.yaml", "image: reg.io/acme/app:1.3.2\n");
    let planned = plan(&repo(), &files, &tags, &wrote("1.4.0"), UNIX_EPOCH);
    assert!(planned.holds_made.is_empty());
    assert_eq!(planned.changes[0].new_tag, "1.5.0");
}

#[test]
fn a_manual_hold_keeps_every_reference_of_its_image_in_its_repo() {
    let files = scan("prod/app.yaml", "image: reg.io/acme/app:1.3.2\n");
    let tags = semver_tags(&["1.3.2", "1.4.0"]);
    let mut hold = crate::holds::Hold::new(crate::holds::HoldKind::Manual, "REG.IO/acme/app");
    hold.reason = Some("release freeze".into());
    let standing = Standing {
        holds: vec![hold.clone()],
        ..Standing::default()
    };
    let planned = plan(&repo(), &files, &tags, &standing, UNIX_EPOCH);
    assert!(planned.changes.is_empty());
    assert_eq!(
        planned.kept[0].reason.to_string(),
        format!("held by hold {}: release freeze", hold.id)
    );
    hold.repo = Some("another-repo".into());
    let elsewhere = Standing {
        holds: vec![hold],
        ..Standing::default()
    };
    assert_eq!(
        plan(&repo(), &files, &tags, &elsewhere, UNIX_EPOCH)
            .changes
            .len(),
        1
    );
}

fn order(tag: &str) -> DeployOrder {
    DeployOrder {
        id: "d1".into(),
        image: "reg.io/acme/app".into(),
        tag: tag.into(),
        files: Vec::new(),
        reason: Some("incident 42".into()),
        force: false,
    }
}

#[test]
fn a_deploy_sets_an_older_tag_and_holds_it() {
    let text = "a: reg.io/acme/app:1.4.0\nb: reg.io/acme/api:1.0.0\n";
    let files = scan("prod/app.yaml", text);
    let tags = semver_tags(&["1.3.2", "1.4.0"]);
    let planned = deploying(&files, &order("1.3.2"), &tags, &Standing::default()).unwrap();
    assert_eq!(apply_text(text, &planned), text.replace("1.4.0", "1.3.2"));
    assert_eq!(
        planned.changes[0].reason,
        "requested by deploy d1: incident 42"
    );
    let [hold] = &planned.holds_made[..] else {
        panic!("{planned:?}")
    };
    assert_eq!(hold.kind, crate::holds::HoldKind::Deploy);
    assert_eq!(hold.release_after.as_deref(), Some("1.4.0"));
    // The next plan keeps it there.
    let standing = Standing {
        holds: planned.holds_made.clone(),
        ..Standing::default()
    };
    let after = scan("prod/app.yaml", &apply_text(text, &planned));
    assert!(plan(&repo(), &after, &tags, &standing, UNIX_EPOCH).is_empty());
    // An older tag still: the new hold replaces the last one.
    let wider = semver_tags(&["1.3.1", "1.3.2", "1.4.0"]);
    let older = deploying(&after, &order("1.3.1"), &wider, &standing).unwrap();
    assert_eq!(older.holds_ended, std::slice::from_ref(&hold.id));
    assert_eq!(older.holds_made[0].release_after.as_deref(), Some("1.4.0"));
    // Deploying the newest tag again ends the hold and makes none.
    let back = deploying(&after, &order("1.4.0"), &tags, &standing).unwrap();
    assert!(back.holds_made.is_empty());
    assert_eq!(back.holds_ended, std::slice::from_ref(&hold.id));
}

#[test]
fn a_deploy_refuses_what_the_registry_or_the_rule_does_not_allow() {
    let files = scan("prod/app.yaml", "a: reg.io/acme/app:1.4.0\n");
    let tags = semver_tags(&["1.4.0", "1.5.0"]);
    let none = Standing::default();
    let refusal = |o: &DeployOrder| deploying(&files, o, &tags, &none).unwrap_err();
    assert!(matches!(
        refusal(&order("9.9.9")),
        DeployRefusal::UnknownTag { .. }
    ));
    let mut other = order("1.5.0");
    other.image = "reg.io/acme/web".into();
    assert!(matches!(refusal(&other), DeployRefusal::NotReferenced(_)));
    let mut elsewhere = order("1.5.0");
    elsewhere.files = vec!["dev/".into()];
    assert!(matches!(
        refusal(&elsewhere),
        DeployRefusal::NotReferenced(_)
    ));
    // Already there: nothing to change.
    let same = deploying(&files, &order("1.4.0"), &tags, &none).unwrap();
    assert!(same.is_empty() && same.holds_made.is_empty());
    // A newer tag is not held: the rule would not move it back.
    let newer = deploying(&files, &order("1.5.0"), &tags, &none).unwrap();
    assert_eq!(newer.changes.len(), 1);
    assert!(newer.holds_made.is_empty());
}

#[test]
fn a_deploy_never_sets_a_tag_the_rule_excludes() {
    let config = CONFIG.replace(
        "  - pattern: semver:^1\n",
        "  - pattern: semver:^1\n    exclude: ['*-debug']\n",
    );
    let loaded = parse(Path::new("laminar.yaml"), &config, &Environment::default()).unwrap();
    let repo = loaded.config.repos.into_iter().next().unwrap();
    let files = scan("prod/app.yaml", "a: reg.io/acme/app:1.4.0\n");
    let tags = semver_tags(&["1.4.0", "1.4.1-debug"]);
    let refused = deploy(
        &Inputs {
            repo: &repo,
            tags: &tags,
            standing: &Standing::default(),
            now: UNIX_EPOCH,
        },
        &files,
        &order("1.4.1-debug"),
    )
    .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "1.4.1-debug is excluded by the rule semver:^1 that manages prod/app.yaml:1:4"
    );
}

#[test]
fn a_deploy_outside_the_pattern_needs_force_and_stays_managed_until_a_newer_tag() {
    let text = "a: reg.io/acme/app:1.4.0\n";
    let files = scan("prod/app.yaml", text);
    let tags = semver_tags(&["1.4.0", "hotfix-1"]);
    let none = Standing::default();
    let refused = deploying(&files, &order("hotfix-1"), &tags, &none);
    assert!(
        matches!(refused, Err(DeployRefusal::OutsidePattern { .. })),
        "{refused:?}"
    );
    let mut forced = order("hotfix-1");
    forced.force = true;
    let planned = deploying(&files, &forced, &tags, &none).unwrap();
    let [hold] = &planned.holds_made[..] else {
        panic!("{planned:?}")
    };
    assert_eq!(hold.rule.as_deref(), Some("semver:^1"));
    assert_eq!(hold.release_after.as_deref(), Some("1.4.0"));
    let deployed = apply_text(text, &planned);
    let after = scan("prod/app.yaml", &deployed);
    let standing = Standing {
        holds: planned.holds_made.clone(),
        ..Standing::default()
    };
    // Held, and still managed: it is listed as kept, and a later deploy finds it.
    let held = plan(&repo(), &after, &tags, &standing, UNIX_EPOCH);
    assert!(held.is_empty());
    assert!(matches!(held.kept[0].reason, KeptReason::OnHold(_)));
    let back = deploying(&after, &order("1.4.0"), &tags, &standing).unwrap();
    assert_eq!(back.changes[0].new_tag, "1.4.0");
    // A tag newer than the rule's newest at the deploy moves it on; the hold ends once moved.
    let newer = semver_tags(&["1.4.0", "1.4.1", "hotfix-1"]);
    let moved = plan(&repo(), &after, &newer, &standing, UNIX_EPOCH);
    assert_eq!(moved.changes[0].old_tag, "hotfix-1");
    assert_eq!(moved.changes[0].new_tag, "1.4.1");
    assert!(moved.holds_ended.is_empty(), "{moved:?}");
    let on = scan("prod/app.yaml", &apply_text(&deployed, &moved));
    let settled = plan(&repo(), &on, &newer, &standing, UNIX_EPOCH);
    assert!(settled.is_empty());
    assert_eq!(settled.holds_ended, std::slice::from_ref(&hold.id));
}
