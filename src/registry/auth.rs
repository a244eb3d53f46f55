//! Registry credentials and the token dance.
//!
//! Credentials come from the config (`username` + a secret from the environment or a file), a
//! docker `config.json` (`auths`, `credHelpers`, `credsStore`), or nowhere (anonymous). A 401
//! names a scheme: Basic (send the credentials) or Bearer (trade them at the realm for a token,
//! cached per scope until shortly before it expires).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::counters::RequestKind;
use super::error::Failure;
use super::http::Http;
use crate::config::RegistryAuth;
pub use crate::secret::Secret;

const HELPER_TIMEOUT: Duration = Duration::from_secs(15);
/// Token lifetime when the realm does not say (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// What to present to a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: Secret },
}

impl Credentials {
    pub(super) fn basic_header(&self) -> Option<HeaderValue> {
        let Credentials::Basic { username, password } = self else {
            return None;
        };
        let encoded = BASE64.encode(format!("{username}:{}", password.expose()));
        sensitive(&format!("Basic {encoded}"))
    }
}

fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// The registry credentials are for.
pub struct Audience<'a> {
    /// Its host, as docker configs name it.
    pub host: &'a str,
    /// `scheme://host[:port]` where it is reached.
    pub base: &'a str,
    /// The client that reaches it (cloud identities make requests of their own).
    pub http: &'a Http,
    /// It refused the last credentials: a cached identity token is not used again.
    pub renew: bool,
}

/// Reads the credentials for the audience as configured; with no `auth` block, the default
/// docker config is used if it has an entry for the host.
pub async fn resolve(
    auth: Option<&RegistryAuth>,
    audience: &Audience<'_>,
    home: Option<&Path>,
) -> Result<Credentials, Failure> {
    let host = audience.host;
    match auth {
        Some(RegistryAuth::Identity(identity)) => {
            super::identity::credentials(
                identity,
                audience.http,
                host,
                audience.base,
                audience.renew,
            )
            .await
        }
        Some(RegistryAuth::Anonymous) => Ok(Credentials::Anonymous),
        Some(RegistryAuth::Basic { username, password }) => Ok(Credentials::Basic {
            username: username.clone(),
            password: password
                .read()
                .map_err(|e| Failure::Credentials(e.to_string()))?,
        }),
        Some(RegistryAuth::DockerConfig(path)) => from_docker_config(path, host, true).await,
        None => match default_docker_config(home) {
            Some(path) if path.exists() => from_docker_config(&path, host, false).await,
            _ => Ok(Credentials::Anonymous),
        },
    }
}

fn default_docker_config(home: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    home.map(|h| h.join(".docker/config.json"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// Credentials for `host` from a docker config file. With `explicit`, a file that has nothing
/// for the host is an error; as the implicit default it just means anonymous.
async fn from_docker_config(
    path: &Path,
    host: &str,
    explicit: bool,
) -> Result<Credentials, Failure> {
    let unreadable =
        |e: String| Failure::Credentials(format!("docker config {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    if let Some(helper) = config
        .cred_helpers
        .iter()
        .find(|(h, _)| same_host(h, host))
        .map(|(_, v)| v)
    {
        return run_helper(helper, host).await;
    }
    if let Some(entry) = config
        .auths
        .iter()
        .find(|(h, _)| same_host(h, host))
        .map(|(_, v)| v)
    {
        return decode_auth(entry).map_err(unreadable);
    }
    if let Some(store) = &config.creds_store {
        return run_helper(store, host).await;
    }
    if explicit {
        return Err(unreadable(format!("no entry for {host}")));
    }
    Ok(Credentials::Anonymous)
}

fn decode_auth(entry: &DockerAuth) -> Result<Credentials, String> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials::Basic {
            username: username.clone(),
            password: Secret::new(password.clone()),
        });
    }
    let encoded = entry
        .auth
        .as_deref()
        .ok_or("entry has neither auth nor username/password")?;
    let decoded = BASE64
        .decode(encoded.trim())
        .map_err(|_| "auth is not valid base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "auth is not UTF-8")?;
    let (username, password) = decoded.split_once(':').ok_or("auth is not user:password")?;
    Ok(Credentials::Basic {
        username: username.to_string(),
        password: Secret::new(password),
    })
}

/// Docker config keys may be `host`, `https://host` or `https://host/v1/`; Docker Hub has
/// several names.
fn same_host(key: &str, host: &str) -> bool {
    let bare = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(key);
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    bare == host || (hub(bare) && hub(host))
}

/// Runs `docker-credential-<helper> get` with the host on stdin.
async fn run_helper(helper: &str, host: &str) -> Result<Credentials, Failure> {
    use tokio::io::AsyncWriteExt;
    let program = format!("docker-credential-{helper}");
    let failed = |why: String| Failure::Credentials(format!("{program}: {why}"));
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        // Helpers print "credentials not found in native keychain" and the like: no secrets.
        let said = String::from_utf8_lossy(&output.stdout);
        return Err(failed(format!("{} ({})", output.status, said.trim())));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct HelperAnswer {
        username: String,
        secret: String,
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&output.stdout).map_err(|_| failed("unreadable answer".into()))?;
    Ok(Credentials::Basic {
        username: answer.username,
        password: Secret::new(answer.secret),
    })
}

/// A parsed `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = auth_params(params);
        let realm = params.get("realm")?.clone();
        Some(Challenge::Bearer {
            realm,
            service: params.get("service").cloned(),
        })
    }
}

/// `key="value",key2=value2` (values may contain commas inside quotes).
fn auth_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            },
            None => match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// Remembers how a registry wants to be authenticated and the tokens it handed out.
