//! One file per command. This is the only place that sequences the stages:
//! load config → lock → read state → refresh → diff → execute → persist → unlock.

pub mod apply;
pub mod ari;
pub mod fmt;
pub mod import;
pub mod init;
pub mod plan;
pub mod revoke;
pub mod show;
pub mod state_surgery;
pub mod state_transfer;
pub mod validate;
pub mod workspace;

use crate::config::SecretEnv;
use crate::desired::model::Desired;
use crate::desired::{self, VarInputs};
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::plan::Observed;
use crate::render::Style;
use crate::state::model::State;
use crate::state::{Identity, StateStore, StoredState};
use std::path::{Path, PathBuf};

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Globals {
    pub config_dir: PathBuf,
    pub vars: VarInputs,
    pub style: Style,
    pub identity: Option<PathBuf>,
    pub quiet: bool,
    /// `--workspace` / `CERTFORM_WORKSPACE`; else the one `workspace select` chose.
    pub workspace: Option<String>,
}

/// What a command asks `main` to exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// `--detailed-exitcode` and there are changes.
    Changes,
    /// `fmt --check` found a file that is not formatted.
    Unformatted,
}

/// Loads and validates the configuration for a command that uses no configured secret
/// (TSIG secrets, EAB keys may come from unset variables); diagnostics become one
/// rendered error.
pub fn load_desired(globals: &Globals) -> Result<Desired> {
    load_with(globals, SecretEnv::MayBeUnset)
}

/// Loads the configuration for `apply`, which needs every configured secret.
pub fn load_desired_for_apply(globals: &Globals) -> Result<Desired> {
    load_with(globals, SecretEnv::Required)
}

fn load_with(globals: &Globals, secret_env: SecretEnv) -> Result<Desired> {
    desired::load(&globals.config_dir, &globals.vars, secret_env)
        .map_err(|diagnostics| config_error(globals, &diagnostics))
}

/// Configuration diagnostics as one rendered error.
pub fn config_error(globals: &Globals, diagnostics: &Diagnostics) -> Error {
    Error::Config {
        count: diagnostics.len(),
        rendered: crate::render::diagnostics::render_diagnostics(diagnostics, globals.style.color),
    }
}

/// The configured backend, bound to the current workspace.
pub fn store_for(globals: &Globals, desired: &Desired) -> Result<Box<dyn StateStore>> {
    crate::state::open_store(&desired.state.backend, &workspace::current(globals)?)
}

/// The public half of state, or `None` before the first apply.
pub fn read_state(store: &dyn StateStore) -> Result<Option<StoredState>> {
    store.read()
}

/// Who the state is encrypted to: the configured recipients, else the identity's own.
pub fn recipients_for(desired: &Desired, identity: &Identity) -> Result<Vec<String>> {
    if !desired.state.recipients.is_empty() {
        return Ok(desired.state.recipients.clone());
    }
    let recipient = identity.recipient().ok_or_else(|| {
        Error::Identity(format!(
            "The state has no recipients: add `recipients = [\"age1...\"]` to certform {{ state {{ }} }}, or use an X25519 identity ({} holds none).",
            identity.source()
        ))
    })?;
    Ok(vec![recipient])
}

/// Looks at every output file the configuration or the state names, and fetches the CA's
/// ARI renewal windows.
pub fn refresh(desired: &Desired, state: &State) -> Observed {
    let mut observed = observe_files(desired, state);
    observed.ari = ari::refresh(desired, state, time::OffsetDateTime::now_utc());
    observed
}

/// Looks at every output file the configuration or the state names.
fn observe_files(desired: &Desired, state: &State) -> Observed {
    let wanted = desired
        .certificates
        .values()
        .flat_map(|c| c.outputs.iter())
        .flat_map(|o| o.files().into_iter().map(|(_, path, _)| path.as_path()));
    let deployed = state
        .certificates
        .values()
        .flat_map(|c| c.outputs.values())
        .flat_map(|o| o.files.iter().map(|f| f.path.as_path()));
    crate::deploy::observe(
        wanted
            .chain(deployed)
            .collect::<std::collections::BTreeSet<&Path>>(),
    )
}

/// Parses `30s`, `15m`, `2h`, `1d` for command-line flags.
pub fn parse_flag_duration(text: &str, flag: &str) -> Result<std::time::Duration> {
    crate::config::duration::parse_duration(text).map_err(|why| {
        Error::Usage(format!(
            "--{flag} {text:?} is not a duration: {why} (write it like 30s, 5m or 1h)"
        ))
    })
}
