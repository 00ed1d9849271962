//! One file per command (the `state` subcommands by what they do: `show` views,
//! `state_surgery` edits, `state_transfer` moves whole states). This is the only place
//! that sequences the stages:
//! load config → lock → read state → refresh → diff → execute → persist → unlock.

pub mod apply;
pub mod ari;
pub mod confirm;
pub mod fmt;
pub mod force_unlock;
pub mod import;
pub mod init;
pub mod plan;
pub mod profiles;
pub mod revoke;
pub mod show;
pub mod state_surgery;
pub mod state_transfer;
pub mod validate;
pub mod version;
pub mod workspace;

use crate::config::SecretEnv;
use crate::desired::model::{Desired, StateSettings};
use crate::desired::{self, VarInputs};
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::plan::Observed;
use crate::render::Style;
use crate::state::auth::{self, Pin, PinSource, StateKey};
use crate::state::model::{Secrets, State};
use crate::state::seen::{SeenRecords, Sighting};
use crate::state::store::decode_stored;
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

/// How often a reader re-reads a state that moved on between its read and its rollback
/// check (a concurrent apply writes after every action).
const REREADS: usize = 10;

/// A state document as read, not yet checked against this machine's rollback record
/// ([`crate::state::seen`]). Its contents come out only through a check: [`ReadState::checked`]
/// for commands that leave the secrets sealed, [`ReadState::open`] for those that open them.
pub struct ReadState {
    stored: StoredState,
    bytes: Vec<u8>,
    sighting: Sighting,
}

impl ReadState {
    /// Reads the workspace's document (`None` before the first write).
    pub fn read(store: &dyn StateStore) -> Result<Option<ReadState>> {
        let Some(bytes) = store.get()? else {
            return Ok(None);
        };
        let stored = decode_stored(&bytes, store.describe())?;
        let sighting = Sighting::of(&stored.state, &bytes, store.describe());
        Ok(Some(ReadState {
            stored,
            bytes,
            sighting,
        }))
    }

    /// The public half before the check, for checks that must come first (a saved plan's
    /// freshness names the serial it expected).
    pub fn state(&self) -> &State {
        &self.stored.state
    }

    /// The checked document and its bytes. Read without the lock, the state may have moved
    /// on (and the record with it) since this read: then the newer document is checked.
    pub fn checked(self, store: &dyn StateStore) -> Result<(StoredState, Vec<u8>)> {
        let (mut read, mut rereads) = (self, 0);
        loop {
            let refusal = match SeenRecords::for_this_user().check(&read.sighting) {
                Ok(()) => return Ok((read.stored, read.bytes)),
                Err(refusal) => refusal,
            };
            match ReadState::read(store)? {
                Some(again) if again.bytes != read.bytes && rereads < REREADS => {
                    read = again;
                    rereads += 1;
                }
                _ => return Err(refusal),
            }
        }
    }

    /// Opens the secrets and authenticates the document: its seal and MAC (a tampered
    /// document is reported as such before a rollback or fork is), then its state key
    /// against the pins: `key_id` in the configuration and this machine's record. Only
    /// then does the rollback record move. A state written before states were
    /// authenticated gets its key here, so its next write carries a MAC. For commands
    /// holding the lock, so nothing moves.
    pub fn open(self, identity: &Identity, settings: &StateSettings) -> Result<(State, Secrets)> {
        let mut secrets = self.stored.open_secrets(identity)?;
        let records = SeenRecords::for_this_user();
        let pins: Vec<Pin> = config_pin(settings)
            .into_iter()
            .chain(records.pin(self.stored.state.lineage))
            .collect();
        let key_id = secrets.state_key.as_ref().map(StateKey::id);
        auth::check_pins(key_id.as_deref(), &pins, &self.sighting.location)?;
        records.check_location(&self.sighting)?;
        records.check_and_raise(&self.sighting.clone().with_key_id(key_id))?;
        if secrets.state_key.is_none() {
            tracing::warn!(
                "The state {} carries no authentication key (it was written by an older certform); its next write adds one.",
                self.sighting.location
            );
            secrets.state_key = Some(StateKey::generate());
        }
        Ok((self.stored.state, secrets))
    }

