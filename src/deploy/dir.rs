//! Output directories, walked one component at a time from `/` with `openat`, so the
//! directory that was checked is the one written into: a symbolic link anywhere on the way
//! is refused (unless the output allows them), a missing directory is created 0755 whatever
//! the umask (and given the output's owner and group), and a file is replaced through a new
//! temporary file (`O_CREAT | O_EXCL | O_NOFOLLOW`) renamed over its name in that same
//! directory. A rename replaces whatever is at the name, a planted symbolic link included,
//! and never writes through it.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The mode of a directory certform creates.
pub const DIR_MODE: u32 = 0o755;

/// Who owns what certform creates; `None` keeps the writer's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ownership {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Why a directory could not be opened.
#[derive(Debug)]
pub enum DirError {
    /// A symbolic link on the way, and the output does not allow them.
    Symlink(PathBuf),
    Io(PathBuf, io::Error),
}

/// An open directory.
pub struct OpenDir {
    fd: OwnedFd,
}

impl OpenDir {
    /// Opens `path`, creating what is missing with `owner`; a symbolic link on the way is
    /// [`DirError::Symlink`] unless `follow_symlinks`.
    pub fn open(path: &Path, follow_symlinks: bool, owner: Ownership) -> Result<OpenDir, DirError> {
        let start = if path.is_absolute() { "/" } else { "." };
        let mut reached = PathBuf::from(start);
        let mut fd = open_at(libc::AT_FDCWD, OsStr::new(start), true)
            .map_err(|e| DirError::Io(reached.clone(), e))?;
        for component in path.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::ParentDir => OsStr::new(".."),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            };
            reached.push(name);
            fd = step(&fd, name, follow_symlinks, owner).map_err(|e| match e {
                e if e.raw_os_error() == Some(libc::ELOOP) && !follow_symlinks => {
                    DirError::Symlink(reached.clone())
                }
                e => DirError::Io(reached.clone(), e),
            })?;
        }
        Ok(OpenDir { fd })
    }

    /// Starts replacing `name` in this directory with `bytes`: a new temporary file beside
    /// it, created with `mode` (set exactly, whatever the umask) and `owner` before a byte is
    /// written. The caller then fsyncs it ([`Staged::sync`]), renames it over `name`
    /// ([`Staged::put_in_place`]) and fsyncs this directory ([`OpenDir::sync`]); files
    /// staged together share those steps.
    pub fn stage(
        &self,
        name: &OsStr,
        bytes: &[u8],
        mode: u32,
        owner: Ownership,
    ) -> io::Result<Staged<'_>> {
        let temp = format!(
            ".{}.certform-{}.tmp",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        );
        let temp = c_name(OsStr::new(&temp))?;
        self.refuse_device(name)?;
        let target = c_name(name)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let raw = unsafe { libc::openat(self.fd.as_raw_fd(), temp.as_ptr(), flags, mode) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut staged = Staged {
            dir: self,
            file: unsafe { File::from_raw_fd(raw) },
            temp,
            target,
            in_place: false,
        };
        chown(staged.file.as_raw_fd(), owner)?;
        // The umask may have narrowed the mode, and chown may clear bits: set it last.
        staged
            .file
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        staged.file.write_all(bytes)?;
        Ok(staged)
    }

    /// fsyncs the directory: the renames done in it are durable once this returns.
    pub fn sync(&self) -> io::Result<()> {
        check(unsafe { libc::fsync(self.fd.as_raw_fd()) })
    }

    /// A device at `name` is never replaced: an output path such as `/dev/null` is a
    /// mistake, and as root the rename would remove the device node.
    fn refuse_device(&self, name: &OsStr) -> io::Result<()> {
        if let Some(libc::S_IFCHR | libc::S_IFBLK) = kind_at(self.fd.as_raw_fd(), name) {
            return Err(io::Error::other(
                "a device is there; certform replaces only files (correct the path)",
            ));
        }
        Ok(())
    }
}

/// A file written under a temporary name ([`OpenDir::stage`]); dropped before
/// [`Staged::put_in_place`], the temporary file is removed.
pub struct Staged<'d> {
    dir: &'d OpenDir,
    file: File,
    temp: CString,
    target: CString,
    in_place: bool,
}

impl Staged<'_> {
    /// Starts writing the file's content to the disk without waiting (a hint: [`sync`]
    /// is what makes it durable), so the files of a batch are written at once.
    ///
    /// [`sync`]: Staged::sync
    pub fn start_writeback(&self) {
        unsafe { libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }

    /// fsyncs the file's content, before it takes the name.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// Renames the file over its name (durable once its directory is fsynced).
    pub fn put_in_place(mut self) -> io::Result<()> {
        let dir = self.dir.fd.as_raw_fd();
        check(unsafe { libc::renameat(dir, self.temp.as_ptr(), dir, self.target.as_ptr()) })?;
        self.in_place = true;
        Ok(())
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.in_place {
            unsafe { libc::unlinkat(self.dir.fd.as_raw_fd(), self.temp.as_ptr(), 0) };
        }
    }
}

/// The file type bits (`S_IFLNK`, `S_IFCHR`, ...) of `name` under `dir`, not following a
/// link; `None` when nothing is there.
fn kind_at(dir: RawFd, name: &OsStr) -> Option<libc::mode_t> {
    let name = c_name(name).ok()?;
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) };
    (rc == 0).then_some(stat.st_mode & libc::S_IFMT)
}

/// Opens `name` under `parent`, creating it (0755, `owner`) when missing.
fn step(parent: &OwnedFd, name: &OsStr, follow: bool, owner: Ownership) -> io::Result<OwnedFd> {
    match open_at(parent.as_raw_fd(), name, follow) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // Linux answers ENOTDIR, not ELOOP, for a link opened with O_DIRECTORY | O_NOFOLLOW.
        Err(_) if !follow && kind_at(parent.as_raw_fd(), name) == Some(libc::S_IFLNK) => {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        other => return other,
    }
    let c = c_name(name)?;
    let created = unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), DIR_MODE) };
    if created != 0 {
        let error = io::Error::last_os_error();
        // Created by someone else meanwhile: open what is there, with the same checks.
        if error.kind() == io::ErrorKind::AlreadyExists {
            return open_at(parent.as_raw_fd(), name, follow);
        }
        return Err(error);
    }
    let fd = open_at(parent.as_raw_fd(), name, false)?;
    chown(fd.as_raw_fd(), owner)?;
    check(unsafe { libc::fchmod(fd.as_raw_fd(), DIR_MODE as libc::mode_t) })?;
    Ok(fd)
}

/// `openat(parent, name, O_DIRECTORY)`, with `O_NOFOLLOW` unless `follow`.
fn open_at(parent: RawFd, name: &OsStr, follow: bool) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let fd = unsafe { libc::openat(parent, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn chown(fd: RawFd, owner: Ownership) -> io::Result<()> {
    if owner == Ownership::default() {
        return Ok(());
    }
    // -1 (as the id type) leaves that id unchanged.
    let uid = owner.uid.unwrap_or(u32::MAX) as libc::uid_t;
    let gid = owner.gid.unwrap_or(u32::MAX) as libc::gid_t;
    check(unsafe { libc::fchown(fd, uid, gid) }).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => io::Error::other(format!(
            "its owner cannot be set ({e}): `owner` needs certform to run as root, and `group` \
             a group the user running certform belongs to"
        )),
        _ => e,
    })
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
