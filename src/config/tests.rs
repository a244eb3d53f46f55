use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env() -> Environment {
    Environment {
        home: Some(PathBuf::from("/home/op")),
        ..Environment::default()
    }
}

fn ok(text: &str) -> Loaded {
    match parse(Path::new("laminar.yaml"), text, &env()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn errors(text: &str) -> String {
    match parse(Path::new("laminar.yaml"), text, &env()) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "\
dockerRegistries:
- reg: reg.io/acme
git:
- name: manifests
  url: file:///srv/manifests.git
  branch: main
  updates:
  - pattern: glob:develop-*
    files: [dev/]
";

#[test]
fn a_minimal_config_gets_defaults() {
    let config = ok(MINIMAL).config;
    assert_eq!(config.global.git_user, "laminar");
    assert_eq!(config.global.data_dir, PathBuf::from(".laminar"));
    assert_eq!(config.global.listen.to_string(), "0.0.0.0:8080");
    assert!(!config.global.allow_remote_exec);
    assert_eq!(config.registries[0].name, "reg.io/acme");
    let repo = &config.repos[0];
    assert_eq!(repo.poll_freq, Duration::from_secs(60));
    assert_eq!(repo.updates[0].files, [PathBuf::from("dev")]);
    assert_eq!(repo.updates[0].policy.order, crate::policy::Order::Time);
}

#[test]
fn the_example_config_is_valid_and_uses_every_alias() {
    let loaded = ok(include_str!("../../laminar.example.yaml"));
    let config = &loaded.config;
    assert_eq!(config.repos.len(), 1);
    assert_eq!(config.update_rule_count(), 4);
    assert_eq!(config.registries.len(), 4);
    assert_eq!(config.registries[3].kind, RegistryKind::Gar);
    assert_eq!(
        config.registries[3].auth,
        Some(RegistryAuth::Identity(CloudIdentity::Gcp {
            metadata_host: "metadata.google.internal".into()
        }))
    );
    let repo = &config.repos[0];
    assert_eq!(repo.key, Some(PathBuf::from("/home/op/example_ssh_id_rsa")));
    assert_eq!(repo.poll_freq, Duration::from_secs(120));
    assert_eq!(repo.exec, ["kapitan compile"]);
    assert_eq!(
        repo.updates[2].files,
        [PathBuf::from("staging/values.yaml")]
    );
    assert!(!repo.updates[2].policy.allows("release-2-rc1"));
    // The key and known_hosts files do not exist here: warnings, not errors.
    let warnings = loaded
        .warnings
        .expect("missing files are warned about")
        .to_string();
    assert!(
        warnings.contains("example_ssh_id_rsa does not exist"),
        "{warnings}"
    );
}

#[test]
fn go_laminar_configs_are_accepted() {
    let text = "\
global:
  gitUser: Laminar
  gitEmail: laminar@myorg.com
  gitMessage: automated promotion
  gitHubToken: abc
dockerRegistries:
- reg: gcr.io/myorg
  name: gcr
  timeOut: 60
git:
- name: myrepo
  url: git@github.com:digtux/laminar-example.git
  branch: master
  pollFreq: 120
  remoteConfig: true
  preCommitCommands: [make]
  updates:
  - pattern: glob:develop-*
    files:
    - path: inventory/classes/images-dev.yml
    - path: compiled/
    blacklist:
    - pattern: develop-bad
";
    let loaded = ok(text);
    let config = loaded.config;
    assert_eq!(
        config.global.commit_message.as_deref(),
        Some("automated promotion")
    );
    assert_eq!(config.registries[0].timeout, Duration::from_secs(60));
    assert_eq!(config.repos[0].exec, ["make"]);
    assert!(config.repos[0].remote_config);
    assert!(!config.repos[0].updates[0].policy.allows("develop-bad"));
    let warnings = loaded.warnings.unwrap().to_string();
    assert!(
        warnings.contains("laminar.yaml:5:16: gitHubToken is not used"),
        "{warnings}"
    );
}

#[test]
fn every_error_is_reported_with_its_location() {
    let text = "\
global:
  listen: nowhere
dockerRegistries:
- reg: reg.io/Acme
- reg: reg.io/a
  name: dup
- reg: reg.io/b
  name: dup
git:
- name: manifests
  url: file:///srv/m.git
  branch: main
  pollfreq: 10
  updates:
  - pattern: develop-*
    files: [/etc]
  - pattern: regex:(
    files: [../x]
    exclude: ['a[']
  - pattern: semver:^^1
    files: [a]
  - pattern: glob:x
    files: [a]
    extract: '^x$'
  - pattern: glob:y
    files: []
    sort: newest
- name: manifests
  url: u
  branch: b
  updates: []
";
    let report = errors(text);
    let expected = [
        "laminar.yaml:2:11: invalid listen address \"nowhere\": expected host:port",
        "laminar.yaml:4:8: invalid registry prefix \"reg.io/Acme\"",
        "laminar.yaml:7:3: duplicate registry name \"dup\"",
        "laminar.yaml:15:14: pattern \"develop-*\" has no type",
        "laminar.yaml:16:13: invalid path \"/etc\": must be relative to the repository root",
        "laminar.yaml:17:14: invalid regex \"(\"",
        "laminar.yaml:18:13: invalid path \"../x\": must not contain \"..\"",
        "laminar.yaml:19:15: invalid exclude glob \"a[\"",
        "laminar.yaml:20:14: invalid semver range \"^^1\"",
        "laminar.yaml:24:14: extract regex \"^x$\" has no capture group to sort on",
        "laminar.yaml:26:12: files must list at least one file or directory",
        "laminar.yaml:27:11: unknown sort \"newest\"",
        "laminar.yaml:13:3: unknown key \"pollfreq\" (did you mean \"pollFreq\"?)",
        "laminar.yaml:31:12: updates must list at least one rule",
        "laminar.yaml:28:3: duplicate repo name \"manifests\"",
    ];
    for line in expected {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    assert_eq!(report.lines().count(), expected.len(), "{report}");
}

#[test]
fn missing_required_keys_and_wrong_types() {
    let report = errors("dockerRegistries: {}\ngit:\n- url: x\n  pollFreq: -5\n  exec: make\n");
    for line in [
        "laminar.yaml:1:19: expected a list, found a mapping",
        "laminar.yaml:3:3: missing key \"name\"",
        "laminar.yaml:3:3: missing key \"branch\"",
        "laminar.yaml:4:13: expected a positive number of seconds",
        "laminar.yaml:5:9: expected a list, found a string",
        "laminar.yaml:3:3: missing key \"updates\"",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
}

#[test]
fn yaml_syntax_errors_are_located() {
    let report = errors("git: [\n");
    assert!(report.starts_with("laminar.yaml:"), "{report}");
    let report = errors("git: 1\ngit: 2\n");
    assert!(
        report.starts_with("laminar.yaml:2:1: duplicate"),
        "{report}"
    );
}

#[test]
fn durations_listen_and_paths_are_normalised() {
    let text = MINIMAL
        .replace("  branch: main\n", "  branch: main\n  pollFreq: 5m\n")
        .replace("files: [dev/]", "files: [./dev/, ., a/./b/]")
        .replace(
            "dockerRegistries:",
            "global:\n  listen: ':9090'\n  dataDir: ~/state\ndockerRegistries:",
        );
    let config = ok(&text).config;
    assert_eq!(config.repos[0].poll_freq, Duration::from_secs(300));
    assert_eq!(config.global.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(config.global.data_dir, PathBuf::from("/home/op/state"));
    let files: Vec<_> = config.repos[0].updates[0]
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files, ["dev", ".", "a/b"]);
}

#[test]
fn the_data_dir_defaults_to_the_xdg_state_home() {
    let env = Environment {
        xdg_state_home: Some(PathBuf::from("/state")),
        ..Environment::default()
    };
    let config = parse(Path::new("c.yaml"), MINIMAL, &env).unwrap().config;
    assert_eq!(config.global.data_dir, PathBuf::from("/state/laminar"));
}

#[test]
fn rules_are_chosen_by_file_and_by_the_current_tag() {
    let text = MINIMAL.replace(
        "    files: [dev/]\n",
        "    files: [dev/]\n  - pattern: glob:release-*\n    files: [dev/app.yaml, prod]\n",
    );
    let repo = &ok(&text).config.repos[0];
    let pattern = |path: &str, tag: &str| {
        repo.rule_for(Path::new(path), tag)
            .map(|r| r.policy.pattern.to_string())
    };
    assert_eq!(
        pattern("dev/app.yaml", "develop-1").as_deref(),
        Some("glob:develop-*")
    );
    assert_eq!(
        pattern("dev/app.yaml", "release-1").as_deref(),
        Some("glob:release-*")
    );
    assert_eq!(pattern("dev/other.yaml", "release-1"), None);
    assert_eq!(pattern("prod/x.yaml", "develop-1"), None);
    assert_eq!(
        pattern("devx/app.yaml", "develop-1"),
        None,
        "dev/ covers dev/…, not devx/"
    );
    assert_eq!(
        repo.scan_paths(),
        [
            PathBuf::from("dev"),
            PathBuf::from("dev/app.yaml"),
            PathBuf::from("prod")
        ]
    );
}

#[test]
fn numbers_where_text_is_expected() {
    let config = ok(&MINIMAL.replace("branch: main", "branch: 2024")).config;
    assert_eq!(config.repos[0].branch, "2024");
    let report = errors(&MINIMAL.replace("branch: main", "branch: 1.10"));
    assert_eq!(
        report,
        "laminar.yaml:6:11: expected a string, found a number: quote it"
    );
}

#[test]
fn registry_options_auth_and_kinds() {
    let text = "\
dockerRegistries:
- reg: 1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp
  roleArn: arn:aws:iam::1122334455:role/laminar
- reg: ghcr.io/acme
  type: oci
  platform: linux/arm64/v8
  rateLimit: 2.5
  maxConcurrency: 2
  mutableTags: true
  auth:
    username: bot
    passwordEnv: GHCR_TOKEN
- reg: localhost:5000
  insecure: true
  auth:
    anonymous: true
- reg: docker.io/acme
  auth:
    dockerConfig: ~/.docker/config.json
git: []
";
    let config = ok(text).config;
    let [ecr, ghcr, local, hub] = &config.registries[..] else {
        panic!("four registries")
    };
    assert_eq!(ecr.kind, RegistryKind::Ecr);
    assert_eq!(ecr.ecr.region.as_deref(), Some("eu-west-2"));
    assert_eq!(ecr.ecr.registry_id.as_deref(), Some("1122334455"));
    assert_eq!(
        ecr.ecr.role_arn.as_deref(),
        Some("arn:aws:iam::1122334455:role/laminar")
    );
    assert_eq!(ghcr.kind, RegistryKind::Oci);
    assert_eq!(ghcr.platform.to_string(), "linux/arm64/v8");
    assert_eq!(
        (ghcr.rate_limit, ghcr.max_concurrency, ghcr.mutable_tags),
        (2.5, 2, true)
    );
    assert_eq!(
        ghcr.auth,
        Some(RegistryAuth::Basic {
            username: "bot".into(),
            password: SecretSource::Env("GHCR_TOKEN".into())
        })
    );
    assert_eq!(local.auth, Some(RegistryAuth::Anonymous));
    assert_eq!(
        hub.auth,
        Some(RegistryAuth::DockerConfig(PathBuf::from(
            "/home/op/.docker/config.json"
        )))
    );
    assert_eq!(
        config
            .registry_for("ghcr.io/acme/app")
            .map(|r| r.name.as_str()),
        Some("ghcr.io/acme")
    );
    assert!(config.registry_for("ghcr.io/acme-x/app").is_none());
}

#[test]
fn bad_registry_options_are_located() {
    let text = "\
dockerRegistries:
- reg: ghcr.io/acme
  type: artifactory
  platform: linux
  rateLimit: 0
  maxConcurrency: many
  auth:
    username: bot
    anonymous: true
- reg: reg.io
  auth:
    username: bot
git: []
";
    let report = errors(text);
    for line in [
        "laminar.yaml:3:9: unknown registry type \"artifactory\"",
        "laminar.yaml:4:13: invalid platform \"linux\"",
        "laminar.yaml:5:14: expected a positive number of requests per second",
        "laminar.yaml:6:19: expected a whole number from 1 to 1024",
        "laminar.yaml:8:5: auth needs exactly one of",
        "laminar.yaml:12:5: basic auth needs passwordEnv or passwordFile",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
}

#[test]
fn exec_env_names_are_listed_globally_and_per_repo() {
    let text = format!(
        "global:\n  execEnv: [NPM_TOKEN, _CACHE]\n{}  execEnv: [HELM_REPO_PASSWORD]\n",
        MINIMAL
    );
    let config = ok(&text).config;
    assert_eq!(config.global.exec_env, ["NPM_TOKEN", "_CACHE"]);
    assert_eq!(config.repos[0].exec_env, ["HELM_REPO_PASSWORD"]);
    let bad = errors(&format!("global:\n  execEnv: [\"A=B\"]\n{MINIMAL}"));
    assert_eq!(
        bad,
        "laminar.yaml:2:12: invalid environment variable name \"A=B\" in execEnv"
    );
}

#[test]
fn exec_paths_are_repo_relative() {
    let config = ok(&format!("{MINIMAL}  execPaths: [charts/, values.yaml]\n")).config;
    assert_eq!(
        config.repos[0].exec_paths,
        Some(vec![PathBuf::from("charts"), PathBuf::from("values.yaml")])
    );
    assert_eq!(ok(MINIMAL).config.repos[0].exec_paths, None);
    let bad = errors(&format!("{MINIMAL}  execPaths: [../secrets]\n"));
    assert!(
        bad.starts_with("laminar.yaml:") && bad.contains("invalid path \"../secrets\""),
        "{bad}"
    );
}

#[test]
fn an_endpoint_is_a_scheme_and_an_authority() {
    let with = |endpoint: &str, insecure: &str| {
        MINIMAL.replace(
            "- reg: reg.io/acme\n",
            &format!("- reg: docker.io\n  endpoint: {endpoint}\n{insecure}"),
        )
    };
    let config = ok(&with(
        "https://mirror.example:5000/",
        "  maxTags: 500\n  maxPages: 7\n  lookupsPerCycle: 20\n",
    ))
    .config;
    assert_eq!(
        config.registries[0].limits,
        ListLimits {
            max_pages: 7,
            max_tags: 500,
            lookups_per_cycle: 20,
        }
    );
    assert_eq!(
        config.registries[0].endpoint,
        Some(Endpoint {
            scheme: "https",
            authority: "mirror.example:5000".into()
        })
    );
    assert_eq!(
        config.registries[0].kind,
        RegistryKind::Oci,
        "a Hub mirror speaks the registry protocol"
    );
    let hub = ok(&MINIMAL.replace("- reg: reg.io/acme\n", "- reg: docker.io/library\n")).config;
    assert_eq!(hub.registries[0].kind, RegistryKind::Dockerhub);
    let scripted = ok(&with(
        "http://127.0.0.1:5000",
        "  insecure: true\n  type: dockerhub\n",
    ))
    .config;
    assert_eq!(scripted.registries[0].kind, RegistryKind::Dockerhub);
    let plain = ok(&with("http://127.0.0.1:5000", "  insecure: true\n")).config;
    assert_eq!(
        plain.registries[0].endpoint.as_ref().unwrap().scheme,
        "http"
    );
    assert!(errors(&with("http://127.0.0.1:5000", "")).contains("needs insecure: true"));
    assert!(errors(&with("https://h/v2/x", "")).contains("invalid endpoint"));
}

#[test]
fn a_semver_range_cargo_read_otherwise_gets_a_migration_note() {
    let text = MINIMAL.replace("glob:develop-*", "semver:1.2.3");
    let warnings = ok(&text)
        .warnings
        .map(|w| w.to_string())
        .unwrap_or_default();
    assert!(
        warnings.contains("laminar.yaml:8:14: semver:1.2.3 is read as Flux, Argo CD Image Updater and the Go laminar read it (Masterminds semver), not as Cargo reads it: "),
        "{warnings}"
    );
    assert!(warnings.contains("no longer matches"), "{warnings}");
    let same = MINIMAL.replace("glob:develop-*", "semver:^1.2");
    assert!(ok(&same).warnings.is_none());
}

#[test]
fn min_age_order_and_range_shape_a_rule() {
    let rule = "    minAge: 3d\n    order: desc\n    sort: numerical\n    extract: 'develop-(\\d+)'\n    range: \">=1 <100\"\n";
    let config = ok(&format!("{MINIMAL}{rule}")).config;
    let policy = &config.repos[0].updates[0].policy;
    assert_eq!(policy.min_age, Some(Duration::from_secs(3 * 86_400)));
    assert!(policy.allows("develop-9") && !policy.allows("develop-100"));
    let bad = errors(&format!("{MINIMAL}    minAge: soon\n    order: sideways\n"));
    assert!(
        bad.contains("laminar.yaml:10:13: expected a positive number of seconds"),
        "{bad}"
    );
    assert!(
        bad.contains("laminar.yaml:11:12: unknown order \"sideways\""),
        "{bad}"
    );
    let time = errors(&format!("{MINIMAL}    order: desc\n"));
    assert!(
        time.contains(
            "laminar.yaml:10:12: order: desc applies to sort: alphabetical and numerical only"
        ),
        "{time}"
    );
}

#[test]
fn time_source_picks_push_or_build_times() {
    let hub = |extra: &str| {
        MINIMAL.replace(
            "- reg: reg.io/acme\n",
            &format!("- reg: docker.io\n{extra}"),
        )
    };
    assert_eq!(
        ok(&hub("")).config.registries[0].kind.time_source(),
        "pushed"
    );
    let created = ok(&hub("  timeSource: created\n")).config;
    assert_eq!(created.registries[0].kind, RegistryKind::Oci);
    assert_eq!(created.registries[0].kind.time_source(), "created");
    let pushed = errors(&MINIMAL.replace(
        "- reg: reg.io/acme\n",
        "- reg: reg.io/acme\n  timeSource: pushed\n",
    ));
    assert!(
        pushed.contains("laminar.yaml:3:15: this registry gives no push times"),
        "{pushed}"
    );
    assert!(errors(&hub("  timeSource: soon\n")).contains("unknown timeSource \"soon\""));
}

#[test]
fn two_registries_may_not_share_a_prefix() {
    let text = MINIMAL.replace(
        "- reg: reg.io/acme\n",
        "- reg: reg.io/acme\n  name: one\n- reg: reg.io/acme/\n  name: two\n",
    );
    assert!(
        errors(&text).contains("duplicate registry prefix \"reg.io/acme\""),
        "{}",
        errors(&text)
    );
}

#[test]
fn artifact_registry_and_acr_are_known_by_their_hosts() {
    let kind = |reg: &str, extra: &str| {
        ok(&MINIMAL.replace("- reg: reg.io/acme\n", &format!("- reg: {reg}\n{extra}")))
            .config
            .registries[0]
            .kind
    };
    assert_eq!(
        kind("europe-docker.pkg.dev/proj/repo", ""),
        RegistryKind::Gar
    );
    assert_eq!(kind("acme.azurecr.io", ""), RegistryKind::Acr);
    assert_eq!(kind("acme.azurecr.cn/team", ""), RegistryKind::Acr);
    assert_eq!(kind("evil.azurecr.io.example.com", ""), RegistryKind::Oci);
    assert_eq!(kind("docker.pkg.dev", ""), RegistryKind::Oci);
    // Build times, through the registry protocol, are still one key away.
    assert_eq!(
        kind("acme.azurecr.io", "  timeSource: created\n"),
        RegistryKind::Oci
    );
    // `kind:` is read as `type:`.
    assert_eq!(kind("reg.example", "  kind: acr\n"), RegistryKind::Acr);
    assert_eq!(kind("reg.example", "  type: gar\n"), RegistryKind::Gar);
}

#[test]
fn cloud_identities_take_what_the_platform_put_in_the_environment() {
    let text = |identity: &str| {
        MINIMAL.replace(
            "- reg: reg.io/acme\n",
            &format!("- reg: acme.azurecr.io\n  auth:\n    identity: {identity}\n"),
        )
    };
    let mut env = env();
    let auth = |env: &Environment, identity: &str| {
        parse(Path::new("laminar.yaml"), &text(identity), env)
            .map(|loaded| loaded.config.registries[0].auth.clone())
    };
    assert_eq!(
        auth(&env, "gcp").unwrap(),
        Some(RegistryAuth::Identity(CloudIdentity::Gcp {
            metadata_host: "metadata.google.internal".into()
        }))
    );
    let missing = auth(&env, "azure").unwrap_err().to_string();
    assert!(
        missing.contains("laminar.yaml:4:15") && missing.contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{missing}"
    );
    env.cloud.insert("AZURE_CLIENT_ID", "client".into());
    env.cloud.insert("AZURE_TENANT_ID", "tenant".into());
    env.cloud
        .insert("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token".into());
    env.cloud
        .insert("GCE_METADATA_HOST", "169.254.169.254".into());
    assert_eq!(
        auth(&env, "azure").unwrap(),
        Some(RegistryAuth::Identity(CloudIdentity::Azure {
            client_id: "client".into(),
            tenant_id: "tenant".into(),
            token_file: PathBuf::from("/var/run/token"),
            authority: "https://login.microsoftonline.com/".into(),
        }))
    );
    assert_eq!(
        auth(&env, "gcp").unwrap(),
        Some(RegistryAuth::Identity(CloudIdentity::Gcp {
            metadata_host: "169.254.169.254".into()
        }))
    );
    let unknown = auth(&env, "aws").unwrap_err().to_string();
    assert!(unknown.contains("expected gcp or azure"), "{unknown}");
}

mod chain;
mod delivery;
mod shards;
mod trust;
