//! Forges' pull-request APIs: GitHub, GitLab and Gitea (Forgejo). [`Forge`] finds, opens,
//! updates and closes the pull requests of laminar's own branches and reads commit checks;
//! [`health`] asks Argo CD (or any URL) whether an environment runs well. It knows nothing of
//! plans or git. Each call is one documented REST request (or a short, fixed sequence); a rate limit
//! pauses every call to that forge until the time it names, and a refused token is reported
//! with what the forge said, never with the token.

mod checks;
mod gitea;
mod github;
mod github_app;
mod gitlab;
pub mod health;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use checks::CheckState;

use crate::config::{ForgeAuth, Provider, PullRequest};
use crate::http::{ReadError, RetryAfter, USER_AGENT, retry_after};
use crate::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Answers larger than this are refused: a page of pull requests is far smaller.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How much of a forge's error message is kept.
const MAX_MESSAGE: usize = 300;
/// A rate limit that names no time pauses calls this long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(60);

/// A pull request laminar opened, as the forge numbers and shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub number: u64,
    pub url: String,
    /// RFC 3339, as the forge gave it.
    pub created_at: Option<String>,
}

/// Where a pull request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullState {
    Open,
    Merged,
    /// Closed without merging: someone declined it.
    Closed,
}

/// What to open.
#[derive(Clone, Debug)]
pub struct NewPullRequest<'a> {
    /// laminar's branch, holding the changes.
    pub branch: &'a str,
    /// The watched branch, to merge into.
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// A forge's answer that means the call did not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{forge}: {call}: not authorised (HTTP {status}): {message}")]
    Auth {
        forge: String,
        call: String,
        status: u16,
        message: String,
    },
    #[error(
        "{forge}: {call}: not found (HTTP 404; is the project right, and may the token see it?): {message}"
    )]
    NotFound {
        forge: String,
        call: String,
        message: String,
    },
    #[error("{forge}: {call}: refused (HTTP {status}): {message}")]
    Refused {
        forge: String,
        call: String,
        status: u16,
        message: String,
    },
    #[error("{forge}: rate limited; calls resume at {until}")]
    RateLimited { forge: String, until: String },
    #[error("{forge}: {call}: {message}")]
    Transport {
        forge: String,
        call: String,
        message: String,
    },
    #[error("{forge}: {message}")]
    Setup { forge: String, message: String },
}

impl ForgeError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            ForgeError::Auth { .. } => "forge_auth",
            ForgeError::NotFound { .. } => "forge_not_found",
            ForgeError::Refused { .. } => "forge_refused",
            ForgeError::RateLimited { .. } => "forge_rate_limited",
            ForgeError::Transport { .. } => "forge_network",
            ForgeError::Setup { .. } => "forge_setup",
        }
    }
}

/// One repository on one forge.
#[derive(Debug)]
pub struct Forge {
    config: PullRequest,
    http: reqwest::Client,
    /// GitHub App installation token and when to fetch a new one.
    app_token: tokio::sync::Mutex<Option<(Secret, SystemTime)>>,
    /// Until then the forge asked not to be called.
    paused_until: Mutex<Option<SystemTime>>,
}

