//! ARI (RFC 9773) decisions, without I/O: where inside the CA's suggested renewal window a
//! certificate is renewed, and whether a stored window says to renew now. Fetching windows
//! is the refresh step's job (`ops::ari`); `diff` only reads what it found.
//!
//! The renewal time is "random" inside the window as RFC 9773 §4.2 asks, but derived from
//! the certificate's serial number and the window instead of a random number generator: a
//! `plan` cannot write state (it has no identity), so a truly random pick would differ
//! between the plan a reviewer read and the apply that follows. Hashing gives every
//! certificate its own spread-out time that every run agrees on; apply then keeps it in
//! state.

use super::Reason;
use crate::state::model::AriState;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A window as the CA suggested it, with its `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub explanation_url: Option<String>,
    /// When to ask again (now + `Retry-After`).
    pub next_check_at: OffsetDateTime,
}

/// A point inside `[start, end]` that depends only on the serial number and the window.
pub fn choose_renewal_time(
    serial_number: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> OffsetDateTime {
    if end <= start {
        return start;
    }
    let digest = Sha256::new()
        .chain_update(serial_number.as_bytes())
        .chain_update(start.unix_timestamp().to_be_bytes())
        .chain_update(end.unix_timestamp().to_be_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let fraction = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
    let span = end - start;
    (start + span * fraction).min(end)
}

/// The state to keep after a fetch: the chosen time stays when the window did not move.
pub fn observe(
    previous: Option<&AriState>,
    serial_number: &str,
    fetched: FetchedWindow,
) -> AriState {
    let renew_at = match previous {
        Some(p) if p.window_start == fetched.start && p.window_end == fetched.end => p.renew_at,
        _ => choose_renewal_time(serial_number, fetched.start, fetched.end),
    };
    AriState {
        window_start: fetched.start,
        window_end: fetched.end,
        renew_at,
        next_check_at: fetched.next_check_at,
        explanation_url: fetched.explanation_url,
    }
}

/// Why the window says to renew now, if it does.
pub fn renewal_signal(ari: &AriState, now: OffsetDateTime) -> Option<Reason> {
    if ari.window_end <= now {
        return Some(Reason::AriWindowPassed {
            window_end: ari.window_end.date().to_string(),
            explanation_url: ari.explanation_url.clone(),
        });
    }
    (ari.renew_at <= now).then(|| Reason::AriWindowOpened {
        window_start: ari.window_start.date().to_string(),
        renew_at: super::diff::rfc3339(ari.renew_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-11-20 00:00 UTC);
    const END: OffsetDateTime = datetime!(2026-11-22 00:00 UTC);

    fn fetched(start: OffsetDateTime, end: OffsetDateTime) -> FetchedWindow {
        FetchedWindow {
            start,
            end,
            explanation_url: None,
            next_check_at: START,
        }
    }

    #[test]
    fn the_chosen_time_is_inside_the_window_stable_and_spread() {
        let times: Vec<_> = (0..50)
            .map(|i| choose_renewal_time(&format!("{i:x}"), START, END))
            .collect();
        assert!(times.iter().all(|t| (START..=END).contains(t)));
        assert_eq!(times[7], choose_renewal_time("7", START, END));
        let early = times.iter().filter(|t| **t < START + (END - START) / 2);
        let early = early.count();
        assert!(
            (10..=40).contains(&early),
            "{early} of 50 in the first half"
        );
        assert_eq!(choose_renewal_time("1", END, START), END);
    }

    #[test]
    fn an_unchanged_window_keeps_its_time_and_a_moved_one_gets_a_new_one() {
        let first = observe(None, "ab", fetched(START, END));
        let kept = AriState {
            renew_at: START + time::Duration::hours(1),
            ..first.clone()
        };
        assert_eq!(
            observe(Some(&kept), "ab", fetched(START, END)).renew_at,
            kept.renew_at
        );
        let moved = observe(
            Some(&kept),
            "ab",
            fetched(START, END + time::Duration::days(1)),
        );
        assert_ne!(moved.renew_at, kept.renew_at);
    }
}
