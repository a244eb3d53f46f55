//! Promotion chain keys: what a following rule inherits, and each mistake located.

use super::*;

fn envs(rules: &str, more: &str) -> String {
    format!(
        "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: envs\n  url: file:///srv/envs.git\n  branch: main\n{more}  updates:\n  \
         - name: dev\n    pattern: semver:^1\n    files: [dev/]\n{rules}"
    )
}

#[test]
fn a_following_rule_without_a_pattern_orders_tags_as_its_upstream() {
    let loaded = ok(&envs(
        "  - name: staging\n    follow: dev\n    soak: 1d\n    exclude: [\"*-rc*\"]\n    files: [staging/]\n  \
         - follow: staging\n    files: [prod/]\n    window: \"Mon-Fri 09:00-16:00 Europe/Berlin\"\n",
        "",
    ));
    let rules = &loaded.config.repos[0].updates;
    assert_eq!(rules[1].policy.pattern.to_string(), "semver:^1");
    assert!(rules[1].policy.excludes("1.2.0-rc1"));
    assert_eq!(
        rules[2].policy.pattern.to_string(),
        "semver:^1",
        "inherited through two stages"
    );
    let follow = rules[1].follow.as_ref().unwrap();
    assert_eq!(
        (follow.repo.as_str(), follow.rule.as_str()),
        ("envs", "dev")
    );
    assert_eq!(follow.soak, Some(Duration::from_secs(86_400)));
    assert!(rules[2].window.is_some());
}

#[test]
fn chain_mistakes_are_located() {
    for (rules, more, says) in [
        (
            "  - name: dev\n    follow: dev\n    files: [x/]\n",
            "",
            "laminar.yaml:11:5: repo envs has two rules named dev",
        ),
        (
            "  - follow: qa\n    files: [x/]\n",
            "",
            "laminar.yaml:11:13: follow: no rule named qa in repo envs",
        ),
        (
            "  - pattern: semver:^1\n    files: [x/]\n    soak: 1h\n",
            "",
            "laminar.yaml:13:11: only a rule with follow: waits on its upstream",
        ),
        (
            "  - follow: dev\n    files: [x/]\n    requireChecks: [e2e]\n",
            "",
            "laminar.yaml:11:13: requireChecks reads repo envs's commit checks: give that repo forge:",
        ),
        (
            "  - follow: dev\n    files: [x/]\n    sort: semver\n",
            "",
            "laminar.yaml:11:5: sort needs a pattern: a following rule without one orders tags as the rule it follows",
        ),
        (
            "  - follow: dev\n    files: [x/]\n    requireHealthy: {http: {url: ftp://x}}\n",
            "",
            "laminar.yaml:13:34: expected an http:// or https:// URL",
        ),
        (
            "  - follow: dev\n    files: [x/]\n    window: \"Mon-Fri 09:00-16:00 Mars/Olympus\"\n",
            "",
            "laminar.yaml:13:13: unknown time zone \"Mars/Olympus\"",
        ),
        (
            "  - name: \"bad name\"\n    follow: dev\n    files: [x/]\n",
            "",
            "laminar.yaml:11:11: invalid rule name \"bad name\"",
        ),
    ] {
        let found = errors(&envs(rules, more));
        assert!(found.contains(says), "expected {says:?} in:\n{found}");
    }
}

#[test]
fn a_repos_own_file_may_not_make_chains() {
    let remote = "updates:\n- pattern: semver:^1\n  files: [x/]\n  follow: dev\n  soak: 1h\n";
    let err = crate::config::parse_remote(Path::new(".laminar.yaml"), remote).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(".laminar.yaml:4:11: promotion chains are set by the operator's config, not a repo's own"),
        "{text}"
    );
    assert!(
        text.contains(".laminar.yaml:5:9: promotion chains"),
        "{text}"
    );
}
