//! Promotion in the plan: lineages from snapshots, soak now or earlier, rolled-back tags never
//! offered, ambiguity, checks (pending waits, failed passes to an older tag) and health.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::config::{Environment, parse};
use crate::image::hub::ImageKey;

const IMAGE: &str = "reg.io/acme/app";
const HOUR: u64 = 3600;

/// A repo whose `staging` rule follows `dev` with `demands` (YAML lines under the rule).
fn following(demands: &str) -> Repo {
    let text = format!(
        "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: envs\n  url: file:///srv/envs.git\n  branch: main\n  \
         forge: {{provider: github, apiUrl: https://api.github.com, project: acme/envs, tokenEnv: T}}\n  updates:\n  \
         - name: dev\n    pattern: semver:^1\n    files: [dev/]\n  \
         - name: staging\n    follow: dev\n    files: [staging/]\n{demands}"
    );
    let loaded = parse(Path::new("laminar.yaml"), &text, &Environment::default()).unwrap();
    loaded.config.repos.into_iter().next().unwrap()
}

fn at(hours_ago: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1000 * HOUR - hours_ago * HOUR)
}

fn now() -> SystemTime {
    at(0)
}

/// Snapshots newest first: (commit, hours ago, tags dev's references held).
fn history(commits: &[(&str, u64, &[&str])]) -> Lineage {
    let snapshots: Vec<Snapshot> = commits
        .iter()
        .map(|(commit, hours, tags)| Snapshot {
            commit: commit.to_string(),
            time: at(*hours),
            held: match tags.is_empty() {
                true => BTreeMap::new(),
                false => [(
                    ImageKey::of(IMAGE),
                    tags.iter()
                        .map(|t| (t.to_string(), None))
                        .collect::<BTreeSet<_>>(),
                )]
                .into_iter()
                .collect(),
            },
        })
        .collect();
    lineage(&snapshots)
}

fn standing(lineage: Lineage) -> Standing {
    let mut standing = Standing::default();
    standing
        .chain
        .lineages
        .insert(("envs".into(), "dev".into()), Arc::new(lineage));
    standing
}

fn plan_staging(repo: &Repo, staging: &str, standing: &Standing) -> Plan {
    let files = scan("staging/app.yaml", &format!("a: {IMAGE}:{staging}\n"));
    plan(repo, &files, &TagTable::new(), standing, now())
}

fn kept_reason(plan: &Plan) -> String {
    plan.kept
        .first()
        .map(|k| k.reason.to_string())
        .unwrap_or_default()
}

#[test]
fn a_lineage_is_a_run_of_commits_holding_the_same_with_when_it_began_and_ended() {
    let lineage = history(&[
        ("c4", 1, &["1.2.0"]),
        ("c3", 5, &["1.2.0"]),
        ("c2", 30, &["1.1.0"]),
        ("c1", 60, &[]),
        ("c0", 90, &["1.0.0"]),
    ]);
    let stints = &lineage.images[&ImageKey::of(IMAGE)];
    let summary: Vec<(String, SystemTime, Option<SystemTime>, &str, &str)> = stints
        .iter()
        .map(|s| {
            let tag = s.held.iter().next().unwrap().0.clone();
            (tag, s.since, s.until, s.set_by.as_str(), s.last.as_str())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("1.2.0".into(), at(5), None, "c3", "c4"),
            ("1.1.0".into(), at(30), Some(at(5)), "c2", "c2"),
            // A commit without the reference ends the stint before it.
            ("1.0.0".into(), at(90), Some(at(60)), "c0", "c0"),
        ]
    );
    assert_eq!(lineage.head, "c4");
    assert_eq!(lineage.commits, ["c4", "c3", "c2", "c1", "c0"]);
}

#[test]
fn the_newest_tag_soaked_now_or_earlier_wins_and_a_young_one_says_how_long_is_left() {
    let repo = following("    soak: 24h\n");
    // 1.2.0 held 5 h (too young); 1.1.0 held 25 h before it: soaked earlier, so it moves.
    let lineage = history(&[
        ("c3", 5, &["1.2.0"]),
        ("c2", 30, &["1.1.0"]),
        ("c1", 90, &["1.0.0"]),
    ]);
    let plan = plan_staging(&repo, "1.0.0", &standing(lineage.clone()));
    assert_eq!(plan.changes[0].new_tag, "1.1.0", "{plan:?}");
    assert_eq!(
        plan.changes[0].reason,
        "promoted dev → staging: soaked 25 h"
    );
    // Once there, the young tag is what it waits for.
    let plan = plan_staging(&repo, "1.1.0", &standing(lineage));
    assert!(plan.changes.is_empty());
    assert_eq!(kept_reason(&plan), "soaking: 1.2.0 has 19 h left");
}

