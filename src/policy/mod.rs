//! Update policies: which tags a rule allows and which of them is newest. Pure functions.
//!
//! A policy never moves a reference backwards: the chosen tag must be strictly greater than the
//! current one under the policy's own ordering.

mod constraint;
mod pattern;
mod version;
mod window;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use globset::{GlobSet, GlobSetBuilder};
use regex::Regex;

pub use constraint::{Constraint, ConstraintError};
pub(crate) use pattern::one_line;
pub use pattern::{Pattern, PatternError, compile_glob};
pub use version::{Number, parse_version};
pub use window::Window;

/// What the registry layer knows of one tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagInfo {
    pub tag: String,
    /// Push or build time; `None` when unknown (sorts oldest).
    pub pushed: Option<SystemTime>,
    /// Manifest digest, when known; needed to rewrite `name:tag@digest` references.
    pub digest: Option<String>,
}

impl TagInfo {
    pub fn named(tag: impl Into<String>) -> TagInfo {
        TagInfo {
            tag: tag.into(),
            pushed: None,
            digest: None,
        }
    }
}

/// What the registries said of one image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageTags {
    /// The listing, shared with the registry layer.
    pub tags: Arc<Vec<TagInfo>>,
    /// Tags whose time or digest is still to be read (later cycles read them): until then a
    /// rule that orders or ages by time cannot tell which of its tags is newest.
    pub pending: Arc<Vec<String>>,
}

impl ImageTags {
    /// A listing with nothing left to read.
    pub fn complete(tags: Arc<Vec<TagInfo>>) -> ImageTags {
        ImageTags {
            tags,
            pending: Arc::default(),
        }
    }
}

/// How tags are ranked to find the newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// By push time, as reported by the registry.
    Time,
    /// By semantic version.
    Semver,
    /// By byte-wise string comparison.
    Alphabetical,
    /// By numeric value; tags (or extracted parts) that are not numbers are not candidates.
    Numerical,
}

impl FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "time" => Ok(Order::Time),
            "semver" => Ok(Order::Semver),
            "alphabetical" => Ok(Order::Alphabetical),
            "numerical" => Ok(Order::Numerical),
            _ => Err(format!(
                "unknown sort {s:?}: expected time, semver, alphabetical or numerical"
            )),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Order::Time => "push time",
            Order::Semver => "version",
            Order::Alphabetical => "alphabetical order",
            Order::Numerical => "numeric value",
        })
    }
}

/// A compiled update rule's tag logic: pattern, exclusions and ordering.
#[derive(Clone, Debug)]
pub struct Policy {
    pub pattern: Pattern,
    /// Tags matching any of these globs are never chosen.
    exclude: GlobSet,
    pub order: Order,
    /// Sort on this capture group instead of the whole tag.
    extract: Option<Regex>,
    /// The smallest is newest (`order: desc`, for alphabetical and numerical sorts).
    descending: bool,
    /// A semver range the ranked text (the extracted part, else the tag) must satisfy.
    range: Option<Constraint>,
    /// Tags younger than this (or of unknown age) are not chosen yet.
    pub min_age: Option<Duration>,
}

/// Why a policy leaves a reference as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keep {
    /// No tag in the registry is newer than the current one.
    UpToDate,
    /// No tag in the registry matches the pattern (after exclusions) and can be ordered.
    NoCandidates,
    /// The current tag cannot be placed in the ordering (e.g. `extract` does not match it).
    CurrentUnordered,
    /// The newest allowed tag is younger than `minAge` (or its age is unknown).
    Held { tag: String, age: Option<Duration> },
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Keep::UpToDate => "already the newest allowed tag",
            Keep::NoCandidates => "no tag in the registry is allowed by the rule",
            Keep::CurrentUnordered => "the current tag cannot be ordered under the rule",
            Keep::Held {
                tag,
                age: Some(age),
            } => {
                return write!(
                    f,
                    "held: {tag} is younger than minAge (pushed {} ago)",
                    Ago(*age)
                );
            }
            Keep::Held { tag, age: None } => {
                return write!(
                    f,
                    "held: {tag} has no known push time, so minAge cannot be met"
                );
            }
        })
    }
}

/// A duration the way people say it: `5 h`, `3 d`, `40 min`.
pub struct Ago(pub Duration);

impl fmt::Display for Ago {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let secs = self.0.as_secs();
        match secs {
            0..120 => write!(f, "{secs} s"),
            120..7200 => write!(f, "{} min", secs / 60),
            7200..172_800 => write!(f, "{} h", secs / 3600),
            _ => write!(f, "{} d", secs / 86_400),
        }
    }
}

/// The outcome of asking a policy about one reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection<'t> {
    Update { to: &'t TagInfo, reason: String },
    Keep(Keep),
}

