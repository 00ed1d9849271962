//! `certform force-unlock ID`: removes a lock left by a process that is gone.

use super::{load_desired, store_for, Exit, Globals};
use crate::error::Result;

/// `force-unlock ID`: removes the lock with that ID, after a `yes` unless `force`.
pub fn run(globals: &Globals, lock_id: &str, force: bool) -> Result<Exit> {
    let desired = load_desired(globals)?;
    let store = store_for(globals, &desired)?;
    if !force {
        super::confirm::ask(
            "Do you really want to force-unlock?\n  certform will remove the lock on the state. Other commands can then change the\n  state, even though the process that holds the lock may still be using it.\n  Only 'yes' will be accepted to confirm.",
            "force-unlock needs confirmation: run it on a terminal, or pass --force.",
            "force-unlock cancelled; the lock is still held.",
        )?;
    }
    store.force_unlock(lock_id)?;
    println!("The state has been unlocked (lock {lock_id} removed).");
    Ok(Exit::Success)
}
