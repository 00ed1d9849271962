//! Lifecycle actions of apply: account key rollover and deactivation, and the deferred
//! revocation of replaced certificates (`revoke_replaced_after`). Like every action, each
//! ends with the state committed; a rollover commits the new credentials the moment the CA
//! has accepted them, because from then on the old key is refused.

use super::actions::{account, update_account};
use super::Context;
use crate::acme::RevocationReason;
use crate::address::Address;
use crate::desired::model::{AccountSpec, CertificateSpec};
use crate::error::Result;
use crate::state::model::{AccountSecret, CertificateState, PendingRevocation};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Rolls the key over, commits it at once, then applies any contact or setting change the
/// same plan carried for this account.
pub(super) async fn rotate_account_key(context: &Context, name: &str) -> Result<String> {
    let old = account(context, name).await?;
    let (rotated, credentials) = old.rotate_key().await?;
    let now = OffsetDateTime::now_utc();
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            if let Some(entry) = state.accounts.get_mut(name) {
                entry.key_created_at = now;
            }
            secrets
                .accounts
                .insert(name.to_string(), AccountSecret { credentials });
        })?;
    context
        .accounts
        .lock()
        .await
        .insert(name.to_string(), Arc::new(rotated));
    let updated = update_account(context, name).await?;
    Ok(format!("new key in use, same account URL; {updated}"))
}

/// Deactivates a removed account at its CA, then forgets it.
pub(super) async fn deactivate_account(context: &Context, name: &str) -> Result<String> {
    account(context, name).await?.deactivate().await?;
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            state.accounts.remove(name);
            secrets.accounts.remove(name);
        })?;
    Ok("deactivated at the CA and forgotten".into())
}

/// Revokes the replaced predecessors of a configured certificate whose grace has ended.
pub(super) async fn revoke_replaced(context: &Context, address: &Address) -> Result<String> {
    let now = OffsetDateTime::now_utc();
    let revoked = revoke_pending(context, address, |p| p.revoke_after <= now).await?;
    Ok(format!(
        "{revoked} replaced certificate(s) revoked (superseded)"
    ))
}

/// Revokes the pending predecessors `due` selects, committing each as it is done.
pub(super) async fn revoke_pending(
    context: &Context,
    address: &Address,
    due: impl Fn(&PendingRevocation) -> bool,
) -> Result<usize> {
    let pending: Vec<PendingRevocation> = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger
            .state
            .certificates
            .get(address)
            .map(|c| {
                c.pending_revocation
                    .iter()
                    .filter(|p| due(p))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    for predecessor in &pending {
        account(context, &predecessor.account)
            .await?
            .revoke(
                &predecessor.certificate_pem,
                Some(RevocationReason::Superseded),
            )
            .await?;
        context.ledger.lock().expect("ledger").commit(|state, _| {
            if let Some(entry) = state.certificates.get_mut(address) {
                entry
                    .pending_revocation
                    .retain(|p| p.serial_number != predecessor.serial_number);
            }
        })?;
    }
    Ok(pending.len())
}

/// The predecessors to keep after `old` is replaced: the ones already waiting, plus `old`
/// itself when a grace period is configured and nobody revoked it yet.
pub(super) fn pending_after_replacement(
    old: &CertificateState,
    grace: Option<Duration>,
    now: OffsetDateTime,
) -> Vec<PendingRevocation> {
    let mut pending = old.pending_revocation.clone();
    if let (Some(grace), None) = (grace, &old.revoked) {
        pending.push(PendingRevocation {
            serial_number: old.serial_number.clone(),
            account: old.account.clone(),
            certificate_pem: old.certificate_pem.clone(),
            not_after: old.not_after,
            revoke_after: now + grace,
        });
    }
    pending
}

/// Whether a new order may name `old` in `replaces` (RFC 9773 §5): same CA and account, and
/// at least one identifier in common.
pub(super) fn may_name_as_replaced(
    old: &CertificateState,
    spec: &CertificateSpec,
    account: &AccountSpec,
) -> bool {
    old.account == spec.account
        && old.directory == account.directory
        && old.domains.iter().any(|d| spec.domains.contains(d))
}
