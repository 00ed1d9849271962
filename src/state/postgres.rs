//! The `postgres` backend (the only user of `tokio-postgres`): a `states` table per schema
//! with one row per workspace, compare-and-swap writes on the `serial` column, and a
//! *session* advisory lock per workspace, so a killed process releases its lock the moment
//! its connection closes. The holder's details sit in a `locks` table next to it; they
//! count only while the advisory lock is really held.
//!
//! The connection string may hold a password: it is parsed once and never printed; messages
//! name `user@host:port/dbname` only. TLS uses rustls with the web PKI roots plus an optional
//! `ca_bundle`, and the server's certificate is always verified. Over TCP, TLS is required:
//! no `sslmode` means `require` here (libpq's `prefer` falls back to plaintext and would send
//! the password in clear), and `sslmode=prefer` or `disable` is refused unless the state
//! block sets `allow_insecure_transport = true` ([`check_transport`]). A Unix socket is
//! local and keeps its mode.

use super::store::{
    check_unlock_id, check_workspace_name, document_serial, lock_lost, locked_by,
    no_such_workspace, ordered_workspaces, serial_moved, LockInfo, StateLock, StateStore,
    DEFAULT_WORKSPACE, LOCK_RETRY,
};
use crate::desired::model::PostgresSettings;
use crate::error::{Error, Result};
use crate::secret::Sensitive;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::config::{Host, SslMode};

/// First key of every certform advisory lock ("cert"), so they are easy to spot in
/// `pg_locks` and do not collide with other applications' single-key locks.
const LOCK_CLASS: i32 = 0x6365_7274;
/// Second key of the lock that serialises creating the tables.
const SETUP_LOCK: i32 = 0;

/// One connection (one session) shared by the workspaces of a backend.
struct Connection {
    client: tokio_postgres::Client,
    schema: String,
    /// `user@host:port/dbname`, for messages.
    target: String,
}

pub struct PostgresStore {
    connection: Arc<Connection>,
    workspace: String,
}

/// The lock as a `StateLock` carries it; dropping it unlocks the session lock.
struct PgGuard {
    connection: Arc<Connection>,
    workspace: String,
    id: String,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        let connection = &self.connection;
        let (_, key) = lock_keys(&connection.schema, &self.workspace);
        // Best effort: if this fails the session ends with the process anyway.
        let _ = crate::runtime::block_on(async {
            connection
                .client
                .execute(
                    &connection.sql("DELETE FROM {locks} WHERE name = $1 AND id = $2"),
                    &[&self.workspace, &self.id],
                )
                .await?;
            connection
                .client
                .execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key])
                .await
        });
    }
}

impl Connection {
    /// `template` with `{states}` and `{locks}` replaced by the schema's tables.
    fn sql(&self, template: &str) -> String {
        template
            .replace("{states}", &format!("\"{}\".states", self.schema))
            .replace("{locks}", &format!("\"{}\".locks", self.schema))
    }

    fn error(&self, what: &str, error: tokio_postgres::Error) -> Error {
        let detail = match error.as_db_error() {
            Some(db) => db.message().to_string(),
            None => error.to_string(),
        };
        Error::State(format!("PostgreSQL {}: {what}: {detail}", self.target))
    }

    fn describe(&self, workspace: &str) -> String {
        format!(
            "postgres {} schema {:?} workspace {workspace:?}",
            self.target, self.schema
        )
    }
}

/// The two keys of a workspace's advisory lock.
fn lock_keys(schema: &str, workspace: &str) -> (i32, i32) {
    let digest = Sha256::digest(format!("{schema}/{workspace}").as_bytes());
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // Never the setup lock's key.
    (LOCK_CLASS, if key == SETUP_LOCK { 1 } else { key })
}

