//! Finds image references that start with a configured registry prefix, in any text.
//!
//! One pass per file: a multi-pattern search finds each `prefix/`, then the reference grammar
//! decides where the reference ends. The scanner knows nothing of files or rules.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

use super::reference::{RefSpans, match_remainder};
use crate::config::RegistryId;

/// A tagged reference found in some text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    /// The registry whose prefix the name starts with (the longest, if several do).
    pub registry: RegistryId,
    /// The name as written, without tag and digest.
    pub image: String,
    pub tag: String,
    pub digest: Option<String>,
    /// 1-based line of the reference's first byte.
    pub line: usize,
    /// 1-based column, counted in bytes like ripgrep's `--column`.
    pub column: usize,
    /// Byte spans in the text, for the rewriter.
    pub spans: RefSpans,
}

/// Searches text for references below a set of registry prefixes.
#[derive(Clone, Debug)]
pub struct Scanner {
    /// Each prefix with its `/` appended, so `reg.io/acme` never matches `reg.io/acme-x/app`.
    finder: AhoCorasick,
    /// The registry of each pattern, by pattern index.
    registries: Vec<RegistryId>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the registry prefix matcher: {0}")]
pub struct ScannerError(#[from] aho_corasick::BuildError);

impl Scanner {
    /// `prefixes` are registry prefixes as configured, e.g. `ghcr.io/acme` or `localhost:5000`.
    pub fn new<I, S>(prefixes: I) -> Result<Scanner, ScannerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let registries: Vec<RegistryId> = prefixes
            .into_iter()
            .map(|p| RegistryId::new(p.as_ref()))
            .collect();
        let patterns: Vec<String> = registries
            .iter()
            .map(|id| format!("{}/", id.prefix()))
            .collect();
        // Leftmost-longest: where `reg.io/a` and `reg.io/a/b` both match, the longer one names
        // the registry.
        let finder = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)?;
        Ok(Scanner { finder, registries })
    }

    /// Every tagged reference in `text`, in order. Digest-only and untagged names are skipped.
    pub fn scan(&self, text: &[u8]) -> Vec<ImageRef> {
        let mut found = Vec::new();
        let mut lines = LineCounter::default();
        let mut pos = 0;
        while let Some(hit) = self.finder.find(Input::new(text).range(pos..)) {
            let start = hit.start();
            pos = start + 1;
            if start > 0 && continues_a_name(text[start - 1]) {
                continue;
            }
            let Some(spans) = match_remainder(text, start, hit.end()) else {
                continue;
            };
            let Some(tag) = &spans.tag else {
                continue;
            };
            pos = spans.full().end;
            let (line, column) = lines.locate(text, start);
            // The grammar admits only ASCII, so these conversions never replace anything.
            let string = |range: &std::ops::Range<usize>| {
                String::from_utf8_lossy(&text[range.clone()]).into_owned()
            };
            found.push(ImageRef {
                registry: self.registries[hit.pattern().as_usize()].clone(),
                image: string(&spans.name),
                tag: string(tag),
                digest: spans.digest.as_ref().map(string),
                line,
                column,
                spans,
            });
        }
        found
    }
}

/// A byte that, right before a prefix, shows the prefix is the tail of some longer name
/// (`xreg.io/…`, `other.reg.io/…`, `/path/reg.io/…`).
fn continues_a_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-/".contains(&b)
}

/// Turns byte offsets into line and column, counting newlines only once per file.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
    line_start: usize,
}

impl LineCounter {
    /// Offsets must be asked for in increasing order.
    fn locate(&mut self, text: &[u8], offset: usize) -> (usize, usize) {
        for newline in memchr::memchr_iter(b'\n', &text[self.offset..offset]) {
            self.line += 1;
            self.line_start = self.offset + newline + 1;
        }
        self.offset = offset;
        (self.line + 1, offset - self.line_start + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECR: &str = "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp";

    fn refs(prefixes: &[&str], text: &str) -> Vec<(String, usize, usize)> {
        Scanner::new(prefixes)
            .unwrap()
            .scan(text.as_bytes())
            .into_iter()
            .map(|r| (text[r.spans.full()].to_string(), r.line, r.column))
            .collect()
    }

    fn texts(prefixes: &[&str], text: &str) -> Vec<String> {
        refs(prefixes, text).into_iter().map(|r| r.0).collect()
    }

    #[test]
    fn finds_references_in_many_syntaxes() {
        let text = format!(
            "image: {ECR}/app:develop-1\n\
             image: \"{ECR}/app:develop-2\"\n\
             image: '{ECR}/app:develop-3'\n\
             {{\"image\":\"{ECR}/app:develop-4\"}}\n\
             FROM {ECR}/base:1.0 AS build\n\
             --image={ECR}/app:develop-5\n\
             IMAGE={ECR}/app:develop-6\n\
             image = \"{ECR}/app:develop-7\"\n\
             # was {ECR}/app:develop-8, see below\n\
             - {ECR}/app:develop-9\r\n"
        );
        let found = texts(&[ECR], &text);
        let tags: Vec<&str> = found
            .iter()
            .map(|r| r.rsplit(':').next().unwrap())
            .collect();
        assert_eq!(
            tags,
            [
                "develop-1",
                "develop-2",
                "develop-3",
                "develop-4",
                "1.0",
                "develop-5",
                "develop-6",
                "develop-7",
                "develop-8",
                "develop-9"
            ]
        );
    }

    #[test]
    fn lines_and_byte_columns_are_one_based() {
        let text = format!("a: b\n  image: {ECR}/app:1\n\u{e9}x {ECR}/app:2");
        let found = refs(&[ECR], &text);
        assert_eq!((found[0].1, found[0].2), (2, 10));
        // `é` is two bytes: the column counts bytes.
        assert_eq!((found[1].1, found[1].2), (3, 5));
    }

    #[test]
    fn a_prefix_must_stand_alone_and_be_followed_by_a_slash() {
        let text = format!(
            "{ECR}-x/app:1\nx{ECR}/app:2\nsub.{ECR}/app:3\n/{ECR}/app:4\n{ECR}app:5\n{ECR}/app:6"
        );
        assert_eq!(texts(&[ECR], &text), [format!("{ECR}/app:6")]);
    }

    #[test]
    fn untagged_digest_only_and_invalid_names_are_skipped() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let text = format!(
            "reg.io/app\nreg.io/app@{digest}\nreg.io/App:1\nreg.io/app:{}\nreg.io/app:1@{digest}\n",
            "x".repeat(129)
        );
        assert_eq!(
            texts(&["reg.io"], &text),
            [format!("reg.io/app:1@{digest}")]
        );
    }

    #[test]
    fn a_reference_ends_where_the_grammar_ends() {
        let text = "reg.io/app:develop-1\",reg.io/app:develop-12 reg.io/a/b:v1}";
        assert_eq!(
            texts(&["reg.io"], text),
            [
                "reg.io/app:develop-1",
                "reg.io/app:develop-12",
                "reg.io/a/b:v1"
            ]
        );
    }

    #[test]
    fn the_longest_prefix_names_the_registry_and_ports_work() {
        let scanner = Scanner::new(["reg.io", "reg.io/team", "localhost:5000"]).unwrap();
        let found = scanner.scan(b"reg.io/team/app:1 reg.io/other:2 localhost:5000/x:3");
        let prefixes: Vec<&str> = found.iter().map(|r| r.registry.prefix()).collect();
        assert_eq!(prefixes, ["reg.io/team", "reg.io", "localhost:5000"]);
    }
}
