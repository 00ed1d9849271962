//! Output files and reload hooks: writes a certificate's outputs atomically with their
//! modes (the mode is set before a byte is written), observes files on disk for drift
//! checks, and runs `on_change` commands.

use crate::desired::model::{OutputFileKind, OutputSpec};
use crate::error::{Error, Result};
use crate::hook_env::HookEnv;
use crate::plan::{FileFacts, Observed};
use crate::secret::Sensitive;
use crate::state::model::{CertificateState, DeployedFile, DeployedOutput};
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes every file of `output` and returns what was written, for state.
pub fn write_output(
    output: &OutputSpec,
    certificate: &CertificateState,
    private_key: &Sensitive,
) -> Result<DeployedOutput> {
    let fullchain = format!("{}{}", certificate.certificate_pem, certificate.chain_pem);
    let mut files = Vec::new();
    for (kind, path, mode) in output.files() {
        let content: &str = match kind {
            OutputFileKind::Cert => &certificate.certificate_pem,
            OutputFileKind::Chain => &certificate.chain_pem,
            OutputFileKind::Fullchain => &fullchain,
            OutputFileKind::Key => private_key.expose(),
        };
        write_atomic(path, content.as_bytes(), mode)?;
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

/// Temp file in the same directory, created with `mode`, fsynced, renamed over `path`.
/// The temp file is always a new one (`O_EXCL`, unpredictable name): a file or symlink
/// planted at its name is never followed or reused, so a key is never written into a file
/// someone else created, nor one that was ever wider than `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io("Cannot create the output directory", dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.certform-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // The umask may have narrowed the mode; set it exactly before writing anything.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::io("Cannot write output file", path, e)
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Looks at every file that the given outputs name.
pub fn observe<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Observed {
    let mut observed = Observed::default();
    for path in paths {
        let facts = fs::read(path).ok().map(|bytes| FileFacts {
            sha256: sha256_hex(&bytes),
            mode: fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0),
        });
        observed.files.insert(path.to_path_buf(), facts);
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
    fn observe_reports_missing_and_present() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("a");
        fs::write(&present, b"x").unwrap();
        let missing = dir.path().join("b");
        let observed = observe([present.as_path(), missing.as_path()]);
        assert_eq!(observed.files[&missing], None);
        assert_eq!(
            observed.files[&present].as_ref().unwrap().sha256,
            sha256_hex(b"x")
        );
    }
}
