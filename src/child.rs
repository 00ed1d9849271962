//! Running a program certform does not control — an `on_change` hook, an `exec` DNS hook,
//! the `ssh` client — so that it can never hold an apply (and the state lock) for ever:
//! each runs in a process group of its own, and at its timeout, or when the apply stops at
//! once and drops it, the whole group is killed, not only the direct child (a hook script's
//! `sleep` or `nsupdate` would otherwise live on). Only the end of its stderr is kept, for
//! the error message; and stderr is read only briefly after the program exits, because a
//! process it left in the background may hold the pipe open.

use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a hook may run unless the configuration says otherwise: an `on_change` command
/// without `on_change_timeout`, an `exec` DNS hook without `timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of a program's stderr is kept for its error: the end, where the reason usually
/// is.
pub const STDERR_TAIL_LIMIT: usize = 64 * 1024;
/// How long stderr is still read after the program exited.
const DRAIN: Duration = Duration::from_millis(500);

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    /// The program exited; `stderr` is the end of what it wrote there (see [`Tail::text`]).
    Exited { status: ExitStatus, stderr: String },
    /// It ran past its timeout and was killed with its process group.
    TimedOut,
}

/// Why a run could not be watched to its end.
#[derive(Debug)]
pub enum Failed {
    /// The program could not be started (not found, not executable, ...).
    Start(std::io::Error),
    /// Waiting for it failed.
    Wait(std::io::Error),
}

/// Runs `command` (program, arguments, environment, working directory, stdin and stdout as
/// the caller set them; stderr is taken here) in a process group of its own until it exits
/// or `timeout` passes. What it left running in the background after exiting is its own
/// business; what still runs at the timeout is killed.
pub async fn run(
    command: &mut tokio::process::Command,
    timeout: Duration,
) -> Result<Ended, Failed> {
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(Failed::Start)?;
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
            return Ok(Ended::TimedOut);
        }
        Ok(status) => {
            group.0 = None;
            status.map_err(Failed::Wait)?
        }
    };
    let _ = tokio::time::timeout(DRAIN, async {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stderr.read(&mut buf).await {
            tail.push(&buf[..n]);
        }
    })
    .await;
    Ok(Ended::Exited {
        status,
        stderr: tail.text(),
    })
}

/// Kills a running program's whole process group when dropped: at its timeout, and when the
/// apply stops at once (a second interrupt drops the actions in flight). Holds the group's
/// id (the child's pid, spawned with `process_group(0)`); `None` once it exited.
pub struct GroupKiller(pub Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // SAFETY: killpg has no memory effects; the group is the program's own.
            unsafe { libc::killpg(group as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// The last [`STDERR_TAIL_LIMIT`] bytes of a stream.
#[derive(Default)]
pub struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    pub fn push(&mut self, more: &[u8]) {
        self.bytes.extend_from_slice(more);
        if self.bytes.len() > STDERR_TAIL_LIMIT {
            let excess = self.bytes.len() - STDERR_TAIL_LIMIT;
            self.bytes.drain(..excess);
            self.cut = true;
        }
    }

    /// The kept text, trimmed; `...` in front when the start was cut, `(no stderr)` when
    /// there was nothing.
    pub fn text(&self) -> String {
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
    use std::fs;

    fn shell(script: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("sh");
        command
            .args(["-c", script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        command
    }

    /// Whether `pid` is gone (or a zombie waiting for init), within ten seconds.
    fn dies(pid: &str) -> bool {
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
        (0..200).any(|_| {
            dead() || {
                std::thread::sleep(Duration::from_millis(50));
                false
            }
        })
    }

    #[tokio::test]
    async fn at_the_timeout_the_whole_process_group_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        // The shell starts a grandchild and waits: both must die.
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let ended = run(&mut shell(&script), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(matches!(ended, Ended::TimedOut), "{ended:?}");
        let pid = fs::read_to_string(&pid_file).unwrap();
        assert!(dies(&pid), "the background sleep was killed too");
    }

    #[tokio::test]
    async fn a_background_process_holding_stderr_does_not_hold_the_run() {
        // The shell exits at once; its background sleep keeps stderr open for 5 s.
        let started = std::time::Instant::now();
        let ended = run(
            &mut shell("echo started >&2; sleep 5 & exit 0"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let Ended::Exited { status, stderr } = ended else {
            panic!("{ended:?}")
        };
        assert!(status.success());
        assert_eq!(stderr, "started");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn only_the_end_of_a_long_stderr_is_kept() {
        let script = "head -c 200000 /dev/zero | tr '\\0' x >&2; echo ' the reason' >&2; exit 3";
        let ended = run(&mut shell(script), Duration::from_secs(60))
            .await
            .unwrap();
        let Ended::Exited { status, stderr } = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(status.code(), Some(3));
        assert!(stderr.starts_with("...xxx"), "{}", &stderr[..20]);
        assert!(
            stderr.ends_with("x the reason"),
            "{}",
            &stderr[stderr.len() - 20..]
        );
        assert!(stderr.len() <= STDERR_TAIL_LIMIT + 3, "{}", stderr.len());
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_says_so() {
        let mut command = tokio::process::Command::new("/nonexistent/hook");
        let failed = run(&mut command, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(failed, Failed::Start(_)), "{failed:?}");
    }
}
