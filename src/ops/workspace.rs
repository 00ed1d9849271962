//! `certform workspace list|show|new|select|delete`, and which workspace a command uses:
//! `--workspace NAME`, else `CERTFORM_WORKSPACE` (clap reads both into one option), else
//! the one `workspace select` remembered in `<config dir>/.certform/workspace`, else
//! `default` — the same order as Terraform's `TF_WORKSPACE` and `.terraform/environment`.

use super::{load_desired, read_state, Exit, Globals};
use crate::error::{Error, Result};
use crate::state::store::check_workspace_name;
use crate::state::{open_store, StateStore, DEFAULT_WORKSPACE};
use std::path::PathBuf;
use std::time::Duration;

/// Where `workspace select` remembers its choice.
fn selection_file(globals: &Globals) -> PathBuf {
    globals.config_dir.join(".certform").join("workspace")
}

/// The workspace this command works on.
pub fn current(globals: &Globals) -> Result<String> {
    let name = match &globals.workspace {
        Some(name) => name.clone(),
        None => {
            let path = selection_file(globals);
            match std::fs::read_to_string(&path) {
                Ok(text) => text.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_WORKSPACE.to_string(),
                Err(e) => return Err(Error::io("Cannot read the selected workspace", &path, e)),
            }
        }
    };
    check_workspace_name(&name)?;
    Ok(name)
}

/// The configured backend's `default` workspace, from which every workspace is reached.
fn backend(globals: &Globals) -> Result<Box<dyn StateStore>> {
    let desired = load_desired(globals)?;
    open_store(&desired.state.backend, DEFAULT_WORKSPACE)
}

fn remember(globals: &Globals, name: &str) -> Result<()> {
    let path = selection_file(globals);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("Cannot create the directory", dir, e))?;
    }
    std::fs::write(&path, format!("{name}\n"))
        .map_err(|e| Error::io("Cannot remember the selected workspace", &path, e))
}

pub fn list(globals: &Globals) -> Result<Exit> {
    let current = current(globals)?;
    for name in backend(globals)?.workspaces()? {
        let mark = if name == current { '*' } else { ' ' };
        println!("{mark} {name}");
    }
    Ok(Exit::Success)
}

pub fn show(globals: &Globals) -> Result<Exit> {
    println!("{}", current(globals)?);
    Ok(Exit::Success)
}

pub fn new(globals: &Globals, name: &str) -> Result<Exit> {
    check_workspace_name(name)?;
    backend(globals)?.create_workspace(name)?;
    remember(globals, name)?;
    println!(
        "Created and switched to workspace {name:?}. It has no state yet: the next apply \
         issues everything its configuration declares."
    );
    Ok(Exit::Success)
}

pub fn select(globals: &Globals, name: &str) -> Result<Exit> {
    backend(globals)?.workspace(name)?;
    remember(globals, name)?;
    println!("Switched to workspace {name:?}.");
    if globals.workspace.as_deref().is_some_and(|w| w != name) {
        println!(
            "Note: --workspace or CERTFORM_WORKSPACE still selects {:?} for commands that set it.",
            globals.workspace.as_deref().unwrap_or_default()
        );
    }
    Ok(Exit::Success)
}

pub fn delete(globals: &Globals, name: &str, force: bool, lock_timeout: Duration) -> Result<Exit> {
    if name == DEFAULT_WORKSPACE {
        return Err(Error::Usage(
            "The default workspace cannot be deleted.".to_string(),
        ));
    }
    if current(globals)? == name {
        return Err(Error::Usage(format!(
            "The workspace {name:?} is the current one: select another first (certform workspace select default)."
        )));
    }
    let backend = backend(globals)?;
    let store = backend.workspace(name)?;
    let lock = store.lock("workspace delete", lock_timeout)?;
    if let Some(stored) = read_state(&*store)? {
        let tracked = stored.state.accounts.len() + stored.state.certificates.len();
        if tracked > 0 && !force {
            return Err(Error::Usage(format!(
                "The workspace {name:?} still tracks {tracked} resource(s) (certform --workspace \
                 {name} state list shows them). Deleting it forgets them, their certificates stay \
                 valid at the CA; pass --force if that is what you want."
            )));
        }
    }
    // The lock lives inside the workspace: release it before its objects are removed.
    drop(lock);
    backend.delete_workspace(name)?;
    println!("Deleted workspace {name:?}.");
    Ok(Exit::Success)
}
