//! Runs a command and measures what a user would: wall time and peak resident memory
//! (from `wait4`'s rusage, so it is the child's own peak, not the benchmark's).

use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
}

/// Runs `command` to completion; panics with its output when it fails.
pub fn run(command: &mut Command) -> Run {
    let started = Instant::now();
    // Reaped by wait4 below (not `Child::wait`), which also reports the peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 fills it in for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our direct child, `status` and `usage` are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    if !(libc::WIFEXITED(status) && matches!(libc::WEXITSTATUS(status), 0 | 2)) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        panic!("{command:?} failed (status {status}): {stderr}");
    }
    Run {
        wall,
        peak_rss_kib: usage.ru_maxrss as u64,
    }
}

/// The median of `samples` runs (by wall time).
pub fn median(samples: usize, mut one: impl FnMut() -> Run) -> Run {
    let mut runs: Vec<Run> = (0..samples).map(|_| one()).collect();
    runs.sort_by_key(|r| r.wall);
    runs[runs.len() / 2]
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}
