//! Two applies on one state: a hung apply (stopped with SIGSTOP) keeps its lock; the second
//! apply names the holder; `force-unlock ID` removes that lock; the hung apply, resumed,
//! does not write the state the new holder wrote, so the state stays whole.

use crate::support;

use std::time::Duration;
use support::kill_harness::check_state;
use support::pebble::Pebble;
use support::project::{cert_block, text, Endpoint, Project};

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

#[test]
fn a_hung_apply_keeps_the_lock_until_force_unlock_and_does_not_overwrite_the_new_holder() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    let slow = r#"output "hold" {
    cert      = "tls/hold/cert.pem"
    on_change = ["sleep", "2"]
  }"#;
    p.config(&cert_block("hung", &["hung.hardening.test"], slow));
    let hung = p
        .command(&["apply", "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Freeze it once it has saved its certificate and deployed its outputs (the slow hook
    // runs then).
    let identity = p.identity();
    let deployed = || {
        p.stored().is_some_and(|stored| {
            stored
                .state
                .certificates
                .values()
                .any(|c| c.outputs.contains_key("hold"))
        })
    };
    for _ in 0..2000 {
        if deployed() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(deployed(), "the first apply never deployed its outputs");
    signal(&hung, libc::SIGSTOP);

    let second = p.expect(&["apply", "--auto-approve", "--lock-timeout", "1s"], 1);
    assert!(second.contains(&format!("pid {}", hung.id())), "{second}");
    let id = second
        .split("locked by ID ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c == ',' || c.is_whitespace()).next())
        .unwrap_or_else(|| panic!("no lock ID in: {second}"))
        .to_string();

    let wrong = p.expect(&["force-unlock", "--force", "not-the-id"], 1);
    assert!(wrong.contains("does not match the current lock"), "{wrong}");
    let unlocked = p.expect(&["force-unlock", "--force", &id], 0);
    assert!(
        unlocked.contains("The state has been unlocked"),
        "{unlocked}"
    );

    // A new apply takes the lock and redeploys a deleted file (no order, so it needs no
    // HTTP-01 port, which the hung apply still holds).
    std::fs::remove_file(p.path("tls/hold/cert.pem")).unwrap();
    let redeployed = p.expect(&["apply", "--auto-approve"], 0);
    assert!(redeployed.contains("(redeploy): done"), "{redeployed}");
    let serial_after_takeover = p.stored().unwrap().state.serial;

    // The resumed apply finds its lock gone: whatever it does, it must not write the state.
    signal(&hung, libc::SIGCONT);
    let out = hung.wait_with_output().unwrap();
    let held = check_state(&p.state_path(), &identity).unwrap();
    assert_eq!(held.certificates, 1, "{}", text(&out));
    assert_eq!(
        p.stored().unwrap().state.serial,
        serial_after_takeover,
        "the resumed apply wrote the state:\n{}",
        text(&out)
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
