//! Runs a command and measures what a user would: wall time and peak resident memory
//! (from `wait4`'s rusage, so it is the child's own peak, not the benchmark's), and the CPU
//! time it used.

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    /// User and system time.
    pub cpu: Duration,
}

fn cpu_of(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// User and system time this process has used so far, all threads.
pub fn own_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value, and getrusage fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for writes.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    cpu_of(&usage)
}

/// Runs `command` to completion; panics with its output when it fails.
pub fn run(command: &mut Command) -> Run {
    run_within(command, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `command` to completion, killing it once `limit` has passed; `Err` says how it
/// failed (exit status and standard error, or the limit).
pub fn run_within(command: &mut Command, limit: Option<Duration>) -> Result<Run, String> {
    let described = format!("{command:?}");
    let started = Instant::now();
    // Reaped by wait4 below (not `Child::wait`), which also reports the peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let pid = child.id() as libc::pid_t;
    // The watcher notes when the child exits but leaves it unreaped (WNOWAIT), so its pid
    // stays ours until the wait4 below: killing it on timeout can never hit another process.
    let (exited, exit) = mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: an all-zero siginfo_t is a valid value, and waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our direct child and `info` is valid for writes.
        unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        let _ = exited.send(started.elapsed());
    });
    let waited = match limit {
        None => Ok(exit.recv().expect("the watcher reports")),
        Some(limit) => exit.recv_timeout(limit).map_err(|_| {
            // SAFETY: `pid` is our child, not reaped yet (see above).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            format!("{described} did not finish within {limit:?}")
        }),
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 fills it in for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our direct child, `status` and `usage` are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let wall = waited?;
    let peak_rss_kib = usage.ru_maxrss as u64;
    if !(libc::WIFEXITED(status) && matches!(libc::WEXITSTATUS(status), 0 | 2)) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        return Err(format!("{described} failed (status {status}): {stderr}"));
    }
    Ok(Run {
        wall,
        peak_rss_kib,
        cpu: cpu_of(&usage),
    })
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
