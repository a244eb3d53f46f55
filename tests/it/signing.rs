//! Signed commits, checked with the stock `git verify-commit`: SSH signatures against an
//! allowed-signers file, OpenPGP ones with gpg holding only the public key.

use std::path::{Path, PathBuf};
use std::process::Command;

use laminar::cycle::CycleResult;

use crate::fixtures::cycle::{APP, Fixture};
use crate::forge_fake::{FakeForge, Kind};
use crate::util::Dir;

/// `git verify-commit main` in `repo`, with `config` and `env`: (success, what git said).
fn verify(repo: &Path, config: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    verify_rev(repo, "main", config, env)
}

fn verify_rev(repo: &Path, rev: &str, config: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let mut command = Command::new("git");
    for setting in config {
        command.args(["-c", setting]);
    }
    let output = command
        .args(["verify-commit", "-v", rev])
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .current_dir(repo)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An ed25519 key protected by `passphrase`, and an allowed-signers file trusting it.
fn ssh_key(keys: &Dir, passphrase: &str) -> (PathBuf, PathBuf) {
    let key = keys.path().join("signing");
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "laminar",
            "-f",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = keys.write(
        "allowed_signers",
        format!("laminar@example.org namespaces=\"git\" {public}"),
    );
    (key, allowed)
}

fn signing(format: &str, key: &Path, passphrase: &Path) -> String {
    format!(
        "  signing:\n    format: {format}\n    keyFile: {}\n    passphraseFile: {}\n",
        key.display(),
        passphrase.display()
    )
}

#[tokio::test]
async fn ssh_signed_commits_verify_with_git() {
    let keys = Dir::new();
    let (key, allowed) = ssh_key(&keys, "s3cret");
    let passphrase = keys.write("passphrase", "s3cret\n");
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        &signing("ssh", &key, &passphrase),
    );
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", report.errors);
    let allowed = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let (good, said) = verify(&f.remote.bare, &["gpg.format=ssh", &allowed], &[]);
    assert!(good, "{said}");
    assert!(
        said.contains("Good \"git\" signature for laminar@example.org"),
        "{said}"
    );
    // Another key's signers file does not vouch for it.
    let (_, other) = ssh_key(&Dir::new(), "");
    let other = format!("gpg.ssh.allowedSignersFile={}", other.display());
    assert!(!verify(&f.remote.bare, &["gpg.format=ssh", &other], &[]).0);
}

#[tokio::test]
async fn pull_request_branches_are_signed_too() {
    let keys = Dir::new();
    let (key, allowed) = ssh_key(&keys, "");
    let passphrase = keys.write("passphrase", "\n");
    let github = FakeForge::start(Kind::Github, "ghp_test").await;
    let token = keys.write("token", "ghp_test");
    let pull = format!(
        "  pullRequest:\n    provider: github\n    apiUrl: {}\n    project: acme/manifests\n    tokenFile: {}\n",
        github.uri(),
        token.display()
    );
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        &(signing("ssh", &key, &passphrase) + &pull),
    );
    let main = f.remote.head();
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", report.errors);
    assert_eq!(f.remote.head(), main);
    let allowed = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let (good, said) = verify_rev(
        &f.remote.bare,
        "laminar/manifests/all",
        &["gpg.format=ssh", &allowed],
        &[],
    );
    assert!(good, "{said}");
}

#[tokio::test]
async fn a_wrong_passphrase_commits_nothing_unsigned() {
    let keys = Dir::new();
    let (key, _) = ssh_key(&keys, "s3cret");
    let passphrase = keys.write("passphrase", "guessed\n");
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        &signing("ssh", &key, &passphrase),
    );
    let before = f.remote.head();
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Failed);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("the passphrase does not unlock the key")
                && e.contains("nothing was committed")),
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| !e.contains("guessed")), "{errors:?}");
    assert_eq!(f.remote.head(), before);
}

#[tokio::test]
async fn openpgp_signed_commits_verify_with_gpg_holding_only_the_public_key() {
    let keys = Dir::new();
    let home = keys.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let gnupg = [("GNUPGHOME", home.as_path())];
    let unlock = [
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "s3cret",
    ];
    // A certification-only primary key with a signing subkey, as careful setups have it.
    let mut args = unlock.to_vec();
    args.extend([
        "--quick-gen-key",
        "Laminar <laminar@example.org>",
        "ed25519",
        "cert",
        "never",
    ]);
    run("gpg", &args, &gnupg);
    let listing = String::from_utf8(run(
        "gpg",
        &["--batch", "--with-colons", "--list-keys"],
        &gnupg,
    ))
    .unwrap();
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let mut args = unlock.to_vec();
    args.extend(["--quick-add-key", &fingerprint, "ed25519", "sign", "never"]);
    run("gpg", &args, &gnupg);
    let mut args = unlock.to_vec();
    args.extend(["--armor", "--export-secret-keys", &fingerprint]);
    let secret = keys.write("signing.asc", run("gpg", &args, &gnupg));
    let public = keys.write(
        "public.asc",
        run(
            "gpg",
            &["--batch", "--armor", "--export", &fingerprint],
            &gnupg,
        ),
    );
    run("gpgconf", &["--kill", "all"], &gnupg);
    // The verifier has the public key only.
    let verifier = keys.path().join("verifier");
    std::fs::create_dir(&verifier).unwrap();
    let verifier_env = [("GNUPGHOME", verifier.as_path())];
    run(
        "gpg",
        &["--batch", "--import", public.to_str().unwrap()],
        &verifier_env,
    );

    let passphrase = keys.write("passphrase", "s3cret");
    let mut f = Fixture::new(
        &[("dev/app.yaml", APP)],
        "",
        &signing("openpgp", &secret, &passphrase),
    );
    let report = f.run().await;
    assert_eq!(report.result, CycleResult::Updated, "{:?}", report.errors);
    let (good, said) = verify(&f.remote.bare, &[], &verifier_env);
    run("gpgconf", &["--kill", "all"], &verifier_env);
    assert!(good, "{said}");
    assert!(
        said.contains("Good signature from \"Laminar <laminar@example.org>\""),
        "{said}"
    );
}
