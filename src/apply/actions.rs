//! What each action does: one function per action, each ending with the state committed.

use super::{lifecycle, Context, Slot};
use crate::acme::{self, AcmeAccount, OrderRequest, RevocationReason};
use crate::address::{Address, Kind};
use crate::deploy;
use crate::desired::model::CertificateSpec;
use crate::error::{Error, Result};
use crate::keys::{self, CertificateKey};
use crate::plan::graph::Node;
use crate::plan::Action;
use crate::secret::Sensitive;
use crate::state::model::{
    AccountSecret, AccountState, CertificateSecret, CertificateState, DeployedOutput, Secrets,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Runs one node; the returned text says what was done, for the progress line.
pub(super) async fn run(context: &Context, node: &Node, mut slot: Slot) -> Result<String> {
    let change = match node {
        Node::Hook(argv) => {
            let env = context.solvers.hook_env();
            let timeout = deploy::hook_timeout(&context.desired, argv);
            deploy::run_hook(argv, &context.desired.config_dir, env, timeout).await?;
            return Ok("ran".into());
        }
        Node::Reload(reload) => {
            reload.run().await?;
            return Ok("ran".into());
        }
        Node::Change(i) => &context.changes[*i],
    };
    let address = &change.address;
    match (address.kind, change.action) {
        (Kind::Account, Action::Create) => create_account(context, &address.name).await,
        (Kind::Account, Action::Update) => update_account(context, &address.name).await,
        (Kind::Account, Action::RotateKey) => {
            lifecycle::rotate_account_key(context, &address.name).await
        }
        (Kind::Account, Action::Deactivate) => {
            lifecycle::deactivate_account(context, &address.name).await
        }
        (Kind::Account, Action::Delete) => {
            context
                .ledger
                .lock()
                .expect("ledger")
                .commit(|state, secrets| {
                    state.accounts.remove(&address.name);
                    secrets.accounts.remove(&address.name);
                    secrets.pending_account_keys.remove(&address.name);
                })?;
            Ok("forgotten".into())
        }
        (Kind::Certificate, action) if action.orders() => {
            order_certificate(context, address, action, &mut slot).await
        }
        (Kind::Certificate, Action::Redeploy) => {
            record_certificate_settings(context, address)?;
            deploy_outputs(context, address)
                .await
                .map(|n| format!("{n} output(s) written"))
        }
        (Kind::Certificate, Action::Update) => {
            record_certificate_settings(context, address)?;
            Ok("settings updated".into())
        }
        // A certificate still configured is revoked only for its replaced predecessors.
        (Kind::Certificate, Action::Revoke)
            if context.desired.certificates.contains_key(address) =>
        {
            lifecycle::revoke_replaced(context, address).await
        }
        (Kind::Certificate, Action::Revoke) => revoke_certificate(context, address).await,
        (Kind::Certificate, Action::Delete) => {
            forget_certificate(context, address)?;
            Ok("forgotten (still valid at the CA)".into())
        }
        (Kind::DnsPersistSolver, Action::Create | Action::Update) => {
            super::persist::write_record(context, address).await
        }
        (Kind::DnsPersistSolver, Action::Delete) => {
            super::persist::remove_record(context, address).await
        }
        (kind, action) => Err(Error::Bug(format!("no way to {action} a {kind}"))),
    }
}

async fn create_account(context: &Context, name: &str) -> Result<String> {
    let spec = &context.desired.accounts[name];
    let created = acme::create_account(spec).await?;
    let now = OffsetDateTime::now_utc();
    let url = created.account_url.clone();
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            state.accounts.insert(
                name.to_string(),
                AccountState {
                    directory: spec.directory.clone(),
                    account_url: created.account_url.clone(),
                    contact: spec.contact.clone(),
                    key_type: spec.key_type,
                    key_created_at: now,
                    created_at: now,
                    deactivate_on_destroy: spec.deactivate_on_destroy,
                    ca_bundle: spec.ca_bundle.clone(),
                    external_account_binding: spec
                        .external_account_binding
                        .as_ref()
                        .map(|eab| eab.kid_fingerprint()),
                },
            );
            secrets.accounts.insert(
                name.to_string(),
                AccountSecret {
                    credentials: created.credentials.clone(),
                },
            );
        })?;
    context
        .accounts
        .lock()
        .await
        .insert(name.to_string(), Arc::new(created.account));
    Ok(format!("registered {url}"))
}

