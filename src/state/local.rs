//! The `local` backend: one state file per workspace, written atomically (temp file, fsync,
//! backup, rename, fsync of the directory) with mode 0600, and guarded by `<path>.lock`, an
//! exclusive OS lock (`flock`) held for the lifetime of a [`StateLock`], so a killed process
//! never leaves a lock behind. The lock file holds the holder's details for the "locked by"
//! message; it is opened only as a regular file with one link, never through a symbolic
//! link (a `*.lock` planted as a link to another file must not make a root apply overwrite
//! that file), and written only once the lock is held. Workspace `NAME` lives in `<path>.d/NAME/<file name>`, as Terraform's
//! `terraform.tfstate.d/NAME/terraform.tfstate`.

use super::store::{
    check_unlock_id, check_workspace_name, document_serial, lock_lost, locked_by,
    no_such_workspace, ordered_workspaces, serial_moved, LockInfo, StateLock, StateStore,
    DEFAULT_WORKSPACE, LOCK_RETRY,
};
use crate::error::{Error, Result};
use fs4::fs_std::FileExt;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A state file on the local file system.
#[derive(Debug, Clone)]
pub struct LocalStore {
    /// The `default` workspace's file; every workspace is found from it.
    default_path: PathBuf,
    /// This workspace's file.
    path: PathBuf,
}

/// What a local lock holds: the locked file and where it should be.
#[derive(Debug)]
struct LocalGuard {
    file: File,
    lock_path: PathBuf,
    state_path: PathBuf,
    /// The state file as this lock holder last wrote it, and the serial it holds.
    last_written: Mutex<Option<(FileStamp, u64)>>,
}

/// What identifies a file's content without reading it: a replacement changes the inode, a
/// write or `chmod` in place the size, mtime or ctime (which no user can set back). On a
/// kernel with coarse timestamps an in-place write of the same size within one clock tick
/// of ours would pass unseen: compare-and-swap guards against another certform's writes
/// (which always replace the file), and the MAC, not this, against a hostile one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::symlink_metadata(path).ok()?;
        Some(FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl LocalGuard {
    /// Whether the lock file at `lock_path` is still the one this guard holds (a
    /// `force-unlock` from elsewhere removes it).
    fn still_held(&self) -> bool {
        match (self.file.metadata(), fs::metadata(&self.lock_path)) {
            (Ok(mine), Ok(current)) => mine.dev() == current.dev() && mine.ino() == current.ino(),
            _ => false,
        }
    }
}

impl Drop for LocalGuard {
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
    /// The `default` workspace of the state at `path`.
    pub fn new(path: PathBuf) -> Self {
        LocalStore {
            default_path: path.clone(),
            path,
        }
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

    /// `<default path>.d`: the directory of the other workspaces.
    fn workspaces_dir(&self) -> PathBuf {
        sibling(&self.default_path, ".d")
    }

    fn workspace_path(&self, name: &str) -> PathBuf {
        match name {
            DEFAULT_WORKSPACE => self.default_path.clone(),
            _ => self
                .workspaces_dir()
                .join(name)
                .join(self.default_path.file_name().unwrap_or_default()),
        }
    }

    /// The state file's bytes; something other than a regular file there (a FIFO that
    /// would block the read for ever, a device) is refused.
    fn read_file(&self) -> Result<Option<Vec<u8>>> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("Cannot read the state", &self.path, e)),
        };
        let mut bytes = Vec::new();
        regular(&file, &self.path, "state file")
            .and_then(|()| {
                (&file)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io("Cannot read the state", &self.path, e))
            })
            .map(|_| Some(bytes))
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
                let Some(current) = self.read_file()? else {
                    return Ok(());
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

    /// Keeps the current version as the backup and writes `bytes` durably at `temp`, into
    /// the previous backup's inode when it can be recycled, else into a new file.
    /// Recycling matters on a busy file system: every write would otherwise allocate one
    /// inode and free another (the backup it replaces), and on ext4 without a journal each
    /// allocation scans past every inode freed in the last minute, so an apply writing
    /// thousands of times (and its output files) slowed down with its own churn. The old
    /// backup is linked at `temp` before the current version replaces it, so a backup
    /// exists at every moment; should the write then fail, the backup is the current
    /// version and the state is untouched.
    fn backup_and_write_temp(&self, temp: &Path, bytes: &[u8]) -> Result<()> {
        let claimed = fs::hard_link(self.backup_path(), temp).is_ok();
        self.keep_backup()?;
        if claimed {
            if rewrite_own_file(temp, bytes).is_ok() {
                return Ok(());
            }
            let _ = fs::remove_file(temp);
        }
        write_new(temp, bytes)
    }

    /// The lock file's holder details, whether or not anyone still holds the lock.
    fn recorded_holder(&self) -> Result<Option<LockInfo>> {
        let lock_path = self.lock_path();
        let Some(file) = open_lock_file(&lock_path, false)? else {
            return Ok(None);
        };
        let mut text = String::new();
        (&file)
            .read_to_string(&mut text)
            .map_err(|e| Error::io("Cannot read the state lock file", &lock_path, e))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::State(format!(
                "The state lock file {} does not hold valid lock details ({e}); remove it by hand \
                 if you are sure no certform is running.",
                lock_path.display()
            ))
        })
    }
}