impl PostgresStore {
    /// Connects, creates the schema and its tables if missing, and binds `workspace`.
    pub fn connect(settings: &PostgresSettings, workspace: &str) -> Result<PostgresStore> {
        check_workspace_name(workspace)?;
        let mut config: tokio_postgres::Config =
            settings.conn_str.expose().parse().map_err(|e| {
                Error::Usage(format!(
                    "The postgres backend's conn_str is not a valid connection string ({e})."
                ))
            })?;
        let target = target_of(&config);
        if let Transport::UpgradeToRequire = transport(
            &config,
            settings.conn_str.expose(),
            settings.allow_insecure_transport,
        )
        .map_err(Error::Usage)?
        {
            config.ssl_mode(SslMode::Require);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(settings)?);
        let (client, connection) = crate::runtime::block_on(config.connect(tls)).map_err(|e| {
            Error::State(format!(
                "Cannot connect to the postgres state backend at {target}: {}",
                crate::error::error_chain(&e)
            ))
        })?;
        crate::runtime::spawn(async move {
            let _ = connection.await;
        });
        let connection = Connection {
            client,
            schema: settings.schema.clone(),
            target,
        };
        let setup = connection.sql(&format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock({LOCK_CLASS}, {SETUP_LOCK});
             CREATE SCHEMA IF NOT EXISTS \"{}\";
             CREATE TABLE IF NOT EXISTS {{states}} (
               name text PRIMARY KEY,
               serial bigint,
               data text,
               updated_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE IF NOT EXISTS {{locks}} (
               name text PRIMARY KEY,
               id text NOT NULL,
               info text NOT NULL);
             COMMIT;",
            settings.schema
        ));
        crate::runtime::block_on(connection.client.batch_execute(&setup))
            .map_err(|e| connection.error("cannot create the state tables", e))?;
        let store = PostgresStore {
            connection: Arc::new(connection),
            workspace: DEFAULT_WORKSPACE.to_string(),
        };
        if workspace == DEFAULT_WORKSPACE {
            Ok(store)
        } else {
            store.bind(workspace)
        }
    }

    fn bind(&self, workspace: &str) -> Result<PostgresStore> {
        check_workspace_name(workspace)?;
        let store = PostgresStore {
            connection: self.connection.clone(),
            workspace: workspace.to_string(),
        };
        if workspace != DEFAULT_WORKSPACE && !store.row_exists()? {
            return Err(no_such_workspace(workspace, &self.describe()));
        }
        Ok(store)
    }

    fn row_exists(&self) -> Result<bool> {
        let c = &self.connection;
        let rows = crate::runtime::block_on(c.client.query(
            &c.sql("SELECT 1 FROM {states} WHERE name = $1"),
            &[&self.workspace],
        ))
        .map_err(|e| c.error("cannot read the workspaces", e))?;
        Ok(!rows.is_empty())
    }

    fn stored_serial(&self) -> Result<Option<u64>> {
        let c = &self.connection;
        let rows = crate::runtime::block_on(c.client.query(
            &c.sql("SELECT serial FROM {states} WHERE name = $1 AND data IS NOT NULL"),
            &[&self.workspace],
        ))
        .map_err(|e| c.error("cannot read the state's serial", e))?;
        Ok(rows
            .first()
            .and_then(|row| row.get::<_, Option<i64>>(0))
            .map(|serial| serial as u64))
    }
}

impl StateStore for PostgresStore {
    fn describe(&self) -> String {
        self.connection.describe(&self.workspace)
    }

    fn get(&self) -> Result<Option<Vec<u8>>> {
        let c = &self.connection;
        let rows = crate::runtime::block_on(c.client.query(
            &c.sql("SELECT data FROM {states} WHERE name = $1"),
            &[&self.workspace],
        ))
        .map_err(|e| c.error("cannot read the state", e))?;
        Ok(rows
            .first()
            .and_then(|row| row.get::<_, Option<String>>(0))
            .map(String::into_bytes))
    }

