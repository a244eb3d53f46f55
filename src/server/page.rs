//! The status page: `/` (at a glance, the promotion chains, the last day's timeline, every
//! repo, the holds, the registries, the latest updates),
//! `/repos/{name}` and `/images/{name}`. Server-rendered HTML without script, under a strict
//! Content-Security-Policy. `global.statusPage` says who may see it: with `token` (the default)
//! the page asks for the API token once and keeps it in an HttpOnly, SameSite=Strict cookie.

mod glance;
mod model;
mod views;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::Markup;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::{Network, StatusPage};

const COOKIE: &str = "laminar_token";
/// How long the browser keeps the token: 30 days.
const COOKIE_AGE: u32 = 30 * 24 * 3600;

/// Nothing but the page's own style, forms posted to itself, no framing.
static POLICY: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(views::STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

pub(super) async fn overview(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let elsewhere = match state.shards.as_deref() {
        Some(shards) => super::shards::elsewhere(shards).await,
        None => Default::default(),
    };
    let overview = model::overview(&state, elsewhere);
    page(StatusCode::OK, views::overview(&overview))
}

pub(super) async fn repo(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    if let Some(view) = model::repo(&state.config, &state.status, &name) {
        return page(StatusCode::OK, views::repo(&view));
    }
    // Another shard's repo: that shard's page of it.
    let owner = super::shards::handing_on(&state, &headers)
        .and_then(|shards| Some((shards, shards.sharding.owner(&name)?)));
    let Some((shards, owner)) = owner else {
        return page(
            StatusCode::NOT_FOUND,
            views::unavailable(&format!("No repo is named {name:?}.")),
        );
    };
    let url = &shards.sharding.peers[owner];
    let path = format!("/repos/{}", views::path_part(&name));
    match shards
        .peers
        .send_raw(reqwest::Method::GET, url, &path, None)
        .await
    {
        Ok((200, html)) => html_page(StatusCode::OK, String::from_utf8_lossy(&html).into_owned()),
        _ => page(
            StatusCode::SERVICE_UNAVAILABLE,
            views::unavailable(&format!(
                "{name} is on shard {owner}, which did not answer."
            )),
        ),
    }
}

pub(super) async fn image(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let mut statuses = state.status.snapshot();
    if let Some(shards) = state.shards.as_deref() {
        let elsewhere = super::shards::elsewhere(shards).await;
        let theirs = elsewhere.repos.into_iter();
        statuses.extend(theirs.filter_map(|(repo, _, status, _)| Some((repo, status?))));
    }
    let rows = model::image(statuses, &name);
    page(
        StatusCode::OK,
        views::image(&name, &rows, std::time::SystemTime::now()),
    )
}

/// The token form's answer: the right token gets its cookie and the page.
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (StatusPage::Token, Some(token)) = (state.config.global.status_page, &state.token) else {
        return page(
            StatusCode::NOT_FOUND,
            views::unavailable("Nothing to sign in to."),
        );
    };
    let given = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !token.matches(given.as_bytes()) {
        tracing::warn!("status page: a wrong token was given");
        return page(StatusCode::UNAUTHORIZED, views::login(true));
    }
    let value: String = form_urlencoded::byte_serialize(given.as_bytes()).collect();
    let mut cookie =
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_AGE}");
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if over_https(&state.config.global.trusted_proxies, peer, &headers) {
        cookie.push_str("; Secure");
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// Did the request come over https? laminar serves plain HTTP itself, so only a trusted proxy
/// can say so, in `X-Forwarded-Proto` (its last value: the one the nearest proxy set).
fn over_https(trusted: &[Network], peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let trusted_peer = peer.is_some_and(|ip| trusted.iter().any(|net| net.contains(ip)));
    trusted_peer
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The answer to give instead of the page, when this request may not see it.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    match (state.config.global.status_page, &state.token) {
        (StatusPage::Public, _) => None,
        (StatusPage::Off, _) => Some(page(
            StatusCode::NOT_FOUND,
            views::unavailable("The status page is off (global.statusPage: off)."),
        )),
        (StatusPage::Token, None) => Some(page(
            StatusCode::FORBIDDEN,
            views::unavailable(
                "The status page asks for the API token, and none is set: set LAMINAR_API_TOKEN \
                 or global.apiTokenFile, or set global.statusPage: public behind a proxy that \
                 authenticates.",
            ),
        )),
        (StatusPage::Token, Some(token)) => {
            let presented = cookie_token(headers).or_else(|| bearer(headers));
            match presented.is_some_and(|p| token.matches(p.as_bytes())) {
                true => None,
                false => Some(page(StatusCode::UNAUTHORIZED, views::login(false))),
            }
        }
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let value = pair.trim().strip_prefix(COOKIE)?.strip_prefix('=')?;
            form_urlencoded::parse(format!("t={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

fn page(status: StatusCode, markup: Markup) -> Response {
    html_page(status, markup.into_string())
}

/// An HTML page with the page's headers (its CSP among them).
fn html_page(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CONTENT_SECURITY_POLICY, &POLICY);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_says_a_request_came_over_https() {
        let proxies = [Network::parse("10.0.0.0/8").unwrap()];
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        let from = |ip: &str| Some(ip.parse::<IpAddr>().unwrap());
        assert!(over_https(&proxies, from("10.1.2.3"), &forwarded));
        assert!(over_https(&proxies, from("::ffff:10.1.2.3"), &forwarded));
        assert!(!over_https(&proxies, from("192.168.1.1"), &forwarded));
        assert!(!over_https(&proxies, None, &forwarded));
        assert!(!over_https(&proxies, from("10.1.2.3"), &HeaderMap::new()));
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(!over_https(&proxies, from("10.1.2.3"), &forwarded));
        assert!(!over_https(&[], from("10.1.2.3"), &forwarded));
    }
}