/// What a tag is ranked by. Keys of one policy are always of one variant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Time(Option<SystemTime>),
    Version(semver::Version),
    Text(String),
    Number(Number),
    /// Another key, its order turned around.
    Descending(std::cmp::Reverse<Box<SortKey>>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid exclude glob {0:?}: {1}")]
    Exclude(String, String),
    #[error("invalid extract regex {0:?}: {1}")]
    Extract(String, String),
    #[error("extract regex {0:?} has no capture group to sort on")]
    ExtractWithoutGroup(String),
    #[error("extract cannot be used with sort: time (push times are not in the tag)")]
    ExtractWithTime,
    #[error("order: desc applies to sort: alphabetical and numerical only")]
    DescendingOrder,
    #[error("{0}")]
    Range(ConstraintError),
}

impl Policy {
    /// `order` defaults to version order for semver patterns, to numeric order when `extract`
    /// is given, and to push time otherwise.
    pub fn new(
        pattern: Pattern,
        exclude: &[String],
        order: Option<Order>,
        extract: Option<&str>,
    ) -> Result<Policy, PolicyError> {
        let mut set = GlobSetBuilder::new();
        for glob in exclude {
            let compiled = globset::Glob::new(glob)
                .map_err(|e| PolicyError::Exclude(glob.clone(), e.kind().to_string()))?;
            set.add(compiled);
        }
        let exclude = set
            .build()
            .map_err(|e| PolicyError::Exclude(exclude.join(", "), e.to_string()))?;
        let extract = extract
            .map(|source| {
                let regex = Regex::new(source)
                    .map_err(|e| PolicyError::Extract(source.into(), one_line(&e)))?;
                if regex.captures_len() < 2 {
                    return Err(PolicyError::ExtractWithoutGroup(source.into()));
                }
                Ok(regex)
            })
            .transpose()?;
        let order = match (order, &extract) {
            (Some(Order::Time), Some(_)) => return Err(PolicyError::ExtractWithTime),
            (Some(order), _) => order,
            (None, _) if pattern.is_semver() => Order::Semver,
            (None, Some(_)) => Order::Numerical,
            (None, None) => Order::Time,
        };
        Ok(Policy {
            pattern,
            exclude,
            order,
            extract,
            descending: false,
            range: None,
            min_age: None,
        })
    }

    /// `upstream`'s pattern and ordering with this policy's exclusions, range and minimum
    /// age: a following rule that gives no pattern of its own.
    pub fn following(&self, upstream: &Policy) -> Policy {
        Policy {
            pattern: upstream.pattern.clone(),
            order: upstream.order,
            extract: upstream.extract.clone(),
            descending: upstream.descending,
            exclude: self.exclude.clone(),
            range: self.range.clone(),
            min_age: self.min_age,
        }
    }

    /// Tags are chosen only once they are `min_age` old (by the registry's time); a tag of
    /// unknown age never is.
    pub fn with_min_age(mut self, min_age: Duration) -> Policy {
        self.min_age = Some(min_age);
        self
    }

    /// Whether the registry's times matter to this policy (to order, or to age tags).
    pub fn needs_times(&self) -> bool {
        self.order == Order::Time || self.min_age.is_some()
    }

    /// The smallest tag (or extracted part) is the newest: Flux's `order: desc`.
    pub fn descending(mut self) -> Result<Policy, PolicyError> {
        if !matches!(self.order, Order::Alphabetical | Order::Numerical) {
            return Err(PolicyError::DescendingOrder);
        }
        self.descending = true;
        Ok(self)
    }

    /// Only tags whose ranked text (the extracted part, else the tag) is a version in
    /// `range`, a semver range: Flux's filter with a semver policy.
    pub fn with_range(mut self, range: &str) -> Result<Policy, PolicyError> {
        self.range = Some(Constraint::parse(range.trim()).map_err(PolicyError::Range)?);
        Ok(self)
    }

    /// Is a reference whose current tag is `tag` in this rule's channel?
    pub fn manages(&self, tag: &str) -> bool {
        self.pattern.matches(tag)
    }

    /// Is `tag` one this policy may move a reference to?
    pub fn allows(&self, tag: &str) -> bool {
        self.pattern.matches(tag) && !self.exclude.is_match(tag) && self.in_range(tag)
    }

    /// Does an `exclude` glob name `tag`?
    pub fn excludes(&self, tag: &str) -> bool {
        self.exclude.is_match(tag)
    }

