//! The status page's HTML: server-rendered, every value escaped by the template, no script.

use std::time::{Duration, SystemTime};

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::glance;
use super::model::{ImageRow, Overview, RegistryRow, RepoView};
use crate::holds::Hold;
use crate::plan::describe_hold;
use crate::policy::Ago;
use crate::status::{ReferenceStatus, RepoStatus, UpdateRecord};

/// The page's only style; the Content-Security-Policy allows exactly this text.
pub(super) const STYLE: &str = "\
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--ok:#116329;--bad:#a40e26;--warn:#7d4e00}\
@media(prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9ba6b2;--line:#3d444d;--bg:#0d1117;--ok:#3fb950;--bad:#ff7b72;--warn:#d29922}}\
body{font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1400px;padding:0 1rem 2rem}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline;border-bottom:1px solid var(--line);padding:.75rem 0}\
header h1{font-size:1.25rem;margin:0}header a{color:inherit}\
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%}caption{text-align:left;color:var(--muted);padding:.25rem 0}\
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}\
th{font-weight:600;white-space:nowrap}td.num{text-align:right;white-space:nowrap}\
code,.mono{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}\
.ok,.updated{color:var(--ok)}.failed{color:var(--bad)}.held{color:var(--warn)}.muted{color:var(--muted)}\
.error{white-space:pre-wrap;color:var(--bad);margin:0;font-family:ui-monospace,monospace;font-size:.85em}\
a{color:#0969da}@media(prefers-color-scheme:dark){a{color:#58a6ff}}\
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:2rem 0}\
input{font:inherit;padding:.35rem .5rem}button{font:inherit;padding:.35rem .9rem}\
.glance{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}\
.card{flex:1 1 12rem;border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem}\
.count{font-size:1.6rem;font-weight:600}\
svg.timeline{width:100%;height:auto;max-width:960px}\
svg .axis{stroke:var(--line)}svg .label{fill:var(--muted);font:11px system-ui,sans-serif}\
svg .up{fill:var(--ok)}svg .fail{fill:var(--bad)}";

fn layout(title: &str, now: SystemTime, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="30";
                meta name="referrer" content="no-referrer";
                title { (title) " · laminar" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { a href="/" { "laminar" } }
                    span.muted { "version " (env!("CARGO_PKG_VERSION")) }
                    span.muted { "as of " (when(Some(&stamp(now)), now)) "; refreshes every 30 s" }
                }
                main { (body) }
            }
        }
    }
}

/// `/`: every repo, the holds, the registries and the latest updates.
pub(super) fn overview(o: &Overview) -> Markup {
    layout(
        "Status",
        o.now,
        html! {
            (glance::at_a_glance(&o.glance))
            (glance::chains(&o.chains))
            (glance::timeline(&o.timeline, o.now))
            h2 id="repos" { "Repos" }
            div.scroll { table {
                caption { (o.repos.len()) " repos" }
                thead { tr {
                    th scope="col" { "Repo" } th scope="col" { "Result" } th scope="col" { "Last cycle" }
                    th scope="col" { "Took" } th scope="col" { "Next cycle" } th scope="col" { "Head" }
                    th scope="col" { "References" } th scope="col" { "Pull requests" } th scope="col" { "Error" }
                } }
                tbody { @for repo in &o.repos { tr {
                    th scope="row" { a href=(format!("/repos/{}", path_part(&repo.name))) { (repo.name) } br; span.muted.mono { (repo.branch) } }
                    td { @match repo.unserved {
                        Some(shard) => span.error { "unserved: shard " (shard) " did not answer" },
                        None => (result(&repo.status)),
                    } }
                    td { (when(repo.status.last_cycle.as_deref(), o.now)) }
                    td.num { (took(repo.status.duration_seconds)) }
                    td { (when(repo.status.next_cycle.as_deref(), o.now)) }
                    td.mono { (head(&repo.status)) }
                    td.num { (repo.status.references.len()) }
                    td { (pulls(&repo.status)) }
                    td { @if let Some(error) = &repo.status.error { pre.error { (error) } } }
                } } }
            } }
            @if !o.holds.is_empty() { (holds(&o.holds, o.now)) }
            h2 id="registries" { "Registries" }
            div.scroll { table {
                caption { "Requests since start-up; the disk cache holds " (o.cache_entries) " times and digests" }
                thead { tr {
                    th scope="col" { "Registry" } th scope="col" { "Requests" } th scope="col" { "Per minute" }
                    th scope="col" { "Failed" } th scope="col" { "Rate-limited (429)" } th scope="col" { "Mean latency" }
                    th scope="col" { "Last failure" }
                } }
                tbody { @for registry in &o.registries { (registry_row(registry, o.now)) } }
            } }
            h2 id="updates" { "Latest updates" }
            (updates(&o.updates, o.now))
        },
    )
}

