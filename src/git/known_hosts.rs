//! Host key verification against an OpenSSH `known_hosts` file: plain and hashed (`|1|…`)
//! entries, `[host]:port` names, wildcard and negated patterns, `@revoked` keys.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as BASE64, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The verdict on a host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Trusted,
    /// No entry for this host and key type.
    Unknown,
    /// An entry for this host and key type holds another key.
    Mismatch,
    /// The key is marked `@revoked`.
    Revoked,
}

/// Checks `key` (the SSH wire-format blob) of type `key_type` (e.g. `ssh-ed25519`) presented by
/// `host` (as named in known_hosts: `host` or `[host]:port`).
pub(crate) fn check(known_hosts: &str, host: &str, key_type: &str, key: &[u8]) -> Verdict {
    let mut verdict = Verdict::Unknown;
    for line in known_hosts.lines() {
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            let Some(next) = fields.next() else {
                continue;
            };
            first = next;
        }
        let (Some(line_type), Some(line_key)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !host_matches(first, host) {
            continue;
        }
        let Ok(line_key) = BASE64.decode(line_key) else {
            continue;
        };
        let same_key = line_type == key_type && line_key == key;
        match marker {
            Some("revoked") if same_key => return Verdict::Revoked,
            // Host certificates are not supported: such lines neither trust nor distrust.
            Some(_) => {}
            None if same_key => verdict = Verdict::Trusted,
            None if line_type == key_type && verdict != Verdict::Trusted => {
                verdict = Verdict::Mismatch
            }
            None => {}
        }
    }
    verdict
}

/// `SHA256:…` as `ssh-keygen -l` prints it.
pub(crate) fn fingerprint(key: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key)))
}

/// Does a comma-separated host pattern list (or a hashed name) name `host`?
fn host_matches(patterns: &str, host: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(hashed, host);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(negated, host) => return false,
            Some(_) => {}
            None if wildcard(pattern, host) => matched = true,
            None => {}
        }
    }
    matched
}

/// `|1|salt|hash`: HMAC-SHA1 of the host name keyed by the salt.
fn hashed_matches(hashed: &str, host: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt), BASE64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(host.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, case-insensitive as host names are.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20key-bytes-key-bytes-key-bytes-ab";
    const OTHER: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20another-key-another-key-another";

    fn line(hosts: &str, key: &[u8]) -> String {
        format!("{hosts} ssh-ed25519 {}\n", BASE64.encode(key))
    }

    #[test]
    fn plain_entries_with_ports_and_patterns() {
        let file = format!(
            "# comment\n\n{}{}",
            line("github.com,gh", KEY),
            line("[127.0.0.1]:2222", KEY)
        );
        assert_eq!(
            check(&file, "github.com", "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            check(&file, "[127.0.0.1]:2222", "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            check(&file, "127.0.0.1", "ssh-ed25519", KEY),
            Verdict::Unknown,
            "port 22 is another host"
        );
        assert_eq!(
            check(&file, "github.com", "ssh-ed25519", OTHER),
            Verdict::Mismatch
        );
        assert_eq!(check(&file, "github.com", "ssh-rsa", KEY), Verdict::Unknown);
        let wild = line("*.example.com,!bad.example.com", KEY);
        assert_eq!(
            check(&wild, "git.example.com", "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            check(&wild, "bad.example.com", "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entries() {
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[10.0.0.1]:2222");
        let hashed = format!(
            "|1|{}|{}",
            BASE64.encode(salt),
            BASE64.encode(mac.finalize().into_bytes())
        );
        let file = line(&hashed, KEY);
        assert_eq!(
            check(&file, "[10.0.0.1]:2222", "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            check(&file, "10.0.0.1", "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_keys_win_over_trusted_ones() {
        let file = format!("{}@revoked {}", line("github.com", KEY), line("*", KEY));
        assert_eq!(
            check(&file, "github.com", "ssh-ed25519", KEY),
            Verdict::Revoked
        );
        let ca = format!("@cert-authority {}", line("github.com", KEY));
        assert_eq!(
            check(&ca, "github.com", "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn fingerprints_look_like_ssh_keygen() {
        assert!(fingerprint(KEY).starts_with("SHA256:"));
        assert!(!fingerprint(KEY).ends_with('='));
    }
}
