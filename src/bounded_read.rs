//! Reading a file whose path someone else may control (an output path in a state anyone
//! with write access to the bucket can edit, a file an attacker swapped for a FIFO): only a
//! regular file is read, never through a symbolic link at its name, never blocking on open,
//! and never more than a size limit. Anything else is a refusal with a sentence that says
//! what was found there, for the drift report or the error of `file()` in the
//! configuration.

use std::fs::{self, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest output file certform reads back: a certificate chain or a key is a few KiB.
pub const OUTPUT_READ_LIMIT: u64 = 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing at the path.
    Missing,
    /// Something certform will not read, as the end of a sentence that starts with the
    /// path: "is not a regular file (a FIFO)", "is larger than 1 MiB".
    Unusable(String),
}

/// The bytes of the regular file at `path` (at most `limit` of them) and its metadata.
/// `path` itself may not be a symbolic link; the directories above it may.
pub fn read_regular(path: &Path, limit: u64) -> Result<(Vec<u8>, Metadata), Refusal> {
    // A look before opening, so a device or FIFO is never even opened (opening some
    // devices has effects); the checks after opening are what hold against a swap.
    let seen = fs::symlink_metadata(path).map_err(refusal)?;
    check(&seen, limit)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(refusal)?;
    let meta = file.metadata().map_err(refusal)?;
    check(&meta, limit)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(refusal)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok((bytes, meta))
}

fn check(meta: &Metadata, limit: u64) -> Result<(), Refusal> {
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_symlink() {
            return Err(Refusal::Unusable(
                "is a symbolic link, not a regular file".into(),
            ));
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "of an unknown type"
        };
        return Err(Refusal::Unusable(format!("is not a regular file ({what})")));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: u64) -> Refusal {
    Refusal::Unusable(format!("is larger than {}", size_text(limit)))
}

/// `1 MiB`, `64 KiB`, `100 bytes`.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 && b % (1024 * 1024) == 0 => format!("{} MiB", b / (1024 * 1024)),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

fn refusal(error: std::io::Error) -> Refusal {
    match error.kind() {
        ErrorKind::NotFound => Refusal::Missing,
        // O_NOFOLLOW on a symbolic link planted between the look and the open.
        _ if error.raw_os_error() == Some(libc::ELOOP) => {
            Refusal::Unusable("is a symbolic link, not a regular file".into())
        }
        _ => Refusal::Unusable(format!("cannot be read ({error})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn reads_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        fs::write(&path, b"pem").unwrap();
        let (bytes, meta) = read_regular(&path, 10).unwrap();
        assert_eq!(bytes, b"pem");
        assert!(meta.is_file());
        assert_eq!(
            read_regular(&dir.path().join("none"), 10).unwrap_err(),
            Refusal::Missing
        );
    }

    #[test]
    fn refuses_fifos_devices_directories_links_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("chain.pem");
        mkfifo(&fifo);
        let said = |path: &Path, limit| match read_regular(path, limit) {
            Err(Refusal::Unusable(why)) => why,
            other => panic!("{}: {other:?}", path.display()),
        };
        assert_eq!(said(&fifo, 10), "is not a regular file (a FIFO)");
        assert_eq!(
            said(Path::new("/dev/zero"), OUTPUT_READ_LIMIT),
            "is not a regular file (a character device)"
        );
        assert_eq!(said(dir.path(), 10), "is not a regular file (a directory)");
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        assert_eq!(said(&link, 10), "is a symbolic link, not a regular file");
        let big = dir.path().join("big.pem");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert_eq!(said(&big, 1024), "is larger than 1 KiB");
        assert_eq!(
            said(&big, OUTPUT_READ_LIMIT.min(2047)),
            "is larger than 2047 bytes"
        );
    }
}
