//! Commit messages: a default that says what moved, or the user's template.
//!
//! Template placeholders: `{repo}`, `{count}`, `{summary}` (the default subject) and
//! `{changes}` (one line per change). A template without `{changes}` gets the change lines
//! appended as the body, so a commit always says what it did.

use crate::plan::Change;

pub fn render(template: Option<&str>, repo: &str, changes: &[Change]) -> String {
    let lines: Vec<String> = changes.iter().map(line).collect();
    let summary = match changes {
        [one] => format!(
            "{}: {} {} → {}",
            one.site.path.display(),
            short_name(&one.image),
            one.old_tag,
            one.new_tag
        ),
        _ => format!("laminar: update {} images in {repo}", changes.len()),
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

/// `dev/app.yaml: registry/team/app develop-1 → develop-2`
fn line(change: &Change) -> String {
    format!(
        "{}: {} {} → {}",
        change.site.path.display(),
        change.image,
        change.old_tag,
        change.new_tag
    )
}

/// The last path component of an image name: `app` for `reg.io/team/app`.
fn short_name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}
