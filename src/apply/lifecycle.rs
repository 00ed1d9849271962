//! Lifecycle actions of apply: account key rollover and deactivation, and the deferred
//! revocation of replaced certificates (`revoke_replaced_after`). Like every action, each
//! ends with the state committed. A rollover commits the new key *before* asking the CA to
//! change to it, and commits which key is in use once the CA said so; when that stays
//! unknown (no answer), the new key waits in the state and the next use of the account asks
//! the CA which key it holds (`settle_pending_key`) — so no lost answer loses the account.

use super::actions::{account, ca_bundle_of, configured_directory, update_account};
use super::Context;
use crate::acme::{self, KeyInUse, RevocationReason};
use crate::address::Address;
use crate::desired::model::{AccountSpec, CertificateSpec};
use crate::error::{Error, Result};
use crate::secret::Sensitive;
use crate::state::model::{AccountSecret, CertificateState, PendingRevocation};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Rolls the key over, then applies any contact or setting change the same plan carried for
/// this account.
pub(super) async fn rotate_account_key(context: &Context, name: &str) -> Result<String> {
    let old = account(context, name).await?;
    let current = stored_credentials(context, name)?;
    let next = acme::credentials_with_new_key(&current)?;
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|_, secrets| {
            secrets.pending_account_keys.insert(
                name.to_string(),
                AccountSecret {
                    credentials: next.clone(),
                },
            );
        })?;
    if let Err(sent) = old.change_key(&next).await {
        let in_use =
            acme::key_in_use(&current, &next, ca_bundle_of(context, name).as_deref()).await;
        if in_use != KeyInUse::New {
            settle(context, name, &next, &in_use)?;
            return Err(match in_use {
                KeyInUse::Old => sent,
                _ => unknown_outcome(name, &sent.to_string()),
            });
        }
    }
    settle(context, name, &next, &KeyInUse::New)?;
    let rotated = acme::load_account(
        &next,
        configured_directory(context, name),
        ca_bundle_of(context, name).as_deref(),
    )
    .await?;
    context
        .accounts
        .lock()
        .await
        .insert(name.to_string(), Arc::new(rotated));
    let updated = update_account(context, name).await?;
    Ok(format!("new key in use, same account URL; {updated}"))
}

/// Settles a key rollover whose outcome an earlier apply did not learn: asks the CA which
/// key it holds and commits that. Nothing to do without a pending key.
pub(super) async fn settle_pending_key(context: &Context, name: &str) -> Result<()> {
    let pending = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger
            .secrets
            .pending_account_keys
            .get(name)
            .map(|p| p.credentials.clone())
    };
    let Some(next) = pending else {
        return Ok(());
    };
    let current = stored_credentials(context, name)?;
    let in_use = acme::key_in_use(&current, &next, ca_bundle_of(context, name).as_deref()).await;
    settle(context, name, &next, &in_use)?;
    match in_use {
        KeyInUse::Unknown(why) => Err(unknown_outcome(name, &why)),
        _ => Ok(()),
    }
}

/// Commits what the CA said: the new key becomes the account's (`New`), or is dropped
/// (`Old`); while `Unknown` it stays pending.
fn settle(context: &Context, name: &str, next: &Sensitive, in_use: &KeyInUse) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| match in_use {
            KeyInUse::New => {
                secrets.pending_account_keys.remove(name);
                secrets.accounts.insert(
                    name.to_string(),
                    AccountSecret {
                        credentials: next.clone(),
                    },
                );
                if let Some(entry) = state.accounts.get_mut(name) {
                    entry.key_created_at = now;
                }
            }
            KeyInUse::Old => {
                secrets.pending_account_keys.remove(name);
            }
            KeyInUse::Unknown(_) => {}
        })
}

fn unknown_outcome(name: &str, why: &str) -> Error {
    Error::Acme(format!(
        "account.{name}: the CA did not say whether it changed the account key ({why}); the \
         new key is kept in the state and the next use of the account asks the CA which key \
         it holds"
    ))
}

pub(super) fn stored_credentials(context: &Context, name: &str) -> Result<Sensitive> {
    let ledger = context.ledger.lock().expect("ledger");
    ledger
        .secrets
        .accounts
        .get(name)
        .map(|s| s.credentials.clone())
        .ok_or_else(|| {
            Error::State(format!(
                "account.{name} has no credentials in the state's secret half"
            ))
        })
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
            secrets.pending_account_keys.remove(name);
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
