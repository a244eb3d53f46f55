//! A real OCI registry (Debian's `docker-registry`, CNCF distribution) on a free loopback
//! port, and a pusher that uploads images whose tags and creation times a test chooses.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

pub struct RegistryServer {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub addr: String,
    basic: Option<(String, String)>,
    client: reqwest::Client,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl RegistryServer {
    pub async fn start() -> RegistryServer {
        Self::launch(None, "").await
    }

    /// With htpasswd basic auth for one user.
    pub async fn start_with_basic_auth(user: &str, password: &str) -> RegistryServer {
        Self::launch(Some((user.to_string(), password.to_string())), "").await
    }

    /// Sending its notifications (CNCF distribution events) to `url`, with
    /// `Authorization: Bearer <token>` as the endpoint's header.
    pub async fn start_notifying(url: &str, token: &str) -> RegistryServer {
        let notifications = format!(
            "notifications:\n  endpoints:\n  - name: laminar\n    url: {url}\n    headers:\n      Authorization: [\"Bearer {token}\"]\n    timeout: 2s\n    threshold: 10\n    backoff: 200ms\n"
        );
        Self::launch(None, &notifications).await
    }

    async fn launch(basic: Option<(String, String)>, extra: &str) -> RegistryServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &basic {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is installed: run scripts/install-deps.sh");
            std::fs::write(&htpasswd, output.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: laminar-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        config.push_str(extra);
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed: run scripts/install-deps.sh");
        let server = RegistryServer {
            child,
            _dir: dir,
            addr,
            basic,
            client: reqwest::Client::new(),
        };
        server.wait_until_up().await;
        server
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.client.get(self.url("/v2/")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not start on {}", self.addr);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.basic {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    async fn push_blob(&self, repo: &str, content: &[u8]) -> (String, usize) {
        let digest = format!("sha256:{:x}", Sha256::digest(content));
        let started = self
            .request(
                reqwest::Method::POST,
                &self.url(&format!("/v2/{repo}/blobs/uploads/")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202, "start upload");
        let location = started.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            self.url(&location)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = self
            .request(
                reqwest::Method::PUT,
                &format!("{location}{separator}digest={digest}"),
            )
            .header("content-type", "application/octet-stream")
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 201, "finish upload");
        (digest, content.len())
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let response = self
            .request(
                reqwest::Method::PUT,
                &self.url(&format!("/v2/{repo}/manifests/{reference}")),
            )
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "put manifest {repo}:{reference}");
        format!("sha256:{:x}", Sha256::digest(body))
    }

    /// An image for one platform whose config says it was created at `created` (RFC 3339),
    /// pushed under `reference` (a tag, or its own digest when `None`). Returns its digest.
    async fn push_image(
        &self,
        repo: &str,
        reference: Option<&str>,
        created: &str,
        arch: &str,
        annotated: Option<&str>,
    ) -> (String, usize) {
        let (layer, layer_size) = self.push_blob(repo, b"laminar test layer").await;
        let config = json!({
            "created": created,
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": {"tag": reference.unwrap_or("-"), "arch": arch}},
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let (config_digest, config_size) =
            self.push_blob(repo, config.to_string().as_bytes()).await;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
        });
        if let Some(at) = annotated {
            manifest["annotations"] = json!({"org.opencontainers.image.created": at});
        }
        let manifest = manifest.to_string();
        let digest = format!("sha256:{:x}", Sha256::digest(manifest.as_bytes()));
        self.put_manifest(
            repo,
            reference.unwrap_or(&digest),
            OCI_MANIFEST,
            manifest.as_bytes(),
        )
        .await;
        (digest, manifest.len())
    }

    /// Pushes `repo:tag` created at `created`; returns the manifest digest.
    pub async fn push(&self, repo: &str, tag: &str, created: &str) -> String {
        self.push_image(repo, Some(tag), created, "amd64", None)
            .await
            .0
    }

    /// Pushes `repo:tag` whose manifest carries `org.opencontainers.image.created: annotated`
    /// (its config says `created`).
    pub async fn push_annotated(&self, repo: &str, tag: &str, created: &str, annotated: &str) {
        self.push_image(repo, Some(tag), created, "amd64", Some(annotated))
            .await;
    }

    /// Tags the image `from` names as `to` too (a promotion by retag).
    pub async fn retag(&self, repo: &str, from: &str, to: &str) {
        let manifest = self
            .request(
                reqwest::Method::GET,
                &self.url(&format!("/v2/{repo}/manifests/{from}")),
            )
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(manifest.status(), 200, "get manifest {repo}:{from}");
        let body = manifest.bytes().await.unwrap();
        self.put_manifest(repo, to, OCI_MANIFEST, &body).await;
    }

    /// Pushes an index under `tag` with one image per `(architecture, created)`.
    pub async fn push_index(&self, repo: &str, tag: &str, images: &[(&str, &str)]) -> String {
        let mut manifests = Vec::new();
        for (arch, created) in images {
            let (digest, size) = self.push_image(repo, None, created, arch, None).await;
            manifests.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": {"os": "linux", "architecture": arch},
            }));
        }
        let index =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).to_string();
        self.put_manifest(repo, tag, OCI_INDEX, index.as_bytes())
            .await
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `user:password` for a docker config's `auth` field.
pub fn docker_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
