//! Trust gates in the plan: the newest eligible tag wins, refused tags are passed over with
//! why, a tag not yet judged stops the walk, and deploy requests pass the same gate.

use std::sync::Arc;

use super::*;
use crate::config::RegistryId;
use crate::trust::{Gate, Verdict};

const TEXT: &str = "a: reg.io/acme/app:1.0.0\n";

/// Tags `1.0.0`, `1.1.0`, … each with its own digest (`digest(n)` for the n-th).
fn versions(names: &[&str]) -> TagTable {
    let infos = names
        .iter()
        .enumerate()
        .map(|(n, name)| TagInfo {
            digest: Some(digest(n as u64)),
            ..TagInfo::named(*name)
        })
        .collect();
    table(&["reg.io/acme/app"], infos)
}

/// The registry's gate, with `verdicts` by tag index.
fn gated(verdicts: &[(u64, Verdict)]) -> Standing {
    let gate = Arc::new(Gate::new(None, vec![], vec![], vec!["linux/amd64".into()]).unwrap());
    let mut standing = Standing::default();
    for (n, verdict) in verdicts {
        let key = (gate.id.clone(), digest(*n));
        standing.trust.verdicts.insert(key, verdict.clone());
    }
    let gates = [(RegistryId::new("reg.io/acme"), gate)]
        .into_iter()
        .collect();
    standing.trust.registry_gates = Arc::new(gates);
    standing
}

fn trusted() -> Verdict {
    Verdict::Trusted {
        by: Some("ci".into()),
    }
}

fn refused(why: &str) -> Verdict {
    Verdict::Refused { why: why.into() }
}

#[test]
fn the_newest_eligible_tag_wins_and_the_reason_names_what_was_passed_over() {
    let tags = versions(&["1.0.0", "1.1.0", "1.2.0", "1.3.0"]);
    let standing = gated(&[
        (1, trusted()),
        (2, refused("missing linux/arm64")),
        (3, refused("unsigned")),
    ]);
    let planned = plan(
        &repo(),
        &scan("prod/app.yaml", TEXT),
        &tags,
        &standing,
        UNIX_EPOCH,
    );
    assert_eq!(apply_text(TEXT, &planned), TEXT.replace("1.0.0", "1.1.0"));
    assert!(
        planned.changes[0]
            .reason
            .ends_with("signed by ci; passed over 1.3.0 (unsigned), 1.2.0 (missing linux/arm64)"),
        "{}",
        planned.changes[0].reason
    );
}

#[test]
fn nothing_unjudged_is_chosen_and_nothing_refused_ever_is() {
    let tags = versions(&["1.0.0", "1.1.0", "1.2.0"]);
    let files = scan("prod/app.yaml", TEXT);
    // 1.2.0 not judged yet: the reference waits, although 1.1.0 passed.
    let waiting = plan(
        &repo(),
        &files,
        &tags,
        &gated(&[(1, trusted())]),
        UNIX_EPOCH,
    );
    assert!(waiting.is_empty());
    assert_eq!(
        waiting.kept[0].reason,
        KeptReason::Unverified {
            tag: "1.2.0".into()
        }
    );
    // Everything newer refused: the reference stays, saying why.
    let standing = gated(&[(1, refused("unsigned")), (2, refused("unsigned"))]);
    let kept = plan(&repo(), &files, &tags, &standing, UNIX_EPOCH);
    assert!(kept.is_empty());
    assert_eq!(
        kept.kept[0].reason.to_string(),
        "no newer tag passed the trust gate: 1.2.0 (unsigned), 1.1.0 (unsigned)"
    );
}