impl Forge {
    pub fn new(config: &PullRequest) -> Result<Forge, ForgeError> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| ForgeError::Setup {
                forge: config.provider.name().into(),
                message: e.to_string(),
            })?;
        Ok(Forge {
            config: config.clone(),
            http,
            app_token: tokio::sync::Mutex::new(None),
            paused_until: Mutex::new(None),
        })
    }

    /// The open pull request from `branch` into `base`, if there is one.
    pub async fn find_open(
        &self,
        branch: &str,
        base: &str,
    ) -> Result<Option<PullRequestRef>, ForgeError> {
        match self.config.provider {
            Provider::Github => github::find_open(self, branch, base).await,
            Provider::Gitlab => gitlab::find_open(self, branch, base).await,
            Provider::Gitea => gitea::find_open(self, branch, base).await,
        }
    }

    pub async fn state(&self, number: u64) -> Result<PullState, ForgeError> {
        match self.config.provider {
            Provider::Github => github::state(self, number).await,
            Provider::Gitlab => gitlab::state(self, number).await,
            Provider::Gitea => gitea::state(self, number).await,
        }
    }

    /// Opens a pull request, then adds the configured labels, reviewers and assignees and
    /// turns on auto-merge. The request is open once this returns `Ok`; what the extras met
    /// comes back beside it.
    pub async fn open(
        &self,
        asked: &NewPullRequest<'_>,
    ) -> Result<(PullRequestRef, Vec<ForgeError>), ForgeError> {
        match self.config.provider {
            Provider::Github => github::open(self, asked).await,
            Provider::Gitlab => gitlab::open(self, asked).await,
            Provider::Gitea => gitea::open(self, asked).await,
        }
    }

    /// Sets the title and body of an open pull request.
    pub async fn update(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        match self.config.provider {
            Provider::Github => github::update(self, number, title, body).await,
            Provider::Gitlab => gitlab::update(self, number, title, body).await,
            Provider::Gitea => gitea::update(self, number, title, body).await,
        }
    }

    /// Comments why, then closes.
    pub async fn close(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        match self.config.provider {
            Provider::Github | Provider::Gitea => comment_and_close(self, number, comment).await,
            Provider::Gitlab => gitlab::close(self, number, comment).await,
        }
    }

    /// `title` marked as a draft with the forge's `prefix` when the config asks for drafts
    /// (GitLab and Gitea say so in the title).
    fn draft_title(&self, prefix: &str, title: &str) -> String {
        match self.config.draft {
            true => format!("{prefix} {title}"),
            false => title.to_string(),
        }
    }

    fn name(&self) -> String {
        format!("{} {}", self.config.provider.name(), self.config.project)
    }

    /// `owner/repo`, as the GitHub and Gitea paths want it.
    fn project(&self) -> &str {
        &self.config.project
    }

    /// Sends one API call; `path` is relative to the API root. An empty answer reads as null.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ForgeError> {
        let url = format!("{}{path}", self.config.api_url);
        self.send(method, &url, path, body).await
    }

    /// Sends to an absolute `url` (GitHub's GraphQL endpoint sits beside the REST root).
    async fn send(
        &self,
        method: Method,
        url: &str,
        shown: &str,
        body: Option<&Value>,
    ) -> Result<Value, ForgeError> {
        let call = format!("{method} {}", shown.split('?').next().unwrap_or(shown));
        self.check_pause()?;
        let mut renew = false;
        loop {
            let auth = self.auth_header(renew).await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .headers(auth)
                .headers(self.provider_headers());
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.map_err(|e| ForgeError::Transport {
                forge: self.name(),
                call: call.clone(),
                message: e.without_url().to_string(),
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = read_capped(response)
                .await
                .map_err(|message| ForgeError::Transport {
                    forge: self.name(),
                    call: call.clone(),
                    message,
                })?;
            if let Some(until) = rate_limited(status, &headers, SystemTime::now()) {
                *self.lock_pause() = Some(until);
                return Err(self.paused(until));
            }
            // A GitHub App token may have been revoked early: fetch a new one, once.
            let app = matches!(self.config.auth, ForgeAuth::GithubApp { .. });
            if status == StatusCode::UNAUTHORIZED && app && !renew {
                renew = true;
                continue;
            }
            if status.is_success() {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).map_err(|e| ForgeError::Transport {
                    forge: self.name(),
                    call,
                    message: format!("unreadable answer: {e}"),
                });
            }
            return Err(self.refusal(call, status, &bytes));
        }
    }

    fn refusal(&self, call: String, status: StatusCode, body: &[u8]) -> ForgeError {
        let message = error_message(body);
        let forge = self.name();
        match status.as_u16() {
            401 => ForgeError::Auth {
                forge,
                call,
                status: 401,
                message,
            },
            403 => ForgeError::Auth {
                forge,
                call,
                status: 403,
                message,
            },
            404 => ForgeError::NotFound {
                forge,
                call,
                message,
            },
            status => ForgeError::Refused {
                forge,
                call,
                status,
                message,
            },
        }
    }

    fn check_pause(&self) -> Result<(), ForgeError> {
        let mut pause = self.lock_pause();
        match *pause {
            Some(until) if until > SystemTime::now() => Err(self.paused(until)),
            Some(_) => {
                *pause = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn paused(&self, until: SystemTime) -> ForgeError {
        let until = jiff::Timestamp::try_from(until)
            .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
            .unwrap_or_else(|_| "a later time".into());
        ForgeError::RateLimited {
            forge: self.name(),
            until,
        }
    }

    fn lock_pause(&self) -> std::sync::MutexGuard<'_, Option<SystemTime>> {
        crate::store::lock(&self.paused_until)
    }

    async fn auth_header(&self, renew: bool) -> Result<HeaderMap, ForgeError> {
        let token = match &self.config.auth {
            ForgeAuth::Token(source) => source.read().map_err(|message| ForgeError::Setup {
                forge: self.name(),
                message: format!("token: {message}"),
            })?,
            ForgeAuth::GithubApp {
                app_id,
                installation_id,
                private_key_file,
            } => {
                let app = github_app::App {
                    app_id: *app_id,
                    installation_id: *installation_id,
                    private_key_file,
                };
                github_app::token(self, app, renew).await?
            }
        };
        let (name, value) = match self.config.provider {
            Provider::Github => ("authorization", format!("Bearer {}", token.expose())),
            Provider::Gitlab => ("private-token", token.expose().to_string()),
            Provider::Gitea => ("authorization", format!("token {}", token.expose())),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| ForgeError::Setup {
            forge: self.name(),
            message: "the token holds characters a header cannot carry".into(),
        })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static(name), value);
        Ok(headers)
    }

    fn provider_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.config.provider == Provider::Github {
            headers.insert(
                "accept",
                HeaderValue::from_static("application/vnd.github+json"),
            );
            headers.insert(
                "x-github-api-version",
                HeaderValue::from_static("2022-11-28"),
            );
        }
        headers
    }
}

