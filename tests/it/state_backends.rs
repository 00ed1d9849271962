//! The `StateStore` conformance suite, run against every backend: local (a temp dir),
//! postgres (a private cluster) and s3 (moto), each started by its test. One function
//! states what any backend must do; each backend test only says how to open a store.

use crate::support;

use certform::desired::model::{PostgresSettings, S3Settings};
use certform::secret::Sensitive;
use certform::state::model::{AccountSecret, Secrets, State};
use certform::state::postgres::PostgresStore;
use certform::state::s3::S3Store;
use certform::state::{encode, LocalStore, StateStore};
use certform::Error;
use std::time::{Duration, Instant};
use support::backend_servers::{MotoS3, Postgres};

const KEY_TEXT: &str =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n";

/// Encoded documents of one lineage at serials 0 to 4, secrets sealed to a fresh key
/// (encoded once each: encryption is randomised).
struct Documents {
    state: State,
    encoded: Vec<Vec<u8>>,
}

impl Documents {
    fn new() -> Documents {
        let dir = tempfile::tempdir().unwrap();
        let recipient = certform::state::generate_identity(&dir.path().join("id.txt")).unwrap();
        let state = State::new();
        let mut secrets = Secrets::default();
        secrets.accounts.insert(
            "le".into(),
            AccountSecret {
                credentials: Sensitive::new(KEY_TEXT),
            },
        );
        let encoded = (0..5)
            .map(|serial| {
                let mut state = state.clone();
                state.serial = serial;
                encode(&state, &secrets, std::slice::from_ref(&recipient)).unwrap()
            })
            .collect();
        Documents { state, encoded }
    }

    fn at(&self, serial: u64) -> Vec<u8> {
        self.encoded[serial as usize].clone()
    }
}

