//! Renewal windows and freezes: when a due renewal may run. A [`RenewalWindow`] opens on
//! some days of the week for a span of hours in a fixed UTC offset; a [`Freeze`] is a span
//! of time in which nothing is renewed. [`next_opening`] is the first moment at or after a
//! time that is inside the window and outside every freeze; `diff` defers a due renewal to
//! it unless the certificate would expire first. Pure time arithmetic: no clock.
//!
//! Time zones are fixed offsets (`UTC`, `+01:00`), not IANA names: certform carries no
//! time-zone database, so a window written `+01:00` stays at 08:00 UTC in summer too. Write
//! the offset you mean, or two windows' worth of hours.

use serde::Serialize;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// `mon`, `tue`, ... as written in `days`.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const MINUTES_PER_DAY: u16 = 24 * 60;

/// `renewal_window { days = [...], hours = "HH:MM-HH:MM", time_zone = "+01:00" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RenewalWindow {
    /// Bit `n` set: the window opens on the day `n` days after Monday (local time).
    pub days: u8,
    /// Minute of the local day the window opens at.
    pub opens: u16,
    /// How long it stays open, 1..=1440 minutes (it may run past midnight).
    pub minutes: u16,
    /// The offset `opens` and `days` are read in.
    pub offset: UtcOffset,
}

/// `freeze { start = "...", end = "..." }`: no renewal in `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Freeze {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl RenewalWindow {
    /// Every day, all day, in UTC: the window a block with no attributes describes.
    pub const ALWAYS: RenewalWindow = RenewalWindow {
        days: 0x7f,
        opens: 0,
        minutes: MINUTES_PER_DAY,
        offset: UtcOffset::UTC,
    };

    fn opens_on(&self, day: Date) -> bool {
        self.days & (1 << day.weekday().number_days_from_monday()) != 0
    }

    /// When the window opens on `day` (a local date).
    fn opening_on(&self, day: Date) -> OffsetDateTime {
        let at = Time::MIDNIGHT;
        PrimitiveDateTime::new(day, at).assume_offset(self.offset)
            + Duration::minutes(i64::from(self.opens))
    }

    /// Whether `t` is inside an opening (one that began today or yesterday, local time).
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        let today = t.to_offset(self.offset).date();
        [today.previous_day(), Some(today)]
            .into_iter()
            .flatten()
            .filter(|day| self.opens_on(*day))
            .any(|day| {
                let start = self.opening_on(day);
                start <= t && t < start + Duration::minutes(i64::from(self.minutes))
            })
    }

    /// The first opening after `t`.
    fn next_opening_after(&self, t: OffsetDateTime) -> OffsetDateTime {
        let mut day = t.to_offset(self.offset).date();
        for _ in 0..=7 {
            let start = self.opening_on(day);
            if self.opens_on(day) && start > t {
                return start;
            }
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        // No day is allowed (the parser refuses that): never hold a renewal back forever.
        t
    }
}

/// The first moment at or after `from` inside `window` (any time when `None`) and outside
/// every freeze.
pub fn next_opening(
    window: Option<&RenewalWindow>,
    freezes: &[Freeze],
    from: OffsetDateTime,
) -> OffsetDateTime {
    let mut t = from;
    // Each step leaves a freeze or jumps to an opening, so few steps settle it; the bound
    // only guards against a configuration no one would write (hundreds of adjoining freezes).
    for _ in 0..1000 {
        if let Some(freeze) = freezes.iter().find(|f| f.start <= t && t < f.end) {
            t = freeze.end;
            continue;
        }
        match window {
            Some(w) if !w.contains(t) => t = w.next_opening_after(t),
            _ => return t,
        }
    }
    t
}

/// Parses `days`: names from [`DAY_NAMES`] (any case), at least one, into the bit set.
pub fn parse_days<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<u8, String> {
    let mut days = 0u8;
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        let index = DAY_NAMES
            .iter()
            .position(|d| lower == *d || (lower.len() > 3 && full_name(d) == lower))
            .ok_or_else(|| {
                format!(
                    "{name:?} is not a day of the week; write {}.",
                    DAY_NAMES.join(", ")
                )
            })?;
        days |= 1 << index;
    }
    if days == 0 {
        return Err("`days` lists no day, so the window would never open.".into());
    }
    Ok(days)
}

fn full_name(short: &str) -> String {
    let day = match short {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        _ => Weekday::Sunday,
    };
    day.to_string().to_ascii_lowercase()
}

/// Parses `hours = "HH:MM-HH:MM"` (the end may be `24:00`; an end before the start runs
/// past midnight) into (opening minute, length in minutes).
pub fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let help = "write the local opening and closing time as \"HH:MM-HH:MM\", such as \"09:00-17:00\" (\"22:00-04:00\" runs past midnight)";
    let minute = |part: &str| -> Option<u16> {
        let (h, m) = part.trim().split_once(':')?;
        let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (from, to) = text
        .split_once('-')
        .and_then(|(a, b)| Some((minute(a)?, minute(b)?)))
        .ok_or_else(|| format!("{text:?} is not a span of hours; {help}."))?;
    if from == to || from == MINUTES_PER_DAY {
        return Err(format!(
            "{text:?} opens and closes at the same time; {help}."
        ));
    }
    let minutes = if to > from {
        to - from
    } else {
        to + MINUTES_PER_DAY - from
    };
    Ok((from, minutes))
}

