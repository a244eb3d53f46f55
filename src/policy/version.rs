//! Docker tags read as semantic versions, and tags read as numbers.

use std::cmp::Ordering;

use semver::Version;

/// Reads a tag as a version: an optional `v`, and `1` / `1.2` taken as `1.0.0` / `1.2.0`.
/// The tag itself is never rewritten from this: the registry's spelling is what gets written.
pub fn parse_version(tag: &str) -> Option<Version> {
    let bare = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let core_end = bare.find(['-', '+']).unwrap_or(bare.len());
    let (core, rest) = bare.split_at(core_end);
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => bare.to_string(),
    };
    Version::parse(&padded).ok()
}

/// A decimal number of any length, ordered by value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    /// Below zero (never for zero itself).
    negative: bool,
    /// Integer digits without leading zeros.
    integer: String,
    /// Fraction digits without trailing zeros.
    fraction: String,
}

impl Number {
    /// `42`, `007`, `3.14`, `-5` (an extracted part may carry a sign; a tag cannot start
    /// with one); anything else (exponents, letters) is not a number.
    pub fn parse(text: &str) -> Option<Number> {
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        if text.contains('.') && fraction.is_empty() {
            return None;
        }
        let integer = integer.trim_start_matches('0').to_string();
        let fraction = fraction.trim_end_matches('0').to_string();
        let zero = integer.is_empty() && fraction.is_empty();
        Some(Number {
            negative: negative && !zero,
            integer,
            fraction,
        })
    }

    fn magnitude(&self, other: &Self) -> Ordering {
        self.integer
            .len()
            .cmp(&other.integer.len())
            .then_with(|| self.integer.cmp(&other.integer))
            .then_with(|| self.fraction.cmp(&other.fraction))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.magnitude(other),
            (true, true) => other.magnitude(self),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accept_v_and_partials() {
        assert_eq!(parse_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version("7"), Some(Version::new(7, 0, 0)));
        assert_eq!(parse_version("1.2-rc.1").unwrap().pre.as_str(), "rc.1");
        assert_eq!(parse_version("latest"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("01.2.3"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn numbers_order_by_value_at_any_length() {
        let n = |s| Number::parse(s).unwrap();
        assert!(n("10") > n("9"));
        assert!(n("007") == n("7"));
        assert!(n("1.10") < n("1.9"));
        assert!(n("2.50") == n("2.5"));
        assert!(n("123456789012345678901234567890123456789012") > n("99"));
        assert!(n("-5") < n("-4.5") && n("-4.5") < n("0") && n("-0") == n("0"));
        assert!(n("-62") < n("15"));
        for bad in ["", "-", "--1", "1e3", "1.", ".5", "v1", "1.2.3"] {
            assert_eq!(Number::parse(bad), None, "{bad}");
        }
    }
}
