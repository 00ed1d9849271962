//! The dns-persist-01 record actions: write a standing `_validation-persist` record through
//! its `dns_solver` (create, update) or remove it (delete), each ending with the record kept
//! in (or dropped from) the state's public half. The value is computed here, after the
//! account this apply may have registered, with the same rule the plan used.

use super::Context;
use crate::acme;
use crate::address::{Address, Kind};
use crate::desired::model::SolverSpec;
use crate::error::{Error, Result};
use crate::plan::persist::{value_for, RECORD_LABEL};
use crate::state::model::PersistRecordState;
use time::OffsetDateTime;

/// Create or update the record at `address` (`dns_persist_solver.NAME["<name>"]`).
pub(super) async fn write_record(context: &Context, address: &Address) -> Result<String> {
    let solver = Address::new(Kind::DnsPersistSolver, address.name.clone());
    let Some(SolverSpec::DnsPersist(spec)) = context.desired.solvers.get(&solver) else {
        return Err(Error::Bug(format!("{address} has no dns_persist_solver")));
    };
    let via = spec
        .via
        .clone()
        .ok_or_else(|| Error::Bug(format!("{address} is written, but {solver} has no via")))?;
    let base = address.key.clone().unwrap_or_default();
    let account_name = context
        .desired
        .certificates
        .values()
        .find(|cert| {
            cert.solver_for.iter().any(|(domain, s)| {
                s == &solver && domain.strip_prefix("*.").unwrap_or(domain) == base
            })
        })
        .map(|cert| cert.account.clone())
        .ok_or_else(|| Error::Bug(format!("no certificate uses {address}")))?;
    let account = &context.desired.accounts[&account_name];
    let (account_url, replaced) = {
        let ledger = context.ledger.lock().expect("ledger");
        let url = ledger
            .state
            .accounts
            .get(&account_name)
            .map(|a| a.account_url.clone())
            .ok_or_else(|| {
                Error::Bug(format!(
                    "account.{account_name} is not registered before {address}"
                ))
            })?;
        let replaced = ledger
            .state
            .persist_records
            .get(address)
            .filter(|r| r.via == via)
            .map(|r| r.value.clone());
        (url, replaced)
    };
    let issuer = match &spec.issuer_domain_name {
        Some(issuer) => issuer.clone(),
        None => acme::issuer_domain_name(&account.directory, account.ca_bundle.as_deref()).await?,
    };
    let name = format!("{RECORD_LABEL}.{base}");
    let value = value_for(spec, issuer, account_url).text();
    context
        .solvers
        .put_standing_record(&via, &name, &value, replaced.as_deref())
        .await?;
    let now = OffsetDateTime::now_utc();
    context.ledger.lock().expect("ledger").commit(|state, _| {
        state.persist_records.insert(
            address.clone(),
            PersistRecordState {
                name: name.clone(),
                value: value.clone(),
                via: via.clone(),
                written_at: now,
            },
        );
    })?;
    Ok(format!("wrote {name}"))
}

/// Remove the record at `address` through the solver that wrote it, then forget it.
pub(super) async fn remove_record(context: &Context, address: &Address) -> Result<String> {
    let record = context
        .ledger
        .lock()
        .expect("ledger")
        .state
        .persist_records
        .get(address)
        .cloned()
        .ok_or_else(|| Error::Bug(format!("{address} is not in state")))?;
    context
        .solvers
        .remove_standing_record(&record.via, &record.name, &record.value)
        .await?;
    context.ledger.lock().expect("ledger").commit(|state, _| {
        state.persist_records.remove(address);
    })?;
    Ok(format!("removed {}", record.name))
}