fn registry_row(r: &RegistryRow, now: SystemTime) -> Markup {
    html! { tr {
        th scope="row" { (r.name) br; span.muted.mono { (r.prefix) } }
        td.num { (r.requests) }
        td.num { (format!("{:.1}", r.per_minute)) }
        td.num { @if r.failed > 0 { span.failed { (r.failed) } } @else { "0" } }
        td.num { (r.rate_limited) }
        td.num { @match r.mean_seconds { Some(s) => (format!("{:.0} ms", s * 1000.0)), None => "–" } }
        td { @match &r.last_failure {
            Some((at, what)) => { span.failed { (what) } " " (when(Some(&stamp(*at)), now)) }
            None => span.muted { "none" },
        } }
    } }
}

fn holds(holds: &[Hold], now: SystemTime) -> Markup {
    html! {
        h2 id="holds" { "Holds" }
        div.scroll { table {
            thead { tr {
                th scope="col" { "Image" } th scope="col" { "Where" } th scope="col" { "Why" } th scope="col" { "Made" }
            } }
            tbody { @for hold in holds { tr {
                td.mono { a href=(image_link(&hold.image)) { (hold.image) } }
                td.mono {
                    (hold.repo.as_deref().unwrap_or("every repo"))
                    @if let Some(file) = &hold.file { br; (file) }
                }
                td.held { (describe_hold(hold)) }
                td { (when(Some(&hold.created), now)) }
            } } }
        } }
    }
}

fn updates(updates: &[UpdateRecord], now: SystemTime) -> Markup {
    html! {
        @if updates.is_empty() {
            p.muted { "None since start-up." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Repo" } th scope="col" { "Where" }
                    th scope="col" { "Image" } th scope="col" { "Change" } th scope="col" { "Commit" }
                } }
                tbody { @for u in updates { tr {
                    td { (when(Some(&u.time), now)) }
                    td { a href=(format!("/repos/{}", path_part(&u.repo))) { (u.repo) } }
                    td.mono { (u.file) ":" (u.line) }
                    td.mono { a href=(image_link(&u.image)) { (u.image) } }
                    td.mono { (u.old) " → " (u.new) }
                    td.mono { (commit(&u.commit)) }
                } } }
            } }
        }
    }
}

/// `/repos/{name}`: one repo and every reference it manages.
pub(super) fn repo(view: &RepoView) -> Markup {
    let status = &view.status;
    layout(
        &view.name,
        view.now,
        html! {
            h2 { "Repo " code { (view.name) } }
            dl {
                dt { "Remote" } dd.mono { (view.url) " (" (view.branch) ")" }
                dt { "Delivers" } dd { (view.delivery) }
                dt { "Last cycle" } dd { (result(status)) " " (when(status.last_cycle.as_deref(), view.now)) ", took " (took(status.duration_seconds)) }
                dt { "Next cycle" } dd { (when(status.next_cycle.as_deref(), view.now)) }
                dt { "Head" } dd.mono { (head(status)) }
                @if !status.pull_requests.is_empty() { dt { "Pull requests" } dd { (pulls(status)) } }
                @if let Some(error) = &status.error { dt { "Error" } dd { pre.error { (error) } } }
            }
            (references(&status.references))
        },
    )
}

/// `/images/{name}`: which repos run an image, on which tag.
pub(super) fn image(name: &str, rows: &[ImageRow], now: SystemTime) -> Markup {
    layout(
        name,
        now,
        html! {
            h2 { "Image " code { (name) } }
            @if rows.is_empty() {
                p.muted { "No repo references this image." }
            } @else {
                div.scroll { table {
                    caption { (rows.len()) " references" }
                    thead { tr {
                        th scope="col" { "Repo" } th scope="col" { "Where" } th scope="col" { "Tag" }
                        th scope="col" { "Newest allowed" } th scope="col" { "Rule" } th scope="col" { "Status" }
                    } }
                    tbody { @for row in rows { tr {
                        td { a href=(format!("/repos/{}", path_part(&row.repo))) { (row.repo) } }
                        (reference_cells(&row.reference, false))
                    } } }
                } }
            }
        },
    )
}

fn references(refs: &[ReferenceStatus]) -> Markup {
    html! {
        h2 id="references" { "References" }
        @if refs.is_empty() {
            p.muted { "None seen yet." }
        } @else {
            div.scroll { table {
                caption { (refs.len()) " managed references" }
                thead { tr {
                    th scope="col" { "Where" } th scope="col" { "Image" } th scope="col" { "Tag" }
                    th scope="col" { "Newest allowed" } th scope="col" { "Rule" } th scope="col" { "Status" }
                } }
                tbody { @for reference in refs { tr { (reference_cells(reference, true)) } } }
            } }
        }
    }
}