impl StateStore for LocalStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn get(&self) -> Result<Option<Vec<u8>>> {
        self.read_file()
    }

    fn put(&self, lock: &StateLock, expected_serial: Option<u64>, bytes: &[u8]) -> Result<()> {
        let guard: &LocalGuard = lock.guard()?;
        if guard.state_path != self.path {
            return Err(Error::Bug(format!(
                "writing {} with the lock of {}",
                self.path.display(),
                guard.state_path.display()
            )));
        }
        if !guard.still_held() {
            return Err(lock_lost(lock, &self.describe()));
        }
        // The compare of compare-and-swap: the file this holder wrote last is still in
        // place untouched (one stat, the common case during an apply), or the serial read
        // from the file is the one expected.
        let last_written = *guard.last_written.lock().unwrap_or_else(|e| e.into_inner());
        let unchanged = matches!(
            last_written,
            Some((stamp, serial))
                if expected_serial == Some(serial) && FileStamp::of(&self.path) == Some(stamp)
        );
        if !unchanged {
            let found = self
                .read_file()?
                .map(|current| document_serial(&current))
                .transpose()?;
            if found != expected_serial {
                return Err(serial_moved(expected_serial, found, &self.describe()));
            }
        }
        let dir = create_parent(&self.path)?;
        let temp = unique_sibling(&self.path, ".tmp");
        let result = self.backup_and_write_temp(&temp, bytes).and_then(|()| {
            fs::rename(&temp, &self.path)
                .map_err(|e| Error::io("Cannot replace the state", &self.path, e))
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        sync_dir(&dir)?;
        let written = FileStamp::of(&self.path).zip(leading_serial(bytes));
        *guard.last_written.lock().unwrap_or_else(|e| e.into_inner()) = written;
        Ok(())
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock> {
        let lock_path = self.lock_path();
        create_parent(&lock_path)?;
        let deadline = Instant::now() + timeout;
        loop {
            let file = open_lock_file(&lock_path, true)?
                .ok_or_else(|| Error::Bug("a lock file opened with O_CREAT is missing".into()))?;
            let acquired = file
                .try_lock_exclusive()
                .map_err(|e| Error::io("Cannot lock the state lock file", &lock_path, e))?;
            if acquired {
                let guard = LocalGuard {
                    file,
                    lock_path: lock_path.clone(),
                    state_path: self.path.clone(),
                    last_written: Mutex::new(None),
                };
                // A force-unlock may have removed the file between open and lock: retry.
                if !guard.still_held() {
                    continue;
                }
                let info = LockInfo::new(operation);
                write_holder(&guard, &info)?;
                return Ok(StateLock::new(info, guard));
            }
            drop(file);
            let now = Instant::now();
            if now >= deadline {
                return Err(locked_by(
                    self.recorded_holder().ok().flatten(),
                    &lock_path.display().to_string(),
                ));
            }
            std::thread::sleep(LOCK_RETRY.min(deadline - now));
        }
    }

    fn lock_info(&self) -> Result<Option<LockInfo>> {
        let Some(info) = self.recorded_holder()? else {
            return Ok(None);
        };
        // Details left by a killed process describe no lock: the kernel released it.
        let lock_path = self.lock_path();
        let Some(probe) = open_lock_file(&lock_path, false)? else {
            return Ok(None);
        };
        let free = FileExt::try_lock_shared(&probe)
            .map_err(|e| Error::io("Cannot probe the state lock file", &lock_path, e))?;
        Ok((!free).then_some(info))
    }

    fn force_unlock(&self, id: &str) -> Result<()> {
        check_unlock_id(self.recorded_holder()?.as_ref(), id, &self.describe())?;
        let lock_path = self.lock_path();
        fs::remove_file(&lock_path)
            .map_err(|e| Error::io("Cannot remove the state lock file", &lock_path, e))
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        let dir = self.workspaces_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ordered_workspaces([])),
            Err(e) => return Err(Error::io("Cannot list the workspaces", &dir, e)),
        };
        Ok(ordered_workspaces(
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| check_workspace_name(name).is_ok()),
        ))
    }

    fn create_workspace(&self, name: &str) -> Result<()> {
        check_workspace_name(name)?;
        let dir = self.workspaces_dir().join(name);
        if name == DEFAULT_WORKSPACE || dir.exists() {
            return Err(Error::Usage(format!(
                "The workspace {name:?} already exists."
            )));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("Cannot create the workspace", &dir, e))
    }

    fn delete_workspace(&self, name: &str) -> Result<()> {
        let dir = self.workspaces_dir().join(name);
        if !dir.is_dir() {
            return Err(no_such_workspace(name, &self.describe()));
        }
        fs::remove_dir_all(&dir).map_err(|e| Error::io("Cannot delete the workspace", &dir, e))
    }

    fn workspace(&self, name: &str) -> Result<Box<dyn StateStore>> {
        check_workspace_name(name)?;
        let path = self.workspace_path(name);
        if name != DEFAULT_WORKSPACE && !parent_dir(&path).is_dir() {
            return Err(no_such_workspace(
                name,
                &self.default_path.display().to_string(),
            ));
        }
        Ok(Box::new(LocalStore {
            default_path: self.default_path.clone(),
            path,
        }))
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

/// Creates the parent directory if missing; returns it.
fn create_parent(path: &Path) -> Result<PathBuf> {
    let dir = parent_dir(path);
    create_state_dir(&dir)?;
    Ok(dir)
}

/// Creates `dir` and its missing parents mode 0700 (whatever the umask): the state and its
/// backups are only the owner's. An existing directory is left as it is.
pub fn create_state_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let fail = |e| Error::io("Cannot create the state directory", dir, e);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(fail)
}

