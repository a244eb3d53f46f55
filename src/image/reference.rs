//! The image reference grammar of the distribution spec, matched on bytes with exact spans.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component ( "/" path-component )*
//! domain     := host [ ":" port ]
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" encoded
//! ```
//!
//! Spans are byte ranges into the text that was parsed, so a rewriter can replace exactly the
//! tag (and digest) bytes and nothing else.

use std::ops::Range;

/// Longest tag the grammar allows.
pub const MAX_TAG_LEN: usize = 128;

/// Longest name (domain and path) the distribution spec allows.
pub const MAX_NAME_LEN: usize = 255;

/// Where the parts of one reference lie in the text it was found in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefSpans {
    /// The name: domain and path, without tag and digest.
    pub name: Range<usize>,
    pub tag: Option<Range<usize>>,
    /// `algorithm:encoded`, without the `@`.
    pub digest: Option<Range<usize>>,
}

impl RefSpans {
    /// The whole reference, from the first byte of the name to the last of the tag or digest.
    pub fn full(&self) -> Range<usize> {
        let end = [
            Some(self.name.end),
            self.tag.as_ref().map(|t| t.end),
            self.digest.as_ref().map(|d| d.end),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.name.end);
        self.name.start..end
    }
}

/// A reference parsed from a complete string, e.g. on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host and optional port, when the reference names one.
    pub domain: Option<String>,
    /// Repository path below the domain.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a whole string as a reference; `None` when any byte does not fit the grammar.
    ///
    /// As in Docker, the first component is a registry domain only when it contains `.` or `:`
    /// or is `localhost`, and more components follow.
    pub fn parse(text: &str) -> Option<Reference> {
        let (spans, path_start) = whole(text)?;
        let slice = |r: &Range<usize>| text[r.clone()].to_string();
        Some(Reference {
            domain: (path_start > 0).then(|| text[..path_start - 1].to_string()),
            path: text[path_start..spans.name.end].to_string(),
            tag: spans.tag.as_ref().map(slice),
            digest: spans.digest.as_ref().map(slice),
        })
    }
}

/// The spans of a whole string read as one reference (see [`Reference::parse`]).
pub fn parse_spans(text: &str) -> Option<RefSpans> {
    whole(text).map(|(spans, _)| spans)
}

/// The spans of `text` as one reference, and where its path starts (after the domain).
fn whole(text: &str) -> Option<(RefSpans, usize)> {
    let bytes = text.as_bytes();
    let path_start = match bytes.iter().position(|&b| b == b'/') {
        Some(slash) if looks_like_domain(&text[..slash]) => {
            let end = match_domain(bytes, 0)?;
            (end == slash).then_some(())?;
            slash + 1
        }
        _ => 0,
    };
    let spans = match_remainder(bytes, 0, path_start)?;
    (spans.full().end == bytes.len()).then_some((spans, path_start))
}

fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

