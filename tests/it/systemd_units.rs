//! The systemd units in `examples/systemd/`: `systemd-analyze verify` accepts the service and
//! the timer without a warning about either, the service runs the unattended job hardened as
//! its README says, and its command line is one certform accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

const SERVICE: &str = "certform-renew.service";
const TIMER: &str = "certform-renew.timer";
/// Where the shipped service expects the binary (the README installs it there).
const INSTALLED_BINARY: &str = "/usr/local/bin/certform";

fn unit_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The service's `ExecStart=` value: the binary and its arguments.
fn exec_start(service: &str) -> Vec<String> {
    let line = service
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("the service has an ExecStart= line");
    line.split_whitespace().map(str::to_owned).collect()
}

/// Both units in a scratch directory, the service pointing at the certform this test built
/// (verify checks that the ExecStart binary exists and is executable).
fn units_in_scratch_dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let service = unit_text(SERVICE).replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_certform"));
    let service_path = dir.path().join(SERVICE);
    let timer_path = dir.path().join(TIMER);
    std::fs::write(&service_path, service).expect("write service");
    std::fs::write(&timer_path, unit_text(TIMER)).expect("write timer");
    (dir, service_path, timer_path)
}

#[test]
fn systemd_analyze_verify_accepts_both_units_without_warnings() {
    let (_dir, service, timer) = units_in_scratch_dir();
    let out = match Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&service)
        .arg(&timer)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run systemd-analyze ({e}): install it with `apt-get install systemd` \
             (scripts/test installs it when missing)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    // Unknown keys and bad values are only warnings (exit 0): any line about our units fails.
    let about_ours: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("certform-renew"))
        .collect();
    assert!(
        about_ours.is_empty(),
        "systemd-analyze verify warned:\n{}",
        about_ours.join("\n")
    );
}

#[test]
fn the_service_runs_the_unattended_job_hardened() {
    let service = unit_text(SERVICE);
    let command = exec_start(&service).join(" ");
    assert!(
        command.starts_with(&format!(
            "{INSTALLED_BINARY} apply --only renewals --auto-approve"
        )),
        "{command}"
    );
    for directive in [
        "User=certform",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/certform /etc/ssl/certform",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "LoadCredential=identity:/etc/certform/identity.txt",
    ] {
        assert!(
            service.lines().any(|l| l == directive),
            "the service lacks {directive}"
        );
    }
    let timer = unit_text(TIMER);
    for directive in [
        "OnCalendar=daily",
        "RandomizedDelaySec=12h",
        "Persistent=true",
    ] {
        assert!(
            timer.lines().any(|l| l == directive),
            "the timer lacks {directive}"
        );
    }
}

#[test]
fn the_services_command_line_is_one_certform_accepts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args: Vec<String> = exec_start(&unit_text(SERVICE))
        .into_iter()
        .skip(1)
        .map(|arg| arg.replace("%d", &dir.path().display().to_string()))
        .collect();
    // An empty configuration directory: certform gets past its argument parsing and stops
    // at the missing configuration, not at a flag it does not know.
    let out = Command::new(env!("CARGO_BIN_EXE_certform"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .expect("certform runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No configuration files"), "{stderr}");
}
