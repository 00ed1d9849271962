//! Output files and reload hooks: writes a certificate's outputs atomically with their
//! modes and owners (both set before a byte is written) into directories reached without
//! following symbolic links ([`dir`]), observes files on disk for drift checks without
//! trusting what is at their paths ([`read`]), and runs `on_change` commands.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws-acm")]
mod aws_acm;
#[cfg(feature = "aws-secretsmanager")]
mod aws_secretsmanager;
mod dir;
pub mod owner;
mod pkcs12;
pub mod remote;
#[cfg(feature = "s3")]
mod s3;
pub mod ssh;

use crate::bounded_read::{read_regular, Refusal, OUTPUT_READ_LIMIT};
use crate::child::{Ended, Failed, DEFAULT_HOOK_TIMEOUT};
use crate::desired::model::{Desired, FileFormat, OutputFileKind, OutputKind, OutputSpec};
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
use std::time::Duration;
use zeroize::Zeroizing;

/// Writes every file of `output` and returns what was written, for state. The files are
/// written as one batch ([`write_files`]): all written back together and fsynced, then
/// renamed, then each directory fsynced once; each file is replaced atomically and is
/// durable when this returns.
pub fn write_output(
    output: &OutputSpec,
    certificate: &CertificateState,
    private_key: &Sensitive,
) -> Result<DeployedOutput> {
    let owner = Ownership {
        uid: output.owner.as_ref().map(|o| o.id),
        gid: output.group.as_ref().map(|g| g.id),
    };
    let files = output
        .files()
        .into_iter()
        .map(|(kind, path, mode)| {
            let content = file_content(output, kind, certificate, private_key)?;
            Ok((kind, path, content, mode))
        })
        .collect::<Result<Vec<_>>>()?;
    let batch: Vec<(&Path, &[u8], u32)> = files
        .iter()
        .map(|(_, path, bytes, mode)| (path.as_path(), bytes.as_slice(), *mode))
        .collect();
    write_files(&batch, owner, output.follow_symlinks)
        .map_err(|(path, e)| write_error(e, path, |link| symlink_refused(output, link)))?;
    let files = files
        .into_iter()
        .map(|(kind, path, bytes, mode)| {
            tracing::info!("wrote {} (mode {mode:o})", path.display());
            DeployedFile {
                kind,
                path: path.clone(),
                sha256: sha256_hex(&bytes),
                mode,
            }
        })
        .collect();
    Ok(DeployedOutput {
        files,
        remote: None,
    })
}

/// The bytes of one output file (zeroised when dropped: most hold the key). A PKCS#12
/// archive is encrypted with a fresh salt each time, so its bytes differ on every call.
pub fn file_content(
    output: &OutputSpec,
    kind: OutputFileKind,
    certificate: &CertificateState,
    private_key: &Sensitive,
) -> Result<Zeroizing<Vec<u8>>> {
    let text = |parts: &[&str]| Ok(Zeroizing::new(parts.concat().into_bytes()));
    let (cert, chain) = (&certificate.certificate_pem, &certificate.chain_pem);
    match kind {
        OutputFileKind::Cert => text(&[cert]),
        OutputFileKind::Chain => text(&[chain]),
        OutputFileKind::Fullchain => text(&[cert, chain]),
        OutputFileKind::Key => text(&[private_key.expose()]),
        OutputFileKind::Combined => text(&[private_key.expose(), cert, chain]),
        OutputFileKind::Pkcs12 => match &output.kind {
            OutputKind::Files(FileFormat::Pkcs12 { password }) => {
                let password = password.value().map_err(|why| {
                    Error::Deploy(format!(
                        "Cannot write the PKCS#12 archive of output \"{}\": {why}.",
                        output.name
                    ))
                })?;
                pkcs12::archive(certificate, private_key, password, &output.name)
            }
            _ => Err(Error::Bug(format!(
                "output \"{}\" writes a PKCS#12 file without a password",
                output.name
            ))),
        },
    }
}

/// Replaces `path` with `bytes` as [`write_files`] does, creating missing directories;
/// for files named on the command line (a saved plan, metrics, formatted configuration),
/// whose directories are the user's to choose, symbolic links included.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_files(&[(path, bytes, mode)], Ownership::default(), true).map_err(|(path, e)| {
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

