//! Version constraints as Masterminds/semver v3 reads them — the language of the Go laminar,
//! Flux's `semver.range` and Argo CD Image Updater — over the `semver` crate's versions.
//!
//! ```text
//! constraint := group ( "||" group )*
//! group      := term ( ( "," | " " ) term )*        every term must hold
//! term       := op? version | version " - " version  (a hyphen range: >= a, <= b)
//! op         := = != > < >= => <= =< ~ ~> ^
//! version    := v? part ( . part ( . part )? )? ( -prerelease )? ( +build )?
//! part       := digits | x | X | *
//! ```
//!
//! A bare version means exactly it (`1.2.3`) or, partial or with wildcards, every version it
//! spells (`2.1` = `2.1.x`). A group admits prereleases only when one of its terms names one
//! (`>=1.2.0-0`), and then on any version in range.

use std::cmp::Ordering;
use std::fmt;

use semver::{Prerelease, Version};

/// A parsed constraint: any group may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    groups: Vec<Group>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    terms: Vec<Term>,
    /// A term names a prerelease: prereleases are candidates for this group.
    admits_prereleases: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    op: Op,
    /// Wildcard parts read as 0.
    version: Version,
    /// The first part that was a wildcard or left out.
    wild: Wild,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// Which part of a constraint's version is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wild {
    None,
    /// `*`, `x`: any version.
    Major,
    /// `1`, `1.x`: any minor and patch.
    Minor,
    /// `1.2`, `1.2.x`: any patch.
    Patch,
}

/// Why a constraint was refused, and what might have been meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintError {
    pub message: String,
    /// A nearby valid spelling, when one is evident.
    pub suggestion: Option<String>,
}

impl fmt::Display for ConstraintError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, " (did you mean {suggestion:?}?)")?;
        }
        Ok(())
    }
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let groups = text
            .split("||")
            .map(|group| parse_group(group).map_err(|message| refused(text, message)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Constraint { groups })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups.iter().any(|group| {
            (version.pre.is_empty() || group.admits_prereleases)
                && group.terms.iter().all(|term| term.holds(version))
        })
    }
}

fn refused(text: &str, message: String) -> ConstraintError {
    ConstraintError {
        message: format!("invalid semver range {text:?}: {message}"),
        suggestion: suggest(text),
    }
}

/// The likely intent behind a refused constraint: Cargo's and npm's spellings that
/// Masterminds writes differently.
fn suggest(text: &str) -> Option<String> {
    let fixed = text
        .replace("&&", " ")
        .replace(" and ", " ")
        .replace(" or ", " || ")
        .replace('|', "||")
        .replace("||||", "||")
        .replace(">==", ">=")
        .replace("<==", "<=")
        .replace("==", "=");
    (fixed != text && Constraint::parse(&fixed).is_ok()).then_some(fixed)
}

fn parse_group(group: &str) -> Result<Group, String> {
    let mut lexer = Lexer::new(group);
    let mut terms = Vec::new();
    loop {
        lexer.skip_spaces();
        if lexer.at_end() {
            break;
        }
        if !terms.is_empty() && lexer.eat(',') {
            lexer.skip_spaces();
            if lexer.at_end() {
                return Err("a comma must be followed by a term".into());
            }
        }
        let op = lexer.op();
        lexer.skip_spaces();
        let word = lexer.word();
        if word.is_empty() {
            return Err(match lexer.rest().chars().next() {
                Some(c) => format!("unexpected {c:?}"),
                None => "an operator must be followed by a version".into(),
            });
        }
        if word.starts_with(['=', '<', '>', '~', '^', '!']) {
            return Err(format!("two operators in a row in {word:?}"));
        }
        let (version, wild) = parse_version(word)?;
        // `a - b`: both ends included.
        if op.is_none() && lexer.hyphen() {
            let upper = lexer.word();
            if upper.is_empty() {
                return Err("a range needs a version after \" - \"".into());
            }
            let (upper, upper_wild) = parse_version(upper)?;
            terms.push(Term {
                op: Op::Ge,
                version,
                wild,
            });
            terms.push(Term {
                op: Op::Le,
                version: upper,
                wild: upper_wild,
            });
            continue;
        }
        terms.push(Term {
            op: op.unwrap_or(Op::Eq),
            version,
            wild,
        });
    }
    if terms.is_empty() {
        // An empty group means any version, as `*`.
        terms.push(Term {
            op: Op::Eq,
            version: Version::new(0, 0, 0),
            wild: Wild::Major,
        });
    }
    let admits_prereleases = terms.iter().any(|t| !t.version.pre.is_empty());
    Ok(Group {
        terms,
        admits_prereleases,
    })
}

