//! Output files and reload hooks: writes a certificate's outputs atomically with their
//! modes (the mode is set before a byte is written), observes files on disk for drift
//! checks, and runs `on_change` commands.

use crate::desired::model::{Desired, OutputFileKind, OutputSpec};
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
use std::time::Duration;
use tokio::io::AsyncReadExt;

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

/// How long an `on_change` command may run unless its output sets `on_change_timeout`
/// (as long as an `exec` DNS hook may).
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of a hook's stderr is kept for its error: the end, where the reason usually is.
const HOOK_OUTPUT_LIMIT: usize = 64 * 1024;
/// How long stderr is still read after the hook exited (a process it started in the
/// background may hold the pipe open).
const HOOK_DRAIN: Duration = Duration::from_millis(500);

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
/// group of its own; a non-zero exit is an error carrying the end of its stderr. When it
/// runs longer than `timeout`, its whole process group is killed and that is the error, so
/// a hung hook never holds the apply, and the state lock, for ever.
pub async fn run_hook(argv: &[String], dir: &Path, env: &HookEnv, timeout: Duration) -> Result<()> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Deploy("on_change is an empty command".into()))?;
    tracing::info!("running on_change {argv:?} in {}", dir.display());
    let mut command = tokio::process::Command::new(program);
    env.apply(&mut command);
    let mut child = command
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Deploy(format!("on_change command {argv:?} could not start: {e}")))?;
    let mut group = GroupKiller(child.id());
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut tail = Tail::default();
    let waited = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 8192];
        let mut open = true;
        loop {
            tokio::select! {
                status = child.wait() => break status,
                read = stderr.read(&mut buf), if open => match read {
                    Ok(0) | Err(_) => open = false,
                    Ok(n) => tail.push(&buf[..n]),
                },
            }
        }
    })
    .await;
    let status = match waited {
        Err(_) => {
            drop(group);
            let _ = child.wait().await;
            return Err(Error::Deploy(format!(
                "on_change command {argv:?} did not finish within {}; it was killed with its \
                 process group (set on_change_timeout on the output to allow longer)",
                crate::config::duration::format_duration(timeout)
            )));
        }
        Ok(status) => {
            // Exited: what it left running in the background is its business.
            group.0 = None;
            status.map_err(|e| Error::Deploy(format!("on_change command {argv:?} failed: {e}")))?
        }
    };
    let _ = tokio::time::timeout(HOOK_DRAIN, async {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stderr.read(&mut buf).await {
            tail.push(&buf[..n]);
        }
    })
    .await;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Deploy(format!(
            "on_change command {argv:?} failed ({status}): {}",
            tail.text()
        )))
    }
}

/// Kills a running hook's whole process group when dropped: at its timeout, and when the
/// apply stops at once (a second interrupt drops the actions in flight).
struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // SAFETY: killpg has no memory effects; the group is the hook's own.
            unsafe { libc::killpg(group as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// The last [`HOOK_OUTPUT_LIMIT`] bytes of a stream.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, more: &[u8]) {
        self.bytes.extend_from_slice(more);
        if self.bytes.len() > HOOK_OUTPUT_LIMIT {
            let excess = self.bytes.len() - HOOK_OUTPUT_LIMIT;
            self.bytes.drain(..excess);
            self.cut = true;
        }
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        match (self.cut, text.trim()) {
            (_, "") => "(no stderr)".into(),
            (true, text) => format!("...{text}"),
            (false, text) => text.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn a_hung_hook_is_killed_with_its_process_group_after_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        // The shell starts a grandchild and waits: both must die.
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let err = run_hook(
            &argv(&["sh", "-c", &script]),
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
        // The grandchild dies from the signal (its reaping by init may take a moment).
        let pid = fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        let dead = || match fs::read_to_string(&stat) {
            Err(_) => true,
            Ok(text) => text
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with(['Z', 'X']),
        };
        assert!(
            (0..200).any(|_| dead() || {
                std::thread::sleep(Duration::from_millis(50));
                false
            }),
            "the hook's background sleep was killed too"
        );
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
        assert!(err.len() < HOOK_OUTPUT_LIMIT + 200, "{}", err.len());
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
