//! State: the model, its versioned on-disk format with split encryption (the only user of
//! `age`), identities, and the local backend with its lock.
//!
//! - [`model`]: [`State`] (public half) and [`Secrets`] (secret half).
//! - [`format`]: the JSON document; [`encode`] seals the secrets to every recipient,
//!   [`decode`] reads the public half without an identity, [`StoredState::open_secrets`]
//!   decrypts and checks the seal.
//! - [`identity`]: where the age identity comes from and how it is parsed.
//! - [`local`]: the `local` backend: atomic writes with a backup and an OS file lock.
//!
//! `LocalStore`'s `read_bytes` / `write` / `lock` / `force_unlock` are the shape a future
//! `StateStore` trait (postgres, s3) takes; everything above bytes lives in `format`.

pub mod format;
pub mod identity;
pub mod local;
pub mod model;

pub use format::{decode, encode, StoredState, MIN_FORMAT_VERSION};
pub use identity::{
    default_identity_path, generate_identity, load_identity, Identity, ENV_IDENTITY,
    ENV_IDENTITY_KEY,
};
pub use local::{LocalStore, LockInfo, StateLock};
pub use model::{
    AccountSecret, AccountState, CertificateSecret, CertificateState, DeployedFile, DeployedOutput,
    Secrets, State, FORMAT_VERSION,
};

use crate::error::Result;

/// Persists the state after every completed action: holds the store, its lock and the
/// recipients, so `apply` only passes the state and secrets.
#[derive(Debug)]
pub struct Persister {
    store: LocalStore,
    lock: StateLock,
    recipients: Vec<String>,
}

impl Persister {
    pub fn new(store: LocalStore, lock: StateLock, recipients: Vec<String>) -> Self {
        Persister {
            store,
            lock,
            recipients,
        }
    }

    /// Increments the serial, encodes and writes atomically. On error the serial is
    /// restored, so the in-memory state still matches what is on disk.
    pub fn persist(&self, state: &mut State, secrets: &Secrets) -> Result<()> {
        let previous = state.serial;
        state.serial += 1;
        let result = encode(state, secrets, &self.recipients)
            .and_then(|bytes| self.store.write(&self.lock, &bytes));
        if result.is_err() {
            state.serial = previous;
        }
        result
    }

    pub fn store(&self) -> &LocalStore {
        &self.store
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
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let (identity, recipient) = format::tests::x25519_identity();
        let persister = Persister::new(store, lock, vec![recipient]);
        let (mut state, secrets) = format::tests::sample();
        let serial = state.serial;

        persister.persist(&mut state, &secrets).unwrap();
        assert_eq!(state.serial, serial + 1);
        persister.persist(&mut state, &secrets).unwrap();
        assert_eq!(state.serial, serial + 2);

        let stored = persister.store().read().unwrap().unwrap();
        assert_eq!(stored.state, state);
        assert_eq!(stored.open_secrets(&identity).unwrap(), secrets);
        let backup = decode(&std::fs::read(persister.store().backup_path()).unwrap()).unwrap();
        assert_eq!(backup.state.serial, serial + 1);
    }

    #[test]
    fn failed_persist_restores_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let persister = Persister::new(store, lock, vec!["not-a-recipient".to_string()]);
        let (mut state, secrets) = format::tests::sample();
        let serial = state.serial;
        assert!(persister.persist(&mut state, &secrets).is_err());
        assert_eq!(state.serial, serial);
        assert!(persister.store().read_bytes().unwrap().is_none());
    }
}
