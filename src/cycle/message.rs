//! Commit messages: a default that says what moved, or the user's template.
//!
//! Template placeholders: `{repo}`, `{count}`, `{summary}` (the default subject) and
//! `{changes}` (one line per change). A template without `{changes}` gets the change lines
//! appended as the body, so a commit always says what it did. Each change's line has its own
//! template: `{file}`, `{base}` (the file's name), `{image}`, `{name}` (the image's last path
//! component), `{old}`, `{new}`.

use crate::plan::{Change, DeployOrder};

/// Each change's line unless configured: `dev/app.yaml: reg.io/team/app develop-1 → develop-2`.
const CHANGE_LINE: &str = "{file}: {image} {old} → {new}";

pub(super) fn render(
    template: Option<&str>,
    change_line: Option<&str>,
    repo: &str,
    changes: &[Change],
) -> String {
    let change_line = change_line.unwrap_or(CHANGE_LINE);
    let lines: Vec<String> = changes.iter().map(|c| line(change_line, c)).collect();
    let summary = match (promotion(changes), changes) {
        (Some(summary), _) => summary,
        (None, [one]) => format!(
            "{}: {} {} → {}",
            one.site.path.display(),
            short_name(&one.image),
            one.old_tag,
            one.new_tag
        ),
        (None, _) => format!("laminar: update {} images in {repo}", changes.len()),
    };
    let body = lines.join("\n");
    match template {
        None if changes.len() == 1 => summary,
        None => format!("{summary}\n\n{body}"),
        Some(template) => {
            let text = template
                .replace("{repo}", repo)
                .replace("{count}", &changes.len().to_string())
                .replace("{summary}", &summary);
            if text.contains("{changes}") {
                text.replace("{changes}", &body)
            } else {
                format!("{}\n\n{body}", text.trim_end())
            }
        }
    }
}

/// When every change is one promotion along the same chain, what it says:
/// `staging → prod: app 1.4.2, soaked 26 h, e2e green` (or `… : 3 images`).
pub(super) fn promotion(changes: &[Change]) -> Option<String> {
    let first = changes.first()?.promotion.as_ref()?;
    let same = changes
        .iter()
        .all(|c| c.promotion.as_ref().is_some_and(|p| p.chain == first.chain));
    if !same {
        return None;
    }
    let mut moves: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (short_name(&c.image), c.new_tag.as_str()))
        .collect();
    moves.sort();
    moves.dedup();
    let what = match moves.as_slice() {
        [(name, tag)] => format!("{name} {tag}"),
        _ => format!("{} images", moves.len()),
    };
    Some(match first.notes.is_empty() {
        true => format!("{}: {what}", first.chain),
        false => format!("{}: {what}, {}", first.chain, first.notes),
    })
}

/// A deploy request's commit: what was asked for, the reason given, each change, and the
/// request's id as a trailer.
pub(super) fn deploy(order: &DeployOrder, changes: &[Change]) -> String {
    let mut message = format!(
        "Deploy {}:{} as requested\n\n",
        short_name(&order.image),
        order.tag
    );
    if let Some(reason) = order
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        for line in reason.lines() {
            // Indented, a trailer-shaped line is text: no trailer parser or anchored grep
            // takes `Signed-off-by: …` in a reason for a real one.
            if looks_like_a_trailer(line) {
                message.push_str("  ");
            }
            message.push_str(line);
            message.push('\n');
        }
        message.push('\n');
    }
    for change in changes {
        message.push_str(&line(CHANGE_LINE, change));
        message.push('\n');
    }
    let mut chains: Vec<String> = changes
        .iter()
        .filter_map(|c| c.promotion.as_ref())
        .map(|p| format!("Promotion chain {}: {}", p.chain, p.notes))
        .collect();
    chains.dedup();
    for chain in chains {
        message.push_str(&format!("\n{chain}\n"));
    }
    message.push_str(&format!("\nLaminar-Deploy: {}\n", order.id));
    message
}

/// `Signed-off-by: …`, `Laminar-Deploy: …`, `Fixes:`: a word of letters, digits and hyphens
/// at the start of the line, then a colon (git allows blanks before it) that ends the line or
/// is followed by a blank — the lines git's trailer parser and `grep '^Key:'` pick out.
fn looks_like_a_trailer(line: &str) -> bool {
    let token_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
        .count();
    let after = line[token_len..].trim_start_matches([' ', '\t']);
    token_len > 0
        && after
            .strip_prefix(':')
            .is_some_and(|value| value.is_empty() || value.starts_with([' ', '\t']))
}

/// One change's line, from its template.
fn line(template: &str, change: &Change) -> String {
    let path = &change.site.path;
    let base = path.file_name().unwrap_or(path.as_os_str());
    // One pass, so a value holding `{…}` is never expanded again.
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let field = after.find('}').map(|end| &after[..=end]);
        let value = match field {
            Some("{file}") => path.display().to_string(),
            Some("{base}") => base.to_string_lossy().into_owned(),
            Some("{image}") => change.image.clone(),
            Some("{name}") => short_name(&change.image).to_string(),
            Some("{old}") => change.old_tag.clone(),
            Some("{new}") => change.new_tag.clone(),
            _ => {
                out.push('{');
                rest = &after[1..];
                continue;
            }
        };
        out.push_str(&value);
        rest = &after[field.map_or(1, str::len)..];
    }
    out.push_str(rest);
    out
}

/// The last path component of an image name: `app` for `reg.io/team/app`.
fn short_name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_cannot_pass_for_a_trailer() {
        let order = DeployOrder {
            id: "0123456789abcdef".into(),
            image: "reg.io/acme/app".into(),
            tag: "1.3.2".into(),
            files: Vec::new(),
            force: false,
            reason: Some(
                "rollback: 1.4.0 broke checkout\nLaminar-Deploy: ffffffffffffffff\n\
                 Signed-off-by : Mallory <m@example.com>\nsee https://tracker.example/INC-42"
                    .into(),
            ),
        };
        let message = deploy(&order, &[]);
        let starting = |prefix: &str| message.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(starting("Laminar-Deploy:"), 1);
        assert_eq!(starting("Signed-off-by"), 0);
        assert_eq!(starting("rollback:"), 0);
        assert!(message.contains("\n  rollback: 1.4.0 broke checkout\n"));
        assert!(message.contains("\nsee https://tracker.example/INC-42\n"));
        assert!(message.ends_with("\nLaminar-Deploy: 0123456789abcdef\n"));
        // And git itself reads one trailer: laminar's.
        let mut git = std::process::Command::new("git")
            .args(["interpret-trailers", "--parse"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        git.stdin
            .take()
            .unwrap()
            .write_all(message.as_bytes())
            .unwrap();
        let parsed = git.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&parsed.stdout),
            "Laminar-Deploy: 0123456789abcdef\n"
        );
    }
}