/// What every backend must do. `open` gives a new handle on the same backend, as another
/// process would have (a new connection, a new file descriptor).
fn conformance(open: &dyn Fn() -> Box<dyn StateStore>) {
    let docs = Documents::new();
    let a = open();
    let b = open();
    assert!(a.get().unwrap().is_none(), "a new backend has no state");
    assert!(a.read().unwrap().is_none());
    assert!(a.lock_info().unwrap().is_none());
    assert_eq!(a.workspaces().unwrap(), ["default"]);

    // Writes are compare-and-swap on the serial.
    let lock = a.lock("apply", Duration::ZERO).unwrap();
    a.put(&lock, None, &docs.at(1)).unwrap();
    assert_eq!(b.get().unwrap().unwrap(), docs.at(1));
    a.put(&lock, Some(1), &docs.at(2)).unwrap();
    for stale in [None, Some(1), Some(3)] {
        let err = a.put(&lock, stale, &docs.at(3)).unwrap_err().to_string();
        assert!(err.contains("changed underneath"), "{stale:?}: {err}");
    }
    let stored = b.read().unwrap().unwrap();
    assert_eq!(stored.state.serial, 2, "a refused write changes nothing");
    assert_eq!(stored.state.lineage, docs.state.lineage);

    // No private key reaches the backend: the secret half is age ciphertext.
    let raw = String::from_utf8(b.get().unwrap().unwrap()).unwrap();
    assert!(raw.contains("BEGIN AGE ENCRYPTED FILE"), "{raw}");
    assert!(!raw.contains("PRIVATE KEY"), "{raw}");

    // A second holder waits for the timeout, then is told who holds the lock.
    let started = Instant::now();
    let err = b.lock("plan", Duration::from_millis(300)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    match &err {
        Error::Locked { holder } => {
            assert!(
                holder.starts_with(&format!("ID {}, operation apply, who ", lock.id())),
                "{holder}"
            );
            assert!(holder.contains(&format!(", pid {}, since ", std::process::id())));
        }
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    assert_eq!(b.lock_info().unwrap().as_ref(), Some(lock.info()));

    // force-unlock needs the current ID; the old holder can no longer write.
    let err = b.force_unlock("1234").unwrap_err().to_string();
    assert!(err.contains("\"1234\" does not match"), "{err}");
    assert!(
        err.contains(&format!("certform force-unlock {}", lock.id())),
        "{err}"
    );
    b.force_unlock(lock.id()).unwrap();
    assert!(
        a.put(&lock, Some(2), &docs.at(3)).is_err(),
        "a force-unlocked holder must not write"
    );
    let relock = b.lock("apply", Duration::from_secs(2)).unwrap();
    b.put(&relock, Some(2), &docs.at(3)).unwrap();
    drop(lock);
    assert_eq!(
        b.lock_info().unwrap().map(|i| i.id),
        Some(relock.id().to_string()),
        "dropping a force-unlocked guard leaves the new holder alone"
    );
    drop(relock);
    assert!(
        b.lock_info().unwrap().is_none(),
        "dropping the guard unlocks"
    );
    let err = b.force_unlock("x").unwrap_err().to_string();
    assert!(err.contains("is not locked"), "{err}");

    // Workspaces: independent states with their own locks.
    let c = open();
    c.create_workspace("staging").unwrap();
    let err = c.create_workspace("staging").unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert!(c.create_workspace("no/slash").is_err());
    assert_eq!(c.workspaces().unwrap(), ["default", "staging"]);
    let staging = c.workspace("staging").unwrap();
    assert!(
        staging.get().unwrap().is_none(),
        "a new workspace has no state"
    );
    let default_lock = c.lock("apply", Duration::ZERO).unwrap();
    let staging_lock = staging.lock("apply", Duration::ZERO).unwrap();
    staging.put(&staging_lock, None, &docs.at(1)).unwrap();
    assert!(
        c.put(&staging_lock, Some(3), &docs.at(4)).is_err(),
        "one workspace's lock does not write another"
    );
    assert_eq!(c.read().unwrap().unwrap().state.serial, 3);
    assert_eq!(staging.read().unwrap().unwrap().state.serial, 1);
    drop((default_lock, staging_lock));
    let err = c
        .workspace("nope")
        .err()
        .expect("no such workspace")
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    c.delete_workspace("staging").unwrap();
    assert_eq!(open().workspaces().unwrap(), ["default"]);
}

#[test]
fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/default.certstate");
    conformance(&|| Box::new(LocalStore::new(path.clone())));
}

fn postgres_settings(pg: &Postgres, schema: &str) -> PostgresSettings {
    PostgresSettings {
        conn_str: Sensitive::new(pg.url()),
        schema: schema.to_string(),
        ca_bundle: None,
        allow_insecure_transport: true,
    }
}

#[test]
fn postgres_store_conforms() {
    let pg = Postgres::start();
    let settings = postgres_settings(&pg, "certform");
    conformance(&|| Box::new(PostgresStore::connect(&settings, "default").unwrap()));
}

#[test]
fn postgres_schemas_are_separate_states() {
    let pg = Postgres::start();
    let docs = Documents::new();
    let team_a = PostgresStore::connect(&postgres_settings(&pg, "team_a"), "default").unwrap();
    let team_b = PostgresStore::connect(&postgres_settings(&pg, "team_b"), "default").unwrap();
    let lock_a = team_a.lock("apply", Duration::ZERO).unwrap();
    let lock_b = team_b
        .lock("apply", Duration::ZERO)
        .expect("schemas lock separately");
    team_a.put(&lock_a, None, &docs.at(4)).unwrap();
    assert!(team_b.get().unwrap().is_none());
    drop(lock_b);
}

#[test]
fn postgres_connection_errors_never_show_the_password() {
    let settings = PostgresSettings {
        conn_str: Sensitive::new("postgres://alice:hunter2@127.0.0.1:1/db?connect_timeout=2"),
        schema: "certform".into(),
        ca_bundle: None,
        allow_insecure_transport: false,
    };
    let err = PostgresStore::connect(&settings, "default")
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(
        err.starts_with("Cannot connect to the postgres state backend at alice@127.0.0.1:1/db"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

fn s3_settings(moto: &MotoS3, encryption: Option<&str>) -> S3Settings {
    for (name, value) in MotoS3::aws_env() {
        std::env::set_var(name, value);
    }
    S3Settings {
        bucket: moto.bucket.clone(),
        key: "tls/default.certstate".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint()),
        use_path_style: true,
        workspace_key_prefix: "env:".into(),
        server_side_encryption: encryption.map(str::to_string),
        kms_key_id: None,
        allow_insecure_transport: true,
    }
}

#[test]
fn s3_store_conforms() {
    let moto = MotoS3::start();
    let settings = s3_settings(&moto, None);
    conformance(&|| Box::new(S3Store::connect(&settings, "default").unwrap()));
}

#[test]
fn s3_objects_are_laid_out_like_terraform_and_encrypted_at_rest() {
    let moto = MotoS3::start();
    let settings = s3_settings(&moto, Some("AES256"));
    let docs = Documents::new();
    let store = S3Store::connect(&settings, "default").unwrap();
    store.create_workspace("prod").unwrap();
    let prod = store.workspace("prod").unwrap();
    assert_eq!(
        prod.describe(),
        "s3://certform-state/env:/prod/tls/default.certstate"
    );
    let lock_key = "env:/prod/tls/default.certstate.lock";
    let lock = prod.lock("apply", Duration::ZERO).unwrap();
    assert!(
        moto.head(lock_key).is_some(),
        "the lock is an object next to the state"
    );
    prod.put(&lock, None, &docs.at(1)).unwrap();
    assert_eq!(
        moto.head("env:/prod/tls/default.certstate"),
        Some(Some("AES256".to_string())),
        "the state is written with server-side encryption"
    );
    drop(lock);
    assert_eq!(
        moto.head(lock_key),
        None,
        "unlocking deletes the lock object"
    );
}
