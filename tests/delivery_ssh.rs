//! The `ssh` output kind against a real OpenSSH server started by the test.

mod support;

use std::process::Command;
use support::sshd::Sshd;

#[test]
fn harness_sshd_accepts_the_user_key_and_known_host() {
    let sshd = Sshd::start();
    let out = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            sshd.known_hosts().display()
        ))
        .arg("-i")
        .arg(sshd.identity_file())
        .args(["-p", &sshd.port().to_string()])
        .arg(format!("{}@127.0.0.1", sshd.user()))
        .arg("echo hello")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}