    /// [`ReadState::open`], or a new empty state with a new key when there is none yet.
    /// With a `key_id` pinned in the configuration there must be a state: a missing one
    /// was deleted or the backend is wrong, and starting afresh would forget every
    /// certificate and key.
    pub fn open_or_new(
        read: Option<ReadState>,
        identity: &Identity,
        settings: &StateSettings,
        location: &str,
    ) -> Result<(State, Secrets)> {
        match read {
            Some(read) => read.open(identity, settings),
            None => match &settings.key_id {
                Some(key_id) => Err(Error::State(format!(
                    "There is no state at {location}, but the configuration pins key_id = \"{key_id}\": \
                     the state was deleted or moved, or the backend settings are wrong. Nothing was \
                     changed. Restore the state, or remove key_id to start a new one."
                ))),
                None => Ok((
                    State::new(),
                    Secrets {
                        state_key: Some(StateKey::generate()),
                        ..Secrets::default()
                    },
                )),
            },
        }
    }
}

/// The configuration's `key_id`, as a pin.
fn config_pin(settings: &StateSettings) -> Option<Pin> {
    settings.key_id.clone().map(|key_id| Pin {
        key_id,
        source: PinSource::Configuration,
    })
}

/// The public half of state, checked, or `None` before the first apply.
pub fn read_state(store: &dyn StateStore) -> Result<Option<StoredState>> {
    ReadState::read(store)?
        .map(|read| read.checked(store).map(|(stored, _)| stored))
        .transpose()
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

/// Looks at every output file the configuration names, reads back what remote outputs
/// delivered, and fetches the CA's ARI renewal windows.
pub fn refresh(desired: &Desired, state: &State) -> Observed {
    let mut observed = observe_files(desired);
    observed.remote = crate::deploy::remote::observe_blocking(desired, state);
    observed.ari = ari::refresh(desired, state, time::OffsetDateTime::now_utc());
    observed.persist_issuers = crate::refresh::persist::issuers(desired);
    for warning in crate::refresh::persist::check_records_elsewhere(desired, state) {
        eprintln!("warning: {warning}");
    }
    observed
}

/// Looks at every output file the configuration names. Paths that only the state names are
/// never read: anyone who can write the state could point them anywhere, and drift is
/// only found on files the configuration still writes.
fn observe_files(desired: &Desired) -> Observed {
    let wanted = desired
        .certificates
        .values()
        .flat_map(|c| c.outputs.iter())
        .flat_map(|o| o.files().into_iter().map(|(_, path, _)| path.as_path()));
    crate::deploy::observe(wanted.collect::<std::collections::BTreeSet<&Path>>())
}

/// Parses `30s`, `15m`, `1h30m` for command-line flags.
pub fn parse_flag_duration(text: &str, flag: &str) -> Result<std::time::Duration> {
    crate::config::duration::parse_duration(text)
        .map_err(|why| Error::Usage(format!("--{flag}: {why}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::format::tests::{sample, x25519_identity};
    use crate::state::{encode, LocalStore};
    use std::time::Duration;

    /// A state at serial 1 in a local store, and a writer that moves it on as apply does.
    fn store_with_writer() -> (tempfile::TempDir, LocalStore, impl Fn(&LocalStore, u64)) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.certstate"));
        let (_, recipient) = x25519_identity();
        let (state, secrets) = sample();
        let write = move |store: &LocalStore, serial: u64| {
            let state = State {
                serial,
                ..state.clone()
            };
            let bytes = encode(&state, &secrets, std::slice::from_ref(&recipient)).unwrap();
            let lock = store.lock("test", Duration::ZERO).unwrap();
            let previous = store.get().unwrap().map(|_| serial - 1);
            store.put(&lock, previous, &bytes).unwrap();
            crate::state::seen::remember_written(&state, &bytes, store.describe(), None);
        };
        write(&store, 1);
        (dir, store, write)
    }

    #[test]
    fn a_reader_overtaken_by_a_writer_reads_again_instead_of_refusing() {
        let (_dir, store, write) = store_with_writer();
        let read = ReadState::read(&store).unwrap().unwrap();
        // An apply writes serial 2 (and records it) between this read and its check.
        write(&store, 2);
        let (stored, bytes) = read.checked(&store).unwrap();
        assert_eq!(stored.state.serial, 2);
        assert_eq!(Some(bytes), store.get().unwrap());
    }

    #[test]
    fn an_older_document_still_in_place_is_refused() {
        let (_dir, store, write) = store_with_writer();
        let older = store.get().unwrap().unwrap();
        write(&store, 2);
        read_state(&store).unwrap();
        // The older document is put back in place.
        let lock = store.lock("test", Duration::ZERO).unwrap();
        store.put(&lock, Some(2), &older).unwrap();
        drop(lock);
        let message = read_state(&store).unwrap_err().to_string();
        assert!(
            message.contains("it is at serial 1, but serial 2"),
            "{message}"
        );
    }
}