    fn put(&self, lock: &StateLock, expected_serial: Option<u64>, bytes: &[u8]) -> Result<()> {
        let guard: &PgGuard = lock.guard()?;
        if !Arc::ptr_eq(&guard.connection, &self.connection) || guard.workspace != self.workspace {
            return Err(Error::Bug(format!(
                "writing {} with the lock of workspace {:?}",
                self.describe(),
                guard.workspace
            )));
        }
        let serial = document_serial(bytes)? as i64;
        let data = std::str::from_utf8(bytes)
            .map_err(|_| Error::Bug("the encoded state is not UTF-8".into()))?;
        let c = &self.connection;
        let written = crate::runtime::block_on(async {
            let held = c
                .client
                .query(
                    &c.sql("SELECT 1 FROM {locks} WHERE name = $1 AND id = $2"),
                    &[&self.workspace, &guard.id],
                )
                .await?;
            if held.is_empty() {
                return Ok(None);
            }
            let rows = match expected_serial {
                Some(expected) => {
                    let sql = "UPDATE {states} SET serial = $2, data = $3, updated_at = now() \
                               WHERE name = $1 AND serial = $4 AND data IS NOT NULL";
                    c.client
                        .execute(
                            &c.sql(sql),
                            &[&self.workspace, &serial, &data, &(expected as i64)],
                        )
                        .await?
                }
                None => {
                    // A workspace made by `workspace new` has a row without data.
                    let sql = "INSERT INTO {states} (name, serial, data) VALUES ($1, $2, $3) \
                               ON CONFLICT (name) DO UPDATE SET serial = excluded.serial, \
                               data = excluded.data, updated_at = now() WHERE {states}.data IS NULL";
                    c.client
                        .execute(&c.sql(sql), &[&self.workspace, &serial, &data])
                        .await?
                }
            };
            Ok(Some(rows))
        });
        match written.map_err(|e| c.error("cannot write the state", e))? {
            None => Err(lock_lost(lock, &self.describe())),
            Some(1) => Ok(()),
            Some(_) => Err(serial_moved(
                expected_serial,
                self.stored_serial()?,
                &self.describe(),
            )),
        }
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock> {
        let c = &self.connection;
        let (class, key) = lock_keys(&c.schema, &self.workspace);
        let deadline = Instant::now() + timeout;
        loop {
            let acquired: bool = crate::runtime::block_on(
                c.client
                    .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&class, &key]),
            )
            .map_err(|e| c.error("cannot take the state lock", e))?
            .get(0);
            if acquired {
                let info = LockInfo::new(operation);
                let guard = PgGuard {
                    connection: c.clone(),
                    workspace: self.workspace.clone(),
                    id: info.id.clone(),
                };
                let details = String::from_utf8(info.to_json()).expect("JSON is UTF-8");
                let sql = "INSERT INTO {locks} (name, id, info) VALUES ($1, $2, $3) \
                           ON CONFLICT (name) DO UPDATE SET id = excluded.id, info = excluded.info";
                crate::runtime::block_on(
                    c.client
                        .execute(&c.sql(sql), &[&self.workspace, &info.id, &details]),
                )
                .map_err(|e| c.error("cannot record the lock holder", e))?;
                return Ok(StateLock::new(info, guard));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(locked_by(self.lock_info()?, &self.describe()));
            }
            std::thread::sleep(LOCK_RETRY.min(deadline - now));
        }
    }

    fn lock_info(&self) -> Result<Option<LockInfo>> {
        let c = &self.connection;
        let (class, key) = lock_keys(&c.schema, &self.workspace);
        // Details left by a killed process describe no lock: its session ended.
        let sql = "SELECT l.info FROM {locks} l WHERE l.name = $1 AND EXISTS (\
                     SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted \
                     AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND p.classid::bigint = $2 AND p.objid::bigint = $3 AND p.objsubid = 2)";
        let rows = crate::runtime::block_on(c.client.query(
            &c.sql(sql),
            &[&self.workspace, &unsigned(class), &unsigned(key)],
        ))
        .map_err(|e| c.error("cannot read the lock holder", e))?;
        Ok(rows
            .first()
            .and_then(|row| serde_json::from_str(row.get::<_, &str>(0)).ok()))
    }

    fn force_unlock(&self, id: &str) -> Result<()> {
        check_unlock_id(self.lock_info()?.as_ref(), id, &self.describe())?;
        let c = &self.connection;
        let (class, key) = lock_keys(&c.schema, &self.workspace);
        // A session lock can only be released by its session: end that session.
        let sql = "SELECT p.pid, pg_terminate_backend(p.pid) FROM pg_locks p \
                   WHERE p.locktype = 'advisory' AND p.granted \
                   AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND p.classid::bigint = $1 AND p.objid::bigint = $2 AND p.objsubid = 2";
        let rows = crate::runtime::block_on(
                c.client
                    .query(sql, &[&unsigned(class), &unsigned(key)]),
            )
            .map_err(|e| {
                c.error(
                    "cannot end the session holding the lock (this needs the holder's role or pg_signal_backend)",
                    e,
                )
            })?;
        if rows.iter().any(|row| !row.get::<_, bool>(1)) {
            return Err(Error::State(format!(
                "PostgreSQL {}: the session holding the lock could not be ended; ask a database \
                 administrator to run SELECT pg_terminate_backend({}).",
                c.target,
                rows[0].get::<_, i32>(0)
            )));
        }
        crate::runtime::block_on(c.client.execute(
            &c.sql("DELETE FROM {locks} WHERE name = $1 AND id = $2"),
            &[&self.workspace, &id.trim()],
        ))
        .map_err(|e| c.error("cannot remove the lock holder", e))?;
        Ok(())
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        let c = &self.connection;
        let rows =
            crate::runtime::block_on(c.client.query(&c.sql("SELECT name FROM {states}"), &[]))
                .map_err(|e| c.error("cannot list the workspaces", e))?;
        Ok(ordered_workspaces(
            rows.iter().map(|row| row.get::<_, String>(0)),
        ))
    }

    fn create_workspace(&self, name: &str) -> Result<()> {
        check_workspace_name(name)?;
        let c = &self.connection;
        let created = crate::runtime::block_on(c.client.execute(
            &c.sql("INSERT INTO {states} (name) VALUES ($1) ON CONFLICT DO NOTHING"),
            &[&name],
        ))
        .map_err(|e| c.error("cannot create the workspace", e))?;
        if created == 0 || name == DEFAULT_WORKSPACE {
            return Err(Error::Usage(format!(
                "The workspace {name:?} already exists."
            )));
        }
        Ok(())
    }

    fn delete_workspace(&self, name: &str) -> Result<()> {
        let c = &self.connection;
        let deleted = crate::runtime::block_on(
            c.client
                .execute(&c.sql("DELETE FROM {states} WHERE name = $1"), &[&name]),
        )
        .map_err(|e| c.error("cannot delete the workspace", e))?;
        if deleted == 0 {
            return Err(no_such_workspace(name, &self.describe()));
        }
        Ok(())
    }

    fn workspace(&self, name: &str) -> Result<Box<dyn StateStore>> {
        Ok(Box::new(self.bind(name)?))
    }
}

