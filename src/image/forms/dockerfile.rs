//! Dockerfile `FROM [--platform=…] image [AS name]` and `COPY --from=image`: the only places a
//! Dockerfile names an image. Its syntax is line-based: one instruction per line.

use super::{Candidate, inline_at};

pub(super) fn candidates(text: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut words = words(line).map(|(at, word)| (line_start + at, word));
        match words.next() {
            Some((_, instruction)) if instruction.eq_ignore_ascii_case("FROM") => {
                if let Some((at, image)) = words.find(|(_, w)| !w.starts_with("--")) {
                    found.extend(inline_at(image, at));
                }
            }
            Some((_, instruction)) if instruction.eq_ignore_ascii_case("COPY") => {
                for (at, word) in words.take_while(|(_, w)| w.starts_with("--")) {
                    if let Some(image) = word.strip_prefix("--from=") {
                        found.extend(inline_at(image, at + "--from=".len()));
                    }
                }
            }
            _ => {}
        }
        line_start += line.len();
    }
    found
}

/// The whitespace-separated words of a line, with their byte offsets.
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split_ascii_whitespace()
        .map(move |word| (word.as_ptr() as usize - line.as_ptr() as usize, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_and_copy_from_name_images() {
        let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN x\n\
                    copy --chown=1 --from=nginx:1.25 /a /b\nFROM build\nFROM scratch\n";
        let found: Vec<(String, String)> = candidates(text)
            .into_iter()
            .filter_map(|c| Some((c.name, text[c.tag?.span].to_string())))
            .collect();
        assert_eq!(
            found,
            [
                ("golang".into(), "1.22".into()),
                ("nginx".into(), "1.25".into())
            ]
        );
    }
}