/// Parses `time_zone`: `UTC`, `Z` or a fixed offset `+HH:MM` / `-HH:MM`.
pub fn parse_offset(text: &str) -> Result<UtcOffset, String> {
    let trimmed = text.trim();
    if ["utc", "z", "gmt"].contains(&trimmed.to_ascii_lowercase().as_str()) {
        return Ok(UtcOffset::UTC);
    }
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(trimmed, &format).map_err(|_| {
        format!(
            "{text:?} is not a time zone certform reads; write \"UTC\" or a fixed offset such as \"+01:00\" or \"-05:30\" (IANA names such as \"Europe/Paris\" are not supported: certform carries no time-zone database)."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    // 2026-12-07 is a Monday.
    fn weekdays_9_to_17(offset: UtcOffset) -> RenewalWindow {
        RenewalWindow {
            days: parse_days(["mon", "tue", "wed", "thu", "fri"]).unwrap(),
            opens: 9 * 60,
            minutes: 8 * 60,
            offset,
        }
    }

    #[test]
    fn inside_a_window_the_opening_is_now() {
        let w = weekdays_9_to_17(UtcOffset::UTC);
        let t = datetime!(2026-12-07 10:30 UTC);
        assert_eq!(next_opening(Some(&w), &[], t), t);
        assert_eq!(next_opening(None, &[], t), t);
    }

    #[test]
    fn outside_it_is_the_next_opening_day_and_hour() {
        let w = weekdays_9_to_17(UtcOffset::UTC);
        // Monday evening: Tuesday 09:00.
        assert_eq!(
            next_opening(Some(&w), &[], datetime!(2026-12-07 17:00 UTC)),
            datetime!(2026-12-08 09:00 UTC)
        );
        // Saturday: Monday 09:00.
        assert_eq!(
            next_opening(Some(&w), &[], datetime!(2026-12-12 12:00 UTC)),
            datetime!(2026-12-14 09:00 UTC)
        );
    }

    #[test]
    fn days_and_hours_are_read_in_the_windows_offset() {
        let w = weekdays_9_to_17(offset!(+01:00));
        // 08:30 UTC is 09:30 in +01:00: inside.
        assert!(w.contains(datetime!(2026-12-07 08:30 UTC)));
        // Sunday 23:30 UTC is Monday 00:30 in +01:00: Monday 09:00 +01:00 opens next.
        assert_eq!(
            next_opening(Some(&w), &[], datetime!(2026-12-06 23:30 UTC)),
            datetime!(2026-12-07 08:00 UTC)
        );
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_opens() {
        let (opens, minutes) = parse_hours("22:00-04:00").unwrap();
        let w = RenewalWindow {
            days: parse_days(["fri"]).unwrap(),
            opens,
            minutes,
            offset: UtcOffset::UTC,
        };
        assert!(
            w.contains(datetime!(2026-12-12 03:00 UTC)),
            "Saturday 03:00"
        );
        assert!(!w.contains(datetime!(2026-12-12 04:00 UTC)));
        assert!(
            !w.contains(datetime!(2026-12-10 23:00 UTC)),
            "Thursday night"
        );
    }

    #[test]
    fn a_freeze_pushes_the_opening_past_its_end_and_into_the_window() {
        let w = weekdays_9_to_17(UtcOffset::UTC);
        let freeze = Freeze {
            start: datetime!(2026-12-20 00:00 UTC),
            end: datetime!(2027-01-04 12:00 UTC),
        };
        let t = datetime!(2026-12-22 10:00 UTC);
        assert_eq!(next_opening(None, &[freeze], t), freeze.end);
        assert_eq!(
            next_opening(Some(&w), &[freeze], t),
            freeze.end,
            "Monday noon is open"
        );
        let late = Freeze {
            end: datetime!(2027-01-04 18:00 UTC),
            ..freeze
        };
        assert_eq!(
            next_opening(Some(&w), &[late], t),
            datetime!(2027-01-05 09:00 UTC)
        );
    }

    #[test]
    fn parsing_refuses_what_it_cannot_read() {
        assert_eq!(parse_hours("09:00-17:00"), Ok((540, 480)));
        assert_eq!(parse_hours("00:00-24:00"), Ok((0, 1440)));
        for bad in ["9-17", "09:00", "09:00-09:00", "25:00-26:00", "09:60-10:00"] {
            assert!(parse_hours(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_days(["Monday", "SUN"]), Ok(0b100_0001));
        assert!(parse_days(["funday"]).is_err());
        assert!(parse_days([]).is_err());
        assert_eq!(parse_offset("UTC"), Ok(UtcOffset::UTC));
        assert_eq!(parse_offset("-05:30"), Ok(offset!(-05:30)));
        assert!(parse_offset("Europe/Paris").unwrap_err().contains("IANA"));
    }
}
