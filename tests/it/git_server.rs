//! Real git remotes for tests: bare repositories on disk, served over SSH by Debian's sshd
//! (generated host key, one authorized client key) or over HTTP by `git http-backend` behind a
//! small CGI server with basic auth. Results are checked with the `git` CLI.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry_server::free_port;

/// Runs the git CLI in `dir`; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Outsider",
            "-c",
            "user.email=outsider@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git CLI");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare repository with a `main` branch, and a clone of it for making outside commits.
pub struct BareRepo {
    _dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub outside: PathBuf,
}

impl BareRepo {
    /// A bare repo whose first commit holds `files`.
    pub fn new(files: &[(&str, &str)]) -> BareRepo {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("remote.git");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "-q", "-b", "main"]);
        git(
            dir.path(),
            &["clone", "-q", bare.to_str().unwrap(), "outside"],
        );
        let repo = BareRepo {
            _dir: dir,
            bare,
            outside,
        };
        for (path, content) in files {
            repo.write(path, content);
        }
        git(&repo.outside, &["add", "-A"]);
        git(&repo.outside, &["commit", "-q", "-m", "initial manifests"]);
        git(&repo.outside, &["push", "-q", "origin", "main"]);
        repo
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.outside.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Commits everything in the outside clone and pushes it (after pulling what others did).
    pub fn commit_and_push(&self, message: &str) -> String {
        git(&self.outside, &["add", "-A"]);
        git(&self.outside, &["commit", "-q", "-m", message]);
        git(&self.outside, &["pull", "-q", "--rebase", "origin", "main"]);
        git(&self.outside, &["push", "-q", "origin", "main"]);
        self.head()
    }

    /// The remote's `main`.
    pub fn head(&self) -> String {
        git(&self.bare, &["rev-parse", "main"])
    }

    /// A file as committed on the remote's `main`.
    pub fn show(&self, path: &str) -> String {
        git(&self.bare, &["show", &format!("main:{path}")])
    }
}

/// Debian's sshd on a free loopback port.
pub struct SshServer {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The client key sshd accepts (OpenSSH format, no passphrase).
    pub key: PathBuf,
    /// The same key with the passphrase `open sesame`.
    pub key_with_passphrase: PathBuf,
    /// A known_hosts file trusting this server's host key.
    pub known_hosts: PathBuf,
}

impl SshServer {
    pub fn start() -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let keygen = |file: &PathBuf, passphrase: &str| {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
                .arg(file)
                .status()
                .expect("ssh-keygen (openssh-client) is installed: run scripts/install-deps.sh");
            assert!(status.success());
        };
        keygen(&path("host_key"), "");
        keygen(&path("client_key"), "");
        keygen(&path("client_key_pass"), "open sesame");
        let mut authorized = std::fs::read_to_string(path("client_key.pub")).unwrap();
        authorized.push_str(&std::fs::read_to_string(path("client_key_pass.pub")).unwrap());
        std::fs::write(path("authorized_keys"), authorized).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             PidFile {pid}\nLogLevel ERROR\n",
            host = path("host_key").display(),
            auth = path("authorized_keys").display(),
            pid = path("sshd.pid").display(),
        );
        std::fs::write(path("sshd_config"), config).unwrap();
        // sshd insists on its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd (openssh-server) is installed: run scripts/install-deps.sh");
        let host_pub = std::fs::read_to_string(path("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            path("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        let server = SshServer {
            child,
            port,
            key: path("client_key"),
            key_with_passphrase: path("client_key_pass"),
            known_hosts: path("known_hosts"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `ssh://user@127.0.0.1:PORT/abs/path`
    pub fn url(&self, repo: &Path) -> String {
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            user.trim(),
            self.port,
            repo.display()
        )
    }

    /// A file in the server's scratch directory.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `git http-backend` behind a CGI server that wants basic auth `bot:s3cret`.
pub struct HttpGitServer {
    child: Child,
    _script: tempfile::NamedTempFile,
    pub port: u16,
}

const CGI_SERVER: &str = r#"
import base64, http.server, os, subprocess, sys
root, port = sys.argv[1], int(sys.argv[2])
expected = "Basic " + base64.b64encode(b"bot:s3cret").decode()
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
    def serve(self):
        body = self.body()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER="bot", REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
    do_GET = do_POST = serve
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
if len(sys.argv) > 3:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

impl HttpGitServer {
    /// Serves the repositories under `root`.
    pub fn start(root: &Path) -> HttpGitServer {
        HttpGitServer::serve(root, &[])
    }

    /// Serves the repositories under `root` over TLS, with the PEM files `cert` and `key`.
    pub fn start_tls(root: &Path, cert: &Path, key: &Path) -> HttpGitServer {
        HttpGitServer::serve(root, &[cert, key])
    }

    fn serve(root: &Path, tls: &[&Path]) -> HttpGitServer {
        let mut script = tempfile::NamedTempFile::new().unwrap();
        script.write_all(CGI_SERVER.as_bytes()).unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .arg(script.path())
            .arg(root)
            .arg(port.to_string())
            .args(tls)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let server = HttpGitServer {
            child,
            _script: script,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git HTTP server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
