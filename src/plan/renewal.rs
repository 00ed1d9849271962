//! When a certificate in state is renewed, without I/O: the reasons a renewal is due (the
//! CA's ARI window, `renew_before`), whether it may run now or waits for the
//! `renewal_window` and `freeze` periods (`window.rs`), and the next renewal time `plan`
//! shows.
//!
//! ARI leads: with a window from the CA, the default `renew_before` (one third of the
//! lifetime) stays only a safety net. Without one, a short-lived certificate (at most
//! [`SHORT_LIVED_DAYS`] days) renews by default at half its lifetime, as CAs advise for
//! 6-day certificates. A written `renew_before` always applies as written.
//!
//! A due renewal outside the window waits for its next opening — the CA's ARI time is
//! honoured inside the window, since the first opening after it is when it runs — unless
//! the certificate would expire before that opening (then it renews now, and says why), or
//! the CA moved its ARI window into the past (a coming revocation: no waiting).

use super::window::next_opening;
use super::{Change, Reason};
use crate::address::Address;
use crate::desired::model::{CertificateSpec, Desired, RenewBefore, SHORT_LIVED_DAYS};
use crate::state::model::{AriState, CertificateState, State};
use time::{Duration, OffsetDateTime};

/// The ARI window `diff` reads for a certificate: a fresh fetch, else what state kept.
fn ari_of<'a>(
    spec: &CertificateSpec,
    current: &'a CertificateState,
    observed: &'a super::Observed,
) -> Option<&'a AriState> {
    observed.ari.get(&spec.address).or(current.ari.as_ref())
}

/// Why a renewal is due now (empty: not due), the ARI reason first.
pub(super) fn reasons(
    spec: &CertificateSpec,
    current: &CertificateState,
    observed: &super::Observed,
    now: OffsetDateTime,
) -> Vec<Reason> {
    let ari = ari_of(spec, current, observed);
    ari.and_then(|ari| super::ari::renewal_signal(ari, now))
        .into_iter()
        .chain(renewal_due(spec.renew_before, current, now, ari.is_some()))
        .collect()
}

/// `renew_before` as a span of remaining life, and how a reason describes it.
fn threshold(
    policy: RenewBefore,
    current: &CertificateState,
    ari_known: bool,
) -> (Duration, String) {
    let lifetime = current.not_after - current.not_before;
    let days = lifetime.whole_days();
    match policy {
        RenewBefore::Remaining(duration) => (
            Duration::try_from(duration).unwrap_or(Duration::MAX),
            format!(
                "renew_before = {}",
                crate::config::duration::format_duration(duration)
            ),
        ),
        RenewBefore::PercentOfLifetime(percent) => (
            lifetime * f64::from(percent) / 100.0,
            format!("renew_before = {percent}% of a {days}-day lifetime"),
        ),
        RenewBefore::Default if days <= SHORT_LIVED_DAYS && !ari_known => (
            lifetime / 2,
            format!("half of a {days}-day lifetime, the default for a short-lived certificate"),
        ),
        RenewBefore::Default => (
            lifetime * 0.33,
            format!("renew_before = 33% of a {days}-day lifetime"),
        ),
    }
}

/// `Some(reason)` when less than `renew_before` of the certificate's life remains.
/// `ari_known`: the CA gave an ARI window, which then leads over the default.
pub fn renewal_due(
    policy: RenewBefore,
    current: &CertificateState,
    now: OffsetDateTime,
    ari_known: bool,
) -> Option<Reason> {
    let remaining = current.not_after - now;
    let (threshold, description) = threshold(policy, current, ari_known);
    (remaining <= threshold).then(|| Reason::RenewalDue {
        days_left: remaining.whole_days(),
        not_after: current.not_after.date().to_string(),
        policy: description,
    })
}

/// Whether a due renewal runs now.
pub(super) enum Timing {
    /// Now; with a reason to add when it runs outside the renewal window.
    Now(Option<Reason>),
    /// Until the window's next opening (`upcoming` says when).
    Wait,
}

/// When the due renewal (`reasons`) runs.
pub(super) fn timing(
    spec: &CertificateSpec,
    current: &CertificateState,
    reasons: &[Reason],
    now: OffsetDateTime,
) -> Timing {
    if reasons
        .iter()
        .any(|r| matches!(r, Reason::AriWindowPassed { .. }))
    {
        return Timing::Now(None);
    }
    let opening = next_opening(spec.renewal_window.as_ref(), &spec.freezes, now);
    if opening <= now {
        Timing::Now(None)
    } else if current.not_after <= opening {
        Timing::Now(Some(Reason::ExpiresBeforeWindowOpens {
            opening: shown_time(spec, opening),
            not_after: super::diff::rfc3339(current.not_after),
        }))
    } else {
        Timing::Wait
    }
}

/// A time as plan shows it: in the renewal window's offset when there is one.
fn shown_time(spec: &CertificateSpec, t: OffsetDateTime) -> String {
    let t = spec.renewal_window.map_or(t, |w| t.to_offset(w.offset));
    super::diff::rfc3339(t)
}

/// A certificate's next renewal, as `plan` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Upcoming {
    pub address: Address,
    /// When it runs (RFC 3339, in the renewal window's offset).
    pub renew_at: String,
    /// Due already and waiting for the window opening `renew_at`: why it is due.
    pub waiting: Vec<Reason>,
    /// What set the time (`ARI window ...`, `renew_before = ...`).
    pub policy: String,
    /// Whether the time is worth a line in the text plan: the certificate has a renewal
    /// window or a freeze, or is short-lived (days between renewals matter), or it waits.
    /// A fleet's plain 90-day certificates would drown the plan.
    pub notable: bool,
}

/// The next renewal of every configured certificate in state that `changes` does not
/// order anew.
pub fn upcoming(
    desired: &Desired,
    state: &State,
    observed: &super::Observed,
    changes: &[Change],
    now: OffsetDateTime,
) -> Vec<Upcoming> {
    let ordered = |address: &Address| {
        changes
            .iter()
            .any(|c| &c.address == address && c.action.orders())
    };
    let mut list = Vec::new();
    for (address, spec) in &desired.certificates {
        let Some(current) = state.certificates.get(address) else {
            continue;
        };
        if ordered(address) {
            continue;
        }
        let ari = ari_of(spec, current, observed);
        let (threshold, description) = threshold(spec.renew_before, current, ari.is_some());
        let short_lived = (current.not_after - current.not_before).whole_days() <= SHORT_LIVED_DAYS;
        let notable = spec.renewal_window.is_some() || !spec.freezes.is_empty() || short_lived;
        let waiting = reasons(spec, current, observed, now);
        if !waiting.is_empty() && matches!(timing(spec, current, &waiting, now), Timing::Now(_)) {
            // Due now, and left out of `changes` only by `--target`.
            continue;
        }
        let (due_at, policy) = match ari {
            Some(ari) if ari.renew_at <= current.not_after - threshold => (
                ari.renew_at,
                format!("the CA's ARI window opening {}", ari.window_start.date()),
            ),
            _ => (current.not_after - threshold, description),
        };
        let renew_at = next_opening(spec.renewal_window.as_ref(), &spec.freezes, due_at.max(now));
        list.push(Upcoming {
            address: address.clone(),
            renew_at: shown_time(spec, renew_at),
            notable: notable || !waiting.is_empty(),
            waiting,
            policy,
        });
    }
    list
}
