//! The `local` backend: one state file, written atomically (temp file, fsync, backup, rename,
//! fsync of the directory) with mode 0600, and guarded by `<path>.lock`, an exclusive OS
//! lock (`flock`) held for the lifetime of a [`StateLock`], so a killed process never leaves
//! a lock behind. The lock file holds the holder's details for the "locked by" message.

use super::format::{decode, StoredState};
use crate::error::{Error, Result};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting `lock` retries.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// A state file on the local file system.
#[derive(Debug, Clone)]
pub struct LocalStore {
    path: PathBuf,
}

/// Who holds a lock, as written into the lock file.
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

/// An acquired state lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    info: LockInfo,
    lock_path: PathBuf,
    state_path: PathBuf,
}

impl StateLock {
    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Whether the lock file at `lock_path` is still the one this guard holds (a
    /// `force-unlock` from elsewhere removes it).
    fn still_held(&self) -> bool {
        match (self.file.metadata(), fs::metadata(&self.lock_path)) {
            (Ok(mine), Ok(current)) => mine.dev() == current.dev() && mine.ino() == current.ino(),
            _ => false,
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Clear the holder details, then release. The file stays: removing it would let a
        // waiter that already opened it and a newcomer that creates a new one both "hold" it.
        if self.still_held() {
            let _ = self.file.set_len(0);
        }
        let _ = FileExt::unlock(&self.file);
    }
}

impl LocalStore {
    pub fn new(path: PathBuf) -> Self {
        LocalStore { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<path>.lock`
    pub fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// `<path>.backup`: the previous version, kept by every write.
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".backup")
    }

    /// The decoded document, or `None` when there is no state file yet.
    pub fn read(&self) -> Result<Option<StoredState>> {
        let Some(bytes) = self.read_bytes()? else {
            return Ok(None);
        };
        let origin = self.path.display().to_string();
        match decode(&bytes) {
            Ok(stored) => Ok(Some(stored.with_origin(origin))),
            Err(Error::State(message)) => Err(Error::State(format!(
                "Cannot read the state {origin}: {message}"
            ))),
            Err(other) => Err(other),
        }
    }

    /// The raw document, or `None` when there is no state file yet.
    pub fn read_bytes(&self) -> Result<Option<Vec<u8>>> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("Cannot read the state", &self.path, e)),
        }
    }

    /// Takes the state lock for `operation`, retrying until `timeout` has passed.
    pub fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock> {
        let lock_path = self.lock_path();
        create_parent(&lock_path)?;
        let deadline = Instant::now() + timeout;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock_path)
                .map_err(|e| Error::io("Cannot open the state lock file", &lock_path, e))?;
            let acquired = file
                .try_lock_exclusive()
                .map_err(|e| Error::io("Cannot lock the state lock file", &lock_path, e))?;
            if acquired {
                let info = LockInfo {
                    id: uuid::Uuid::new_v4().to_string(),
                    operation: operation.to_string(),
                    who: format!("{}@{}", user_name(), host_name()),
                    pid: std::process::id(),
                    host: host_name(),
                    created: now_utc_seconds(),
                };
                let guard = StateLock {
                    file,
                    info,
                    lock_path: lock_path.clone(),
                    state_path: self.path.clone(),
                };
                // A force-unlock may have removed the file between open and lock: retry.
                if !guard.still_held() {
                    drop(guard);
                    continue;
                }
                write_holder(&guard)?;
                return Ok(guard);
            }
            drop(file);
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Locked {
                    holder: describe_holder(&lock_path),
                });
            }
            std::thread::sleep(LOCK_RETRY.min(deadline - now));
        }
    }

    /// Replaces the state with `bytes` atomically, keeping the previous version as
    /// `<path>.backup`. `lock` must be this store's lock.
    pub fn write(&self, lock: &StateLock, bytes: &[u8]) -> Result<()> {
        if lock.state_path != self.path {
            return Err(Error::Bug(format!(
                "writing {} with the lock of {}",
                self.path.display(),
                lock.state_path.display()
            )));
        }
        if !lock.still_held() {
            return Err(Error::State(format!(
                "The state lock {} was removed (force-unlock) while this command held it, so certform \
                 will not write {}. Check that no other certform is running, then run the command again.",
                lock.id(),
                self.path.display()
            )));
        }
        let dir = create_parent(&self.path)?;
        let temp = unique_sibling(&self.path, ".tmp");
        let result = write_new(&temp, bytes).and_then(|()| {
            self.keep_backup()?;
            fs::rename(&temp, &self.path)
                .map_err(|e| Error::io("Cannot replace the state", &self.path, e))
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        sync_dir(&dir)
    }

    /// Hard-links the current file as `<path>.backup` (via a temporary name and a rename, so
    /// a backup always exists once there was one); copies when hard links are not possible.
    fn keep_backup(&self) -> Result<()> {
        let backup = self.backup_path();
        let temp = unique_sibling(&self.path, ".backup.tmp");
        match fs::hard_link(&self.path, &temp) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(_) => {
                let current = match fs::read(&self.path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) => {
                        return Err(Error::io(
                            "Cannot read the state for its backup",
                            &self.path,
                            e,
                        ))
                    }
                };
                write_new(&temp, &current)?;
            }
        }
        let result = fs::set_permissions(&temp, fs::Permissions::from_mode(0o600))
            .and_then(|()| fs::rename(&temp, &backup))
            .map_err(|e| Error::io("Cannot keep the state backup", &backup, e));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Removes the lock file if `id` is the ID of the current lock.
    pub fn force_unlock(&self, id: &str) -> Result<()> {
        let lock_path = self.lock_path();
        let text = match fs::read_to_string(&lock_path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("Cannot read the state lock file", &lock_path, e)),
        };
        if text.trim().is_empty() {
            return Err(Error::State(format!(
                "The state {} is not locked, so there is nothing to unlock.",
                self.path.display()
            )));
        }
        let current: LockInfo = serde_json::from_str(&text).map_err(|e| {
            Error::State(format!(
                "The state lock file {} does not hold valid lock details ({e}); remove it by hand \
                 if you are sure no certform is running.",
                lock_path.display()
            ))
        })?;
        if current.id != id.trim() {
            return Err(Error::State(format!(
                "The lock ID {id:?} does not match the current lock of the state ({current}), so \
                 nothing was unlocked. If you really mean to remove that lock, run `certform force-unlock {}`.",
                current.id
            )));
        }
        fs::remove_file(&lock_path)
            .map_err(|e| Error::io("Cannot remove the state lock file", &lock_path, e))
    }
}

/// `<path><suffix>`
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// `<dir>/.<name><suffix>.<pid>.<random>`
fn unique_sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(
        ".{name}{suffix}.{}.{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    parent_dir(path).join(unique)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates the parent directory (mode 0700) if missing; returns it.
fn create_parent(path: &Path) -> Result<PathBuf> {
    let dir = parent_dir(path);
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("Cannot create the state directory", &dir, e))?;
    }
    Ok(dir)
}

/// Creates `path` (which must not exist) with mode 0600 before writing, writes, fsyncs.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("Cannot create a temporary state file", path, e))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("Cannot write a temporary state file", path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("Cannot sync the state directory", dir, e))
}

fn write_holder(lock: &StateLock) -> Result<()> {
    let json = serde_json::to_vec_pretty(&lock.info)
        .map_err(|e| Error::Bug(format!("serialising lock info: {e}")))?;
    let mut file = &lock.file;
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| file.write_all(&json))
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("Cannot write the state lock file", &lock.lock_path, e))
}

/// The holder as the lock file describes it, for [`Error::Locked`].
fn describe_holder(lock_path: &Path) -> String {
    let mut text = String::new();
    let read = File::open(lock_path).and_then(|mut f| f.read_to_string(&mut text));
    match read
        .ok()
        .and_then(|_| serde_json::from_str::<LockInfo>(&text).ok())
    {
        Some(info) => info.to_string(),
        None => format!(
            "another process whose details are not (yet) in {}",
            lock_path.display()
        ),
    }
}

fn now_utc_seconds() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_keeps_mode_and_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("nested/state.json"));
        assert!(store.read_bytes().unwrap().is_none());
        assert!(store.read().unwrap().is_none());

        let lock = store.lock("apply", Duration::ZERO).unwrap();
        store.write(&lock, b"first").unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        assert!(!store.backup_path().exists());

        store.write(&lock, b"second").unwrap();
        assert_eq!(store.read_bytes().unwrap().unwrap(), b"second");
        assert_eq!(fs::read(store.backup_path()).unwrap(), b"first");
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&store.backup_path()), 0o600);

        // Even if someone loosened the old file, the backup and the new file are 0600.
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.write(&lock, b"third").unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&store.backup_path()), 0o600);
        assert_eq!(fs::read(store.backup_path()).unwrap(), b"second");

        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["state.json", "state.json.backup", "state.json.lock"],
            "{names:?}"
        );
    }

    #[test]
    fn read_reports_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        fs::write(store.path(), b"{\"format_version\": 1,").unwrap();
        let msg = store.read().unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "Cannot read the state {}:",
                store.path().display()
            )),
            "{msg}"
        );
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn second_lock_times_out_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let held = store.lock("apply", Duration::ZERO).unwrap();
        assert_eq!(mode(&store.lock_path()), 0o600);

        let started = Instant::now();
        let err = store.lock("plan", Duration::from_millis(250)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(250));
        match &err {
            Error::Locked { holder } => {
                assert!(
                    holder.starts_with(&format!("ID {}, operation apply, who ", held.id())),
                    "{holder}"
                );
                assert!(
                    holder.contains(&format!(", pid {}, since ", std::process::id())),
                    "{holder}"
                );
                assert!(holder.ends_with('Z'), "{holder}");
            }
            other => panic!("expected Error::Locked, got {other:?}"),
        }
        assert!(err.to_string().contains("the state is locked by ID"));

        drop(held);
        assert_eq!(
            fs::read(store.lock_path()).unwrap(),
            b"",
            "holder details cleared on unlock"
        );
        let again = store.lock("apply", Duration::ZERO).unwrap();
        let info: LockInfo = serde_json::from_slice(&fs::read(store.lock_path()).unwrap()).unwrap();
        assert_eq!(&info, again.info());
        assert_eq!(info.pid, std::process::id());
    }

    #[test]
    fn force_unlock_checks_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let msg = store.force_unlock("nope").unwrap_err().to_string();
        assert!(msg.contains("is not locked"), "{msg}");

        let held = store.lock("apply", Duration::ZERO).unwrap();
        let msg = store.force_unlock("1234").unwrap_err().to_string();
        assert!(msg.contains("\"1234\" does not match"), "{msg}");
        assert!(
            msg.contains(&format!("certform force-unlock {}", held.id())),
            "{msg}"
        );
        assert!(store.lock_path().exists());

        store.force_unlock(held.id()).unwrap();
        assert!(!store.lock_path().exists());
        // The old guard no longer holds the state: it refuses to write.
        let msg = store.write(&held, b"x").unwrap_err().to_string();
        assert!(msg.contains("was removed (force-unlock)"), "{msg}");
        let fresh = store.lock("apply", Duration::ZERO).unwrap();
        store.write(&fresh, b"x").unwrap();
        drop(held);
        // Dropping the stale guard does not clear the new holder's details.
        let info: LockInfo = serde_json::from_slice(&fs::read(store.lock_path()).unwrap()).unwrap();
        assert_eq!(info.id, fresh.id());
    }

    #[test]
    fn write_refuses_another_stores_lock() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalStore::new(dir.path().join("a.json"));
        let b = LocalStore::new(dir.path().join("b.json"));
        let lock = a.lock("apply", Duration::ZERO).unwrap();
        assert!(matches!(b.write(&lock, b"x"), Err(Error::Bug(_))));
    }
}
