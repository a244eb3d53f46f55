//! ECR through its real API, served by moto; pagination (which moto does not do) scripted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use laminar::config::Registry;
use laminar::registry::{Options, Registries, RequestKind};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::registry::free_port;
use crate::util::Dir;

const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.eu-west-2.amazonaws.com";

struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    async fn start() -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is installed: run scripts/install-deps.sh");
        // Owned from here on, so the process is reaped even if it never comes up.
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/moto-api/", moto.endpoint))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    /// A client for moto, after creating the repository `name`.
    async fn repository(&self, name: &str) -> aws_sdk_ecr::Client {
        let client = self.client().await;
        client
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("create repository");
        client
    }

    async fn client(&self) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("eu-west-2"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn put_image(client: &aws_sdk_ecr::Client, repo: &str, tag: &str) {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": format!("sha256:{:064x}", tag.len())},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3, "digest": format!("sha256:{}", tag.bytes().map(|b| format!("{b:02x}")).collect::<String>().chars().cycle().take(64).collect::<String>())}],
    });
    client
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .expect("put image");
}

/// `laminar tags ARGS --config laminar.yaml` with an AWS environment of nothing but moto (or,
/// with `None`, no credentials at all and a dead endpoint).
fn laminar_tags_command(dir: &Dir, moto: Option<&str>, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = dir.laminar();
    cmd.arg("tags")
        .args(args)
        .arg("--config")
        .arg(dir.path().join("laminar.yaml"));
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-aws-credentials"),
        );
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ENDPOINT_URL_STS",
    ] {
        cmd.env_remove(var);
    }
    match moto {
        Some(endpoint) => cmd
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing"),
        None => cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
    };
    cmd
}

fn laminar_tags(dir: &Dir, moto: Option<&str>, args: &[&str]) -> std::process::Output {
    laminar_tags_command(dir, moto, args).output().unwrap()
}

fn config_dir() -> Dir {
    config_dir_with("")
}

/// A config with the ECR registry, plus `extra` registry keys.
fn config_dir_with(extra: &str) -> Dir {
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!("global:\n  dataDir: state\ndockerRegistries:\n- reg: {HOST}/acme\n  name: ecr\n{extra}git: []\n"),
    );
    dir
}

#[tokio::test]
async fn ecr_tags_come_with_digests_and_push_times_in_one_call() {
    let moto = Moto::start().await;
    let client = moto.repository("acme/app").await;
    put_image(&client, "acme/app", "develop-9").await;
    // ECR push times have second precision: make the order unambiguous.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_image(&client, "acme/app", "develop-10").await;
    put_image(&client, "acme/app", "release-1").await;

    let dir = config_dir();
    let image = format!("{HOST}/acme/app");
    let output = laminar_tags(
        &dir,
        Some(&moto.endpoint),
        &[
            &image,
            "--pattern",
            "glob:develop-*",
            "--current",
            "develop-9",
            "--json",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tags: Vec<&str> = listing["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    // By push time, not by name ("develop-9" > "develop-10" as strings).
    assert_eq!(tags, ["develop-10", "develop-9"]);
    assert!(
        listing["tags"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        listing["tags"][0]["created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(listing["selected"], "develop-10");
    assert_eq!(listing["time_source"], "pushed");

    let missing = laminar_tags(&dir, Some(&moto.endpoint), &[&format!("{HOST}/acme/nope")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("registry ecr: "));
}

#[tokio::test]
async fn a_role_is_assumed_through_sts_when_configured() {
    let moto = Moto::start().await;
    let client = moto.repository("acme/app").await;
    put_image(&client, "acme/app", "v1.0.0").await;
    let dir = config_dir_with(&format!(
        "  roleArn: arn:aws:iam::{ACCOUNT}:role/laminar-ecr-read\n"
    ));
    let output = laminar_tags(
        &dir,
        Some(&moto.endpoint),
        &[&format!("{HOST}/acme/app"), "--json"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["selected"], "v1.0.0");

    // The role really is assumed: with STS unreachable, the same lookup fails.
    let image = format!("{HOST}/acme/app");
    let mut cmd = laminar_tags_command(&dir, Some(&moto.endpoint), &[&image]);
    cmd.env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1");
    let failed = cmd.output().unwrap();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
}

#[tokio::test]
async fn missing_aws_credentials_are_reported_clearly() {
    let dir = config_dir();
    let output = laminar_tags(&dir, None, &[&format!("{HOST}/acme/app")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("registry ecr: "), "{stderr}");
    assert!(stderr.contains("cannot get credentials"), "{stderr}");
}

#[tokio::test]
async fn describe_images_pages_are_followed() {
    let server = MockServer::start().await;
    let detail = |tag: &str, pushed: f64| json!({"registryId": ACCOUNT, "repositoryName": "acme/app", "imageDigest": format!("sha256:{:064x}", pushed as u64), "imageTags": [tag], "imagePushedAt": pushed});
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
        ))
        .and(body_partial_json(json!({"nextToken": "page-2"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"imageDetails": [detail("v3", 1_700_000_300.0)]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"repositoryName": "acme/app", "registryId": ACCOUNT, "filter": {"tagStatus": "TAGGED"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"imageDetails": [detail("v1", 1_700_000_100.0), detail("v2", 1_700_000_200.0)], "nextToken": "page-2"}),
        ))
        .mount(&server)
        .await;
    // The SDK reads the endpoint and credentials from the environment, as in production.
    // SAFETY: each integration test runs in its own process under nextest; no other thread
    // of this test reads the environment concurrently.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", server.uri());
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let mut registry = Registry::new(&format!("{HOST}/acme"));
    registry.name = "ecr".into();
    let data = Dir::new();
    let registries = Registries::new(&[registry], data.path(), Options::default()).await;
    let tags = registries
        .tags(&registries.ids()[0], &format!("{HOST}/acme/app"), true)
        .await
        .unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, ["v1", "v2", "v3"]);
    assert!(
        tags.iter()
            .all(|t| t.pushed.is_some() && t.digest.is_some())
    );
    assert_eq!(registries.counters().total("ecr", RequestKind::Ecr), 2);
}
