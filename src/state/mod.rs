//! State: the model, its versioned on-disk format with split encryption (the only user of
//! `age`), identities, and the local backend with its lock.
//!
//! - [`model`]: [`State`] (public half) and [`Secrets`] (secret half).
//! - [`format`]: the JSON document; [`encode`] seals the secrets to every recipient,
//!   [`decode`] reads the public half without an identity, [`StoredState::open_secrets`]
//!   decrypts and checks the seal.
//! - [`auth`]: the per-lineage key, the MAC every document carries, and the key id pins.
//! - [`identity`]: where the age identity comes from and how it is parsed.
//! - [`store`]: the [`StateStore`] trait (get / compare-and-swap put / lock / workspaces)
//!   and the lock details every backend shares.
//! - [`seen`]: this machine's high-water record of each lineage, to refuse a rolled-back state.
//! - [`ari_cache`]: this machine's ARI windows, kept out of the sealed state.
//! - [`local`], [`postgres`], [`s3`]: the backends; the remote two drive their async
//!   clients from the synchronous trait through [`crate::runtime::block_on`].
//!
//! Backends deal in encoded bytes: everything above bytes lives in `format`, so the secret
//! half reaches every backend already age-encrypted.

pub mod ari_cache;
pub mod auth;
pub mod format;
pub mod identity;
pub mod local;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "s3")]
pub mod s3;
pub mod seen;
pub mod store;

pub use format::{decode, encode, Encoder, StoredState, MIN_FORMAT_VERSION};
pub use identity::{
    default_identity_path, generate_identity, load_identity, Identity, ENV_IDENTITY,
    ENV_IDENTITY_KEY,
};
pub use local::LocalStore;
pub use model::{
    AccountSecret, AccountState, CertificateSecret, CertificateState, DeployedFile, DeployedOutput,
    Secrets, State, FORMAT_VERSION,
};
pub use store::{LockInfo, StateLock, StateStore, DEFAULT_WORKSPACE};

use crate::desired::model::BackendSettings;
use crate::error::Result;

/// The configured backend, bound to `workspace` (which must exist, unless `default`).
pub fn open_store(backend: &BackendSettings, workspace: &str) -> Result<Box<dyn StateStore>> {
    match backend {
        BackendSettings::Local { path } => LocalStore::new(path.clone()).workspace(workspace),
        #[cfg(feature = "postgres")]
        BackendSettings::Postgres(settings) => Ok(Box::new(postgres::PostgresStore::connect(
            settings, workspace,
        )?)),
        #[cfg(feature = "s3")]
        BackendSettings::S3(settings) => Ok(Box::new(s3::S3Store::connect(settings, workspace)?)),
    }
}

/// Persists the state after every completed action: holds the store, its lock and the
/// recipients, so `apply` only passes the state and secrets.
pub struct Persister {
    store: Box<dyn StateStore>,
    lock: StateLock,
    recipients: Vec<String>,
    /// The serial now stored (`None`: no document yet), for compare-and-swap writes.
    stored_serial: Option<u64>,
    /// Keeps what the last write serialised, so the next serialises only what changed.
    encoder: format::Encoder,
    /// The last document written, while this machine's record does not name it yet.
    unrecorded: Option<Encoded>,
    /// When the record was last raised.
    last_recorded: Option<std::time::Instant>,
}

/// How often a long apply raises this machine's record of the lineage.
const SEEN_RECORD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A document encoded at the next serial, not yet written.
pub struct Encoded {
    lineage: uuid::Uuid,
    serial: u64,
    key_id: Option<String>,
    bytes: Vec<u8>,
}

impl Encoded {
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.record_sighting();
    }
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister")
            .field("store", &self.store.describe())
            .field("stored_serial", &self.stored_serial)
            .finish_non_exhaustive()
    }
}

impl Persister {
    /// `stored_serial` is the serial of the document read under `lock` (`None`: none yet).
    pub fn new(
        store: Box<dyn StateStore>,
        lock: StateLock,
        recipients: Vec<String>,
        stored_serial: Option<u64>,
    ) -> Self {
        Persister {
            store,
            lock,
            recipients,
            stored_serial,
            encoder: format::Encoder::default(),
            unrecorded: None,
            last_recorded: None,
        }
    }

