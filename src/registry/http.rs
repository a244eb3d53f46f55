//! HTTP to one registry: every request is rate limited, counted, timed out and retried on
//! 429 / 5xx (honouring `Retry-After`), and bodies are read with a size cap.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};

use super::counters::{RequestCounters, RequestKind};
use super::error::Failure;
use super::ratelimit::Limiter;
use crate::config::Registry;
use crate::http::{ReadError, RetryAfter, USER_AGENT, retry_after};

/// Bodies larger than this are refused: manifests, configs and tag pages are small.
const MAX_BODY: usize = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How hard to try before giving up on a request for this cycle.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// First backoff; doubles each attempt, with jitter.
    pub base: Duration,
    /// A `Retry-After` longer than this is not waited for: the image fails for this cycle.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What a request asks: its kind (for the metrics), its method, and what it reads (for errors).
pub(super) struct Asked {
    pub kind: RequestKind,
    pub method: Method,
    pub what: &'static str,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The HTTP client of one registry.
#[derive(Debug)]
pub struct Http {
    /// Registry name, for counters.
    pub registry: String,
    client: reqwest::Client,
    limiter: Limiter,
    counters: Arc<RequestCounters>,
    retry: RetryPolicy,
}

impl Http {
    pub fn new(
        registry: &Registry,
        counters: Arc<RequestCounters>,
        retry: RetryPolicy,
    ) -> Result<Http, Failure> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(registry.timeout);
        if let Some(path) = &registry.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| Failure::Setup(format!("CA file {}: {e}", path.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| Failure::Setup(format!("CA file {}: {e}", path.display())))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let client = builder
            .build()
            .map_err(|e| Failure::Setup(e.without_url().to_string()))?;
        Ok(Http {
            registry: registry.name.clone(),
            client,
            limiter: Limiter::new(registry.rate_limit, registry.max_concurrency),
            counters,
            retry,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (again on each retry) and reads the response.
    ///
    /// 429, 502, 503 and 504 are retried after `Retry-After` or an exponential backoff with
    /// jitter; so are connection failures and timeouts. Other statuses are returned as they are.
    pub async fn send(
        &self,
        kind: RequestKind,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Fetched, Failure> {
        self.send_capped(kind, MAX_BODY, build).await
    }

    /// [`Http::send`] for a body that may be up to `max` bytes (a Helm repository's index).
    pub async fn send_capped(
        &self,
        kind: RequestKind,
        max: usize,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Fetched, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let (outcome, took) = {
                let _slot = self.limiter.acquire().await;
                let started = std::time::Instant::now();
                let outcome = self.fetch(build(), max).await;
                (outcome, started.elapsed())
            };
            let delay = match outcome {
                Ok(fetched) if is_retryable(fetched.status) => {
                    let status = fetched.status.as_u16();
                    let label = if status == 429 {
                        "rate_limited"
                    } else {
                        "server_error"
                    };
                    self.count(kind, label, took);
                    let wait = match retry_after(&fetched.headers, SystemTime::now()) {
                        RetryAfter::Absent => self.backoff(attempt),
                        RetryAfter::Wait(wait) if wait <= self.retry.max_wait => wait,
                        RetryAfter::Wait(wait) => {
                            let after = format!("{} s", wait.as_secs());
                            return Err(Failure::WaitTooLong { status, after });
                        }
                        RetryAfter::Unreadable(after) => {
                            return Err(Failure::WaitTooLong { status, after });
                        }
                    };
                    if last {
                        return Err(match status {
                            429 => Failure::RateLimited {
                                status,
                                attempts: attempt,
                            },
                            _ => Failure::ServerError {
                                status,
                                attempts: attempt,
                            },
                        });
                    }
                    wait
                }
                Ok(fetched) => {
                    self.count(kind, outcome_label(fetched.status), took);
                    return Ok(fetched);
                }
                Err(failure) => {
                    self.count(kind, failure.metric_label(), took);
                    let transient = matches!(failure, Failure::Network(_) | Failure::Timeout);
                    if last || !transient {
                        return Err(failure);
                    }
                    self.backoff(attempt)
                }
            };
            tracing::debug!(registry = %self.registry, %kind, attempt, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn fetch(&self, request: RequestBuilder, max: usize) -> Result<Fetched, Failure> {
        let response = request.send().await.map_err(transport_failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::read_capped(response, max)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge(max) => {
                    Failure::Malformed(format!("response larger than {max} bytes"))
                }
                ReadError::Transport(e) => transport_failure(e),
            })?;
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }

    fn count(&self, kind: RequestKind, outcome: &'static str, took: Duration) {
        self.counters.record(&self.registry, kind, outcome, took);
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.base.saturating_mul(1 << (attempt - 1).min(16));
        let jitter = rand::rng().random_range(0.5..1.0);
        exp.mul_f64(jitter).min(self.retry.max_wait)
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

fn outcome_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        401 | 403 => "unauthorized",
        404 => "not_found",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

/// reqwest errors carry the URL; ours never do (a URL may name a token endpoint's query).
fn transport_failure(err: reqwest::Error) -> Failure {
    if err.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Network(error_chain(&err.without_url()))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
