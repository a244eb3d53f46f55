//! Verdicts on material made by `tests/sigstore/material.py` (a test Fulcio and Rekor).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use regex::Regex;

use super::*;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const RELEASE: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";
const OTHER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// One test root for the whole run.
fn material_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("laminar-trust-{}", std::process::id()));
        run(&["root", dir.to_str().unwrap()]);
        dir
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigstore/material.py")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `material.py sign|attest DIR DIGEST extra…`, as JSON.
fn made(command: &str, digest: &str, extra: &[&str]) -> serde_json::Value {
    let dir = material_dir().to_str().unwrap();
    let mut args = vec![command, dir, digest];
    args.extend_from_slice(extra);
    serde_json::from_str(&run(&args)).unwrap()
}

fn legacy(value: &serde_json::Value) -> LegacySignature {
    use base64::Engine;
    LegacySignature {
        payload: base64::engine::general_purpose::STANDARD
            .decode(value["payload"].as_str().unwrap())
            .unwrap(),
        signature: value["signature"].as_str().unwrap().into(),
        certificate: value["certificate"].as_str().map(str::to_string),
        chain: None,
        rekor: Some(value["bundle"].to_string()),
    }
}

fn keyless(subject: Identity) -> Signer {
    Signer::Keyless {
        issuer: ISSUER.into(),
        subject,
    }
}

fn gate(signers: Vec<Signer>, attestations: Vec<AttestationRule>, platforms: &[&str]) -> Gate {
    let root = std::fs::read_to_string(material_dir().join("trusted_root.json")).unwrap();
    let platforms = platforms.iter().map(|p| p.to_string()).collect();
    Gate::new(Some(&root), signers, attestations, platforms).unwrap()
}

fn release_gate() -> Gate {
    gate(vec![keyless(Identity::Exact(RELEASE.into()))], vec![], &[])
}

fn key(name: &str) -> Signer {
    let pem = std::fs::read_to_string(material_dir().join(format!("{name}.pub"))).unwrap();
    Gate::key(&pem, name).unwrap()
}

fn signed_legacy(extra: &[&str]) -> Evidence {
    Evidence {
        legacy: vec![legacy(&made("sign", DIGEST, extra))],
        ..Evidence::default()
    }
}

fn bundles(bundles: &[serde_json::Value]) -> Evidence {
    Evidence {
        bundles: bundles.iter().map(|b| b.to_string().into_bytes()).collect(),
        ..Evidence::default()
    }
}

fn refusal(verdict: Verdict) -> String {
    match verdict {
        Verdict::Refused { why } => why,
        trusted => panic!("expected a refusal, got {trusted:?}"),
    }
}

#[test]
fn a_keyless_cosign_signature_by_the_release_workflow_is_trusted() {
    let verdict = check(&release_gate(), DIGEST, &signed_legacy(&[]));
    assert_eq!(
        verdict,
        Verdict::Trusted {
            by: Some(RELEASE.into())
        }
    );
}

#[test]
fn no_signature_is_unsigned() {
    assert_eq!(
        refusal(check(&release_gate(), DIGEST, &Evidence::default())),
        "unsigned"
    );
}

#[test]
fn a_signature_by_another_workflow_says_who_signed() {
    let other = "https://github.com/acme/other/.github/workflows/ci.yml@refs/heads/main";
    let why = refusal(check(
        &release_gate(),
        DIGEST,
        &signed_legacy(&["--identity", other]),
    ));
    assert_eq!(why, format!("signed by {other} ({ISSUER})"));
}

#[test]
fn subject_regexes_match_whole_identities() {
    let regex = Regex::new("^https://github\\.com/acme/.*@refs/heads/main$").unwrap();
    let gate = gate(vec![keyless(Identity::Regex(regex))], vec![], &[]);
    assert!(check(&gate, DIGEST, &signed_legacy(&[])).trusted());
}

#[test]
fn an_expired_certificate_without_a_timestamp_in_its_lifetime_is_refused() {
    let why = refusal(check(
        &release_gate(),
        DIGEST,
        &signed_legacy(&["--expired"]),
    ));
    assert!(why.starts_with("bad signature:"), "{why}");
}

#[test]
fn a_signature_copied_from_another_digest_is_refused() {
    let why = refusal(check(
        &release_gate(),
        DIGEST,
        &signed_legacy(&["--payload-digest", OTHER]),
    ));
    assert_eq!(why, "signature names another digest");
}

#[test]
fn a_tampered_payload_is_refused() {
    let why = refusal(check(
        &release_gate(),
        DIGEST,
        &signed_legacy(&["--tamper"]),
    ));
    assert!(why.starts_with("bad signature:"), "{why}");
}

#[test]
fn key_signatures_verify_against_the_configured_key_only() {
    let signed = signed_legacy(&["--key", "cosign"]);
    let trusted = gate(vec![key("cosign")], vec![], &[]);
    assert_eq!(
        check(&trusted, DIGEST, &signed),
        Verdict::Trusted {
            by: Some("key cosign".into())
        }
    );
    let other = gate(vec![key("other")], vec![], &[]);
    assert_eq!(
        refusal(check(&other, DIGEST, &signed)),
        "signed with a key that is not trusted"
    );
}

#[test]
fn cosign_3_bundles_name_the_digest_in_their_statement() {
    let bundle = made("sign", DIGEST, &["--format", "bundle"]);
    let verdict = check(
        &release_gate(),
        DIGEST,
        &bundles(std::slice::from_ref(&bundle)),
    );
    assert!(verdict.trusted(), "{verdict}");
    // The same bundle is no signature of another digest.
    assert!(!check(&release_gate(), OTHER, &bundles(&[bundle])).trusted());
    let keyed = made("sign", DIGEST, &["--format", "bundle", "--key", "cosign"]);
    let gate = gate(vec![key("cosign")], vec![], &[]);
    assert!(check(&gate, DIGEST, &bundles(&[keyed])).trusted());
}

