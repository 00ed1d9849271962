//! `certform state rm|mv`: editing entries of the state under its lock. Both halves change
//! (a certificate's key moves or goes with it), so both need the identity and re-seal the
//! state at the next serial, like any other write. And `state accept-rollback`: taking the
//! stored state as current after an older version was restored on purpose.

use super::{load_desired, recipients_for, store_for, Exit, Globals, ReadState};
use crate::address::{Address, Kind};
use crate::error::{Error, Result};
use crate::state::model::{Secrets, State};
use crate::state::seen::SeenRecords;
use crate::state::{load_identity, Persister};
use std::time::Duration;

/// Locks, opens both halves, applies `edit`, and writes the result at the next serial.
fn edit_state(
    globals: &Globals,
    operation: &str,
    lock_timeout: Duration,
    edit: impl FnOnce(&mut State, &mut Secrets) -> Result<()>,
) -> Result<()> {
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    let lock = store.lock(operation, lock_timeout)?;
    let read = ReadState::read(&*store)?.ok_or_else(|| {
        Error::Usage(format!(
            "The state {} is empty, so there is nothing to change.",
            store.describe()
        ))
    })?;
    let identity = load_identity(globals.identity.as_deref())?;
    let (mut state, mut secrets) = read.open(&identity, &desired.state)?;
    edit(&mut state, &mut secrets)?;
    let recipients = recipients_for(&desired, &identity)?;
    let serial = state.serial;
    Persister::new(store, lock, recipients, Some(serial)).persist(&mut state, &secrets)
}

fn parse(text: &str) -> Result<Address> {
    text.parse()
        .map_err(|e: crate::address::ParseAddressError| Error::Usage(e.to_string()))
}

fn not_in_state(address: &Address) -> Error {
    Error::Usage(format!(
        "{address} is not in the state; nothing was changed. `certform state list` shows what is."
    ))
}

/// Forgets `addresses`: certificates stay valid at the CA and their files stay in place.
pub fn rm(globals: &Globals, addresses: &[String], lock_timeout: Duration) -> Result<Exit> {
    let addresses = addresses
        .iter()
        .map(|a| parse(a))
        .collect::<Result<Vec<_>>>()?;
    edit_state(globals, "state rm", lock_timeout, |state, secrets| {
        for address in &addresses {
            match address.kind {
                Kind::Certificate => {
                    state
                        .certificates
                        .remove(address)
                        .ok_or_else(|| not_in_state(address))?;
                    secrets.certificates.remove(address);
                }
                Kind::Account => {
                    state
                        .accounts
                        .remove(&address.name)
                        .ok_or_else(|| not_in_state(address))?;
                    secrets.accounts.remove(&address.name);
                    secrets.pending_account_keys.remove(&address.name);
                }
                _ => return Err(Error::Usage(format!("{address}: solvers have no state"))),
            }
        }
        let orphan = state
            .certificates
            .iter()
            .find(|(_, c)| !state.accounts.contains_key(&c.account));
        if let Some((certificate, c)) = orphan {
            return Err(Error::Usage(format!(
                "{certificate} was issued through account.{} and still needs it; remove both \
                 (certform state rm {certificate} account.{}) or neither. Nothing was changed.",
                c.account, c.account
            )));
        }
        Ok(())
    })?;
    for address in &addresses {
        println!("Removed {address} from the state.");
    }
    if addresses.iter().any(|a| a.kind == Kind::Certificate) {
        println!("Its certificate stays valid at the CA and its files stay where they are.");
    }
    Ok(Exit::Success)
}

/// Renames `from` to `to` in both halves (an account's certificates follow it).
pub fn mv(globals: &Globals, from: &str, to: &str, lock_timeout: Duration) -> Result<Exit> {
    let (from, to) = (parse(from)?, parse(to)?);
    if from.kind != to.kind {
        return Err(Error::Usage(format!(
            "Cannot move {from} to {to}: an address keeps its kind."
        )));
    }
    if from == to {
        return Err(Error::Usage(format!(
            "{from} and {to} are the same address."
        )));
    }
    edit_state(globals, "state mv", lock_timeout, |state, secrets| {
        let exists = || {
            Error::Usage(format!(
                "{to} is already in the state; nothing was changed."
            ))
        };
        match from.kind {
            Kind::Certificate => {
                if state.certificates.contains_key(&to) {
                    return Err(exists());
                }
                let entry = state
                    .certificates
                    .remove(&from)
                    .ok_or_else(|| not_in_state(&from))?;
                state.certificates.insert(to.clone(), entry);
                if let Some(secret) = secrets.certificates.remove(&from) {
                    secrets.certificates.insert(to.clone(), secret);
                }
            }
            Kind::Account => {
                if to.key.is_some() || from.key.is_some() {
                    return Err(Error::Usage("Accounts have no instance keys.".to_string()));
                }
                if state.accounts.contains_key(&to.name) {
                    return Err(exists());
                }
                let entry = state
                    .accounts
                    .remove(&from.name)
                    .ok_or_else(|| not_in_state(&from))?;
                state.accounts.insert(to.name.clone(), entry);
                if let Some(secret) = secrets.accounts.remove(&from.name) {
                    secrets.accounts.insert(to.name.clone(), secret);
                }
                if let Some(secret) = secrets.pending_account_keys.remove(&from.name) {
                    secrets.pending_account_keys.insert(to.name.clone(), secret);
                }
                for certificate in state.certificates.values_mut() {
                    if certificate.account == from.name {
                        certificate.account = to.name.clone();
                    }
                }
            }
            _ => return Err(Error::Usage(format!("{from}: solvers have no state"))),
        }
        Ok(())
    })?;
    println!("Moved {from} to {to}.");
    Ok(Exit::Success)
}

/// Makes the stored state the version this machine's rollback record expects, whatever it
/// recorded (see `state::seen`). The state itself is not touched.
pub fn accept_rollback(globals: &Globals) -> Result<Exit> {
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    let read = ReadState::read(&*store)?.ok_or_else(|| {
        Error::Usage(format!(
            "The state {} is empty, so there is nothing to accept.",
            store.describe()
        ))
    })?;
    let current = &read.sighting;
    let previous = SeenRecords::for_this_user().accept(current)?;
    match previous {
        Some(previous)
            if previous.serial > current.serial
                || (previous.serial == current.serial && previous.sha256 != current.sha256) =>
        {
            println!(
                "Accepted the state {} at serial {} as the current version; this machine had last \
                 used serial {} (on {}). Certificates and keys issued since are not in it: the next \
                 plan orders them again.",
                current.location,
                current.serial,
                previous.serial,
                previous.when()
            )
        }
        _ => println!(
            "The state {} at serial {} is the newest this machine has used; there was no rollback \
             to accept, and it is recorded as the current version.",
            current.location, current.serial
        ),
    }
    Ok(Exit::Success)
}
