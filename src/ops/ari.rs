//! The ARI step of the refresh before a plan: for every configured certificate in state
//! whose CA advertises `renewalInfo`, fetch its suggested window — unless the CA's last
//! `Retry-After` has not passed, in which case the window kept in state stands — and choose
//! the renewal time in it (`plan::ari`). A CA that cannot be reached is reported as a
//! warning; `renew_before` then decides alone. Apply keeps the windows in this machine's
//! ARI cache (`state::ari_cache`), not in state: a refresh must not give the state a new
//! serial, or every saved plan made before it would go stale.

use crate::address::Address;
use crate::desired::model::Desired;
use crate::plan::ari::{observe, FetchedWindow};
use crate::state::ari_cache::{AriCache, CachedWindow, Windows};
use crate::state::model::{AriState, CertificateState, State};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// The windows known now, by certificate address: the cached ones whose `Retry-After` has
/// not passed, and the ones fetched because it had.
pub fn refresh(
    desired: &Desired,
    state: &State,
    now: OffsetDateTime,
) -> BTreeMap<Address, AriState> {
    let mut known = known_windows(state, &AriCache::for_this_user().load(state.lineage));
    let due: Vec<Due> = state
        .certificates
        .iter()
        .filter(|(address, _)| {
            known
                .get(*address)
                .is_none_or(|ari| ari.next_check_at <= now)
        })
        .filter_map(|(address, current)| {
            let spec = desired.certificates.get(address)?;
            let account = desired.accounts.get(&spec.account)?;
            // A certificate from another CA is reissued anyway; its window does not matter.
            (account.directory == current.directory).then_some(Due {
                address,
                current,
                ca_bundle: account.ca_bundle.as_ref(),
            })
        })
        .collect();
    if due.is_empty() {
        return known;
    }
    let fetched = crate::runtime::block_on(fetch_windows(&due, &known, now));
    known.extend(fetched);
    known
}

/// A certificate whose window is to be fetched, borrowed from the state: at 10,000
/// certificates a copy of each would double what `plan` holds, and most CAs offer no ARI.
struct Due<'a> {
    address: &'a Address,
    current: &'a CertificateState,
    ca_bundle: Option<&'a PathBuf>,
}

/// The latest window known for each certificate: the cache's when it was fetched for the
/// certificate's serial number, else what an older state kept.
fn known_windows(state: &State, cache: &Windows) -> BTreeMap<Address, AriState> {
    state
        .certificates
        .iter()
        .filter_map(|(address, current)| {
            let cached = cache
                .get(address)
                .filter(|c| c.serial_number == current.serial_number)
                .map(|c| &c.ari);
            let latest = match (cached, &current.ari) {
                (Some(cached), Some(kept)) if kept.next_check_at > cached.next_check_at => kept,
                (Some(cached), _) => cached,
                (None, kept) => kept.as_ref()?,
            };
            Some((address.clone(), latest.clone()))
        })
        .collect()
}

/// At most this many renewal-information requests are in flight at once.
const CONCURRENT_FETCHES: usize = 16;

/// Asks each CA once whether it offers ARI (a CA that cannot be reached is one warning, and
/// its certificates are skipped), then fetches the windows with bounded concurrency and
/// chooses in each against the window `known` before.
async fn fetch_windows(
    due: &[Due<'_>],
    known: &BTreeMap<Address, AriState>,
    now: OffsetDateTime,
) -> BTreeMap<Address, AriState> {
    // Keyed by (directory URL, ca_bundle): one CA as certform reaches it.
    let mut by_ca: BTreeMap<(&str, Option<&PathBuf>), Vec<&Due>> = BTreeMap::new();
    for certificate in due {
        by_ca
            .entry((&certificate.current.directory, certificate.ca_bundle))
            .or_default()
            .push(certificate);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_FETCHES));
    let mut tasks = tokio::task::JoinSet::new();
    for ((directory, ca_bundle), certificates) in by_ca {
        let base = match crate::acme::ari::renewal_info_base(
            directory,
            ca_bundle.map(|p| p.as_path()),
        )
        .await
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
        for certificate in certificates {
            let (base, ca_bundle, limit) = (base.clone(), ca_bundle.cloned(), limit.clone());
            let current = certificate.current;
            let (address, serial_number, certificate_pem) = (
                certificate.address.clone(),
                current.serial_number.clone(),
                current.certificate_pem.clone(),
            );
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let window =
                    crate::acme::ari::renewal_window(&base, ca_bundle.as_deref(), &certificate_pem)
                        .await;
                (address, serial_number, window)
            });
        }
    }
    let mut found = BTreeMap::new();
    while let Some(Ok((address, serial_number, window))) = tasks.join_next().await {
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
                let kept = observe(known.get(&address), &serial_number, fetched);
                found.insert(address, kept);
            }
            Err(e) => eprintln!(
                "warning: the ARI window of {address} could not be fetched ({e}); renew_before decides"
            ),
        }
    }
    found
}

/// Keeps the windows `refresh` returned in this machine's ARI cache (written only when it
/// changes), each tied to the serial number it was fetched for. The state is not written.
pub fn remember(state: &State, windows: &BTreeMap<Address, AriState>) {
    let cache = AriCache::for_this_user();
    let kept: Windows = windows
        .iter()
        .filter_map(|(address, ari)| {
            let current = state.certificates.get(address)?;
            Some((
                address.clone(),
                CachedWindow {
                    serial_number: current.serial_number.clone(),
                    ari: ari.clone(),
                },
            ))
        })
        .collect();
    if kept != cache.load(state.lineage) {
        cache.store(state.lineage, &kept);
    }
}
