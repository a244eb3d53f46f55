//! Registry webhooks: a push event names an image; the repos whose references name it are
//! woken at once, and that image alone is listed afresh. Each configured receiver checks its
//! sender as the sender can prove itself ([`auth`]) and reads its payload ([`parse`]);
//! everything in a request is hostile until then, and a request that fails changes nothing.

mod auth;
mod parse;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

pub(crate) use auth::Rejection;
pub(crate) use parse::{Parsed, Pushed};

use crate::config::{Webhook, WebhookKind};
use auth::Seen;

/// Request bodies larger than this are refused: a batch of registry events is far smaller.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured receivers.
#[derive(Debug, Default)]
pub(crate) struct Receivers {
    by_name: HashMap<String, (Webhook, Seen)>,
}

impl Receivers {
    pub(crate) fn new(webhooks: &[Webhook]) -> Receivers {
        Receivers {
            by_name: webhooks
                .iter()
                .map(|w| (w.name.clone(), (w.clone(), Seen::default())))
                .collect(),
        }
    }

    /// Authenticates and reads a request to receiver `name`. An SNS subscription is confirmed
    /// here (the only outward call a request can cause, and only to SNS).
    pub(crate) async fn receive(
        &self,
        name: &str,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Parsed, (Rejection, String)> {
        let Some((hook, seen)) = self.by_name.get(name) else {
            return Err((Rejection::Unknown, format!("no webhook named {name:?}")));
        };
        let secret = hook.secret.read().map_err(|message| {
            tracing::error!(webhook = name, "cannot read the webhook secret: {message}");
            (
                Rejection::BadCredentials,
                "the receiver cannot read its secret".into(),
            )
        })?;
        auth::authenticate(
            hook.kind,
            &secret,
            &auth::Request {
                headers,
                query,
                body,
            },
            seen,
            SystemTime::now(),
        )
        .map_err(|rejection| (rejection, "not authenticated".to_string()))?;
        let parsed = parse::parse(hook.kind, headers, body, hook.host.as_deref())
            .map_err(|message| (Rejection::Malformed, message))?;
        if let Parsed::ConfirmSubscription { url } = &parsed {
            confirm(hook, url)
                .await
                .map_err(|message| (Rejection::Malformed, message))?;
        }
        Ok(parsed)
    }
}

/// Fetches an SNS `SubscribeURL`, but only from SNS itself (or the configured endpoint): a
/// crafted URL must not make laminar call anything else.
async fn confirm(hook: &Webhook, url: &str) -> Result<(), String> {
    if hook.kind != WebhookKind::Ecr || !is_sns(url, hook.sns_endpoint.as_deref()) {
        return Err("SubscribeURL is not an SNS endpoint".into());
    }
    let client = reqwest::Client::builder()
        .user_agent(crate::http::USER_AGENT)
        .timeout(CONFIRM_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot confirm the subscription: {}", e.without_url()))?;
    match response.status().is_success() {
        true => {
            tracing::info!(webhook = %hook.name, "SNS subscription confirmed");
            Ok(())
        }
        false => Err(format!(
            "SNS refused the confirmation (HTTP {})",
            response.status().as_u16()
        )),
    }
}

/// `https://sns.<region>.amazonaws.com[.cn]/…`, or under `endpoint`.
fn is_sns(url: &str, endpoint: Option<&str>) -> bool {
    if let Some(endpoint) = endpoint
        && url
            .strip_prefix(endpoint)
            .is_some_and(|rest| rest.starts_with(['/', '?']))
    {
        return true;
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let region = host.strip_prefix("sns.").and_then(|h| {
        h.strip_suffix(".amazonaws.com")
            .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
    });
    region
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[cfg(test)]
mod tests;