#[test]
fn a_break_restarts_the_soak_and_a_rolled_back_tag_is_never_offered() {
    let repo = following("    soak: 24h\n");
    // 1.1.0 held 20 h, then gone for 5 h, then held again for 10 h: never 24 h at once.
    let lineage = history(&[
        ("c3", 10, &["1.1.0"]),
        ("c2", 15, &[]),
        ("c1", 35, &["1.1.0"]),
        ("c0", 90, &["1.0.0"]),
    ]);
    let plan = plan_staging(&repo, "1.0.0", &standing(lineage));
    assert!(plan.changes.is_empty(), "{plan:?}");
    assert_eq!(kept_reason(&plan), "soaking: 1.1.0 has 14 h left");
    // Replaced by a newer tag before it soaked, it never will; the newer one still may.
    let lineage = history(&[
        ("c2", 10, &["1.2.0"]),
        ("c1", 30, &["1.1.0"]),
        ("c0", 90, &["1.0.0"]),
    ]);
    let repo48 = following("    soak: 48h\n");
    let plan = plan_staging(&repo48, "1.0.0", &standing(lineage));
    assert_eq!(kept_reason(&plan), "soaking: 1.2.0 has 38 h left");
    // Rolled back from once, 1.1.0 is never offered, however long it soaks after.
    let repo = following("");
    let lineage = history(&[
        ("c2", 40, &["1.0.0"]),
        ("c1", 50, &["1.1.0"]),
        ("c0", 90, &["1.0.0"]),
    ]);
    let plan = plan_staging(&repo, "1.0.0", &standing(lineage.clone()));
    assert!(plan.changes.is_empty(), "{plan:?}");
    // A stage already holding it is held, once, naming the chain.
    let plan = plan_staging(&repo, "1.1.0", &standing(lineage));
    assert_eq!(plan.holds_made.len(), 1);
    assert!(
        kept_reason(&plan).starts_with(
            "dev rolled back from 1.1.0: not touched automatically (promotion chain dev → staging)"
        ),
        "{}",
        kept_reason(&plan)
    );
}

#[test]
fn references_that_disagree_upstream_move_nothing_and_an_unread_upstream_waits() {
    let repo = following("");
    let lineage = history(&[("c1", 40, &["1.1.0", "1.2.0"]), ("c0", 90, &["1.0.0"])]);
    let plan = plan_staging(&repo, "1.0.0", &standing(lineage));
    assert!(plan.changes.is_empty());
    assert_eq!(
        kept_reason(&plan),
        "dev holds this image at several tags (1.1.0, 1.2.0): nothing moves"
    );
    let plan = plan_staging(&repo, "1.0.0", &Standing::default());
    assert_eq!(kept_reason(&plan), "waiting for dev's history to be read");
}

#[test]
fn checks_pending_wait_failed_pass_to_an_older_tag_and_green_moves() {
    let repo = following("    requireChecks: [e2e]\n");
    let lineage = history(&[
        ("c2", 10, &["1.2.0"]),
        ("c1", 30, &["1.1.0"]),
        ("c0", 90, &["1.0.0"]),
    ]);
    let mut standing = standing(lineage);
    // Unread: the cycle's lookup is named, nothing moves.
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(
        kept_reason(&plan),
        "1.2.0: checks or health still to be read"
    );
    let check = |commit: &str| (commit.to_string(), "e2e".to_string());
    standing
        .chain
        .checks
        .insert(check("c2"), Checks::Pending("e2e".into()));
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(kept_reason(&plan), "1.2.0: check e2e pending");
    standing
        .chain
        .checks
        .insert(check("c2"), Checks::Failed("e2e".into()));
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(
        kept_reason(&plan),
        "1.1.0: checks or health still to be read"
    );
    standing.chain.checks.insert(check("c1"), Checks::Green);
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(plan.changes[0].new_tag, "1.1.0");
    assert_eq!(plan.changes[0].reason, "promoted dev → staging: e2e green");
}

#[test]
fn an_unwell_upstream_holds_and_a_healthy_one_lets_through() {
    let repo =
        following("    requireHealthy: {http: {url: https://staging.example.com/healthz}}\n");
    let lineage = history(&[("c1", 10, &["1.1.0"]), ("c0", 90, &["1.0.0"])]);
    let mut standing = standing(lineage);
    let key = (
        "http https://staging.example.com/healthz".to_string(),
        "c1".to_string(),
    );
    standing
        .chain
        .health
        .insert(key.clone(), Health::Unwell("answered 503".into()));
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(kept_reason(&plan), "1.1.0 waits: upstream answered 503");
    standing.chain.health.insert(key, Health::Healthy);
    let plan = plan_staging(&repo, "1.0.0", &standing);
    assert_eq!(plan.changes[0].reason, "promoted dev → staging: healthy");
}

