//! Small helpers: a temporary directory to write files into, and the binary under test.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary directory that tests fill with files.
pub struct Dir {
    temp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            temp: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Writes `contents` to `rel`, creating parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).expect("write file");
        path
    }

    /// The laminar binary, run in this directory with a clean environment.
    pub fn laminar(&self) -> Command {
        let mut cmd = Command::cargo_bin("laminar").expect("laminar binary");
        cmd.current_dir(self.path())
            .env_remove("LAMINAR_CONFIG")
            .env_remove("LAMINAR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env("HOME", self.path());
        cmd
    }

    /// What `laminar ARGS` prints in this directory; it must succeed.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.laminar().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "laminar {args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `laminar once ARGS` in this directory, which must succeed: what it printed, stdout
    /// then stderr.
    pub fn once(&self, args: &[&str]) -> String {
        let out = self.laminar().arg("once").args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    }
}

/// What `laminar ARGS` prints, run in a fresh directory; it must succeed.
pub fn laminar_stdout(args: &[&str]) -> String {
    let dir = Dir::new();
    let output = dir.laminar().args(args).output().expect("laminar runs");
    assert!(output.status.success(), "laminar {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The repository's own top-level directory.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A well-formed sha256 digest, one per `n`.
pub fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// `registry` answered by the scripted `server` over plain HTTP, named `name` (for counters).
pub fn scripted(
    mut registry: laminar::config::Registry,
    name: &str,
    server: &wiremock::MockServer,
) -> laminar::config::Registry {
    registry.name = name.into();
    registry.insecure = true;
    registry.endpoint = Some(laminar::config::Endpoint {
        scheme: "http",
        authority: server.address().to_string(),
    });
    registry
}

/// Waits until `check` holds, asking again every 50 ms; fails the test after `limit` (a bound
/// for a hung test, not a measurement).
pub async fn eventually<F, Fut>(limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `request` carrying `body` signed as a `generic` webhook wants: `x-laminar-timestamp` and
/// `x-laminar-signature: sha256=HMAC(secret, "<timestamp>.<body>")`.
pub fn signed_generic(
    request: reqwest::RequestBuilder,
    secret: &str,
    body: String,
) -> reqwest::RequestBuilder {
    use hmac::{Hmac, Mac};
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{stamp}.{body}").as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    request
        .header("x-laminar-timestamp", stamp)
        .header("x-laminar-signature", format!("sha256={signature}"))
        .body(body)
}
