//! Durations as written in configuration and on the command line: whole numbers with a
//! unit, `"90s"`, `"15m"`, `"12h"`, `"30d"`, or several from the largest unit down,
//! `"1h30m"`, `"2d12h"` (as Terraform and Go write them).

use std::time::Duration;

pub const DURATION_HELP: &str =
    "Durations are whole numbers followed by s, m, h or d, alone or combined from the largest unit down, such as \"90s\", \"15m\", \"1h30m\" or \"30d\"";

/// The units, largest first, with their length in seconds.
const UNITS: [(char, u64); 4] = [('d', 86400), ('h', 3600), ('m', 60), ('s', 1)];

/// A duration longer than zero, for timeouts (zero would stop every run at once); the
/// error, like [`parse_duration`]'s, starts with the text and has no trailing period.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err(format!("{text:?} is not longer than zero")),
        duration => Ok(duration),
    }
}

/// Parses `"30d"`, `"1h30m"` and friends; the error says what is wrong, without a
/// trailing period.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration. {DURATION_HELP}");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut smaller_than = None::<u64>;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let unit_at = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (digits, after) = rest.split_at(unit_at);
        let unit = after.chars().next().ok_or_else(invalid)?;
        let &(_, size) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(invalid)?;
        // Each unit once, largest first: "30m1h" and "1h1h" are more likely typos than meant.
        if smaller_than.is_some_and(|previous| size >= previous) {
            return Err(invalid());
        }
        smaller_than = Some(size);
        let amount: u64 = digits.parse().map_err(|_| invalid())?;
        total = amount
            .checked_mul(size)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(|| format!("{text:?} is too long a duration"))?;
        rest = &after[unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way configuration writes it: the largest whole unit.
pub fn format_duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound_forms_largest_unit_first() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d12h"), Ok(Duration::from_secs(216_000)));
        assert_eq!(parse_duration("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
        for bad in ["30m1h", "1h1h", "1h30", "1h 30m", "h30m", "1h-30m"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains("\"1h30m\""), "{bad:?}: {error}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "30", "d", "1.5h", "-3d", "3 d", "3w", "1 month"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            parse_duration("99999999999999999d"),
            Err("\"99999999999999999d\" is too long a duration".into())
        );
    }
}
