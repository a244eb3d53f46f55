use super::*;
use crate::policy::version::parse_version as tag_version;

/// Masterminds' own constraint checks (see the file's header).
const MASTERMINDS: &str = include_str!("../masterminds.tsv");

fn holds(constraint: &str, version: &str) -> bool {
    let version = tag_version(version).unwrap_or_else(|| panic!("{version} is a version"));
    Constraint::parse(constraint)
        .unwrap_or_else(|e| panic!("{constraint:?}: {e}"))
        .matches(&version)
}

#[test]
fn every_masterminds_check_gives_its_answer() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in MASTERMINDS.lines().filter(|l| !l.starts_with('#')) {
        let [constraint, version, expected] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("bad line {line:?}");
        };
        checked += 1;
        if holds(constraint, version) != (expected == "true") {
            wrong.push(format!("{constraint:?} {version}: expected {expected}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked > 200, "{checked}");
}

#[test]
fn a_bare_version_pins_and_a_partial_one_is_a_wildcard() {
    assert!(holds("1.2.3", "1.2.3"));
    assert!(!holds("1.2.3", "1.2.4"), "not a caret range");
    assert!(holds("2.1", "2.1.9"));
    assert!(!holds("2.1", "2.2.0"));
    assert!(holds("v1.2.x", "1.2.7"));
    assert!(holds(">=v1.2.0 <2", "1.9.0"));
}

#[test]
fn the_prerelease_idiom_admits_prereleases_in_the_whole_range() {
    assert!(holds(">=1.2.0-0", "1.5.0-rc.1"));
    assert!(!holds(">=1.2.0", "1.5.0-rc.1"));
    assert!(holds("^1.x-0", "1.9.0-beta"));
}

#[test]
fn refused_constraints_say_why_and_suggest_a_spelling() {
    let err = Constraint::parse(">=1.2.0 && <2").unwrap_err();
    assert!(err.message.contains("invalid semver range"), "{err}");
    assert_eq!(err.suggestion.as_deref(), Some(">=1.2.0   <2"));
    let err = Constraint::parse("==1.2").unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("=1.2"));
    let err = Constraint::parse("1.2 | 1.4").unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("1.2 || 1.4"));
    for bad in [">=", "1.2.3.4", "latest", ">=1.2.0,", "1.2.03-01"] {
        assert!(Constraint::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_rule_pattern_and_a_range_on_the_whole_tag_agree_on_every_check() {
    use crate::policy::{Pattern, Policy};
    for line in MASTERMINDS.lines().filter(|l| !l.starts_with('#')) {
        let [constraint, version, _] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("bad line {line:?}");
        };
        let pattern = Pattern::parse(&format!("semver:{constraint}")).unwrap();
        let ranged = Policy::new(Pattern::parse("glob:*").unwrap(), &[], None, None)
            .unwrap()
            .with_range(constraint)
            .unwrap();
        assert_eq!(
            pattern.matches(version),
            ranged.allows(version),
            "{constraint:?} {version}"
        );
    }
}
