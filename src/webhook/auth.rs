//! Is a request from the sender it claims to be? Each kind as its sender can prove it: an HMAC
//! over the raw body (GitHub), an HMAC over a timestamp and the body (generic), else the
//! shared secret as a bearer token, a basic-auth password, the raw `Authorization` value
//! (Harbor's auth header) or a `?token=` parameter (senders that set no headers). Every
//! comparison is constant-time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

use crate::config::WebhookKind;
use crate::secret::Secret;
use crate::store;

/// A signed timestamp further than this from now is refused (replay, or a stuck queue).
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(300);
/// How long a GitHub delivery's signature is remembered. GitHub signs the body alone, with no
/// time in it, so the memory is all that tells a replay from a new event; each real event's
/// body differs (it names the version and its times).
pub(super) const GITHUB_REPLAY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Signatures remembered at most (32 bytes and a time each); beyond, the oldest is forgotten.
const REMEMBERED: usize = 4096;

/// Why a request was turned away: the `reason` label of the rejection metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    Unknown,
    MissingCredentials,
    BadCredentials,
    BadSignature,
    Stale,
    Replayed,
    Malformed,
    TooLarge,
}

impl Rejection {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rejection::Unknown => "unknown_webhook",
            Rejection::MissingCredentials => "missing_credentials",
            Rejection::BadCredentials => "bad_credentials",
            Rejection::BadSignature => "bad_signature",
            Rejection::Stale => "stale",
            Rejection::Replayed => "replayed",
            Rejection::Malformed => "malformed",
            Rejection::TooLarge => "too_large",
        }
    }
}

/// The MACs of requests accepted lately — the decoded bytes, so a signature re-sent in other
/// letters (upper-case hex) is the same — to refuse a request sent twice.
#[derive(Debug, Default)]
pub(super) struct Seen(Mutex<VecDeque<(SystemTime, Mac32)>>);

type Mac32 = [u8; 32];

impl Seen {
    /// `false` when `mac` was accepted within `window` before `now`; remembers it otherwise.
    fn first(&self, mac: Mac32, now: SystemTime, window: Duration) -> bool {
        let mut seen = store::lock(&self.0);
        let expired = |at: &SystemTime| now.duration_since(*at).is_ok_and(|age| age > window);
        while seen.front().is_some_and(|(at, _)| expired(at)) {
            seen.pop_front();
        }
        if seen.iter().any(|(_, known)| *known == mac) {
            return false;
        }
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back((now, mac));
        true
    }
}

/// What a request brings to be checked.
pub(super) struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

pub(super) fn authenticate(
    kind: WebhookKind,
    secret: &Secret,
    request: &Request,
    seen: &Seen,
    now: SystemTime,
) -> Result<(), Rejection> {
    let Request {
        headers,
        query,
        body,
    } = *request;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match kind {
        WebhookKind::Github => {
            let signature = header("x-hub-signature-256").ok_or(Rejection::MissingCredentials)?;
            let mac = verify(secret, &[body], signature)?;
            // X-GitHub-Delivery is not signed: the signature itself names the delivery.
            match seen.first(mac, now, GITHUB_REPLAY_WINDOW) {
                true => Ok(()),
                false => Err(Rejection::Replayed),
            }
        }
        WebhookKind::Generic => {
            let signature = header("x-laminar-signature").ok_or(Rejection::MissingCredentials)?;
            let stamp = header("x-laminar-timestamp").ok_or(Rejection::MissingCredentials)?;
            let at = stamp
                .parse::<u64>()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
                .map_err(|_| Rejection::Malformed)?;
            let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
            if skew > MAX_SKEW {
                return Err(Rejection::Stale);
            }
            let mac = verify(secret, &[stamp.as_bytes(), b".", body], signature)?;
            // A timestamp is accepted from MAX_SKEW before now to MAX_SKEW after.
            match seen.first(mac, now, 2 * MAX_SKEW) {
                true => Ok(()),
                false => Err(Rejection::Replayed),
            }
        }
        _ => token(secret, header("authorization"), query),
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `parts`, checked in constant time; the MAC's bytes.
fn verify(secret: &Secret, parts: &[&[u8]], signature: &str) -> Result<Mac32, Rejection> {
    let hex = signature
        .strip_prefix("sha256=")
        .ok_or(Rejection::BadSignature)?;
    let presented: Mac32 = hex::decode(hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Rejection::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&presented)
        .map_err(|_| Rejection::BadSignature)?;
    Ok(presented)
}

fn token(
    secret: &Secret,
    authorization: Option<&str>,
    query: Option<&str>,
) -> Result<(), Rejection> {
    let from_header = authorization.map(|value| {
        if let Some(bearer) = value.strip_prefix("Bearer ") {
            return bearer.as_bytes().to_vec();
        }
        if let Some(basic) = value.strip_prefix("Basic ") {
            // user:password; the password is the secret, the user is free.
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .unwrap_or_default();
            return match decoded.iter().position(|b| *b == b':') {
                Some(colon) => decoded[colon + 1..].to_vec(),
                None => decoded,
            };
        }
        value.as_bytes().to_vec()
    });
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.as_bytes().to_vec())
    });
    let presented = from_header
        .into_iter()
        .chain(from_query)
        .collect::<Vec<_>>();
    if presented.is_empty() {
        return Err(Rejection::MissingCredentials);
    }
    match presented.iter().any(|p| secret.matches(p)) {
        true => Ok(()),
        false => Err(Rejection::BadCredentials),
    }
}