/// Brings an account's contact and settings in line with the configuration; only a contact
/// change talks to the CA.
pub(super) async fn update_account(context: &Context, name: &str) -> Result<String> {
    let spec = &context.desired.accounts[name];
    let stored_contact = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger.state.accounts.get(name).map(|a| a.contact.clone())
    };
    let contact_changed = stored_contact.as_ref() != Some(&spec.contact);
    if contact_changed {
        account(context, name)
            .await?
            .update_contacts(&spec.contact)
            .await?;
    }
    context.ledger.lock().expect("ledger").commit(|state, _| {
        if let Some(entry) = state.accounts.get_mut(name) {
            entry.contact = spec.contact.clone();
            entry.deactivate_on_destroy = spec.deactivate_on_destroy;
            entry.ca_bundle = spec.ca_bundle.clone();
            entry.external_account_binding = spec
                .external_account_binding
                .as_ref()
                .map(|eab| eab.kid_fingerprint());
        }
    })?;
    Ok(if contact_changed {
        "contact updated".into()
    } else {
        "settings updated".into()
    })
}

/// Copies the settings state keeps for a certificate that stays (`revoke_on_destroy`) from
/// the configuration; an order records them with the new certificate.
fn record_certificate_settings(context: &Context, address: &Address) -> Result<()> {
    let spec = &context.desired.certificates[address];
    let mut ledger = context.ledger.lock().expect("ledger");
    let recorded = ledger.state.certificates.get(address);
    if recorded.is_none_or(|c| c.revoke_on_destroy == spec.revoke_on_destroy) {
        return Ok(());
    }
    ledger.commit(|state, _| {
        if let Some(entry) = state.certificates.get_mut(address) {
            entry.revoke_on_destroy = spec.revoke_on_destroy;
        }
    })
}

/// The ACME account `name`, loaded from the secret half once per apply.
pub(super) async fn account(context: &Context, name: &str) -> Result<Arc<AcmeAccount>> {
    let mut accounts = context.accounts.lock().await;
    if let Some(account) = accounts.get(name) {
        return Ok(account.clone());
    }
    lifecycle::settle_pending_key(context, name).await?;
    let credentials = lifecycle::stored_credentials(context, name)?;
    let ca_bundle = ca_bundle_of(context, name);
    let account = Arc::new(
        acme::load_account(
            &credentials,
            configured_directory(context, name),
            ca_bundle.as_deref(),
        )
        .await?,
    );
    accounts.insert(name.to_string(), account.clone());
    Ok(account)
}

/// The directory the configuration names for account `name` (`None`: removed from it).
pub(super) fn configured_directory<'a>(context: &'a Context, name: &str) -> Option<&'a str> {
    context
        .desired
        .accounts
        .get(name)
        .map(|spec| spec.directory.as_str())
}

/// The `ca_bundle` of account `name`; a removed account still reaches its CA through the
/// bundle kept in state.
pub(super) fn ca_bundle_of(context: &Context, name: &str) -> Option<std::path::PathBuf> {
    match context.desired.accounts.get(name) {
        Some(spec) => spec.ca_bundle.clone(),
        None => {
            let ledger = context.ledger.lock().expect("ledger");
            ledger
                .state
                .accounts
                .get(name)
                .and_then(|a| a.ca_bundle.clone())
        }
    }
}

