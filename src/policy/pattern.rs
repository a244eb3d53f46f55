//! Tag patterns: which tags belong to an update rule's channel.

use std::fmt;

use globset::{Glob, GlobMatcher};
use regex::Regex;
use semver::{Version, VersionReq};

use super::constraint::Constraint;
use super::version::parse_version;

/// `glob:…`, `regex:…` or `semver:…`, compiled.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The pattern as the user wrote it, prefix included, for messages and `scan` output.
    source: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Glob(GlobMatcher),
    Regex(Regex),
    Semver(Constraint),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {0:?} has no type: write glob:…, regex:… or semver:…")]
    NoType(String),
    #[error("unknown pattern type {0:?}: expected glob, regex or semver")]
    UnknownType(String),
    #[error("invalid glob {0:?}: {1}")]
    Glob(String, String),
    #[error("invalid regex {0:?}: {1}")]
    Regex(String, String),
    #[error("{1}")]
    Semver(String, String),
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let Some((kind, body)) = source.split_once(':') else {
            return Err(PatternError::NoType(source.to_string()));
        };
        let kind = match kind {
            "glob" => {
                Kind::Glob(compile_glob(body).map_err(|e| PatternError::Glob(body.into(), e))?)
            }
            "regex" => Kind::Regex(
                Regex::new(body).map_err(|e| PatternError::Regex(body.into(), one_line(&e)))?,
            ),
            "semver" => Kind::Semver(
                Constraint::parse(body.trim())
                    .map_err(|e| PatternError::Semver(body.into(), e.to_string()))?,
            ),
            other => return Err(PatternError::UnknownType(other.to_string())),
        };
        Ok(Pattern {
            source: source.to_string(),
            kind,
        })
    }

    /// Does `tag` belong to this channel? Globs match the whole tag; regexes search anywhere
    /// in it (anchor them yourself), as the Go laminar did; semver ranges match tags that are
    /// versions (`v` prefix and `1.2` ≈ `1.2.0` accepted) inside the range, and prereleases only
    /// when the range names one.
    pub fn matches(&self, tag: &str) -> bool {
        match &self.kind {
            Kind::Glob(glob) => glob.is_match(tag),
            Kind::Regex(regex) => regex.is_match(tag),
            Kind::Semver(range) => parse_version(tag).is_some_and(|v| range.matches(&v)),
        }
    }

    pub fn is_semver(&self) -> bool {
        matches!(self.kind, Kind::Semver(_))
    }

    /// For a semver range that Cargo's range language (which laminar once used) reads
    /// differently: a version the two readings disagree on, and whether it matches now.
    pub fn cargo_reading_differs(&self) -> Option<(Version, bool)> {
        let Kind::Semver(constraint) = &self.kind else {
            return None;
        };
        let body = self
            .source
            .split_once(':')
            .map_or("", |(_, body)| body)
            .trim();
        let cargo = VersionReq::parse(body).ok()?;
        samples(body).find_map(|v| {
            let now = constraint.matches(&v);
            (now != cargo.matches(&v)).then_some((v, now))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Versions around the numbers a range names, where two readings of it may part.
fn samples(range: &str) -> impl Iterator<Item = Version> {
    let mut numbers: Vec<u64> = range
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .flat_map(|n: u64| [n.saturating_sub(1), n, n.saturating_add(1)])
        .chain([0, 1])
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers.truncate(12);
    let mut triples = Vec::with_capacity(numbers.len().pow(3));
    for &major in &numbers {
        for &minor in &numbers {
            for &patch in &numbers {
                triples.push((major, minor, patch));
            }
        }
    }
    triples.into_iter().flat_map(|(major, minor, patch)| {
        ["", "0", "rc.1"].into_iter().map(move |pre| {
            let mut v = Version::new(major, minor, patch);
            v.pre = semver::Prerelease::new(pre).unwrap_or_default();
            v
        })
    })
}

/// Compiles a glob that is matched against a whole tag.
pub fn compile_glob(glob: &str) -> Result<GlobMatcher, String> {
    Glob::new(glob)
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

/// regex's errors span several lines with a caret diagram; config errors are one line each.
pub(crate) fn one_line(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_string()
        })
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(source: &str) -> Pattern {
        Pattern::parse(source).unwrap()
    }

    #[test]
    fn globs_match_the_whole_tag() {
        assert!(p("glob:develop-*").matches("develop-12"));
        assert!(!p("glob:develop-*").matches("xdevelop-12"));
        assert!(!p("glob:develop-?").matches("develop-12"));
        assert!(p("glob:release-[0-9]*").matches("release-3"));
    }

    #[test]
    fn regexes_search_unanchored() {
        assert!(p("regex:develop-[0-9]+").matches("feature-develop-3-x"));
        assert!(!p("regex:^develop-[0-9]+$").matches("develop-3-x"));
    }

    #[test]
    fn semver_ranges_match_versions_with_v_prefix_and_partials() {
        let range = p("semver:^1.2");
        assert!(range.matches("1.2.0"));
        assert!(range.matches("v1.4.7"));
        assert!(range.matches("1.3"));
        assert!(!range.matches("2.0.0"));
        assert!(!range.matches("1.1.9"));
        assert!(!range.matches("latest"));
        assert!(
            !range.matches("1.3.0-rc.1"),
            "no prereleases unless the range names one"
        );
        assert!(p("semver:>=1.3.0-rc.0").matches("1.3.0-rc.1"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        assert_eq!(
            Pattern::parse("develop-*").unwrap_err(),
            PatternError::NoType("develop-*".into())
        );
        assert!(matches!(
            Pattern::parse("wild:x").unwrap_err(),
            PatternError::UnknownType(t) if t == "wild"
        ));
        assert!(matches!(
            Pattern::parse("glob:a[").unwrap_err(),
            PatternError::Glob(..)
        ));
        let PatternError::Regex(_, msg) = Pattern::parse("regex:(").unwrap_err() else {
            panic!("expected a regex error")
        };
        assert!(!msg.contains('\n'), "{msg}");
        assert!(matches!(
            Pattern::parse("semver:^^1").unwrap_err(),
            PatternError::Semver(..)
        ));
    }

    #[test]
    fn ranges_cargo_reads_otherwise_are_pointed_out() {
        let (version, now) = p("semver:1.2.3").cargo_reading_differs().unwrap();
        assert!(!now, "a bare version pins: {version} no longer matches");
        assert!(p("semver:>=1.2.0-0").cargo_reading_differs().is_some());
        assert_eq!(p("semver:^1.2").cargo_reading_differs(), None);
        assert_eq!(
            p("semver:>=1.2.0 <2").cargo_reading_differs(),
            None,
            "Cargo refused it: nothing changed"
        );
    }
}
