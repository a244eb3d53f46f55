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

/// A signed timestamp further than this from now is refused (replay, or a stuck queue).
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// Deliveries remembered to refuse replays.
const REMEMBERED: usize = 1000;

/// Why a request was turned away: the `reason` label of the rejection metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
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
    pub fn label(self) -> &'static str {
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

/// Signatures and delivery ids seen lately, to refuse a request sent twice.
#[derive(Debug, Default)]
pub struct Seen(Mutex<VecDeque<String>>);

impl Seen {
    /// `false` when `id` was seen before; remembers it otherwise.
    fn first(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.iter().any(|s| s == id) {
            return false;
        }
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back(id.to_string());
        true
    }
}

pub fn authenticate(
    kind: WebhookKind,
    secret: &Secret,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    seen: &Seen,
    now: SystemTime,
) -> Result<(), Rejection> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match kind {
        WebhookKind::Github => {
            let signature = header("x-hub-signature-256").ok_or(Rejection::MissingCredentials)?;
            verify(secret, &[body], signature)?;
            match header("x-github-delivery") {
                Some(delivery) if !seen.first(delivery) => Err(Rejection::Replayed),
                _ => Ok(()),
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
            verify(secret, &[stamp.as_bytes(), b".", body], signature)?;
            match seen.first(signature) {
                true => Ok(()),
                false => Err(Rejection::Replayed),
            }
        }
        _ => token(secret, header("authorization"), query),
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `parts`, checked in constant time.
fn verify(secret: &Secret, parts: &[&[u8]], signature: &str) -> Result<(), Rejection> {
    let hex = signature
        .strip_prefix("sha256=")
        .ok_or(Rejection::BadSignature)?;
    let expected = decode_hex(hex).ok_or(Rejection::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
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

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