/// Replaces each `(path, bytes, mode)` atomically, creating missing directories, in four
/// steps over the whole batch: stage every file under a temporary name
/// ([`OpenDir::stage`]: mode and owner set before a byte is written), fsync them (their
/// writeback started together first), rename each over its name, fsync each directory
/// once. Every file is durable before it takes its name, and every rename is durable when
/// this returns. On error, the files not yet renamed are removed and the error names the
/// file it concerns.
fn write_files<'p>(
    files: &[(&'p Path, &[u8], u32)],
    owner: Ownership,
    follow_symlinks: bool,
) -> Result<(), (&'p Path, WriteError)> {
    let mut dirs: Vec<(&Path, OpenDir)> = Vec::new();
    let mut at = Vec::with_capacity(files.len());
    for &(path, _, _) in files {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let index = match dirs.iter().position(|(opened, _)| *opened == dir) {
            Some(index) => index,
            None => {
                let open = OpenDir::open(dir, follow_symlinks, owner)
                    .map_err(|e| (path, WriteError::Dir(e)))?;
                dirs.push((dir, open));
                dirs.len() - 1
            }
        };
        at.push(index);
    }
    let mut staged = Vec::with_capacity(files.len());
    for (&(path, bytes, mode), &index) in files.iter().zip(&at) {
        let fail = |e| (path, WriteError::File(e));
        let name = path
            .file_name()
            .ok_or_else(|| fail(std::io::ErrorKind::InvalidInput.into()))?;
        staged.push(
            dirs[index]
                .1
                .stage(name, bytes, mode, owner)
                .map_err(fail)?,
        );
    }
    // Every file's content goes to the disk at once; then each fsync mostly waits for what
    // is already under way (and the first writes the inode block they share).
    for file in &staged {
        file.start_writeback();
    }
    for (file, &(path, _, _)) in staged.iter().zip(files) {
        file.sync().map_err(|e| (path, WriteError::File(e)))?;
    }
    for (file, &(path, _, _)) in staged.into_iter().zip(files) {
        file.put_in_place()
            .map_err(|e| (path, WriteError::File(e)))?;
    }
    for (index, (_, dir)) in dirs.iter().enumerate() {
        let first = at.iter().position(|&i| i == index).expect("a file per dir");
        dir.sync()
            .map_err(|e| (files[first].0, WriteError::File(e)))?;
    }
    Ok(())
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

/// The timeout of `on_change` command `argv`: the longest `on_change_timeout` of the outputs
/// naming it (one command runs once for all of them).
pub fn hook_timeout(desired: &Desired, argv: &[String]) -> Duration {
    desired
        .certificates
        .values()
        .flat_map(|spec| &spec.outputs)
        .filter(|output| output.on_change.as_deref() == Some(argv))
        .map(|output| output.on_change_timeout.unwrap_or(DEFAULT_HOOK_TIMEOUT))
        .max()
        .unwrap_or(DEFAULT_HOOK_TIMEOUT)
}

/// Runs an `on_change` command in `dir` without the variables `env` withholds, in a process
/// group of its own (see [`crate::child`]); a non-zero exit is an error carrying the end of
/// its stderr. When it runs longer than `timeout`, its whole process group is killed and
/// that is the error, so a hung hook never holds the apply, and the state lock, for ever.
pub async fn run_hook(argv: &[String], dir: &Path, env: &HookEnv, timeout: Duration) -> Result<()> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Deploy("on_change is an empty command".into()))?;
    tracing::info!("running on_change {argv:?} in {}", dir.display());
    let mut command = tokio::process::Command::new(program);
    env.apply(&mut command);
    command
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    match crate::child::run(&mut command, timeout).await {
        Ok(Ended::Exited { status, .. }) if status.success() => Ok(()),
        Ok(Ended::Exited { status, stderr }) => Err(Error::Deploy(format!(
            "on_change command {argv:?} failed ({status}): {stderr}"
        ))),
        Ok(Ended::TimedOut) => Err(Error::Deploy(format!(
            "on_change command {argv:?} did not finish within {}; it was killed with its \
             process group (set on_change_timeout on the output to allow longer)",
            crate::config::duration::format_duration(timeout)
        ))),
        Err(Failed::Start(e)) => Err(Error::Deploy(format!(
            "on_change command {argv:?} could not start: {e}"
        ))),
        Err(Failed::Wait(e)) => Err(Error::Deploy(format!(
            "on_change command {argv:?} failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// That the background sleep dies too is `child`'s test; this one is the message.
    #[tokio::test]
    async fn a_hung_hook_is_killed_after_its_timeout_and_the_error_says_how_to_allow_longer() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_hook(
            &argv(&["sh", "-c", "sleep 600 & wait"]),
            dir.path(),
            &HookEnv::default(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("did not finish within 1s; it was killed with its process group"),
            "{err}"
        );
        assert!(err.contains("set on_change_timeout"), "{err}");
    }

    #[tokio::test]
    async fn a_failing_hook_reports_only_the_end_of_a_long_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let script = "head -c 200000 /dev/zero | tr '\\0' x >&2; echo ' the reason' >&2; exit 3";
        let err = run_hook(
            &argv(&["sh", "-c", script]),
            dir.path(),
            &HookEnv::default(),
            DEFAULT_HOOK_TIMEOUT,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.ends_with("x the reason"), "{}", &err[err.len() - 80..]);
        assert!(
            err.contains("failed (exit status: 3): ...xxx"),
            "{}",
            &err[..200]
        );
        assert!(
            err.len() < crate::child::STDERR_TAIL_LIMIT + 200,
            "{}",
            err.len()
        );
    }

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