    /// Increments the serial, encodes and writes atomically, refusing to overwrite a
    /// serial other than the one last read or written. On error the serial is left as it
    /// was, so the in-memory state still matches what is stored.
    pub fn persist(&mut self, state: &mut State, secrets: &Secrets) -> Result<()> {
        let snapshot = self.take_in(state, secrets)?;
        let next = self.encode_next(&snapshot)?;
        self.write(next)?;
        state.serial += 1;
        Ok(())
    }

    /// What the next document needs from `state` and `secrets`, which are only read: a
    /// caller that shares them takes this under its lock (it is quick: only changed
    /// certificates are serialised), then encodes and writes outside it.
    pub fn take_in(&mut self, state: &State, secrets: &Secrets) -> Result<format::Snapshot> {
        self.encoder.take_in(state, secrets)
    }

    /// The document of `snapshot` at the next serial, to [`Persister::write`].
    pub fn encode_next(&mut self, snapshot: &format::Snapshot) -> Result<Encoded> {
        let serial = snapshot.serial() + 1;
        let bytes = self
            .encoder
            .encode_snapshot(snapshot, serial, &self.recipients)?;
        Ok(Encoded {
            lineage: snapshot.lineage(),
            serial,
            key_id: snapshot
                .secrets()
                .state_key
                .as_ref()
                .map(auth::StateKey::id),
            bytes,
        })
    }

    /// Writes a document from [`Persister::encode_next`] (compare-and-swap on the serial
    /// last stored), then this machine's record of the lineage ([`seen`]). The record may
    /// lag the state by design; during an apply it is written at most once a second and
    /// when the persister is dropped, not after each of thousands of writes.
    pub fn write(&mut self, encoded: Encoded) -> Result<()> {
        self.store
            .put(&self.lock, self.stored_serial, &encoded.bytes)?;
        self.stored_serial = Some(encoded.serial);
        let due = self
            .last_recorded
            .is_none_or(|at| at.elapsed() >= SEEN_RECORD_INTERVAL);
        if let Some(superseded) = self.unrecorded.replace(encoded) {
            self.encoder.recycle(superseded.bytes);
        }
        if due {
            self.record_sighting();
        }
        Ok(())
    }

    /// Raises this machine's record of the lineage to the last document written.
    fn record_sighting(&mut self) {
        if let Some(written) = self.unrecorded.take() {
            seen::remember(
                written.lineage,
                written.serial,
                &written.bytes,
                self.store.describe(),
                written.key_id,
            );
            self.encoder.recycle(written.bytes);
            self.last_recorded = Some(std::time::Instant::now());
        }
    }

    pub fn store(&self) -> &dyn StateStore {
        &*self.store
    }

    pub fn lock(&self) -> &StateLock {
        &self.lock
    }

    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn persist_bumps_the_serial_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let backup_path = store.backup_path();
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let (identity, recipient) = format::tests::x25519_identity();
        let mut persister = Persister::new(Box::new(store), lock, vec![recipient], None);
        let (mut state, secrets) = format::tests::sample();
        state.serial = 0;
        let serial = state.serial;

        persister.persist(&mut state, &secrets).unwrap();
        assert_eq!(state.serial, serial + 1);
        persister.persist(&mut state, &secrets).unwrap();
        assert_eq!(state.serial, serial + 2);

        let stored = persister.store().read().unwrap().unwrap();
        assert_eq!(stored.state, state);
        assert_eq!(stored.open_secrets(&identity).unwrap(), secrets);
        let backup = decode(&std::fs::read(backup_path).unwrap()).unwrap();
        assert_eq!(backup.state.serial, serial + 1);
    }

    #[test]
    fn failed_persist_restores_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let mut persister = Persister::new(
            Box::new(store),
            lock,
            vec!["not-a-recipient".to_string()],
            None,
        );
        let (mut state, secrets) = format::tests::sample();
        let serial = state.serial;
        assert!(persister.persist(&mut state, &secrets).is_err());
        assert_eq!(state.serial, serial);
        assert!(persister.store().get().unwrap().is_none());
    }
}