    /// Does this policy's ordering put `tag` strictly before `than`? `false` when either cannot
    /// be placed (a time order places only tags in `tags` with a known time).
    pub fn is_older(&self, tag: &str, than: &str, tags: &[TagInfo]) -> bool {
        let key = |name: &str| match self.order {
            Order::Time => tags
                .iter()
                .find(|info| info.tag == name && info.pushed.is_some())
                .and_then(|info| self.key(info)),
            _ => self.key(&TagInfo::named(name)),
        };
        match (key(tag), key(than)) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        }
    }

    /// Whether `info` is at least `min_age` old at `now` (always, without a `min_age`).
    fn old_enough(&self, info: &TagInfo, now: SystemTime) -> bool {
        let Some(min_age) = self.min_age else {
            return true;
        };
        info.pushed
            .and_then(|pushed| now.duration_since(pushed).ok())
            .is_some_and(|age| age >= min_age)
    }

    fn in_range(&self, tag: &str) -> bool {
        let Some(range) = &self.range else {
            return true;
        };
        self.ranked_text(tag)
            .and_then(parse_version)
            .is_some_and(|version| range.matches(&version))
    }

    /// Picks the newest allowed tag old enough at `now`, if it is strictly newer than
    /// `current`.
    ///
    /// Ties in the ordering are broken by the tag string, so the choice is deterministic; a
    /// candidate that only ties with the current tag is not an update.
    pub fn select<'t>(&self, current: &str, tags: &'t [TagInfo], now: SystemTime) -> Selection<'t> {
        let newest = |old_enough: bool| {
            tags.iter()
                .filter(|info| self.allows(&info.tag))
                .filter(|info| !old_enough || self.old_enough(info, now))
                .filter_map(|info| Some((self.key(info)?, info)))
                .max_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| a.tag.cmp(&b.tag)))
        };
        let Some((newest_key, newest_any)) = newest(false) else {
            return Selection::Keep(Keep::NoCandidates);
        };
        let held = (!self.old_enough(newest_any, now)).then(|| Keep::Held {
            tag: newest_any.tag.clone(),
            age: newest_any.pushed.and_then(|p| now.duration_since(p).ok()),
        });
        let (best_key, best) = match &held {
            None => (newest_key, newest_any),
            Some(held) => match newest(true) {
                Some(found) => found,
                None => return Selection::Keep(held.clone()),
            },
        };
        let known_current = match self.order {
            Order::Time => tags.iter().find(|info| info.tag == current).cloned(),
            _ => Some(TagInfo::named(current)),
        };
        let Some(current_info) = known_current else {
            return Selection::Update {
                to: best,
                reason: format!(
                    "current tag {current} is unknown to the registry; {} is the newest allowed tag by {}",
                    best.tag, self.order
                ),
            };
        };
        let Some(current_key) = self.key(&current_info) else {
            return Selection::Keep(Keep::CurrentUnordered);
        };
        match best_key.cmp(&current_key) {
            Ordering::Greater if best.tag != current => Selection::Update {
                to: best,
                reason: match &held {
                    None => format!(
                        "{} is the newest tag allowed by {} (by {})",
                        best.tag, self.pattern, self.order
                    ),
                    Some(held) => format!(
                        "{} is the newest tag allowed by {} (by {}) old enough; {held}",
                        best.tag, self.pattern, self.order
                    ),
                },
            },
            _ => Selection::Keep(held.unwrap_or(Keep::UpToDate)),
        }
    }

    /// The allowed tags, newest first; tags that cannot be ordered (not a version under semver
    /// order, say) come last, by name.
    pub fn rank<'t>(&self, tags: &'t [TagInfo]) -> Vec<&'t TagInfo> {
        let mut keyed: Vec<(Option<SortKey>, &TagInfo)> = tags
            .iter()
            .filter(|info| self.allows(&info.tag))
            .map(|info| (self.key(info), info))
            .collect();
        keyed.sort_by(|(ka, a), (kb, b)| match (ka, kb) {
            (Some(ka), Some(kb)) => kb.cmp(ka).then_with(|| b.tag.cmp(&a.tag)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.tag.cmp(&b.tag),
        });
        keyed.into_iter().map(|(_, info)| info).collect()
    }

    /// The part of the tag that is ranked: the first named capture of `extract`, else its
    /// first group, else the whole tag.
    fn ranked_text<'a>(&self, tag: &'a str) -> Option<&'a str> {
        let Some(regex) = &self.extract else {
            return Some(tag);
        };
        let captures = regex.captures(tag)?;
        let named = regex
            .capture_names()
            .flatten()
            .find_map(|n| captures.name(n));
        named.or_else(|| captures.get(1)).map(|m| m.as_str())
    }

    /// Whether `tag` can be placed in the ordering (tests compare with Flux's picks).
    #[cfg(test)]
    fn key_of(&self, tag: &str) -> Option<SortKey> {
        self.key(&TagInfo::named(tag))
    }

    fn key(&self, info: &TagInfo) -> Option<SortKey> {
        let ranked = || self.ranked_text(&info.tag);
        let key = match self.order {
            Order::Time => Some(SortKey::Time(info.pushed)),
            Order::Semver => ranked().and_then(parse_version).map(SortKey::Version),
            Order::Alphabetical => ranked().map(|text| SortKey::Text(text.to_string())),
            Order::Numerical => ranked().and_then(Number::parse).map(SortKey::Number),
        }?;
        Some(match self.descending {
            true => SortKey::Descending(std::cmp::Reverse(Box::new(key))),
            false => key,
        })
    }
}

#[cfg(test)]
mod flux_tests;
#[cfg(test)]
mod tests;
