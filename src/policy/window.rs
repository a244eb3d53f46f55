//! Update windows: `Mon-Fri 09:00-16:00, Sat 10:00-12:00 Europe/Berlin`. Outside its window a
//! rule changes nothing. Times are wall-clock times in the named IANA zone, so a window keeps
//! its hours across daylight-saving changes.

use std::fmt;
use std::time::SystemTime;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One or more weekly ranges in one zone.
#[derive(Clone, Debug)]
pub struct Window {
    spans: Vec<Span>,
    zone: TimeZone,
    /// As written, for messages.
    text: String,
}

/// Days (bit 0 = Monday) and minutes of the day; `end <= start` runs past midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    days: u8,
    start: u16,
    end: u16,
}

impl Window {
    /// Parses `<days> <HH:MM>-<HH:MM>[, …] [<zone>]`; days are `Mon`, `Mon-Fri`, `Sat-Sun` or
    /// `daily`; the zone is an IANA name (UTC when left out).
    pub fn parse(text: &str) -> Result<Window, String> {
        let trimmed = text.trim();
        let (ranges, zone) = match trimmed.rsplit_once(' ') {
            Some((ranges, last)) if !last.contains(':') && last.contains(char::is_alphabetic) => {
                (ranges, Some(last))
            }
            _ => (trimmed, None),
        };
        let zone = match zone {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| {
                format!("unknown time zone {name:?}: expected an IANA name such as Europe/Berlin")
            })?,
        };
        let spans = ranges
            .split(',')
            .map(|range| parse_span(range.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Window {
            spans,
            zone,
            text: trimmed.to_string(),
        })
    }

    /// `None` while the window is open at `now`; otherwise when it opens next.
    pub fn closed_until(&self, now: SystemTime) -> Option<SystemTime> {
        let now = Timestamp::try_from(now).ok()?;
        let local = now.to_zoned(self.zone.clone());
        let day = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let yesterday = (day + 6) % 7;
        let open = self.spans.iter().any(|s| {
            let on = |d: u8| s.days & (1 << d) != 0;
            match s.start < s.end {
                true => on(day) && (s.start..s.end).contains(&minute),
                false => (on(day) && minute >= s.start) || (on(yesterday) && minute < s.end),
            }
        });
        if open {
            return None;
        }
        let today = local.date();
        (0..=7)
            .filter_map(|ahead: i64| today.checked_add(ahead.days()).ok())
            .flat_map(|date| self.openings(date))
            .filter(|at| *at > now)
            .min()
            .map(SystemTime::from)
    }

    /// When the window's spans open on `date`, in the zone.
    fn openings(&self, date: Date) -> impl Iterator<Item = Timestamp> + '_ {
        let day = weekday_bit(date.weekday());
        self.spans
            .iter()
            .filter(move |s| s.days & day != 0)
            .filter_map(move |s| {
                let at = date.at((s.start / 60) as i8, (s.start % 60) as i8, 0, 0);
                Some(at.to_zoned(self.zone.clone()).ok()?.timestamp())
            })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn weekday_bit(day: Weekday) -> u8 {
    1 << day.to_monday_zero_offset()
}

/// `Mon-Fri 09:00-16:00`.
fn parse_span(text: &str) -> Result<Span, String> {
    let (days, times) = text.split_once(' ').ok_or_else(|| {
        format!("window range {text:?}: expected days and hours, as in Mon-Fri 09:00-16:00")
    })?;
    let (start, end) = times
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("window range {text:?}: hours are written 09:00-16:00"))?;
    let (start, end) = (minute_of_day(start, 23)?, minute_of_day(end, 24)?);
    if start == end {
        return Err(format!("window range {text:?} is empty"));
    }
    Ok(Span {
        days: parse_days(days)?,
        start,
        end: end % (24 * 60),
    })
}

fn parse_days(text: &str) -> Result<u8, String> {
    let index = |name: &str| {
        DAYS.iter()
            .position(|d| name.len() >= 3 && d.eq_ignore_ascii_case(&name[..3]))
            .map(|i| i as u8)
            .ok_or_else(|| {
                format!(
                    "unknown day {name:?}: expected Mon … Sun, a range such as Mon-Fri, or daily"
                )
            })
    };
    if text.eq_ignore_ascii_case("daily") || text == "*" {
        return Ok(0x7f);
    }
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (index(first)?, index(last)?),
        None => (index(text)?, index(text)?),
    };
    // `Sat-Mon` wraps over the week's end.
    let mut bits = 0u8;
    let mut day = first;
    loop {
        bits |= 1 << day;
        if day == last {
            return Ok(bits);
        }
        day = (day + 1) % 7;
    }
}

/// `09:30` → 570; hours up to `max_hour` (24 only as `24:00`, a range's end).
fn minute_of_day(text: &str, max_hour: u16) -> Result<u16, String> {
    let bad = || format!("invalid time {text:?}: expected HH:MM");
    let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
    let hours: u16 = hours.parse().map_err(|_| bad())?;
    let minutes: u16 = minutes.parse().map_err(|_| bad())?;
    if hours > max_hour || minutes > 59 || (hours == 24 && minutes > 0) || text.len() != 5 {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<Timestamp>().unwrap())
    }

    #[test]
    fn open_on_weekdays_in_the_zone_and_says_when_it_opens_next() {
        let window = Window::parse("Mon-Fri 09:00-16:00 Europe/Berlin").unwrap();
        // Monday 2026-12-07, 10:00 in Berlin is 09:00 UTC.
        assert_eq!(window.closed_until(at("2026-12-07T09:00:00Z")), None);
        // 16:30 Berlin: opens Tuesday 09:00 Berlin.
        assert_eq!(
            window.closed_until(at("2026-12-07T15:30:00Z")),
            Some(at("2026-12-08T08:00:00Z"))
        );
        // Saturday: opens Monday.
        assert_eq!(
            window.closed_until(at("2026-12-12T12:00:00Z")),
            Some(at("2026-12-14T08:00:00Z"))
        );
        // Summer time: 09:00 Berlin is 07:00 UTC.
        assert_eq!(
            window.closed_until(at("2026-07-06T06:00:00Z")),
            Some(at("2026-07-06T07:00:00Z"))
        );
    }

    #[test]
    fn several_ranges_overnight_ranges_and_utc() {
        let window = Window::parse("Mon-Thu 22:00-02:00, Sat 10:00-12:00").unwrap();
        // Tuesday 01:00 UTC is inside Monday's night.
        assert_eq!(window.closed_until(at("2026-12-08T01:00:00Z")), None);
        assert_eq!(window.closed_until(at("2026-12-12T11:59:00Z")), None);
        // Friday 01:00 is Thursday's night; Friday 03:00 waits for Saturday 10:00.
        assert_eq!(window.closed_until(at("2026-12-11T01:00:00Z")), None);
        assert_eq!(
            window.closed_until(at("2026-12-11T03:00:00Z")),
            Some(at("2026-12-12T10:00:00Z"))
        );
        let daily = Window::parse("daily 00:00-24:00 UTC").unwrap();
        assert_eq!(daily.closed_until(at("2026-12-11T03:00:00Z")), None);
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        for (text, says) in [
            ("Mon-Fri 09:00-16:00 Mars/Olympus", "unknown time zone"),
            ("Mon-Fry 09:00-16:00", "unknown day"),
            ("Mon-Fri 9-16", "invalid time"),
            ("Mon-Fri 25:00-26:00", "invalid time"),
            ("Mon-Fri", "expected days and hours"),
            ("Mon 10:00-10:00", "is empty"),
        ] {
            let error = Window::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