/// `pg_locks` shows lock keys as unsigned `oid`s.
fn unsigned(key: i32) -> i64 {
    i64::from(key as u32)
}

/// `user@host:port/dbname` without the password.
fn target_of(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{name}:{port}")
        })
        .collect();
    let user = config.get_user().unwrap_or("(default user)");
    let dbname = config.get_dbname().unwrap_or(user);
    format!("{user}@{}/{dbname}", hosts.join(","))
}

/// What a connection string's transport needs before connecting.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    AsWritten,
    /// No `sslmode` was written: libpq's default `prefer` becomes `require`.
    UpgradeToRequire,
}

/// The transport policy for a parsed `conn_str` (see the module documentation); an error
/// says what is refused and names the opt-in.
fn transport(
    config: &tokio_postgres::Config,
    conn_str: &str,
    allow_insecure: bool,
) -> std::result::Result<Transport, String> {
    let over_tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)));
    match config.get_ssl_mode() {
        _ if !over_tcp => Ok(Transport::AsWritten),
        SslMode::Prefer if !sslmode_written(conn_str) && !allow_insecure => {
            Ok(Transport::UpgradeToRequire)
        }
        SslMode::Require => Ok(Transport::AsWritten),
        _ if allow_insecure => Ok(Transport::AsWritten),
        mode => Err(format!(
            "The postgres backend's conn_str sets sslmode={}, which {} the password in \
             clear; use sslmode=require, or set allow_insecure_transport = true in the state \
             block to accept an unencrypted connection.",
            if mode == SslMode::Disable {
                "disable"
            } else {
                "prefer"
            },
            if mode == SslMode::Disable {
                "sends the state and"
            } else {
                "falls back to plaintext without TLS and then sends the state and"
            }
        )),
    }
}

