//! `certform revoke ADDR --reason R`: revoke a certificate at once (a compromised key does
//! not wait for a plan), signed with the key of the account that issued it — or, when the
//! state holds no such account (an imported certificate, an account removed from state),
//! with the certificate's own key (RFC 8555 §7.6). The certificate stays in state marked
//! revoked, so the next plan reissues it.

use super::{load_desired, recipients_for, store_for, Exit, Globals, ReadState};
use crate::acme::{self, RevocationReason};
use crate::address::{Address, Kind};
use crate::error::{Error, Result};
use crate::state::model::Revoked;
use crate::state::{load_identity, Persister};
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct RevokeRequest {
    pub address: String,
    pub reason: RevocationReason,
    pub lock_timeout: Duration,
}

pub fn run(globals: &Globals, request: &RevokeRequest) -> Result<Exit> {
    let address: Address = request
        .address
        .parse()
        .map_err(|e: crate::address::ParseAddressError| Error::Usage(e.to_string()))?;
    if address.kind != Kind::Certificate {
        return Err(Error::Usage(format!(
            "{address} is not a certificate: only certificates can be revoked."
        )));
    }
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    let lock = store.lock("revoke", request.lock_timeout)?;
    let read = ReadState::read(&*store)?.ok_or_else(|| not_in_state(&address))?;
    let identity = load_identity(globals.identity.as_deref())?;
    let (mut state, secrets) = read.open(&identity, &desired.state)?;
    let stored_serial = Some(state.serial);
    let entry = state
        .certificates
        .get(&address)
        .cloned()
        .ok_or_else(|| not_in_state(&address))?;
    if let Some(revoked) = &entry.revoked {
        return Err(Error::Usage(format!(
            "{address} was already revoked ({}) on {}. Run `certform apply` to replace it.",
            revoked.reason,
            revoked.at.date()
        )));
    }
    // An imported certificate (no order URL) was issued through some other account.
    let issuing_account = secrets
        .accounts
        .get(&entry.account)
        .filter(|_| entry.order_url.is_some())
        .map(|s| s.credentials.clone());
    let own_key = secrets
        .certificates
        .get(&address)
        .map(|s| s.private_key_pem.clone());
    let ca_bundle = desired
        .accounts
        .get(&entry.account)
        .map(|a| a.ca_bundle.clone())
        .unwrap_or_else(|| {
            state
                .accounts
                .get(&entry.account)
                .and_then(|a| a.ca_bundle.clone())
        });
    let signed_with = crate::runtime::block_on(async {
        match (issuing_account, own_key) {
            (Some(credentials), _) => {
                let configured = desired
                    .accounts
                    .get(&entry.account)
                    .map(|a| a.directory.as_str());
                let account =
                    acme::load_account(&credentials, configured, ca_bundle.as_deref()).await?;
                account
                    .revoke(&entry.certificate_pem, Some(request.reason))
                    .await?;
                Ok(format!("the key of account.{}", entry.account))
            }
            (None, Some(key)) => {
                acme::revoke_with_certificate_key(
                    &entry.directory,
                    ca_bundle.as_deref(),
                    &entry.certificate_pem,
                    &key,
                    Some(request.reason),
                )
                .await?;
                Ok(if entry.order_url.is_none() {
                    "its own key (it was imported, so no account of this state issued it)".into()
                } else {
                    format!(
                        "its own key (account.{} is no longer in state)",
                        entry.account
                    )
                })
            }
            (None, None) => Err(Error::State(format!(
                "{address} can be revoked neither by account.{} (not in state) nor by its own key (not in the state's secret half).",
                entry.account
            ))),
        }
    })?;
    if let Some(entry) = state.certificates.get_mut(&address) {
        entry.revoked = Some(Revoked {
            reason: request.reason.as_str().to_string(),
            at: OffsetDateTime::now_utc(),
        });
    }
    let recipients = recipients_for(&desired, &identity)?;
    Persister::new(store, lock, recipients, stored_serial).persist(&mut state, &secrets)?;
    println!(
        "{address} (serial {}) has been revoked ({}), signed with {signed_with}. The next plan reissues it: run `certform apply`.",
        entry.serial_number, request.reason
    );
    Ok(Exit::Success)
}

fn not_in_state(address: &Address) -> Error {
    Error::Usage(format!(
        "{address} is not in the state. `certform state list` shows what is."
    ))
}