/// Matches path components starting at `path_start`, then an optional tag and digest.
/// `name_start` is where the name began (before any domain or prefix already matched).
///
/// Returns `None` when the text there is not a reference: a path component that does not fit
/// the grammar (uppercase letters, say), a tag longer than the grammar allows, a malformed
/// digest.
pub fn match_remainder(text: &[u8], name_start: usize, path_start: usize) -> Option<RefSpans> {
    let mut pos = match_path_component(text, path_start)?;
    while text.get(pos) == Some(&b'/') {
        pos = match_path_component(text, pos + 1)?;
    }
    let name = name_start..pos;
    // A name character right after the path means the grammar was broken mid-word (`App`, `a_`).
    if text.get(pos).is_some_and(|&b| is_word_byte(b)) || name.len() > MAX_NAME_LEN {
        return None;
    }
    let mut tag = None;
    if text.get(pos) == Some(&b':') {
        let span = match_tag(text, pos + 1)?;
        pos = span.end;
        tag = Some(span);
    }
    let mut digest = None;
    if text.get(pos) == Some(&b'@') {
        let span = match_digest(text, pos + 1)?;
        digest = Some(span);
    }
    Some(RefSpans { name, tag, digest })
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`, returning the end of the component.
fn match_path_component(text: &[u8], start: usize) -> Option<usize> {
    let alnum_run = |from: usize| {
        let len = text[from.min(text.len())..]
            .iter()
            .take_while(|&&b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        (len > 0).then_some(from + len)
    };
    let mut end = alnum_run(start)?;
    loop {
        let separator_len = match text.get(end..) {
            Some([b'_', b'_', ..]) => 2,
            Some([b'.' | b'_', ..]) => 1,
            Some([b'-', ..]) => text[end..].iter().take_while(|&&b| b == b'-').count(),
            _ => 0,
        };
        if separator_len == 0 {
            return Some(end);
        }
        match alnum_run(end + separator_len) {
            Some(next) => end = next,
            // A separator must be followed by a letter or digit: `app-` is not a component end.
            None => return None,
        }
    }
}

/// Is `tag` a whole, valid tag? (Registries are outside input: check before use.)
pub fn is_valid_tag(tag: &str) -> bool {
    match_tag(tag.as_bytes(), 0).is_some_and(|span| span.end == tag.len())
}

/// Is `digest` a whole, valid `algorithm:encoded` digest?
pub fn is_valid_digest(digest: &str) -> bool {
    match_digest(digest.as_bytes(), 0).is_some_and(|span| span.end == digest.len())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a longer run is not a tag at all.
fn match_tag(text: &[u8], start: usize) -> Option<Range<usize>> {
    let first = *text.get(start)?;
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return None;
    }
    let len = text[start..]
        .iter()
        .take_while(|&&b| is_tag_byte(b))
        .count();
    (len <= MAX_TAG_LEN).then_some(start..start + len)
}

/// `algorithm ":" encoded`; sha256 and sha512 must be lowercase hex of their exact length.
fn match_digest(text: &[u8], start: usize) -> Option<Range<usize>> {
    let rest = &text[start.min(text.len())..];
    let algorithm_len = rest
        .iter()
        .take_while(|&&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        .count();
    if algorithm_len == 0 || rest.get(algorithm_len) != Some(&b':') {
        return None;
    }
    let algorithm = &rest[..algorithm_len];
    let encoded = &rest[algorithm_len + 1..];
    let encoded_len = encoded
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-')
        .count();
    let encoded = &encoded[..encoded_len];
    let valid = match algorithm {
        b"sha256" => encoded_len == 64 && is_lower_hex(encoded),
        b"sha512" => encoded_len == 128 && is_lower_hex(encoded),
        _ => encoded_len >= 32,
    };
    valid.then_some(start..start + algorithm_len + 1 + encoded_len)
}

/// host [":" port], host being DNS labels, or an IPv6 literal in brackets. Returns the end.
pub fn match_domain(text: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    if text.get(pos) == Some(&b'[') {
        let close = text[pos..].iter().position(|&b| b == b']')? + pos;
        let inner = &text[pos + 1..close];
        if inner.is_empty() || !inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':') {
            return None;
        }
        pos = close + 1;
    } else {
        loop {
            let label = text[pos.min(text.len())..]
                .iter()
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-')
                .count();
            let label_bytes = &text[pos..pos + label];
            if label == 0 || label_bytes[0] == b'-' || label_bytes[label - 1] == b'-' {
                return None;
            }
            pos += label;
            if text.get(pos) == Some(&b'.') {
                pos += 1;
            } else {
                break;
            }
        }
    }
    if text.get(pos) == Some(&b':') {
        let digits = text[pos + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        pos += 1 + digits;
    }
    Some(pos)
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

/// Bytes that continue a word in the name grammar's loose sense: seeing one right after a
/// parsed component means the text is something else (`App`, `app_`).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> Option<Reference> {
        Reference::parse(text)
    }

    #[test]
    fn parses_domain_port_path_tag_and_digest() {
        let text = format!("localhost:5000/team/app:1.2.3@{DIGEST}");
        let r = parse(&text).unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
    }

    #[test]
    fn the_first_component_is_a_domain_only_when_it_looks_like_one() {
        let r = parse("library/nginx:1").unwrap();
        assert_eq!(r.domain, None);
        assert_eq!(r.path, "library/nginx");
        let r = parse("ghcr.io/acme/app").unwrap();
        assert_eq!(r.domain.as_deref(), Some("ghcr.io"));
        assert_eq!(r.tag, None);
        let r = parse("[::1]:5000/app:x").unwrap();
        assert_eq!(r.domain.as_deref(), Some("[::1]:5000"));
    }

    #[test]
    fn separators_follow_the_grammar() {
        assert!(parse("reg.io/a.b_c__d---e:1").is_some());
        assert!(parse("reg.io/a___b:1").is_none());
        assert!(parse("reg.io/app-:1").is_none());
        assert!(parse("reg.io/-app:1").is_none());
        assert!(parse("reg.io/a..b:1").is_none());
    }

    #[test]
    fn uppercase_path_components_are_not_references() {
        assert!(parse("reg.io/App:1").is_none());
        assert!(parse("reg.io/aPp:1").is_none());
        assert!(
            parse("Reg.io/app:1").is_some(),
            "hosts may have uppercase letters"
        );
    }

    #[test]
    fn tags_are_limited_to_128_bytes() {
        let ok = format!("reg.io/app:{}", "a".repeat(128));
        let too_long = format!("reg.io/app:{}", "a".repeat(129));
        assert!(parse(&ok).is_some());
        assert!(parse(&too_long).is_none());
        assert!(parse("reg.io/app:.x").is_none());
        assert!(parse("reg.io/app:_x").is_some());
    }

    #[test]
    fn whole_tags_are_checked() {
        assert!(is_valid_tag("v1.2.3-rc_1"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag("a b"));
        assert!(!is_valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn digests_must_be_well_formed() {
        assert!(parse("reg.io/app@sha256:abc").is_none());
        let upper = format!("reg.io/app@{}", DIGEST.to_uppercase().replace("SHA", "sha"));
        assert!(parse(&upper).is_none());
        assert!(parse(&format!("reg.io/app@{DIGEST}")).is_some());
    }

    #[test]
    fn spans_point_at_the_parts_in_surrounding_text() {
        let text = format!("image: \"reg.io/app:v1@{DIGEST}\"");
        let start = text.find("reg.io").unwrap();
        let spans = match_remainder(text.as_bytes(), start, start + "reg.io/".len()).unwrap();
        assert_eq!(&text[spans.name.clone()], "reg.io/app");
        assert_eq!(&text[spans.tag.clone().unwrap()], "v1");
        assert_eq!(&text[spans.digest.clone().unwrap()], DIGEST);
        assert_eq!(&text[spans.full()], format!("reg.io/app:v1@{DIGEST}"));
    }

    #[test]
    fn domains_follow_dns_rules() {
        assert_eq!(match_domain(b"a.b-c.io:80/", 0), Some(11));
        assert_eq!(match_domain(b"-a.io/", 0), None);
        assert_eq!(match_domain(b"a.io:/", 0), None);
        assert_eq!(match_domain(b"[]/", 0), None);
    }
}