fn provenance(fields: Vec<FieldMatch>) -> AttestationRule {
    AttestationRule {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        signers: None,
        fields,
    }
}

#[test]
fn attestations_must_be_there_signed_and_say_what_is_asked() {
    let builder = FieldMatch {
        path: "runDetails.builder.id".into(),
        expected: "https://github.com/actions/runner".into(),
    };
    let predicate = r#"{"runDetails": {"builder": {"id": "https://github.com/actions/runner"}}}"#;
    let signature = made("sign", DIGEST, &["--format", "bundle"]);
    let slsa = made("attest", DIGEST, &["--predicate", predicate]);
    let signers = vec![keyless(Identity::Exact(RELEASE.into()))];
    let gated = gate(
        signers.clone(),
        vec![provenance(vec![builder.clone()])],
        &[],
    );
    assert!(check(&gated, DIGEST, &bundles(&[signature.clone(), slsa])).trusted());
    assert_eq!(
        refusal(check(
            &gated,
            DIGEST,
            &bundles(std::slice::from_ref(&signature))
        )),
        "no https://slsa.dev/provenance/v1 attestation"
    );
    let elsewhere = made("attest", DIGEST, &["--predicate", r#"{"runDetails": {}}"#]);
    assert_eq!(
        refusal(check(&gated, DIGEST, &bundles(&[signature, elsewhere]))),
        "https://slsa.dev/provenance/v1 attestation: runDetails.builder.id is not \"https://github.com/actions/runner\""
    );
}

#[test]
fn every_required_platform_must_be_in_the_index() {
    let gate = gate(vec![], vec![], &["linux/amd64", "linux/arm64"]);
    let half = Evidence {
        platforms: vec!["linux/amd64".into()],
        ..Evidence::default()
    };
    assert_eq!(refusal(check(&gate, DIGEST, &half)), "missing linux/arm64");
    let whole = Evidence {
        platforms: vec!["linux/amd64".into(), "linux/arm64/v8".into()],
        ..Evidence::default()
    };
    assert!(check(&gate, DIGEST, &whole).trusted());
}

#[test]
fn hostile_bundles_and_payloads_are_refusals_not_panics() {
    let evidence = Evidence {
        bundles: vec![
            b"{".to_vec(),
            vec![0xff; 64],
            b"{\"mediaType\": 1}".to_vec(),
        ],
        legacy: vec![LegacySignature {
            payload: b"\x00\x01".to_vec(),
            signature: "!!".into(),
            certificate: Some("-----BEGIN CERTIFICATE-----\n!!\n".into()),
            chain: None,
            rekor: Some("[]".into()),
        }],
        platforms: vec![],
    };
    assert!(!check(&release_gate(), DIGEST, &evidence).trusted());
}

/// sigstore-python's verdict on `bundle` as a statement about `digest` by the release workflow.
fn second_opinion(bundle: &serde_json::Value, digest: &str) -> bool {
    let file = material_dir().join(format!("cross-{}.json", rand::random::<u64>()));
    std::fs::write(&file, bundle.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigstore/verify.py");
    let root = material_dir().join("trusted_root.json");
    let out = Command::new("python3")
        .arg(script)
        .args([root.as_os_str(), file.as_os_str()])
        .args([digest, RELEASE, ISSUER])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim() == "trusted"
}

#[test]
fn sigstore_python_agrees_on_every_bundle() {
    let other = "https://github.com/acme/other/.github/workflows/ci.yml@refs/heads/main";
    let cases: [(&str, &[&str]); 6] = [
        ("signed", &["--format", "bundle"]),
        ("expired", &["--format", "bundle", "--expired"]),
        ("tampered", &["--format", "bundle", "--tamper"]),
        ("by another", &["--format", "bundle", "--identity", other]),
        (
            "of another digest",
            &["--format", "bundle", "--payload-digest", OTHER],
        ),
        ("attested", &[]),
    ];
    for (case, extra) in cases {
        let command = if extra.is_empty() { "attest" } else { "sign" };
        let bundle = made(command, DIGEST, extra);
        let predicate = match command {
            "sign" => COSIGN_SIGN_PREDICATE,
            _ => "https://slsa.dev/provenance/v1",
        };
        // Both kinds of bundle are statements: judged as an attestation by the workflow.
        let gate = gate(
            vec![],
            vec![AttestationRule {
                predicate_type: predicate.into(),
                signers: Some(vec![keyless(Identity::Exact(RELEASE.into()))]),
                fields: vec![],
            }],
            &[],
        );
        let ours = check(&gate, DIGEST, &bundles(std::slice::from_ref(&bundle)));
        assert_eq!(
            ours.trusted(),
            second_opinion(&bundle, DIGEST),
            "{case}: {ours}"
        );
        assert_eq!(
            ours.trusted(),
            matches!(case, "signed" | "attested"),
            "{case}: {ours}"
        );
    }
}

#[test]
fn ed25519_rsa_and_ecdsa_public_keys_are_read_and_anything_else_refused() {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, ec\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             for k in (ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())):\n\
             \x20   print(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end='')",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pems = String::from_utf8(out.stdout).unwrap();
    let keys: Vec<&str> = pems.split_inclusive("-----END PUBLIC KEY-----\n").collect();
    assert_eq!(keys.len(), 3);
    for pem in keys {
        assert!(Gate::key(pem, "k").is_ok(), "{pem}");
    }
    let err = Gate::key(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "junk",
    );
    assert!(err.unwrap_err().to_string().starts_with("public key junk:"));
}
