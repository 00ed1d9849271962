//! The `StateStore` trait every backend implements (local, postgres, s3), and what they
//! share: the lock holder's details, the lock guard, workspace names, and reading a
//! document's serial for compare-and-swap writes.
//!
//! A store is bound to one workspace and deals in bytes: the encoded document whose secret
//! half is already age-encrypted, so no backend ever sees a private key.

use super::format::{decode, StoredState};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::time::Duration;

/// The workspace every backend has and that cannot be deleted.
pub const DEFAULT_WORKSPACE: &str = "default";

/// How often a waiting `lock` retries, in every backend.
pub const LOCK_RETRY: Duration = Duration::from_millis(100);

/// One workspace of one backend.
pub trait StateStore: Send + Sync {
    /// Where the state lives, for messages (never with a password).
    fn describe(&self) -> String;

    /// The encoded document, or `None` when this workspace has no state yet.
    fn get(&self) -> Result<Option<Vec<u8>>>;

    /// Replaces the document, but only if the stored serial is still `expected_serial`
    /// (`None`: no document yet) and `lock` is still this store's current lock, so a
    /// concurrent or force-unlocked writer can never lose an update.
    fn put(&self, lock: &StateLock, expected_serial: Option<u64>, bytes: &[u8]) -> Result<()>;

    /// Takes the workspace's lock for `operation`, retrying until `timeout` has passed;
    /// then fails with [`Error::Locked`] naming the holder. Dropping the guard unlocks.
    fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock>;

    /// Who holds the lock, if anyone.
    fn lock_info(&self) -> Result<Option<LockInfo>>;

    /// Removes the lock if `id` is the current lock's ID.
    fn force_unlock(&self, id: &str) -> Result<()>;

    /// Every workspace of this backend, `default` first, the others sorted.
    fn workspaces(&self) -> Result<Vec<String>>;

    /// Creates an empty workspace; an error if it exists.
    fn create_workspace(&self, name: &str) -> Result<()>;

    /// Deletes a workspace and its state (the caller checks that this is wanted).
    fn delete_workspace(&self, name: &str) -> Result<()>;

    /// The same backend, bound to workspace `name`.
    fn workspace(&self, name: &str) -> Result<Box<dyn StateStore>>;

    /// The decoded document, or `None` when there is no state yet.
    fn read(&self) -> Result<Option<StoredState>> {
        self.get()?
            .map(|bytes| decode_stored(&bytes, self.describe()))
            .transpose()
    }
}

/// Decodes a document read from the state at `origin`, naming it in any error.
pub fn decode_stored(bytes: &[u8], origin: String) -> Result<StoredState> {
    match decode(bytes) {
        Ok(stored) => Ok(stored.with_origin(origin)),
        Err(Error::State(message)) => Err(Error::State(format!(
            "Cannot read the state {origin}: {message}"
        ))),
        Err(other) => Err(other),
    }
}

/// Who holds a lock: written where the backend keeps it, shown by a waiter that gives up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub operation: String,
    pub who: String,
    pub pid: u32,
    pub host: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
}

impl LockInfo {
    /// Details of a new lock taken by this process.
    pub fn new(operation: &str) -> LockInfo {
        let now = time::OffsetDateTime::now_utc();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who: format!("{}@{}", user_name(), host_name()),
            pid: std::process::id(),
            host: host_name(),
            created: now.replace_nanosecond(0).unwrap_or(now),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("lock info serialises");
        json.push(b'\n');
        json
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .created
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| std::fmt::Error)?;
        write!(
            f,
            "ID {}, operation {}, who {}, pid {}, since {since}",
            self.id, self.operation, self.who, self.pid
        )
    }
}

/// An acquired lock. The backend's own guard (a held file, a database session, the ETag
/// of a lock object) rides along and releases the lock when this is dropped.
pub struct StateLock {
    info: LockInfo,
    guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for StateLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateLock")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl StateLock {
    pub fn new(info: LockInfo, guard: impl Any + Send + Sync) -> StateLock {
        StateLock {
            info,
            guard: Box::new(guard),
        }
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The backend's guard, or a bug report when a lock of another backend is passed.
    pub fn guard<G: Any>(&self) -> Result<&G> {
        self.guard.downcast_ref::<G>().ok_or_else(|| {
            Error::Bug("a state lock was used with a backend it does not belong to".into())
        })
    }
}

/// The error of a waiter that gave up.
pub fn locked_by(holder: Option<LockInfo>, describe: &str) -> Error {
    Error::Locked {
        holder: match holder {
            Some(info) => info.to_string(),
            None => format!("another process whose details are not (yet) recorded in {describe}"),
        },
    }
}

/// The error of a writer whose lock was removed by `force-unlock`.
pub fn lock_lost(lock: &StateLock, describe: &str) -> Error {
    Error::State(format!(
        "The state lock {} was removed (force-unlock) while this command held it, so certform \
         will not write the state {describe}. Check that no other certform is running, then run \
         the command again.",
        lock.id()
    ))
}

/// The error of a compare-and-swap write that found another serial.
pub fn serial_moved(expected: Option<u64>, found: Option<u64>, describe: &str) -> Error {
    let show = |serial: Option<u64>| match serial {
        Some(serial) => format!("serial {serial}"),
        None => "no state".to_string(),
    };
    Error::State(format!(
        "The state {describe} changed underneath this command (expected {}, found {}), so \
         certform did not overwrite it. Another certform may have written it without the lock; \
         run the command again.",
        show(expected),
        show(found)
    ))
}

/// The `force-unlock` refusals every backend shares.
pub fn check_unlock_id(current: Option<&LockInfo>, id: &str, describe: &str) -> Result<()> {
    match current {
        None => Err(Error::State(format!(
            "The state {describe} is not locked, so there is nothing to unlock."
        ))),
        Some(current) if current.id != id.trim() => Err(Error::State(format!(
            "The lock ID {id:?} does not match the current lock of the state ({current}), so \
             nothing was unlocked. If you really mean to remove that lock, run `certform force-unlock {}`.",
            current.id
        ))),
        Some(_) => Ok(()),
    }
}

/// The `serial` of an encoded document, read without decoding the rest.
pub fn document_serial(bytes: &[u8]) -> Result<u64> {
    #[derive(Deserialize)]
    struct Serial {
        serial: u64,
    }
    serde_json::from_slice::<Serial>(bytes)
        .map(|s| s.serial)
        .map_err(|e| Error::State(format!("The state document has no valid serial: {e}")))
}

/// Checks a workspace name: letters, digits, `-` and `_`, at most 64, so it is safe as a
/// file name, an S3 key segment and a database value.
pub fn check_workspace_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{name:?} is not a valid workspace name: use 1 to 64 letters, digits, `-` or `_`."
        )))
    }
}

/// The error for a workspace that does not exist.
pub fn no_such_workspace(name: &str, describe: &str) -> Error {
    Error::Usage(format!(
        "The workspace {name:?} does not exist in {describe}. `certform workspace list` shows \
         the workspaces; `certform workspace new {name}` creates it."
    ))
}

/// `default` first, then the others sorted and without duplicates.
pub fn ordered_workspaces(others: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = others
        .into_iter()
        .filter(|n| n != DEFAULT_WORKSPACE)
        .collect();
    names.sort();
    names.dedup();
    names.insert(0, DEFAULT_WORKSPACE.to_string());
    names
}

fn user_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Some(name) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            return name;
        }
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    format!("uid{}", unsafe { libc::getuid() })
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
    // (we also stop at the first NUL or the end of the buffer).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if end > 0 {
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "localhost".to_string()
}
