//! `certform state pull|push|migrate`: moving whole state documents. The documents are
//! copied as stored, their secret half still age-encrypted and sealed to their lineage and
//! serial, so none of these commands needs the identity and no backend sees a key.

use super::{config_error, load_desired, store_for, Exit, Globals, ReadState};
use crate::config::SecretEnv;
use crate::desired::VarInputs;
use crate::error::{Error, Result};
use crate::state::{decode, open_store, seen, StateStore, DEFAULT_WORKSPACE};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Prints the stored document of the current workspace (nothing when it has no state).
pub fn pull(globals: &Globals) -> Result<Exit> {
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    // Refuse to hand on something that is not a state, or an older one than this machine used.
    if let Some(read) = ReadState::read(&*store)? {
        let (_, bytes) = read.checked(&*store)?;
        std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| Error::io("Cannot write the state", "standard output", e))?;
    }
    Ok(Exit::Success)
}

/// Replaces the current workspace's state with the document in `file` (`-`: stdin). The
/// state it replaces is read without the rollback check: pushing is how a newer copy goes back.
pub fn push(globals: &Globals, file: &Path, force: bool, lock_timeout: Duration) -> Result<Exit> {
    let bytes = read_input(file)?;
    let pushed = decode(&bytes)
        .map_err(|e| Error::Usage(format!("{} is not a certform state: {e}", file.display())))?;
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    let lock = store.lock("state push", lock_timeout)?;
    let current = store.read()?;
    if let (Some(current), false) = (&current, force) {
        let (now, new) = (&current.state, &pushed.state);
        let refusal = if now.lineage != new.lineage {
            Some(format!(
                "its lineage {} differs from the stored state's {}: it is another state",
                new.lineage, now.lineage
            ))
        } else if new.serial < now.serial {
            Some(format!(
                "its serial {} is lower than the stored state's {}: it is older",
                new.serial, now.serial
            ))
        } else if new.serial == now.serial && store.get()?.as_deref() != Some(&bytes[..]) {
            Some(format!(
                "it differs from the stored state at the same serial {}",
                new.serial
            ))
        } else {
            None
        };
        if let Some(why) = refusal {
            return Err(Error::Usage(format!(
                "Refusing to push {}: {why}. Nothing was changed; pass --force to push it anyway.",
                file.display()
            )));
        }
    }
    store.put(&lock, current.map(|c| c.state.serial), &bytes)?;
    // What was pushed is the current state now, even an older one pushed with --force.
    // Pushed without the identity: the record keeps the key id it had (a pin).
    seen::remember_written(&pushed.state, &bytes, store.describe(), None);
    println!(
        "Pushed the state (lineage {}, serial {}) to {}.",
        pushed.state.lineage,
        pushed.state.serial,
        store.describe()
    );
    Ok(Exit::Success)
}

/// Copies every workspace to the backend configured in `to` and verifies each copy.
pub fn migrate(globals: &Globals, to: &Path, force: bool, lock_timeout: Duration) -> Result<Exit> {
    let source = store_for_workspace(globals, DEFAULT_WORKSPACE)?;
    // The target directory only names a backend: it gets no --var/--var-file (use env()).
    let target_config = crate::desired::load(to, &VarInputs::default(), SecretEnv::MayBeUnset)
        .map_err(|diagnostics| config_error(globals, &diagnostics))?;
    let target = open_store(&target_config.state.backend, DEFAULT_WORKSPACE)?;
    let existing = target.workspaces()?;
    for name in source.workspaces()? {
        let from = source.workspace(&name)?;
        if !existing.contains(&name) {
            target.create_workspace(&name)?;
        }
        let into = target.workspace(&name)?;
        let _source_lock = from.lock("state migrate", lock_timeout)?;
        let target_lock = into.lock("state migrate", lock_timeout)?;
        let Some(bytes) = from.get()? else {
            println!(
                "{name}: no state yet; the workspace exists in {}.",
                into.describe()
            );
            continue;
        };
        let copied = decode(&bytes)?.state;
        let present = into.get()?;
        if present.as_deref() == Some(&bytes[..]) {
            println!(
                "{name}: {} already holds this state (serial {}).",
                into.describe(),
                copied.serial
            );
            continue;
        }
        let present_serial = match &present {
            Some(present) => {
                let present = decode(present)?.state;
                if !force {
                    return Err(Error::Usage(format!(
                        "{} already holds a different state (lineage {}, serial {}); nothing more \
                         was copied. Pass --force to overwrite it.",
                        into.describe(),
                        present.lineage,
                        present.serial
                    )));
                }
                Some(present.serial)
            }
            None => None,
        };
        into.put(&target_lock, present_serial, &bytes)?;
        if into.get()?.as_deref() != Some(&bytes[..]) {
            return Err(Error::State(format!(
                "The copy of workspace {name:?} in {} does not read back as written; the \
                 source {} is unchanged.",
                into.describe(),
                from.describe()
            )));
        }
        println!(
            "{name}: copied lineage {} serial {} to {} and verified it.",
            copied.lineage,
            copied.serial,
            into.describe()
        );
    }
    println!(
        "\nMigration complete. Point certform {{ state {{ ... }} }} at the new backend; the old \
         one still holds its copy."
    );
    Ok(Exit::Success)
}

fn store_for_workspace(globals: &Globals, workspace: &str) -> Result<Box<dyn StateStore>> {
    let desired = load_desired(globals)?;
    open_store(&desired.state.backend, workspace)
}

fn read_input(file: &Path) -> Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("Cannot read the state", "standard input", e))?;
        Ok(bytes)
    } else {
        std::fs::read(file).map_err(|e| Error::io("Cannot read the state", file, e))
    }
}
