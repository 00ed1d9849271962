//! The ARI step of the refresh before a plan: for every configured certificate in state
//! whose CA advertises `renewalInfo`, fetch its suggested window — unless the CA's last
//! `Retry-After` has not passed, in which case the window kept in state stands — and choose
//! the renewal time in it (`plan::ari`). A CA that cannot be reached is reported as a
//! warning; `renew_before` then decides alone. Apply keeps what was fetched in state.

use crate::address::Address;
use crate::apply::Ledger;
use crate::desired::model::Desired;
use crate::error::Result;
use crate::plan::ari::{observe, FetchedWindow};
use crate::state::model::{AriState, CertificateState, State};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// The windows fetched now, by certificate address.
pub fn refresh(
    desired: &Desired,
    state: &State,
    now: OffsetDateTime,
) -> BTreeMap<Address, AriState> {
    let due: Vec<_> = state
        .certificates
        .iter()
        .filter(|(_, c)| c.ari.as_ref().is_none_or(|ari| ari.next_check_at <= now))
        .filter_map(|(address, current)| {
            let spec = desired.certificates.get(address)?;
            let account = desired.accounts.get(&spec.account)?;
            // A certificate from another CA is reissued anyway; its window does not matter.
            (account.directory == current.directory)
                .then(|| (address.clone(), current.clone(), account.ca_bundle.clone()))
        })
        .collect();
    if due.is_empty() {
        return BTreeMap::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("warning: ARI windows not fetched: cannot start the async runtime: {e}");
            return BTreeMap::new();
        }
    };
    runtime.block_on(fetch_windows(due, now))
}

/// At most this many renewal-information requests are in flight at once.
const CONCURRENT_FETCHES: usize = 16;

/// Asks each CA once whether it offers ARI (a CA that cannot be reached is one warning, and
/// its certificates are skipped), then fetches the windows with bounded concurrency.
async fn fetch_windows(
    due: Vec<(Address, CertificateState, Option<PathBuf>)>,
    now: OffsetDateTime,
) -> BTreeMap<Address, AriState> {
    // Keyed by (directory URL, ca_bundle): one CA as certform reaches it.
    let mut by_ca: BTreeMap<(String, Option<PathBuf>), Vec<_>> = BTreeMap::new();
    for (address, current, ca_bundle) in due {
        by_ca
            .entry((current.directory.clone(), ca_bundle))
            .or_default()
            .push((address, current));
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_FETCHES));
    let mut tasks = tokio::task::JoinSet::new();
    for ((directory, ca_bundle), certificates) in by_ca {
        let base = match crate::acme::ari::renewal_info_base(&directory, ca_bundle.as_deref()).await
        {
            Ok(Some(base)) => base,
            Ok(None) => {
                tracing::debug!("{directory} offers no ARI: renew_before decides");
                continue;
            }
            Err(e) => {
                eprintln!(
                    "warning: ARI windows from {directory} could not be fetched ({e}); renew_before decides"
                );
                continue;
            }
        };
        for (address, current) in certificates {
            let (base, ca_bundle, limit) = (base.clone(), ca_bundle.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let window = crate::acme::ari::renewal_window(
                    &base,
                    ca_bundle.as_deref(),
                    &current.certificate_pem,
                )
                .await;
                (address, current, window)
            });
        }
    }
    let mut found = BTreeMap::new();
    while let Some(Ok((address, current, window))) = tasks.join_next().await {
        match window {
            Ok(window) => {
                let fetched = FetchedWindow {
                    start: window.start,
                    end: window.end,
                    explanation_url: window.explanation_url,
                    next_check_at: now + window.retry_after,
                };
                tracing::debug!(
                    "{address}: ARI window {} .. {}",
                    fetched.start,
                    fetched.end
                );
                let kept = observe(current.ari.as_ref(), &current.serial_number, fetched);
                found.insert(address, kept);
            }
            Err(e) => eprintln!(
                "warning: the ARI window of {address} could not be fetched ({e}); renew_before decides"
            ),
        }
    }
    found
}

/// Keeps newly fetched windows in state (one write, only when something changed).
pub fn keep_in_state(ledger: &mut Ledger, fetched: &BTreeMap<Address, AriState>) -> Result<()> {
    let changed = fetched.iter().any(|(address, ari)| {
        ledger
            .state
            .certificates
            .get(address)
            .is_some_and(|c| c.ari.as_ref() != Some(ari))
    });
    if !changed {
        return Ok(());
    }
    ledger.commit(|state, _| {
        for (address, ari) in fetched {
            if let Some(entry) = state.certificates.get_mut(address) {
                entry.ari = Some(ari.clone());
            }
        }
    })
}
