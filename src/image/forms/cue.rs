//! CUE values (Timoni modules and bundles): a struct's `repository` and `tag` fields (and
//! `digest`), read by a small lexer that knows strings, comments and braces. Only string
//! literals are kept current; a field computed from something else is reported.

use std::ops::Range;

use super::{Candidate, Form, Part};

/// One struct's fields of interest, as written.
#[derive(Default)]
struct Frame {
    repository: Option<Value>,
    tag: Option<Value>,
    digest: Option<Value>,
}

/// A field's value: its text and span (the literal's inside when it is a plain string).
struct Value {
    text: String,
    span: Range<usize>,
    literal: bool,
}

pub(super) fn candidates(text: &str) -> Vec<Candidate> {
    let bytes = text.as_bytes();
    let mut frames = vec![Frame::default()];
    let mut found = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'"' => pos = string_end(bytes, pos),
            b'/' if bytes.get(pos + 1) == Some(&b'/') => {
                pos = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |n| pos + n);
            }
            b'{' => {
                frames.push(Frame::default());
                pos += 1;
            }
            b'}' => {
                if frames.len() > 1 {
                    found.extend(frames.pop().and_then(candidate));
                }
                pos += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b == b'#' || b == b'$' => {
                let start = pos;
                while pos < bytes.len()
                    && (bytes[pos].is_ascii_alphanumeric() || b"_#$".contains(&bytes[pos]))
                {
                    pos += 1;
                }
                if bytes.get(pos) == Some(&b':') && bytes.get(pos + 1) != Some(&b':') {
                    let value = value_at(text, pos + 1);
                    let frame = frames.last_mut().expect("the file's own frame stays");
                    match &text[start..pos] {
                        "repository" => frame.repository = Some(value),
                        "tag" => frame.tag = Some(value),
                        "digest" => frame.digest = Some(value),
                        _ => {}
                    }
                    pos += 1;
                }
            }
            _ => pos += 1,
        }
    }
    found.extend(frames.pop().and_then(candidate));
    found
}

/// Past the string starting at `start` (a `"`), escapes skipped; a string left open ends
/// its line.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while pos < bytes.len() {
        match bytes[pos] {
            b'\\' => pos += 2,
            b'"' => return pos + 1,
            b'\n' => return pos,
            _ => pos += 1,
        }
    }
    bytes.len()
}

/// The value after a field's `:`, up to the end of its line, a `,`, a `}` or an attribute.
fn value_at(text: &str, from: usize) -> Value {
    let bytes = text.as_bytes();
    let mut start = from;
    while bytes.get(start).is_some_and(|b| *b == b' ' || *b == b'\t') {
        start += 1;
    }
    let mut end = start;
    while end < bytes.len() && !b"\n,}@".contains(&bytes[end]) {
        end = match bytes[end] {
            b'"' => string_end(bytes, end),
            b'/' if bytes.get(end + 1) == Some(&b'/') => break,
            _ => end + 1,
        };
    }
    let written = text[start..end].trim_end();
    let end = start + written.len();
    let inner = written
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .filter(|inner| !inner.contains(['"', '\\']));
    match inner {
        Some(inner) => Value {
            text: inner.to_string(),
            span: start + 1..end - 1,
            literal: true,
        },
        None => Value {
            text: written.to_string(),
            span: start..end,
            literal: false,
        },
    }
}

/// A struct with both `repository` and `tag` makes a candidate; one with a field that is not
/// a plain string makes one that cannot be edited (reported, never rewritten).
fn candidate(frame: Frame) -> Option<Candidate> {
    let (repository, tag) = (frame.repository?, frame.tag?);
    let literal = repository.literal && tag.literal;
    let part = |value: Value| Part {
        text: value.text,
        span: value.span,
        editable: literal && value.literal,
    };
    Some(Candidate {
        form: Form::Cue,
        name: repository.text,
        name_span: repository.span,
        tag: Some(part(tag)),
        digest: frame.digest.filter(|d| d.literal).map(part),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_fields_of_one_struct_make_a_reference() {
        let text = "values: {\n\timage: {\n\t\trepository: \"ghcr.io/acme/app\"\n\t\ttag:        \"6.14.1\" // pinned\n\t\tdigest:     \"\"\n\t}\n\tother: { tag: \"x\" }\n}\n";
        let found = candidates(text);
        assert_eq!(found.len(), 1, "{found:?}");
        let c = &found[0];
        assert_eq!(c.form, Form::Cue);
        assert_eq!(c.name, "ghcr.io/acme/app");
        assert_eq!(&text[c.name_span.clone()], "ghcr.io/acme/app");
        let tag = c.tag.as_ref().unwrap();
        assert_eq!((&text[tag.span.clone()], tag.editable), ("6.14.1", true));
        let digest = c.digest.as_ref().unwrap();
        assert_eq!((digest.text.as_str(), digest.span.len()), ("", 0));
    }

    #[test]
    fn computed_fields_cannot_be_edited_and_schemas_are_not_images() {
        let text = "image: {\n  repository: _imgURL\n  tag: _imgTag @timoni(runtime:string:V)\n}\n#Image: {\n  repository!: string\n  tag!: string\n}\nx: { repository: *\"a.io/b\" | string, tag: \"1\" }\n";
        let found = candidates(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].name, "_imgURL");
        assert!(!found[0].tag.as_ref().unwrap().editable);
        assert_eq!(found[0].tag.as_ref().unwrap().text, "_imgTag");
        assert!(!found[1].tag.as_ref().unwrap().editable);
    }

    #[test]
    fn strings_and_comments_hide_braces_and_keys() {
        let text = "a: {\n  // tag: \"no\" }\n  s: \"} repository: x\"\n  repository: \"r.io/a\", tag: \"2\"\n}\n";
        let found = candidates(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].tag.as_ref().unwrap().text, "2");
    }
}
