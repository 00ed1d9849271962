//! What each action does: one function per action, each ending with the state committed.

use super::Context;
use crate::acme::{self, AcmeAccount, OrderRequest, RevocationReason};
use crate::address::{Address, Kind};
use crate::deploy;
use crate::error::{Error, Result};
use crate::keys;
use crate::plan::graph::Node;
use crate::plan::Action;
use crate::state::model::{AccountSecret, AccountState, CertificateSecret, CertificateState};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Runs one node; the returned text says what was done, for the progress line.
pub(super) async fn run(context: &Context, node: &Node) -> Result<String> {
    let change = match node {
        Node::Hook(argv) => {
            deploy::run_hook(argv, &context.desired.config_dir).await?;
            return Ok("ran".into());
        }
        Node::Change(i) => &context.changes[*i],
    };
    let address = &change.address;
    match (address.kind, change.action) {
        (Kind::Account, Action::Create) => create_account(context, &address.name).await,
        (Kind::Account, Action::Update) => update_account(context, &address.name).await,
        (Kind::Account, Action::Delete) => {
            context
                .ledger
                .lock()
                .expect("ledger")
                .commit(|state, secrets| {
                    state.accounts.remove(&address.name);
                    secrets.accounts.remove(&address.name);
                })?;
            Ok("forgotten".into())
        }
        (Kind::Certificate, action) if action.orders() => {
            order_certificate(context, address, action).await
        }
        (Kind::Certificate, Action::Redeploy) => {
            deploy_outputs(context, address).map(|n| format!("{n} output(s) written"))
        }
        (Kind::Certificate, Action::Revoke) => revoke_certificate(context, address).await,
        (Kind::Certificate, Action::Delete) => {
            forget_certificate(context, address)?;
            Ok("forgotten (still valid at the CA)".into())
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

async fn update_account(context: &Context, name: &str) -> Result<String> {
    let spec = &context.desired.accounts[name];
    let account = account(context, name).await?;
    account.update_contacts(&spec.contact).await?;
    context.ledger.lock().expect("ledger").commit(|state, _| {
        if let Some(entry) = state.accounts.get_mut(name) {
            entry.contact = spec.contact.clone();
        }
    })?;
    Ok("contact updated".into())
}

/// The ACME account `name`, loaded from the secret half once per apply.
async fn account(context: &Context, name: &str) -> Result<Arc<AcmeAccount>> {
    let mut accounts = context.accounts.lock().await;
    if let Some(account) = accounts.get(name) {
        return Ok(account.clone());
    }
    let credentials = {
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
            })?
    };
    let ca_bundle = context
        .desired
        .accounts
        .get(name)
        .and_then(|a| a.ca_bundle.as_deref());
    let account = Arc::new(acme::load_account(&credentials, ca_bundle).await?);
    accounts.insert(name.to_string(), account.clone());
    Ok(account)
}

async fn order_certificate(context: &Context, address: &Address, action: Action) -> Result<String> {
    let spec = context.desired.certificates[address].clone();
    let account_spec = &context.desired.accounts[&spec.account];
    let account = account(context, &spec.account).await?;
    let reusable_key = (action == Action::Renew && spec.reuse_key)
        .then(|| {
            let ledger = context.ledger.lock().expect("ledger");
            ledger
                .secrets
                .certificates
                .get(address)
                .map(|s| s.private_key_pem.clone())
        })
        .flatten();
    let key_type = spec.key_type;
    let private_key = match reusable_key {
        Some(key) => key,
        None => blocking(move || keys::generate_private_key(key_type)).await?,
    };
    let csr = {
        let (key, domains, staple) = (private_key.clone(), spec.domains.clone(), spec.must_staple);
        blocking(move || keys::csr_der(&key, &domains, staple)).await?
    };
    let issued = account
        .issue(
            OrderRequest {
                domains: &spec.domains,
                solver_for: &spec.solver_for,
                csr_der: csr,
                profile: spec.profile.as_deref(),
            },
            &context.solvers,
        )
        .await?;
    let summary = keys::summarize_chain(&issued.fullchain_pem)?;
    let serial = summary.serial_number.clone();
    let not_after = summary.not_after;
    let entry = CertificateState {
        account: spec.account.clone(),
        directory: account_spec.directory.clone(),
        domains: spec.domains.clone(),
        key_type: spec.key_type,
        must_staple: spec.must_staple,
        profile: spec.profile.clone(),
        revoke_on_destroy: spec.revoke_on_destroy,
        serial_number: summary.serial_number,
        not_before: summary.not_before,
        not_after: summary.not_after,
        issuer: summary.issuer,
        spki_sha256: summary.spki_sha256,
        certificate_pem: summary.certificate_pem,
        chain_pem: summary.chain_pem,
        order_url: Some(issued.order_url),
        issued_at: OffsetDateTime::now_utc(),
        outputs: BTreeMap::new(),
    };
    context
        .ledger
        .lock()
        .expect("ledger")
        .commit(|state, secrets| {
            state.certificates.insert(address.clone(), entry);
            secrets.certificates.insert(
                address.clone(),
                CertificateSecret {
                    private_key_pem: private_key,
                },
            );
        })?;
    let written = deploy_outputs(context, address)?;
    Ok(format!(
        "serial {serial}, valid until {}, {written} output(s) written",
        not_after.date()
    ))
}

/// Writes every output of the certificate from state and records what was written.
fn deploy_outputs(context: &Context, address: &Address) -> Result<usize> {
    let spec = &context.desired.certificates[address];
    if spec.outputs.is_empty() {
        // Nothing to write, so no state write either (each one is an fsync).
        return Ok(0);
    }
    let mut ledger = context.ledger.lock().expect("ledger");
    let certificate = ledger
        .state
        .certificates
        .get(address)
        .cloned()
        .ok_or_else(|| Error::Bug(format!("{address} has no certificate in state to deploy")))?;
    let key = ledger
        .secrets
        .certificates
        .get(address)
        .map(|s| s.private_key_pem.clone())
        .ok_or_else(|| {
            Error::State(format!(
                "{address} has no private key in the state's secret half"
            ))
        })?;
    let mut deployed = BTreeMap::new();
    for output in &spec.outputs {
        deployed.insert(
            output.name.clone(),
            deploy::write_output(output, &certificate, &key)?,
        );
    }
    let count = deployed.len();
    ledger.commit(|state, _| {
        if let Some(entry) = state.certificates.get_mut(address) {
            entry.outputs = deployed;
        }
    })?;
    Ok(count)
}

async fn revoke_certificate(context: &Context, address: &Address) -> Result<String> {
    let (account_name, pem) = {
        let ledger = context.ledger.lock().expect("ledger");
        let entry = ledger
            .state
            .certificates
            .get(address)
            .ok_or_else(|| Error::Bug(format!("{address} is not in state")))?;
        (entry.account.clone(), entry.certificate_pem.clone())
    };
    let account = account(context, &account_name).await?;
    account
        .revoke(&pem, Some(RevocationReason::CessationOfOperation))
        .await?;
    forget_certificate(context, address)?;
    Ok("revoked and forgotten".into())
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

/// CPU-heavy work (key generation, CSR signing) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Bug(format!("a blocking task failed: {e}")))?
}