/// The serial of a document this process just wrote, read from the top-level fields up
/// to `serial` (third in certform's documents) instead of the whole document: serde_json
/// reports the unread rest as an error, which is ignored here because the bytes were
/// encoded by certform a moment ago and are never used beyond this serial.
fn leading_serial(bytes: &[u8]) -> Option<u64> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
    use std::cell::Cell;
    struct Serial<'a>(&'a Cell<Option<u64>>);
    impl<'de> Visitor<'de> for Serial<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a state document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "serial" {
                    self.0.set(Some(map.next_value()?));
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let found = Cell::new(None);
    let _unread_rest = serde_json::Deserializer::from_slice(bytes).deserialize_map(Serial(&found));
    found.get()
}

/// Replaces the content of `path` in place with `bytes`, durably, only if it is a regular
/// file of this user's with no other link (none of which a state directory normally holds
/// otherwise); the caller falls back to a new file on any error.
fn rewrite_own_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let ours = meta.is_file() && meta.nlink() == 1 && meta.uid() == unsafe { libc::geteuid() };
    if !ours {
        return Err(ErrorKind::InvalidData.into());
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let opened = file.metadata()?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(ErrorKind::InvalidData.into());
    }
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    // Written over in place and then cut to length, not emptied first: emptying frees every
    // block (on a filesystem mounted with `discard`, a device command each time) only for
    // the write to allocate them again. Nothing reads this file before it is renamed.
    std::os::unix::fs::FileExt::write_all_at(&file, bytes, 0)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
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

