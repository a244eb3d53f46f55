//! Holds written in git: `# laminar:hold` (or `# laminar:hold until=2026-12-01`) in a comment on
//! a reference's line keeps that reference where it is, so a hold is reviewed like any change.

use std::ops::Range;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

const MARKER: &[u8] = b"laminar:hold";

/// A hold on one reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// `until=` as written: a date (`2026-12-01`, held through that day's start in UTC) or an
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Hold {
    /// Does the hold keep the reference at `now`? One whose end cannot be read holds: better
    /// a reference that stays than one moved against someone's wish.
    pub fn holds(&self, now: SystemTime) -> bool {
        let Some(until) = &self.until else {
            return true;
        };
        match end(until) {
            Some(end) => now < end,
            None => true,
        }
    }
}

fn end(until: &str) -> Option<SystemTime> {
    parse_until(until).ok().map(SystemTime::from)
}

/// When a hold written as `until` ends: a date alone (`2031-12-01`: that day's start, in UTC)
/// or an RFC 3339 time with its zone (`2031-12-01T18:00:00Z`, `…+02:00`). A time without a
/// zone is refused rather than read as its date's midnight, which would end a freeze early.
pub fn parse_until(until: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(at) = until.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    let is_date_alone = until.len() == 10 && until.as_bytes()[4] == b'-';
    let date = until
        .parse::<jiff::civil::Date>()
        .ok()
        .filter(|_| is_date_alone)
        .ok_or_else(|| {
            format!(
                "until {until:?} is neither a date (2031-12-01, meaning its start in UTC) nor an \
                 RFC 3339 time with a zone (2031-12-01T18:00:00Z or 2031-12-01T18:00:00+01:00)"
            )
        })?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|at| at.timestamp())
        .map_err(|e| e.to_string())
}

/// The holds of the lines references start on, each line read once however many references
/// it holds: a file of one long line with many references costs one pass, not one per
/// reference.
#[derive(Debug, Default)]
pub struct LineHolds {
    /// The line last read (without its newline), and its hold.
    line: Range<usize>,
    hold: Option<Hold>,
    /// Bytes read so far to find lines and their holds: the scan's work, for tests.
    read: usize,
}

impl LineHolds {
    /// The hold written in a comment on any line the spans of `text` touch, if there is one.
    pub fn find(&mut self, text: &[u8], spans: &[&Range<usize>]) -> Option<Hold> {
        spans.iter().find_map(|span| self.on_line(text, span.start))
    }

    fn on_line(&mut self, text: &[u8], at: usize) -> Option<Hold> {
        if !self.line.contains(&at) {
            let start = memchr::memrchr(b'\n', &text[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i);
            self.hold = in_line(&text[start..end]);
            self.read += end - start;
            self.line = start..end;
        }
        self.hold.clone()
    }

    /// Bytes read to find lines and their holds so far.
    pub fn bytes_read(&self) -> usize {
        self.read
    }
}

/// The hold in a `#` comment of `line`, if any.
fn in_line(line: &[u8]) -> Option<Hold> {
    let comment = memchr::memchr(b'#', line)?;
    let after = &line[comment..];
    let marker = memchr::memmem::find(after, MARKER)?;
    let rest = &after[marker + MARKER.len()..];
    // `laminar:holder` is another word.
    if rest
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return None;
    }
    let until = std::str::from_utf8(rest)
        .ok()?
        .split_whitespace()
        .find_map(|word| word.strip_prefix("until="))
        .map(|v| v.chars().take(40).collect());
    Some(Hold { until })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(text: &str, needle: &str) -> Option<Hold> {
        let start = text.find(needle).unwrap();
        LineHolds::default().find(text.as_bytes(), &[&(start..start + needle.len())])
    }

    #[test]
    fn a_comment_on_the_line_holds_with_or_without_an_end() {
        let text = "a: reg.io/app:1.0  # laminar:hold\nb: reg.io/api:2.0 # pinned; laminar:hold until=2026-12-01 (INC-42)\nc: reg.io/db:3.0\n";
        assert_eq!(at(text, "reg.io/app"), Some(Hold { until: None }));
        assert_eq!(
            at(text, "reg.io/api"),
            Some(Hold {
                until: Some("2026-12-01".into())
            })
        );
        assert_eq!(at(text, "reg.io/db"), None);
        // Not a comment, or another word.
        assert_eq!(at("a: reg.io/app:laminar:hold\n", "reg.io/app"), None);
        assert_eq!(at("a: reg.io/app:1 # laminar:holder\n", "reg.io/app"), None);
    }

    #[test]
    fn a_hold_ends_when_it_says_and_an_unreadable_end_holds() {
        let day = |s: &str| SystemTime::from(s.parse::<jiff::Timestamp>().unwrap());
        let until = |u: &str| Hold {
            until: Some(u.into()),
        };
        let before = day("2026-11-30T23:59:59Z");
        let after = day("2026-12-01T00:00:00Z");
        assert!(until("2026-12-01").holds(before));
        assert!(!until("2026-12-01").holds(after));
        assert!(until("2026-12-01T12:00:00Z").holds(after));
        assert!(!until("2026-12-01T12:00:00Z").holds(after + Duration::from_secs(43_200)));
        assert!(until("next tuesday").holds(after));
        // A zone-less time cannot be read, so it holds rather than ending at its midnight.
        assert!(until("2026-12-01T18:00").holds(after + Duration::from_secs(43_200)));
        assert!(Hold { until: None }.holds(after));
    }
}
