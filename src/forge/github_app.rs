//! GitHub App authentication: a short JWT signed with the App's private key (RS256) buys an
//! installation token, which lasts an hour; it is kept until five minutes before it ends.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Forge, ForgeError, read_capped};
use crate::secret::Secret;

/// Fetch a new installation token this long before the current one ends.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// GitHub refuses JWTs that live longer than ten minutes; clocks drift, so less.
const JWT_LIFETIME: Duration = Duration::from_secs(540);

/// The App and installation laminar acts as.
pub(super) struct App<'a> {
    pub app_id: u64,
    pub installation_id: u64,
    pub private_key_file: &'a std::path::Path,
}

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

#[derive(Deserialize)]
struct InstallationToken {
    token: String,
    expires_at: String,
}

/// The installation token; a new one when `renew` (the last was refused) or it ends soon.
pub(super) async fn token(forge: &Forge, app: App<'_>, renew: bool) -> Result<Secret, ForgeError> {
    let App {
        app_id,
        installation_id,
        private_key_file,
    } = app;
    let mut slot = forge.app_token.lock().await;
    if let Some((token, renew_at)) = slot.as_ref()
        && !renew
        && *renew_at > SystemTime::now()
    {
        return Ok(token.clone());
    }
    let setup = |message: String| ForgeError::Setup {
        forge: forge.name(),
        message: format!("GitHub App: {message}"),
    };
    let pem = std::fs::read(private_key_file)
        .map_err(|e| setup(format!("cannot read {}: {e}", private_key_file.display())))?;
    let jwt = app_jwt(app_id, &pem, SystemTime::now()).map_err(setup)?;
    let call = format!("POST /app/installations/{installation_id}/access_tokens");
    let url = format!(
        "{}/app/installations/{installation_id}/access_tokens",
        forge.config.api_url
    );
    let response = forge
        .http
        .post(&url)
        .bearer_auth(jwt)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .map_err(|e| ForgeError::Transport {
            forge: forge.name(),
            call: call.clone(),
            message: e.without_url().to_string(),
        })?;
    let status = response.status();
    let body = read_capped(response)
        .await
        .map_err(|message| ForgeError::Transport {
            forge: forge.name(),
            call: call.clone(),
            message,
        })?;
    if status != StatusCode::CREATED && status != StatusCode::OK {
        return Err(forge.refusal(call, status, &body));
    }
    let answer: InstallationToken = serde_json::from_slice(&body)
        .map_err(|e| setup(format!("unreadable installation token answer: {e}")))?;
    let ends = answer
        .expires_at
        .parse::<jiff::Timestamp>()
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(3600));
    let token = Secret::new(answer.token);
    let renew_at = ends.checked_sub(RENEW_BEFORE).unwrap_or(ends);
    *slot = Some((token.clone(), renew_at));
    Ok(token)
}

/// The JWT that identifies the App (RS256): issued a minute in the past against clock drift,
/// signed with blinding.
fn app_jwt(app_id: u64, pem: &[u8], now: SystemTime) -> Result<String, String> {
    use base64::Engine;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding};

    let not_rsa =
        |e: &dyn std::fmt::Display| format!("the private key is not an RSA key in PEM: {e}");
    let pem = std::str::from_utf8(pem).map_err(|e| not_rsa(&e))?;
    // GitHub hands out PKCS#1 (`BEGIN RSA PRIVATE KEY`); PKCS#8 is what re-exports give.
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|e| not_rsa(&e))?;
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| "the clock is before 1970".to_string())?
        .as_secs();
    let claims = Claims {
        iat: now.saturating_sub(60),
        exp: now + JWT_LIFETIME.as_secs(),
        iss: app_id.to_string(),
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let claims = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&claims)
    );
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let signature = signer
        .try_sign_with_rng(&mut rand_core::OsRng, input.as_bytes())
        .map_err(|e| format!("cannot sign the App's JWT: {e}"))?;
    Ok(format!("{input}.{}", b64(&signature.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_rsa_is_named_as_such() {
        let err = app_jwt(1, b"-----BEGIN NOTHING-----\n", SystemTime::now()).unwrap_err();
        assert!(err.contains("not an RSA key"), "{err}");
    }
}