/// `v?major(.minor(.patch)?)?(-pre)?(+build)?` with `x`, `X` or `*` for any part.
fn parse_version(word: &str) -> Result<(Version, Wild), String> {
    let bare = word.strip_prefix('v').unwrap_or(word);
    let (rest, _build) = bare.split_once('+').unwrap_or((bare, ""));
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let pre = Prerelease::new(pre).map_err(|e| format!("invalid prerelease in {word:?}: {e}"))?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{word:?} is not a version"));
    }
    let mut numbers = [0u64; 3];
    let mut wild = match parts.len() {
        1 => Wild::Minor,
        2 => Wild::Patch,
        _ => Wild::None,
    };
    for (i, part) in parts.iter().enumerate() {
        if matches!(*part, "x" | "X" | "*") {
            wild = [Wild::Major, Wild::Minor, Wild::Patch][i];
            break;
        }
        numbers[i] = part
            .parse()
            .ok()
            .filter(|_| part.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{word:?} is not a version"))?;
    }
    if wild == Wild::Major {
        numbers = [0; 3];
    } else if wild == Wild::Minor {
        numbers[1] = 0;
        numbers[2] = 0;
    } else if wild == Wild::Patch {
        numbers[2] = 0;
    }
    let mut version = Version::new(numbers[0], numbers[1], numbers[2]);
    version.pre = pre;
    Ok((version, wild))
}

/// Precedence: major, minor, patch, then prerelease (a release above its prereleases);
/// build metadata does not count.
fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

impl Term {
    fn holds(&self, v: &Version) -> bool {
        let c = &self.version;
        let order = precedence(v, c);
        match self.op {
            Op::Eq if self.wild != Wild::None => self.tilde(v, order),
            Op::Eq => order == Ordering::Equal,
            Op::Ne => !self.spells(v),
            Op::Lt => order == Ordering::Less,
            Op::Ge => order != Ordering::Less,
            Op::Gt => match self.wild {
                Wild::None | Wild::Major => order == Ordering::Greater,
                // `>1` means 2 and up; `>1.1` means 1.2 and up.
                Wild::Minor => v.major > c.major,
                Wild::Patch => (v.major, v.minor) > (c.major, c.minor),
            },
            Op::Le => match self.wild {
                Wild::None => order != Ordering::Greater,
                Wild::Minor => v.major <= c.major,
                Wild::Major | Wild::Patch => (v.major, v.minor) <= (c.major, c.minor),
            },
            Op::Tilde => self.tilde(v, order),
            Op::Caret => self.caret(v, order),
        }
    }

    /// Same major (and minor, unless it is open) and not below: `~1.2.3` is `>=1.2.3 <1.3`.
    fn tilde(&self, v: &Version, order: Ordering) -> bool {
        let c = &self.version;
        if order == Ordering::Less {
            return false;
        }
        if self.wild == Wild::Major
            || (c.major, c.minor, c.patch) == (0, 0, 0) && self.wild == Wild::None
        {
            return true;
        }
        v.major == c.major && (self.wild == Wild::Minor || v.minor == c.minor)
    }

    /// Not below, and the leftmost nonzero part fixed: `^1.2` is `>=1.2 <2`, `^0.2` is
    /// `>=0.2 <0.3`, `^0.0.3` is `0.0.3`.
    fn caret(&self, v: &Version, order: Ordering) -> bool {
        let c = &self.version;
        if order == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.wild == Wild::Minor {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.wild == Wild::Patch {
            return v.minor == c.minor;
        }
        v.minor == 0 && v.patch == c.patch
    }

    /// Whether `v` is one of the versions the term's version spells (`4.1` spells every
    /// 4.1.x; a prerelease only itself).
    fn spells(&self, v: &Version) -> bool {
        let c = &self.version;
        match self.wild {
            Wild::None => precedence(v, c) == Ordering::Equal,
            Wild::Major => precedence(v, c) == Ordering::Equal,
            Wild::Minor => v.major == c.major,
            Wild::Patch => {
                v.major == c.major
                    && v.minor == c.minor
                    && (v.pre.is_empty() && c.pre.is_empty() || v.pre == c.pre)
            }
        }
    }
}

/// Splits a group into operators and version words.
struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn at_end(&self) -> bool {
        self.at >= self.text.len()
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.rest().starts_with(c);
        if found {
            self.at += c.len_utf8();
        }
        found
    }

    fn op(&mut self) -> Option<Op> {
        const OPS: [(&str, Op); 11] = [
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("=>", Op::Ge),
            ("<=", Op::Le),
            ("=<", Op::Le),
            ("~>", Op::Tilde),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
            ("~", Op::Tilde),
            ("^", Op::Caret),
        ];
        let (spelling, op) = OPS.iter().find(|(s, _)| self.rest().starts_with(s))?;
        self.at += spelling.len();
        Some(*op)
    }

    /// A version word: everything up to a space, a comma or a `|`.
    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || c == ',' || c == '|')
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// ` - ` (spaces on both sides) after a version: a hyphen range follows.
    fn hyphen(&mut self) -> bool {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        let spaced_before = trimmed.len() < rest.len();
        let Some(after) = trimmed.strip_prefix('-') else {
            return false;
        };
        let spaced_after = after.starts_with(char::is_whitespace);
        if !(spaced_before && spaced_after) {
            return false;
        }
        self.at = self.text.len() - after.trim_start().len();
        true
    }
}

#[cfg(test)]
mod tests;
