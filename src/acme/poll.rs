//! When to poll an order again (RFC 8555 §7.5.1, §7.4), while its authorizations are
//! validated and while it is processed. Without a hint the delay starts at [`POLL_FIRST`]
//! and doubles to [`POLL_MAX`], because a local CA answers in milliseconds. A CA that sends
//! `Retry-After` on a pending or processing order (the current Pebble does with
//! `retryAfter` in its config) is obeyed, but never for longer than [`RETRY_AFTER_CAP`] at a
//! time nor past the stage's deadline ([`POLL_TIMEOUT`] after it started): a CA asking for
//! an hour should not hang an apply. `-v` logs each wait the CA asked for.
//!
//! instant-acme 0.8 keeps an order's `Retry-After` to itself, so the value comes from
//! certform's HTTP client, recorded in the attempt's trace (`retry.rs`).

use crate::{Error, Result};
use std::time::{Duration, Instant};

/// First delay between two polls.
const POLL_FIRST: Duration = Duration::from_millis(10);
/// Longest delay between two polls unless the CA asks for more.
const POLL_MAX: Duration = Duration::from_secs(1);
/// Longest single wait the CA's `Retry-After` can impose.
pub(super) const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// How long one stage (validation, issuance) may take.
pub(super) const POLL_TIMEOUT: Duration = Duration::from_secs(90);

/// The pacing of one stage's polls.
pub(super) struct Poller {
    /// What is being waited for, for the messages (`validation of the order for a.test`).
    what: String,
    deadline: Instant,
    backoff: Duration,
}

impl Poller {
    pub(super) fn new(what: String) -> Poller {
        Poller {
            what,
            deadline: Instant::now() + POLL_TIMEOUT,
            backoff: POLL_FIRST,
        }
    }

    /// Wait before the next poll: the CA's `retry_after` (bounded) or the backoff. Fails
    /// once the deadline has passed, naming the `status` that did not change.
    pub(super) async fn wait(&mut self, retry_after: Option<Duration>, status: &str) -> Result<()> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Acme(format!(
                "{} was still {status} after {}s",
                self.what,
                POLL_TIMEOUT.as_secs()
            )));
        }
        let wait = next_wait(self.backoff, retry_after, remaining);
        if let Some(asked) = retry_after {
            tracing::info!(
                "{}: waiting {} before polling again (the CA's Retry-After asks for {}{})",
                self.what,
                seconds(wait),
                seconds(asked),
                if wait < asked { ", bounded" } else { "" }
            );
        }
        self.backoff = (self.backoff * 2).min(POLL_MAX);
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// The next wait: the CA's `Retry-After` when it sent one (never shorter than the backoff,
/// never longer than [`RETRY_AFTER_CAP`]), else the backoff; never past `remaining`.
fn next_wait(backoff: Duration, retry_after: Option<Duration>, remaining: Duration) -> Duration {
    retry_after
        .map(|asked| asked.clamp(backoff, RETRY_AFTER_CAP))
        .unwrap_or(backoff)
        .min(remaining)
}

/// `1.5s`, `60s`.
fn seconds(d: Duration) -> String {
    let tenths = d.as_millis().div_ceil(100);
    if tenths % 10 == 0 {
        format!("{}s", tenths / 10)
    } else {
        format!("{}.{}s", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_cas_retry_after_is_obeyed_within_bounds() {
        let ms = Duration::from_millis;
        // No hint: the backoff.
        assert_eq!(next_wait(ms(40), None, S(90)), ms(40));
        // A hint longer than the backoff is obeyed.
        assert_eq!(next_wait(ms(40), Some(S(3)), S(90)), S(3));
        // A hint of zero (or an HTTP-date in the past) does not make a busy loop.
        assert_eq!(next_wait(ms(40), Some(S(0)), S(90)), ms(40));
        // An hour is capped...
        assert_eq!(next_wait(ms(40), Some(S(3600)), S(90)), RETRY_AFTER_CAP);
        // ...and so is anything past the deadline.
        assert_eq!(next_wait(ms(40), Some(S(30)), S(5)), S(5));
        assert_eq!(next_wait(S(1), None, ms(200)), ms(200));
    }

    #[test]
    fn waits_read_in_seconds() {
        assert_eq!(seconds(S(60)), "60s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_millis(10)), "0.1s");
    }
}