#[test]
fn a_closed_window_keeps_any_rule_and_says_until_when() {
    let text = "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: envs\n  url: file:///srv/envs.git\n  branch: main\n  updates:\n  \
                - pattern: semver:^1\n    files: [.]\n    window: \"Sat 10:00-11:00 UTC\"\n";
    let loaded = parse(Path::new("laminar.yaml"), text, &Environment::default()).unwrap();
    let repo = loaded.config.repos.into_iter().next().unwrap();
    let files = scan("app.yaml", &format!("a: {IMAGE}:1.0.0\n"));
    let tags = table(
        &[IMAGE],
        vec![TagInfo::named("1.0.0"), TagInfo::named("1.1.0")],
    );
    // Monday 2026-12-07 12:00 UTC.
    let monday = SystemTime::from("2026-12-07T12:00:00Z".parse::<jiff::Timestamp>().unwrap());
    let planned = plan(&repo, &files, &tags, &Standing::default(), monday);
    assert!(planned.changes.is_empty());
    assert_eq!(
        kept_reason(&planned),
        "outside the rule's window: waits until 2026-12-12T10:00:00Z"
    );
    let saturday = SystemTime::from("2026-12-12T10:30:00Z".parse::<jiff::Timestamp>().unwrap());
    let planned = plan(&repo, &files, &tags, &Standing::default(), saturday);
    assert_eq!(planned.changes[0].new_tag, "1.1.0");
}

#[test]
fn a_gate_judges_what_a_chain_offers_by_the_registrys_digest() {
    use crate::config::RegistryId;
    use crate::trust::{Gate, Verdict};
    let repo = following("");
    let lineage = history(&[("c1", 10, &["1.1.0"]), ("c0", 90, &["1.0.0"])]);
    let mut standing = standing(lineage);
    let gate = Arc::new(Gate::new(None, vec![], vec![], vec!["linux/amd64".into()]).unwrap());
    let gates = [(RegistryId::new("reg.io/acme"), gate.clone())];
    standing.trust.registry_gates = Arc::new(gates.into_iter().collect());
    let files = scan("staging/app.yaml", &format!("a: {IMAGE}:1.0.0\n"));
    let listed = TagInfo {
        digest: Some(digest(11)),
        ..TagInfo::named("1.1.0")
    };
    let tags = table(&[IMAGE], vec![TagInfo::named("1.0.0"), listed]);
    let planned = plan(&repo, &files, &tags, &standing, now());
    assert_eq!(kept_reason(&planned), "1.1.0 is still to be verified");
    let key = (gate.id.clone(), digest(11));
    let refused = Verdict::Refused {
        why: "unsigned".into(),
    };
    standing.trust.verdicts.insert(key.clone(), refused);
    let planned = plan(&repo, &files, &tags, &standing, now());
    assert_eq!(
        kept_reason(&planned),
        "no newer tag passed the trust gate: 1.1.0 (unsigned)"
    );
    standing
        .trust
        .verdicts
        .insert(key, Verdict::Trusted { by: None });
    let planned = plan(&repo, &files, &tags, &standing, now());
    assert_eq!(planned.changes[0].new_tag, "1.1.0");
}

#[test]
fn a_pinned_reference_takes_the_registrys_digest_when_the_upstream_pins_none() {
    let repo = following("");
    let lineage = history(&[("c1", 10, &["1.1.0"]), ("c0", 90, &["1.0.0"])]);
    let files = scan(
        "staging/app.yaml",
        &format!("a: {IMAGE}:1.0.0@{}\n", digest(10)),
    );
    let listed = TagInfo {
        digest: Some(digest(11)),
        ..TagInfo::named("1.1.0")
    };
    // Unlisted, the new digest is unknown: the reference stays.
    let planned = plan(
        &repo,
        &files,
        &TagTable::new(),
        &standing(lineage.clone()),
        now(),
    );
    assert_eq!(
        kept_reason(&planned),
        "1.1.0 is newer, but its digest is unknown and the reference pins one"
    );
    let tags = table(&[IMAGE], vec![listed]);
    let planned = plan(&repo, &files, &tags, &standing(lineage), now());
    let change = &planned.changes[0];
    assert_eq!(change.new_tag, "1.1.0");
    assert_eq!(change.digest, Some((digest(10), digest(11))));
}