#[test]
fn a_deploy_request_passes_the_same_gate_forced_or_not() {
    let tags = versions(&["1.0.0", "1.1.0"]);
    let files = scan("prod/app.yaml", TEXT);
    for force in [false, true] {
        let order = DeployOrder {
            id: "d1".into(),
            image: "reg.io/acme/app".into(),
            tag: "1.1.0".into(),
            files: Vec::new(),
            reason: None,
            force,
        };
        let repo = repo();
        let deploying = |standing: Standing| {
            let inputs = Inputs {
                repo: &repo,
                tags: &tags,
                standing: &standing,
                now: UNIX_EPOCH,
            };
            deploy(&inputs, &files, &order)
        };
        let refusal = deploying(gated(&[(1, refused("unsigned"))])).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "1.1.0 does not pass the trust gate of prod/app.yaml:1:4: unsigned"
        );
        let unjudged = deploying(gated(&[])).unwrap_err();
        assert!(
            matches!(unjudged, DeployRefusal::Untrusted { .. }),
            "{unjudged}"
        );
        let planned = deploying(gated(&[(1, trusted())])).unwrap();
        assert_eq!(apply_text(TEXT, &planned), TEXT.replace("1.0.0", "1.1.0"));
    }
}

/// The test repo with `pin: digest` on every rule.
fn pinning_repo() -> Repo {
    let text = CONFIG.replace("    files: [.]\n", "    files: [.]\n    pin: digest\n");
    let loaded = parse(Path::new("laminar.yaml"), &text, &Environment::default()).unwrap();
    loaded.config.repos.into_iter().next().unwrap()
}

#[test]
fn a_pinned_tag_pushed_again_moves_to_its_new_digest_through_the_gate() {
    let text = format!("a: reg.io/acme/app:1.0.0@{}\n", digest(9));
    let files = scan("prod/app.yaml", &text);
    let tags = versions(&["1.0.0"]);
    let moved = plan(
        &pinning_repo(),
        &files,
        &tags,
        &gated(&[(0, trusted())]),
        UNIX_EPOCH,
    );
    assert_eq!(
        apply_text(&text, &moved),
        text.replace(&digest(9), &digest(0))
    );
    assert_eq!(
        moved.changes[0].reason,
        format!("1.0.0 was pushed again: its digest is now {}", digest(0))
    );
    let refused = plan(
        &pinning_repo(),
        &files,
        &tags,
        &gated(&[(0, refused("unsigned"))]),
        UNIX_EPOCH,
    );
    assert!(refused.is_empty());
    assert_eq!(
        refused.kept[0].reason,
        KeptReason::Untrusted {
            passed: vec![(format!("1.0.0@{}", digest(0)), "unsigned".into())]
        }
    );
    let waiting = plan(&pinning_repo(), &files, &tags, &gated(&[]), UNIX_EPOCH);
    assert!(matches!(
        waiting.kept[0].reason,
        KeptReason::Unverified { .. }
    ));
    // Without `pin: digest` the written digest is the user's to keep.
    let kept = plan(
        &repo(),
        &files,
        &tags,
        &gated(&[(0, trusted())]),
        UNIX_EPOCH,
    );
    assert_eq!(kept.kept[0].reason, KeptReason::Rule(Keep::UpToDate));
}

#[test]
fn pin_digest_fills_an_empty_helm_digest() {
    let values = "image:\n  repository: reg.io/acme/app\n  tag: \"1.0.0\"\n  digest: \"\"\n";
    let tags = versions(&["1.0.0", "1.1.0"]);
    let standing = gated(&[(1, trusted())]);
    let files = scan("prod/values.yaml", values);
    let pinned = plan(&pinning_repo(), &files, &tags, &standing, UNIX_EPOCH);
    let expected = values
        .replace("1.0.0", "1.1.0")
        .replace("digest: \"\"", &format!("digest: \"{}\"", digest(1)));
    assert_eq!(apply_text(values, &pinned), expected);
    // Without `pin: digest` the empty field stays empty.
    let unpinned = plan(&repo(), &files, &tags, &standing, UNIX_EPOCH);
    assert_eq!(
        apply_text(values, &unpinned),
        values.replace("1.0.0", "1.1.0")
    );
}