/// Comments on a pull request, then closes it: the same calls on GitHub and Gitea, whose pull
/// requests are issues for comments.
async fn comment_and_close(forge: &Forge, number: u64, comment: &str) -> Result<(), ForgeError> {
    let path = format!("/repos/{}/issues/{number}/comments", forge.project());
    forge
        .call(
            Method::POST,
            &path,
            Some(&serde_json::json!({ "body": comment })),
        )
        .await?;
    let path = format!("/repos/{}/pulls/{number}", forge.project());
    let closed = serde_json::json!({ "state": "closed" });
    forge.call(Method::PATCH, &path, Some(&closed)).await?;
    Ok(())
}

/// The answer decoded as `T`, or a transport error naming the call.
fn decode<T: serde::de::DeserializeOwned>(
    forge: &Forge,
    call: &str,
    answer: Value,
) -> Result<T, ForgeError> {
    serde_json::from_value(answer).map_err(|e| ForgeError::Transport {
        forge: forge.name(),
        call: call.to_string(),
        message: format!("unexpected answer: {e}"),
    })
}

/// `key=value&…`, percent-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, String> {
    crate::http::read_capped(response, MAX_BODY)
        .await
        .map_err(|e| match e {
            ReadError::Transport(e) => e.without_url().to_string(),
            too_large => too_large.to_string(),
        })
}

/// When calls may resume, if this answer is a rate limit: 429, or a 403 that says so
/// (GitHub's primary limit sets `x-ratelimit-remaining: 0`, its secondary limits
/// `Retry-After`).
fn rate_limited(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let retry = retry_after(headers, now);
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || !matches!(retry, RetryAfter::Absent)));
    if !limited {
        return None;
    }
    let reset = header("x-ratelimit-reset")
        .or_else(|| header("ratelimit-reset"))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|epoch| SystemTime::UNIX_EPOCH + Duration::from_secs(epoch));
    Some(match retry {
        RetryAfter::Wait(wait) => now + wait,
        RetryAfter::Unreadable(_) => now + Duration::from_secs(3600),
        RetryAfter::Absent => reset.filter(|r| *r > now).unwrap_or(now + DEFAULT_PAUSE),
    })
}

/// The forge's own words about a refusal (`message`, GitLab's `message`/`error`, GitHub's
/// `errors[].message`), shortened; never the request.
fn error_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            let mut parts: Vec<String> = Vec::new();
            for key in ["message", "error"] {
                match &value[key] {
                    Value::String(s) => parts.push(s.clone()),
                    Value::Null => {}
                    other => parts.push(other.to_string()),
                }
            }
            if let Value::Array(errors) = &value["errors"] {
                parts.extend(errors.iter().filter_map(|e| match e {
                    Value::String(s) => Some(s.clone()),
                    e => e["message"].as_str().map(str::to_string),
                }));
            }
            parts.join("; ")
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "no reason given".into(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_name_when_calls_may_resume() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000120"));
        assert_eq!(
            rate_limited(StatusCode::FORBIDDEN, &headers, now),
            Some(now + Duration::from_secs(120))
        );
        // A 403 that is not about limits is a refusal.
        assert_eq!(
            rate_limited(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
        let mut retry = HeaderMap::new();
        retry.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            rate_limited(StatusCode::TOO_MANY_REQUESTS, &retry, now),
            Some(now + Duration::from_secs(30))
        );
        assert_eq!(
            rate_limited(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            Some(now + DEFAULT_PAUSE)
        );
    }

    #[test]
    fn refusals_keep_the_forges_words_short_and_plain() {
        let body = br#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for acme:laminar/app/all."}]}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed; A pull request already exists for acme:laminar/app/all."
        );
        assert_eq!(
            error_message(br#"{"message":["Another open merge request already exists"]}"#),
            r#"["Another open merge request already exists"]"#
        );
        let long = "x".repeat(1000);
        assert_eq!(
            error_message(long.as_bytes()).chars().count(),
            MAX_MESSAGE + 1
        );
        assert_eq!(error_message(b"bad\x1b[31m"), "bad[31m");
        assert_eq!(error_message(b""), "no reason given");
    }
}