fn reference_cells(r: &ReferenceStatus, with_image: bool) -> Markup {
    html! {
        td.mono { (r.file) ":" (r.line) }
        @if with_image { td.mono { a href=(image_link(&r.image)) { (r.image) } } }
        td.mono { (r.tag) }
        td.mono { (r.newest.as_deref().unwrap_or("unknown")) }
        td.mono { (r.rule) }
        td { @match &r.kept {
            None => span.ok { "moving to " code { (r.newest.as_deref().unwrap_or("")) } },
            Some(kept) if r.newest.as_deref() == Some(r.tag.as_str()) => span.ok { (kept) },
            Some(kept) => span.held { (kept) },
        } }
    }
}

/// Asked for the token: the API's, kept in a cookie once given.
pub(super) fn login(wrong: bool) -> Markup {
    layout(
        "Sign in",
        SystemTime::now(),
        html! {
            form method="post" action="/login" {
                label for="token" { "API token" }
                input id="token" name="token" type="password" autocomplete="current-password" required;
                button type="submit" { "Show the status" }
            }
            @if wrong { p.failed role="alert" { "That token is not the API token." } }
            p.muted { "The page asks once and keeps the token in a cookie only this site reads." }
        },
    )
}

/// The page is off, or the API has no token to ask for.
pub(super) fn unavailable(message: &str) -> Markup {
    layout("Unavailable", SystemTime::now(), html! { p { (message) } })
}

fn result(status: &RepoStatus) -> Markup {
    html! {
        @match status.result {
            None => span.muted { "pending" },
            Some(result) => span class=(result.label()) { (result.label()) },
        }
        @if status.stale { " " span.failed { "(stale)" } }
    }
}

fn head(status: &RepoStatus) -> Markup {
    html! { @match &status.head { Some(head) => (head.get(..12).unwrap_or(head)), None => "–" } }
}

fn pulls(status: &RepoStatus) -> Markup {
    html! { @for pull in &status.pull_requests {
        @if safe_link(&pull.url) { a href=(pull.url) { "#" (pull.number) } } @else { "#" (pull.number) }
        " "
    } }
}

/// A commit id, shortened, or a pull request's link.
fn commit(text: &str) -> Markup {
    html! {
        @if safe_link(text) { a href=(text) { (text) } }
        @else { (text.get(..12).unwrap_or(text)) }
    }
}

fn took(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.1} s"),
        None => "–".into(),
    }
}

/// A time relative to `now`, the absolute time on hover.
fn when(rfc3339: Option<&str>, now: SystemTime) -> Markup {
    let Some(text) = rfc3339 else {
        return html! { span.muted { "–" } };
    };
    let Ok(at) = text.parse::<jiff::Timestamp>() else {
        return html! { (text) };
    };
    let at = SystemTime::from(at);
    let relative = match now.duration_since(at) {
        Ok(ago) if ago < Duration::from_secs(1) => "just now".to_string(),
        Ok(ago) => format!("{} ago", Ago(ago)),
        Err(ahead) => format!("in {}", Ago(ahead.duration())),
    };
    html! { time datetime=(text) title=(text) { (relative) } }
}

pub(super) fn stamp(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at).map_or_else(|_| String::new(), |t| t.to_string())
}

fn image_link(image: &str) -> String {
    format!(
        "/images/{}",
        image
            .split('/')
            .map(path_part)
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// One path segment, percent-encoded.
pub(super) fn path_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Links from a forge's answers are shown only when they are plain web links.
fn safe_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ReferenceStatus;

    #[test]
    fn hostile_names_render_as_text() {
        let hostile = "<script>alert(1)</script>";
        let status = RepoStatus {
            error: Some(format!("registry said {hostile}")),
            references: vec![ReferenceStatus {
                file: format!("dev/{hostile}.yaml"),
                line: 1,
                image: format!("reg.io/{hostile}"),
                tag: hostile.into(),
                newest: Some("\"><img src=x onerror=alert(1)>".into()),
                kept: Some(hostile.into()),
                rule: hostile.into(),
                held: false,
            }],
            ..RepoStatus::default()
        };
        let view = RepoView {
            now: SystemTime::now(),
            name: hostile.into(),
            url: hostile.into(),
            branch: hostile.into(),
            delivery: hostile.into(),
            status,
        };
        let html = repo(&view).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // Links take percent-encoded names.
        assert!(
            html.contains("/images/reg.io/%3Cscript%3Ealert%281%29%3C"),
            "{html}"
        );
    }

    #[test]
    fn times_read_relative_with_the_absolute_time_on_hover() {
        let now = SystemTime::from("2026-11-22T12:00:00Z".parse::<jiff::Timestamp>().unwrap());
        let text = when(Some("2026-11-22T11:55:00Z"), now).into_string();
        assert_eq!(
            text,
            r#"<time datetime="2026-11-22T11:55:00Z" title="2026-11-22T11:55:00Z">5 min ago</time>"#
        );
        assert!(
            when(Some("2026-11-22T13:00:00Z"), now)
                .into_string()
                .contains("in 60 min")
        );
        assert!(!safe_link("javascript:alert(1)"));
    }
}