async fn order_certificate(
    context: &Context,
    address: &Address,
    action: Action,
    slot: &mut Slot,
) -> Result<String> {
    let spec = context.desired.certificates[address].clone();
    let account_spec = &context.desired.accounts[&spec.account];
    let account = account(context, &spec.account).await?;
    let reusable_key = (action == Action::Renew && spec.reuse_key)
        .then(|| stored_key(&context.ledger.lock().expect("ledger").secrets, address))
        .flatten();
    let (key_type, domains, staple) = (spec.key_type, spec.domains.clone(), spec.must_staple);
    let (private_key, csr) = crate::runtime::blocking(move || {
        let key = match reusable_key {
            Some(pem) => CertificateKey::from_pem(pem)?,
            None => CertificateKey::generate(key_type)?,
        };
        let csr = key.csr_der(&domains, staple)?;
        Ok((key, csr))
    })
    .await?;
    let replaced = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger
            .state
            .certificates
            .get(address)
            .filter(|old| lifecycle::may_name_as_replaced(old, &spec, account_spec))
            .map(|old| old.certificate_pem.clone())
    };
    let issued = account
        .issue(
            OrderRequest {
                domains: &spec.domains,
                solver_for: &spec.solver_for,
                csr_der: csr,
                profile: spec.profile.as_deref(),
                replaces: replaced.as_deref(),
                preferred_chain: spec.preferred_chain.as_deref(),
            },
            &context.solvers,
        )
        .await?;
    if spec.outputs.iter().all(|output| output.kind.is_local()) {
        slot.release();
    }
    let summary = keys::summarize_chain(&issued.fullchain_pem)?;
    keys::check_issued(&summary, &private_key, &spec.domains)?;
    let serial = summary.serial_number.clone();
    let not_after = summary.not_after;
    let now = OffsetDateTime::now_utc();
    let mut entry = CertificateState::from_summary(
        summary,
        &spec,
        account_spec.directory.clone(),
        Some(issued.order_url),
        now,
    );
    // Remote outputs keep where they delivered (ACM imports the new certificate to the same
    // ARN); the record names the old serial until the new one is delivered.
    entry.outputs = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger
            .state
            .certificates
            .get(address)
            .map(|old| {
                old.outputs
                    .iter()
                    .filter(|(_, o)| o.remote.is_some())
                    .map(|(name, o)| (name.clone(), o.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The outputs are delivered before the certificate is committed, so one state write
    // records the certificate, its key and what was delivered. A crash before that write
    // loses this action, as any action in flight: the next plan orders again and the
    // output files are overwritten.
    let (written, failure) = if spec.outputs.is_empty() {
        (0, None)
    } else {
        let delivered = deliver_outputs(&spec, &entry, private_key.pem()).await;
        entry.outputs = delivered.records;
        (entry.outputs.len(), delivered.failure)
    };
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            if let Some(old) = state.certificates.get(address) {
                entry.pending_revocation =
                    lifecycle::pending_after_replacement(old, spec.revoke_replaced_after, now);
            }
            state.certificates.insert(address.clone(), entry);
            secrets.certificates.insert(
                address.clone(),
                CertificateSecret {
                    private_key_pem: private_key.into_pem(),
                },
            );
        })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let chain_note = issued
        .chain_note
        .map(|note| format!("; {note}"))
        .unwrap_or_default();
    Ok(format!(
        "serial {serial}, valid until {}, {written} output(s) written{chain_note}",
        not_after.date()
    ))
}

/// Delivers every output of the certificate from state again and records what was
/// delivered.
async fn deploy_outputs(context: &Context, address: &Address) -> Result<usize> {
    let spec = &context.desired.certificates[address];
    if spec.outputs.is_empty() {
        // Nothing to write, so no state write either (each one is an fsync).
        return Ok(0);
    }
    let (certificate, key) = {
        let ledger = context.ledger.lock().expect("ledger");
        let certificate = ledger
            .state
            .certificates
            .get(address)
            .cloned()
            .ok_or_else(|| {
                Error::Bug(format!("{address} has no certificate in state to deploy"))
            })?;
        let key = stored_key(&ledger.secrets, address).ok_or_else(|| {
            Error::State(format!(
                "{address} has no private key in the state's secret half"
            ))
        })?;
        (certificate, key)
    };
    let delivered = deliver_outputs(spec, &certificate, &key).await;
    let count = delivered.records.len();
    context.ledger.lock().expect("ledger").commit(|state, _| {
        if let Some(entry) = state.certificates.get_mut(address) {
            entry.outputs = delivered.records;
        }
    })?;
    match delivered.failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

/// What [`deliver_outputs`] did: the records to store and the first failure.
struct Delivered {
    records: BTreeMap<String, DeployedOutput>,
    failure: Option<Error>,
}

/// Delivers every output of `spec` (`certificate.outputs` holds the earlier records). An
/// output that fails keeps its earlier record, so the next plan delivers it again without a
/// new order, while the others are still delivered; the first failure is the action's error.
async fn deliver_outputs(
    spec: &CertificateSpec,
    certificate: &CertificateState,
    key: &Sensitive,
) -> Delivered {
    let mut records = BTreeMap::new();
    let mut failure = None;
    for output in &spec.outputs {
        let previous = certificate.outputs.get(&output.name);
        match deploy::remote::deliver(output, certificate, key, previous).await {
            Ok(record) => {
                records.insert(output.name.clone(), record);
            }
            Err(e) => {
                if let Some(previous) = previous {
                    records.insert(output.name.clone(), previous.clone());
                }
                failure.get_or_insert(e);
            }
        }
    }
    Delivered { records, failure }
}

/// A certificate removed from the configuration: revoke it (unless `certform revoke` already
/// did) and its predecessors still waiting for revocation, then forget it.
async fn revoke_certificate(context: &Context, address: &Address) -> Result<String> {
    let entry = {
        let ledger = context.ledger.lock().expect("ledger");
        ledger
            .state
            .certificates
            .get(address)
            .cloned()
            .ok_or_else(|| Error::Bug(format!("{address} is not in state")))?
    };
    if entry.revoked.is_none() {
        let reason = Some(RevocationReason::CessationOfOperation);
        // An imported certificate (no order URL) was issued through some other account:
        // like one whose account is gone from state, it is revoked with its own key.
        let own_key = {
            let ledger = context.ledger.lock().expect("ledger");
            let issued_here =
                entry.order_url.is_some() && ledger.secrets.accounts.contains_key(&entry.account);
            (!issued_here).then(|| stored_key(&ledger.secrets, address))
        };
        match own_key {
            None => {
                let account = account(context, &entry.account).await?;
                account.revoke(&entry.certificate_pem, reason).await?;
            }
            Some(key) => {
                let key = key.ok_or_else(|| {
                    Error::State(format!(
                        "{address} has no private key in the state's secret half to revoke it with"
                    ))
                })?;
                let ca_bundle = ca_bundle_of(context, &entry.account);
                acme::revoke_with_certificate_key(
                    &entry.directory,
                    ca_bundle.as_deref(),
                    &entry.certificate_pem,
                    &key,
                    reason,
                )
                .await?;
            }
        }
    }
    let predecessors = lifecycle::revoke_pending(context, address, |_| true).await?;
    forget_certificate(context, address)?;
    Ok(match predecessors {
        0 => "revoked and forgotten".into(),
        n => format!("revoked with {n} replaced predecessor(s) and forgotten"),
    })
}

/// The private key of certificate `address` in the secret half, if it holds one.
fn stored_key(secrets: &Secrets, address: &Address) -> Option<Sensitive> {
    secrets
        .certificates
        .get(address)
        .map(|s| s.private_key_pem.clone())
}

fn forget_certificate(context: &Context, address: &Address) -> Result<()> {
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            state.certificates.remove(address);
            secrets.certificates.remove(address);
        })
}
