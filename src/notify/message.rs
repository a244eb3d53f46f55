//! What each kind of target is sent: Slack Block Kit, a Teams Adaptive Card, a Discord
//! message, or laminar's own JSON (signed). Everything from a repo or a registry is escaped for
//! the target's markup and the lists are capped, so a crafted tag or error cannot break the
//! message or mention people.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Event;
use crate::config::{EventKind, NotificationKind};

/// Changes listed by name; the rest are counted.
const LISTED: usize = 20;
/// Error text kept (targets cap message sizes).
const ERROR_CHARS: usize = 1500;

pub(super) fn body(kind: NotificationKind, event: &Event) -> String {
    let value = match kind {
        NotificationKind::Slack => slack(event),
        NotificationKind::Teams => teams(event),
        NotificationKind::Discord => discord(event),
        NotificationKind::Webhook => webhook(event),
    };
    value.to_string()
}

/// `sha256=<hex>`: HMAC-SHA256 over `<timestamp>.<body>`, so a captured request cannot be
/// replayed with another timestamp.
pub(super) fn signature(key: &[u8], timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// One line saying what happened.
fn headline(event: &Event, code: impl Fn(&str) -> String) -> String {
    let repo = code(&format!("{} ({})", event.repo, event.branch));
    match event.kind {
        EventKind::Updated if !event.pull_requests.is_empty() => format!(
            "laminar proposed {} image reference change{} to {repo} in {}",
            event.changes.len(),
            if event.changes.len() == 1 { "" } else { "s" },
            event
                .pull_requests
                .iter()
                .map(|(_, pull)| format!("pull request #{}", pull.number))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventKind::Updated => format!(
            "laminar updated {} image reference{} in {repo}",
            event.changes.len(),
            if event.changes.len() == 1 { "" } else { "s" }
        ),
        EventKind::Failed => format!("laminar: {repo} started failing"),
        EventKind::Recovered => format!("laminar: {repo} recovered"),
        EventKind::RolledBack => format!(
            "laminar: {} image reference{} in {repo} rolled back; held until a newer tag appears",
            event.changes.len(),
            if event.changes.len() == 1 {
                " was"
            } else {
                "s were"
            }
        ),
        EventKind::PushGaveUp => {
            format!("laminar: {repo} kept moving; the push gave up for this cycle")
        }
    }
}

/// The change lines and the error, each line made with `code` for literal text.
fn details(event: &Event, code: impl Fn(&str) -> String) -> Vec<String> {
    let mut lines: Vec<String> = event
        .changes
        .iter()
        .take(LISTED)
        .map(|c| {
            format!(
                "{}: {} {} → {}",
                code(&format!("{}:{}", c.file, c.line)),
                code(&c.image),
                code(&c.old),
                code(&c.new)
            )
        })
        .collect();
    if event.changes.len() > LISTED {
        lines.push(format!("… and {} more", event.changes.len() - LISTED));
    }
    if let Some(error) = &event.error {
        lines.push(code(&truncate(error)));
    }
    lines
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Slack's mrkdwn: `&`, `<` and `>` are its control characters.
fn slack_code(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'");
    format!("`{escaped}`")
}

fn slack(event: &Event) -> Value {
    let headline = headline(event, slack_code);
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": headline}})];
    let details = details(event, slack_code);
    if !details.is_empty() {
        let text: Vec<String> = details.iter().map(|l| format!("• {l}")).collect();
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text.join("\n")}}));
    }
    if !event.pull_requests.is_empty() {
        let links: Vec<Value> = event
            .pull_requests
            .iter()
            // A URL is the forge's, but Slack's link syntax must still hold.
            .filter(|(_, pull)| !pull.url.contains(['<', '>', '|', ' ']))
            .map(|(_, pull)| json!({"type": "mrkdwn", "text": format!("<{}|#{}>", pull.url, pull.number)}))
            .collect();
        blocks.push(json!({"type": "context", "elements": links}));
    } else if let (Some(link), Some(commit)) = (&event.link, &event.commit) {
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("<{link}|{}>", &commit[..commit.len().min(12)])}
        ]}));
    }
    json!({"text": headline, "blocks": blocks})
}

/// Teams and Discord markdown: literal text goes in code spans, backticks taken out.
fn code_span(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

fn teams(event: &Event) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": headline(event, code_span), "weight": "Bolder", "wrap": true}),
    ];
    for line in details(event, code_span) {
        body.push(json!({"type": "TextBlock", "text": line, "wrap": true}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body,
    });
    if let Some(link) = &event.link {
        let title = match event.pull_requests.is_empty() {
            true => "Commit",
            false => "Pull request",
        };
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": title, "url": link}]);
    }
    json!({"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    ]})
}

fn discord(event: &Event) -> Value {
    let mut lines = vec![format!("**{}**", headline(event, code_span))];
    lines.extend(details(event, code_span));
    if let Some(link) = &event.link {
        lines.push(format!("<{link}>"));
    }
    let content = truncate_to(&lines.join("\n"), 2000);
    // Nobody is pinged, whatever a tag or an error says.
    json!({"content": content, "allowed_mentions": {"parse": []}})
}

fn truncate_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars - 1) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn webhook(event: &Event) -> Value {
    let time = jiff::Timestamp::try_from(event.time)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "event": event.kind.name(),
        "repo": event.repo,
        "branch": event.branch,
        "time": time,
        "commit": event.commit,
        "link": event.link,
        "changes": event.changes.iter().map(|c| json!({
            "file": c.file, "line": c.line, "image": c.image, "old": c.old, "new": c.new,
        })).collect::<Vec<_>>(),
        "error": event.error,
        "pull_requests": event.pull_requests.iter().map(|(branch, pull)| json!({
            "branch": branch, "number": pull.number, "url": pull.url,
        })).collect::<Vec<_>>(),
    })
}