/// Checks `conn_str` against the transport policy, for `validate`; a string that does not
/// parse is left to the connection, which reports it.
pub fn check_transport(
    conn_str: &Sensitive,
    allow_insecure: bool,
) -> std::result::Result<(), String> {
    match conn_str.expose().parse::<tokio_postgres::Config>() {
        Ok(config) => transport(&config, conn_str.expose(), allow_insecure).map(|_| ()),
        Err(_) => Ok(()),
    }
}

/// Whether `sslmode` is written in the connection string (URL query or keyword form), as
/// opposed to libpq's default.
fn sslmode_written(conn_str: &str) -> bool {
    let text = conn_str.trim();
    match text
        .strip_prefix("postgres://")
        .or_else(|| text.strip_prefix("postgresql://"))
    {
        Some(url) => url.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some("sslmode"))
        }),
        None => text
            .split_whitespace()
            .any(|word| word.split('=').next() == Some("sslmode")),
    }
}

/// What the configuration digest holds of `conn_str`: a fingerprint of every setting but
/// the password, so a saved plan (which carries the digest) gives nothing to test password
/// guesses against offline. A password change alone does not stale a saved plan.
pub fn conn_str_fingerprint(conn_str: &Sensitive) -> String {
    let settings = match conn_str.expose().parse::<tokio_postgres::Config>() {
        // Debug prints `password: Some(_)`, never the password.
        Ok(config) => format!("{config:?}"),
        Err(_) => "(not a connection string)".to_string(),
    };
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(settings.as_bytes()))
    )
}

/// rustls with the web PKI roots and the `ca_bundle` (`crate::trust`).
fn tls_config(settings: &PostgresSettings) -> Result<rustls::ClientConfig> {
    crate::trust::client_config(
        settings.ca_bundle.as_deref(),
        "the postgres backend's ca_bundle",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_never_shows_the_password() {
        let config: tokio_postgres::Config =
            "postgres://alice:s3cret@db.example:6543/tls?sslmode=require"
                .parse()
                .unwrap();
        assert_eq!(target_of(&config), "alice@db.example:6543/tls");
    }

    fn policy(conn_str: &str, allow_insecure: bool) -> std::result::Result<Transport, String> {
        transport(&conn_str.parse().unwrap(), conn_str, allow_insecure)
    }

    #[test]
    fn tls_is_required_over_tcp_unless_plaintext_is_opted_into() {
        let url = "postgres://alice:pw@db.example/x";
        assert_eq!(policy(url, false), Ok(Transport::UpgradeToRequire));
        assert_eq!(policy(url, true), Ok(Transport::AsWritten));
        assert_eq!(
            policy(&format!("{url}?sslmode=require"), false),
            Ok(Transport::AsWritten)
        );
        for mode in ["prefer", "disable"] {
            for conn_str in [
                format!("{url}?connect_timeout=2&sslmode={mode}"),
                format!("host=db.example user=alice sslmode={mode}"),
            ] {
                let err = policy(&conn_str, false).unwrap_err();
                assert!(
                    err.contains(&format!("sets sslmode={mode}"))
                        && err.contains("allow_insecure_transport = true"),
                    "{err}"
                );
                assert_eq!(policy(&conn_str, true), Ok(Transport::AsWritten));
            }
        }
        // A Unix socket never leaves the machine.
        assert_eq!(
            policy("host=/run/postgresql user=alice sslmode=disable", false),
            Ok(Transport::AsWritten)
        );
    }

    #[test]
    fn the_digested_conn_str_leaves_the_password_out() {
        let with = |password: &str| {
            conn_str_fingerprint(&Sensitive::new(format!(
                "postgres://alice:{password}@db.example/x?sslmode=require"
            )))
        };
        assert_eq!(with("hunter2"), with("correct horse"));
        let other_host = conn_str_fingerprint(&Sensitive::new(
            "postgres://alice:hunter2@db2.example/x?sslmode=require",
        ));
        assert_ne!(with("hunter2"), other_host);
    }

    #[test]
    fn lock_keys_differ_per_workspace_and_schema() {
        let default = lock_keys("certform", "default");
        assert_eq!(default.0, LOCK_CLASS);
        assert_ne!(default, lock_keys("certform", "staging"));
        assert_ne!(default, lock_keys("other", "default"));
    }
}
