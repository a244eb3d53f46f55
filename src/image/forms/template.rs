//! A YAML file that does not parse — a Helm template, whose `{{ … }}` lines make it YAML only
//! once rendered — still holds plain `image: name:tag` lines. Those lines are read one by one,
//! as the YAML image keys would be; a templated value is left to the caller to report.

use super::{Candidate, inline_at};

pub(super) fn candidates(text: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        found.extend(image_line(line).and_then(|(at, value)| inline_at(value, line_start + at)));
        line_start += line.len();
    }
    found
}

/// The value of an `image:` line (`- image:` in a list too), with its offset in the line;
/// quotes and a trailing comment are not part of it.
fn image_line(line: &str) -> Option<(usize, &str)> {
    let body = line.trim_end_matches(['\n', '\r']);
    let key = body.trim_start();
    let key = key.strip_prefix("- ").map_or(key, str::trim_start);
    let value = key.strip_prefix("image:")?;
    let value = value.split(" #").next().unwrap_or(value).trim();
    let value = match value.as_bytes().first() {
        Some(b'"') => value.strip_prefix('"')?.strip_suffix('"')?,
        Some(b'\'') => value.strip_prefix('\'')?.strip_suffix('\'')?,
        _ => value,
    };
    if value.is_empty() || value.contains(char::is_whitespace) {
        return None;
    }
    let at = value.as_ptr() as usize - line.as_ptr() as usize;
    Some((at, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_image_lines_of_a_template_are_read_and_only_they() {
        let text = "{{- if .Values.enabled }}\nspec:\n  containers:\n  - name: a\n    \
                    image: busybox:1.38.0  # pinned\n  - image: \"alpine:3.11\"\n    \
                    command: [\"image: nginx:1.25\"]\n  - image: {{ .Values.image }}\n\
                    {{- end }}\n";
        let found: Vec<(String, String)> = candidates(text)
            .into_iter()
            .map(|c| {
                let tag = c.tag.map(|t| text[t.span].to_string()).unwrap_or_default();
                (text[c.name_span].to_string(), tag)
            })
            .collect();
        assert_eq!(
            found,
            [
                ("busybox".into(), "1.38.0".into()),
                ("alpine".into(), "3.11".into()),
            ]
        );
    }
}
