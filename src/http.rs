//! What every HTTP client of laminar's shares (registries, forges, notifications, SNS
//! confirmations): who it says it is, how long a server asks it to wait, and how much of an
//! answer it reads.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The `User-Agent` of every request laminar makes.
pub(crate) const USER_AGENT: &str = concat!("laminar/", env!("CARGO_PKG_VERSION"));

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The whole body of `response`, refusing one over `max` bytes without reading further (a
/// server's answer is outside input: it may be endless).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a `Retry-After` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    Absent,
    Wait(Duration),
    /// A number too large to read: longer than anyone waits. Holds the value, shortened.
    Unreadable(String),
}

/// `Retry-After` as seconds or an HTTP date; other text is ignored, as if absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> RetryAfter {
    let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) else {
        return RetryAfter::Absent;
    };
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<u64>() {
            Ok(seconds) => RetryAfter::Wait(Duration::from_secs(seconds)),
            Err(_) => RetryAfter::Unreadable(format!("{}… s", &value[..value.len().min(20)])),
        };
    }
    match httpdate::parse_http_date(value) {
        Ok(at) => RetryAfter::Wait(at.duration_since(now).unwrap_or(Duration::ZERO)),
        Err(_) => RetryAfter::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let wait = |secs| RetryAfter::Wait(Duration::from_secs(secs));
        assert_eq!(retry_after(&headers("7"), now), wait(7));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&later), now), wait(30));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&earlier), now), wait(0));
        assert_eq!(retry_after(&headers("soon"), now), RetryAfter::Absent);
        assert_eq!(retry_after(&HeaderMap::new(), now), RetryAfter::Absent);
        assert!(matches!(
            retry_after(&headers("99999999999999999999999"), now),
            RetryAfter::Unreadable(_)
        ));
    }
}
