//! `certform revoke ADDR --reason R`: revoke a certificate at once (a compromised key does
//! not wait for a plan), signed with the key of the account that issued it. The certificate
//! stays in state marked revoked, so the next plan reissues it.

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
    let (mut state, secrets) = read.open(&identity)?;
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
    let credentials = secrets
        .accounts
        .get(&entry.account)
        .map(|s| s.credentials.clone())
        .ok_or_else(|| {
            Error::State(format!(
                "{address} was issued through account.{}, which is no longer in state; certform revokes with the issuing account's key only.",
                entry.account
            ))
        })?;
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Bug(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let account = acme::load_account(&credentials, ca_bundle.as_deref()).await?;
        account
            .revoke(&entry.certificate_pem, Some(request.reason))
            .await
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
        "{address} (serial {}) has been revoked ({}). The next plan reissues it: run `certform apply`.",
        entry.serial_number, request.reason
    );
    Ok(Exit::Success)
}

fn not_in_state(address: &Address) -> Error {
    Error::Usage(format!(
        "{address} is not in the state. `certform state list` shows what is."
    ))
}
