//! Output files and reload hooks: writes a certificate's outputs atomically with their
//! modes and owners (both set before a byte is written) into directories reached without
//! following symbolic links ([`dir`]), observes files on disk for drift checks without
//! trusting what is at their paths ([`read`]), and runs `on_change` commands.

mod dir;
pub mod owner;

use crate::bounded_read::{read_regular, Refusal, OUTPUT_READ_LIMIT};
use crate::desired::model::{OutputFileKind, OutputSpec};
use crate::error::{Error, Result};
use crate::hook_env::HookEnv;
use crate::plan::{FileFacts, FileSeen, Observed};
use crate::secret::Sensitive;
use crate::state::model::{CertificateState, DeployedFile, DeployedOutput};
use dir::{DirError, OpenDir, Ownership};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Writes every file of `output` and returns what was written, for state.
pub fn write_output(
    output: &OutputSpec,
    certificate: &CertificateState,
    private_key: &Sensitive,
) -> Result<DeployedOutput> {
    let fullchain = format!("{}{}", certificate.certificate_pem, certificate.chain_pem);
    let owner = Ownership {
        uid: output.owner.as_ref().map(|o| o.id),
        gid: output.group.as_ref().map(|g| g.id),
    };
    let mut files = Vec::new();
    for (kind, path, mode) in output.files() {
        let content: &str = match kind {
            OutputFileKind::Cert => &certificate.certificate_pem,
            OutputFileKind::Chain => &certificate.chain_pem,
            OutputFileKind::Fullchain => &fullchain,
            OutputFileKind::Key => private_key.expose(),
        };
        write_file(
            path,
            content.as_bytes(),
            mode,
            owner,
            output.follow_symlinks,
        )
        .map_err(|e| write_error(e, path, |link| symlink_refused(output, link)))?;
        tracing::info!("wrote {} (mode {mode:o})", path.display());
        files.push(DeployedFile {
            kind,
            path: path.clone(),
            sha256: sha256_hex(content.as_bytes()),
            mode,
        });
    }
    Ok(DeployedOutput { files })
}

/// Writes `bytes` to `path` as [`OpenDir::replace`] does, creating missing directories;
/// for files named on the command line (a saved plan, metrics, formatted configuration),
/// whose directories are the user's to choose, symbolic links included.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_file(path, bytes, mode, Ownership::default(), true).map_err(|e| {
        write_error(e, path, |link| {
            Error::Bug(format!(
                "{} refused as a symbolic link although links are followed",
                link.display()
            ))
        })
    })
}

enum WriteError {
    Dir(DirError),
    File(std::io::Error),
}

fn write_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Ownership,
    follow_symlinks: bool,
) -> Result<(), WriteError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| WriteError::File(std::io::ErrorKind::InvalidInput.into()))?;
    let open = OpenDir::open(dir, follow_symlinks, owner).map_err(WriteError::Dir)?;
    open.replace(name, bytes, mode, owner)
        .map_err(WriteError::File)
}

/// A failed write of `path`; `symlink_refused` words the refusal of a link on the way.
fn write_error(
    error: WriteError,
    path: &Path,
    symlink_refused: impl FnOnce(&Path) -> Error,
) -> Error {
    match error {
        WriteError::Dir(DirError::Symlink(link)) => symlink_refused(&link),
        WriteError::Dir(DirError::Io(dir, cause)) => {
            Error::io("Cannot create the output directory", dir, cause)
        }
        WriteError::File(cause) => Error::io("Cannot write output file", path, cause),
    }
}

/// The refusal of a symbolic link on the way to one of `output`'s files.
fn symlink_refused(output: &OutputSpec, link: &Path) -> Error {
    Error::Deploy(format!(
        "Cannot write output \"{name}\": {} is a symbolic link. certform does not follow \
         symbolic links in output directories (a link planted there would send the \
         certificate and its key elsewhere): write the real directory in the output, or set \
         `follow_symlinks = true` in output \"{name}\" if the link is yours.",
        link.display(),
        name = output.name,
    ))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Looks at every given output file: only a regular file of at most 1 MiB, not a symbolic
/// link itself, is read; anything else is reported as what it is.
pub fn observe<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Observed {
    let mut observed = Observed::default();
    // Names by id, looked up once: the files of a machine mostly share one owner.
    let mut users = BTreeMap::new();
    let mut groups = BTreeMap::new();
    for path in paths {
        let seen = match read_regular(path, OUTPUT_READ_LIMIT) {
            Ok((bytes, meta)) => FileSeen::Regular(FileFacts {
                sha256: sha256_hex(&bytes),
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                owner: users
                    .entry(meta.uid())
                    .or_insert_with(|| owner::user_name(meta.uid()))
                    .clone(),
                group: groups
                    .entry(meta.gid())
                    .or_insert_with(|| owner::group_name(meta.gid()))
                    .clone(),
            }),
            Err(Refusal::Missing) => FileSeen::Missing,
            Err(Refusal::Unusable(why)) => FileSeen::Unusable { why },
        };
        observed.files.insert(path.to_path_buf(), seen);
    }
    observed
}

/// Runs an `on_change` command in `dir` without the variables `env` withholds; a non-zero
/// exit is an error carrying its stderr.
pub async fn run_hook(argv: &[String], dir: &Path, env: &HookEnv) -> Result<()> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Deploy("on_change is an empty command".into()))?;
    tracing::info!("running on_change {argv:?} in {}", dir.display());
    let mut command = tokio::process::Command::new(program);
    env.apply(&mut command);
    let output = command
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Deploy(format!("on_change command {argv:?} could not start: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(Error::Deploy(format!(
            "on_change command {argv:?} failed ({}): {}",
            output.status,
            stderr.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key.pem");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_link_planted_at_the_file_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let path = dir.path().join("key.pem");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"key", 0o600).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
    }

    #[test]
    fn a_device_at_the_file_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("null");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let null = libc::makedev(1, 3);
        assert_eq!(
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, null) },
            0
        );
        let msg = write_atomic(&path, b"x", 0o644).unwrap_err().to_string();
        assert!(msg.contains("a device is there"), "{msg}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file"
        );
    }

    #[test]
    fn observe_reports_missing_present_and_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("a");
        fs::write(&present, b"x").unwrap();
        let missing = dir.path().join("b");
        let device = Path::new("/dev/zero");
        let observed = observe([present.as_path(), missing.as_path(), device]);
        assert_eq!(observed.files[&missing], FileSeen::Missing);
        let FileSeen::Regular(facts) = &observed.files[&present] else {
            panic!("{:?}", observed.files[&present]);
        };
        assert_eq!(facts.sha256, sha256_hex(b"x"));
        assert_eq!(
            observed.files[device],
            FileSeen::Unusable {
                why: "is not a regular file (a character device)".into()
            }
        );
    }
}
