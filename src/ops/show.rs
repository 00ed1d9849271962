//! Read-only views: `show`, `state list` and `state show`. None of them needs the identity.

use super::{load_desired, read_state, store_for, Exit, Globals};
use crate::address::{Address, Kind};
use crate::error::{Error, Result};
use crate::plan::saved::SavedPlan;
use crate::render;
use crate::state::model::State;
use std::path::Path;

fn current_state(globals: &Globals) -> Result<State> {
    Ok(current_stored(globals)?.0)
}

/// The public half and the key id it claims (`None` before the first apply, or for a
/// state written before states were authenticated).
fn current_stored(globals: &Globals) -> Result<(State, Option<String>)> {
    let desired = load_desired(globals)?;
    Ok(read_state(&*store_for(globals, &desired)?)?
        .map(|s| (s.state, s.key_id))
        .unwrap_or_default())
}

pub fn show(globals: &Globals, plan_file: Option<&Path>, json: bool) -> Result<Exit> {
    match plan_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::io("Cannot read the saved plan", path, e))?;
            let saved = SavedPlan::from_bytes(&bytes, path)?;
            if json {
                print!("{}", render::plan::json(&saved, &[]));
            } else {
                print!("{}", render::plan::text(&saved.changes, globals.style));
            }
        }
        None => {
            let (state, key_id) = current_stored(globals)?;
            if json {
                print!("{}", render::state::json(&state, key_id.as_deref()));
            } else {
                print!("{}", render::state::show(&state, key_id.as_deref()));
            }
        }
    }
    Ok(Exit::Success)
}

pub fn list(globals: &Globals) -> Result<Exit> {
    print!("{}", render::state::list(&current_state(globals)?));
    Ok(Exit::Success)
}

pub fn show_one(globals: &Globals, address: &str) -> Result<Exit> {
    let address: Address = address
        .parse()
        .map_err(|e: crate::address::ParseAddressError| Error::Usage(e.to_string()))?;
    let state = current_state(globals)?;
    let missing = || {
        Error::Usage(format!(
            "{address} is not in the state. `certform state list` shows what is."
        ))
    };
    let text = match address.kind {
        Kind::Account => render::state::account(
            &address.name,
            state.accounts.get(&address.name).ok_or_else(missing)?,
        ),
        Kind::Certificate => render::state::certificate(
            &address,
            state.certificates.get(&address).ok_or_else(missing)?,
        ),
        _ => return Err(Error::Usage(format!("{address}: solvers have no state"))),
    };
    print!("{text}");
    Ok(Exit::Success)
}