/// Opens the lock file at `path` (creating it 0600 when `create`; `None` when it is missing
/// and not created): never through a symbolic link, never blocking on a FIFO, and only a
/// regular file with no other hard link, so that writing holder details into it can only
/// ever change that lock file.
fn open_lock_file(path: &Path, create: bool) -> Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound && !create => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::State(format!(
                "The state lock file {} is a symbolic link; certform does not follow it (writing \
                 the lock holder through it would overwrite the file it points to). Remove the \
                 link; certform creates the lock file itself.",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io("Cannot open the state lock file", path, e)),
    };
    regular(&file, path, "state lock file")?;
    let links = file
        .metadata()
        .map_err(|e| Error::io("Cannot inspect the state lock file", path, e))?
        .nlink();
    if links != 1 {
        return Err(Error::State(format!(
            "The state lock file {} has {links} hard links; certform writes the lock holder \
             only into a lock file of its own. Remove it; certform creates the lock file itself.",
            path.display()
        )));
    }
    Ok(Some(file))
}

/// Refuses anything but a regular file (checked on the open file, so it is what is read
/// or written).
fn regular(file: &File, path: &Path, what: &str) -> Result<()> {
    let kind = file
        .metadata()
        .map_err(|e| Error::io(format!("Cannot inspect the {what}"), path, e))?
        .file_type();
    if kind.is_file() {
        return Ok(());
    }
    let found = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "of an unknown type"
    };
    Err(Error::State(format!(
        "The {what} {} is not a regular file ({found}); remove it or fix the path.",
        path.display()
    )))
}