#[derive(Debug)]
pub struct Authorizer {
    credentials: Credentials,
    state: Mutex<AuthState>,
}

#[derive(Debug, Default)]
struct AuthState {
    /// Learnt from the first 401; until then requests go out bare.
    challenge: Option<Challenge>,
    /// Bearer tokens by scope, with their expiry.
    tokens: HashMap<String, (HeaderValue, Instant)>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Authorizer {
    pub fn new(credentials: Credentials) -> Authorizer {
        Authorizer {
            credentials,
            state: Mutex::new(AuthState::default()),
        }
    }

    /// The header to send for `scope` with what is known so far, if any.
    pub async fn header(&self, scope: &str) -> Option<HeaderValue> {
        let state = self.state.lock().await;
        match state.challenge.as_ref()? {
            Challenge::Basic => self.credentials.basic_header(),
            Challenge::Bearer { .. } => state
                .tokens
                .get(scope)
                .filter(|(_, expiry)| Instant::now() < *expiry)
                .map(|(token, _)| token.clone()),
        }
    }

    /// Answers a 401: learns the challenge and gets a header for `scope`.
    pub async fn answer(
        &self,
        http: &Http,
        challenge: &str,
        scope: &str,
    ) -> Result<HeaderValue, Failure> {
        let challenge = Challenge::parse(challenge)
            .ok_or_else(|| Failure::Auth("unsupported authentication challenge".into()))?;
        self.state.lock().await.challenge = Some(challenge.clone());
        match challenge {
            Challenge::Basic => self.credentials.basic_header().ok_or_else(|| {
                Failure::Auth("the registry wants credentials and none are configured".into())
            }),
            Challenge::Bearer { realm, service } => {
                let (token, lifetime) = self
                    .fetch_token(http, &realm, service.as_deref(), scope)
                    .await?;
                // Renew a little early so a token never expires mid-request.
                let expiry = Instant::now() + lifetime.mul_f64(0.9);
                self.state
                    .lock()
                    .await
                    .tokens
                    .insert(scope.to_string(), (token.clone(), expiry));
                Ok(token)
            }
        }
    }

    async fn fetch_token(
        &self,
        http: &Http,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(HeaderValue, Duration), Failure> {
        let mut query = vec![("scope", scope)];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let url = reqwest::Url::parse_with_params(realm, &query)
            .map_err(|_| Failure::Auth("the token realm is not a URL".into()))?;
        let basic = self.credentials.basic_header();
        let fetched = http
            .send(RequestKind::Auth, || {
                let request = http.client().get(url.clone());
                match &basic {
                    Some(header) => request.header(AUTHORIZATION, header.clone()),
                    None => request,
                }
            })
            .await?;
        if !fetched.status.is_success() {
            return Err(Failure::Auth(format!(
                "the token service answered HTTP {}",
                fetched.status.as_u16()
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&fetched.body)
            .map_err(|_| Failure::Malformed("token response is not the expected JSON".into()))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Malformed("token response holds no token".into()))?;
        let header = sensitive(&format!("Bearer {token}"))
            .ok_or_else(|| Failure::Malformed("token is not a valid header value".into()))?;
        let lifetime = answer
            .expires_in
            .map(Duration::from_secs)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok((header, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a,b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let creds = Credentials::Basic {
            username: "bot".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
        assert!(creds.basic_header().unwrap().is_sensitive());
    }

    #[tokio::test]
    async fn docker_config_auths_and_hub_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let encoded = BASE64.encode("bot:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{encoded}"}},"ghcr.io":{{"username":"u","password":"p"}}}}}}"#),
        )
        .unwrap();
        let hub = from_docker_config(&path, "registry-1.docker.io", true)
            .await
            .unwrap();
        assert_eq!(
            hub,
            Credentials::Basic {
                username: "bot".into(),
                password: Secret::new("s3cret")
            }
        );
        let ghcr = from_docker_config(&path, "ghcr.io", true).await.unwrap();
        assert_eq!(
            ghcr,
            Credentials::Basic {
                username: "u".into(),
                password: Secret::new("p")
            }
        );
        assert_eq!(
            from_docker_config(&path, "quay.io", false).await.unwrap(),
            Credentials::Anonymous
        );
        let err = from_docker_config(&path, "quay.io", true)
            .await
            .unwrap_err();
        assert!(matches!(err, Failure::Credentials(m) if m.contains("no entry for quay.io")));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn credential_helpers_are_run_with_the_host_on_stdin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\nprintf '{\"Username\":\"AWS\",\"Secret\":\"tok-%s\"}' \"$host\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"credHelpers":{"reg.example":"fake"},"credsStore":"missing"}"#,
        )
        .unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        // The helper is looked up on PATH, as docker does.
        unsafe { std::env::set_var("PATH", format!("{}:{path}", dir.path().display())) };
        let creds = from_docker_config(&config, "reg.example", true)
            .await
            .unwrap();
        assert_eq!(
            creds,
            Credentials::Basic {
                username: "AWS".into(),
                password: Secret::new("tok-reg.example")
            }
        );
        let err = from_docker_config(&config, "other.example", true)
            .await
            .unwrap_err();
        assert!(matches!(err, Failure::Credentials(m) if m.contains("docker-credential-missing")));
    }
}
