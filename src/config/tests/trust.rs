//! `verify:` blocks and `pin:`: trust material read now, capped, with located errors; a repo's
//! own config may not choose whom to trust.

use super::*;

/// MINIMAL with `block` under its one rule (indented for a rule's keys).
fn with_rule_keys(block: &str) -> String {
    MINIMAL.replace(
        "    files: [dev/]\n",
        &format!("    files: [dev/]\n{block}"),
    )
}

const KEYLESS: &str = "    verify:\n      keyless:\n      - issuer: https://token.actions.githubusercontent.com\n        subject: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main\n";

#[test]
fn a_rule_gate_and_a_registry_gate_are_compiled() {
    let config = ok(&with_rule_keys(&format!("    pin: digest\n{KEYLESS}"))).config;
    let rule = &config.repos[0].updates[0];
    assert!(rule.pin_digest);
    let gate = rule.gate.as_ref().expect("the rule's gate");
    assert_eq!(gate.signers.len(), 1);
    let registry = MINIMAL.replace(
        "- reg: reg.io/acme\n",
        "- reg: reg.io/acme\n  verify:\n    platforms: [linux/amd64, linux/arm64/v8]\n",
    );
    let config = ok(&registry).config;
    let gate = config.registries[0]
        .gate
        .as_ref()
        .expect("the registry's gate");
    assert_eq!(gate.platforms, ["linux/amd64", "linux/arm64/v8"]);
}

#[test]
fn trust_material_that_cannot_be_used_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pub");
    std::fs::write(&garbage, "-----BEGIN PUBLIC KEY-----\nnot base64\n").unwrap();
    let missing = dir.path().join("missing.pub");
    let fifo = dir.path().join("fifo.pub");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = dir.path().join("root.json");
    std::fs::write(&huge, vec![b' '; 5 * 1024 * 1024]).unwrap();
    let text = with_rule_keys(&format!(
        "    verify:\n      cosign:\n        keys: [{}, {}, {}]\n      trustedRoot: {}\n",
        garbage.display(),
        missing.display(),
        fifo.display(),
        huge.display()
    ));
    let errors = errors(&text);
    for expected in [
        "laminar.yaml:12:16: public key",
        "not a regular file",
        "No such file",
        "larger than 4194304 bytes",
    ] {
        assert!(errors.contains(expected), "{expected:?} in {errors}");
    }
}

#[test]
fn identities_patterns_and_blocks_are_checked() {
    let both = with_rule_keys(&KEYLESS.replace(
        "        subject:",
        "        subjectRegex: \"(\"\n        subject:",
    ));
    assert!(
        errors(&both).contains("exactly one of subject and subjectRegex"),
        "{}",
        errors(&both)
    );
    let bad =
        with_rule_keys(&KEYLESS.replace("        subject: ", "        subjectRegex: \"(\"\n#"));
    assert!(
        errors(&bad).contains("invalid subjectRegex"),
        "{}",
        errors(&bad)
    );
    let empty = with_rule_keys("    verify: {}\n");
    assert!(
        errors(&empty).contains("verify needs cosign keys"),
        "{}",
        errors(&empty)
    );
    let unsigned_attestation = with_rule_keys(
        "    verify:\n      attestations:\n      - predicateType: https://slsa.dev/provenance/v1\n",
    );
    assert!(
        errors(&unsigned_attestation).contains("needs the block's cosign keys"),
        "{}",
        errors(&unsigned_attestation)
    );
    let platform = with_rule_keys("    verify:\n      platforms: [linux]\n");
    assert_eq!(
        errors(&platform),
        "laminar.yaml:11:19: invalid platform \"linux\": expected os/architecture[/variant]"
    );
    let pin = with_rule_keys("    pin: tag\n");
    assert!(
        errors(&pin).contains("unknown pin \"tag\""),
        "{}",
        errors(&pin)
    );
}

#[test]
fn a_repos_own_config_may_not_choose_whom_to_trust() {
    let remote =
        "updates:\n- pattern: semver:^1\n  files: [.]\n  verify:\n    platforms: [linux/amd64]\n";
    let err = crate::config::parse_remote(Path::new(".laminar.yaml"), remote)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("verify is set by the operator's config, not a repo's own"),
        "{err}"
    );
}