fn write_holder(guard: &LocalGuard, info: &LockInfo) -> Result<()> {
    let mut file = &guard.file;
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| file.write_all(&info.to_json()))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("Cannot write the state lock file", &guard.lock_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn doc(serial: u64) -> Vec<u8> {
        format!("{{\"serial\": {serial}}}\n").into_bytes()
    }

    #[test]
    fn atomic_write_keeps_mode_and_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("nested/state.json"));
        assert!(store.get().unwrap().is_none());
        assert!(store.read().unwrap().is_none());

        let lock = store.lock("apply", Duration::ZERO).unwrap();
        store.put(&lock, None, &doc(1)).unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        assert!(!store.backup_path().exists());

        store.put(&lock, Some(1), &doc(2)).unwrap();
        assert_eq!(store.get().unwrap().unwrap(), doc(2));
        assert_eq!(fs::read(store.backup_path()).unwrap(), doc(1));
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&store.backup_path()), 0o600);

        // Even if someone loosened the old file, the backup and the new file are 0600.
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.put(&lock, Some(2), &doc(3)).unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&store.backup_path()), 0o600);
        assert_eq!(fs::read(store.backup_path()).unwrap(), doc(2));

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
    fn lock_file_is_private_and_cleared_on_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let held = store.lock("apply", Duration::ZERO).unwrap();
        assert_eq!(mode(&store.lock_path()), 0o600);
        let info: LockInfo = serde_json::from_slice(&fs::read(store.lock_path()).unwrap()).unwrap();
        assert_eq!(&info, held.info());
        drop(held);
        assert_eq!(
            fs::read(store.lock_path()).unwrap(),
            b"",
            "holder details cleared on unlock"
        );
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, store.lock_path()).unwrap();
        let msg = store.lock("apply", Duration::ZERO).unwrap_err().to_string();
        assert!(msg.contains("is a symbolic link"), "{msg}");
        assert!(store
            .lock_info()
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_lock_file_that_is_a_fifo_or_hard_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = std::ffi::CString::new(store.lock_path().to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(lock.as_ptr(), 0o600) }, 0);
        let msg = store.lock("apply", Duration::ZERO).unwrap_err().to_string();
        assert!(msg.contains("is not a regular file (a FIFO)"), "{msg}");
        fs::remove_file(store.lock_path()).unwrap();

        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::hard_link(&victim, store.lock_path()).unwrap();
        let msg = store.lock("apply", Duration::ZERO).unwrap_err().to_string();
        assert!(msg.contains("has 2 hard links"), "{msg}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_state_file_that_is_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let path = std::ffi::CString::new(store.path().to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let msg = store.get().unwrap_err().to_string();
        assert!(msg.contains("is not a regular file (a FIFO)"), "{msg}");
    }

    #[test]
    fn force_unlocked_guard_does_not_clear_the_new_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let held = store.lock("apply", Duration::ZERO).unwrap();
        store.force_unlock(held.id()).unwrap();
        assert!(!store.lock_path().exists());
        let fresh = store.lock("apply", Duration::ZERO).unwrap();
        drop(held);
        let info: LockInfo = serde_json::from_slice(&fs::read(store.lock_path()).unwrap()).unwrap();
        assert_eq!(info.id, fresh.id());
    }

    #[test]
    fn a_write_reuses_the_old_backups_inode_unless_it_is_linked_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let ino = |path: &Path| fs::metadata(path).unwrap().ino();
        store.put(&lock, None, &doc(1)).unwrap();
        store.put(&lock, Some(1), &doc(2)).unwrap();
        let old_backup = ino(&store.backup_path());
        store.put(&lock, Some(2), &doc(3)).unwrap();
        assert_eq!(
            ino(&store.path),
            old_backup,
            "the old backup's inode holds serial 3"
        );
        assert_eq!(fs::read(&store.path).unwrap(), doc(3));
        assert_eq!(fs::read(store.backup_path()).unwrap(), doc(2));
        assert_eq!(fs::metadata(&store.path).unwrap().mode() & 0o777, 0o600);

        // A second link to the backup (someone's copy) is never written through.
        let elsewhere = dir.path().join("kept-copy");
        fs::hard_link(store.backup_path(), &elsewhere).unwrap();
        store.put(&lock, Some(3), &doc(4)).unwrap();
        assert_eq!(fs::read(&elsewhere).unwrap(), doc(2));
        assert_ne!(ino(&store.path), ino(&elsewhere));
        assert_eq!(fs::read(&store.path).unwrap(), doc(4));
        assert_eq!(fs::read(store.backup_path()).unwrap(), doc(3));
    }

    #[test]
    fn a_write_in_place_after_ours_is_still_caught_by_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        store.put(&lock, None, &doc(1)).unwrap();
        // Someone rewrites the file in place behind our back (same inode; a size that
        // differs, so the test holds where the clock's timestamps are coarse).
        fs::write(store.path.clone(), doc(22)).unwrap();
        let err = store.put(&lock, Some(1), &doc(3)).unwrap_err().to_string();
        assert!(err.contains("serial"), "{err}");
        assert_eq!(leading_serial(&doc(7)), Some(7));
        assert_eq!(leading_serial(b"{\"serial\": 9, \"rest\": [1,"), Some(9));
        assert_eq!(leading_serial(b"[]"), None);
    }

    #[test]
    fn put_refuses_another_stores_lock() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalStore::new(dir.path().join("a.json"));
        let b = LocalStore::new(dir.path().join("b.json"));
        let lock = a.lock("apply", Duration::ZERO).unwrap();
        assert!(matches!(b.put(&lock, None, &doc(1)), Err(Error::Bug(_))));
    }

    #[test]
    fn workspaces_live_next_to_the_default_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state/default.certstate"));
        store.create_workspace("staging").unwrap();
        let staging = store.workspace("staging").unwrap();
        assert_eq!(
            staging.describe(),
            dir.path()
                .join("state/default.certstate.d/staging/default.certstate")
                .display()
                .to_string()
        );
    }
}
