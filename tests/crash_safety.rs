//! Crash and interrupt survival of `apply`: SIGKILL at seeded random moments during an apply
//! of 20 certificates (the state stays whole, no issued key is lost, the next apply
//! converges), SIGINT (stop scheduling, finish what runs, save, exit non-zero), and a
//! self-test showing the kill harness catches a write path that is not crash-safe.

mod support;

use certform::state::model::{AccountSecret, AccountState, Secrets, State};
use certform::state::{encode, LocalStore, Persister, StateStore};
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::hardened::{many_certs, text, Endpoint, Project};
use support::kill_harness::{check_state, kill_after, KillPlan};
use support::pebble::Pebble;

const CERTIFICATES: usize = 20;
const TRIALS: usize = 20;

#[test]
fn sigkill_at_random_moments_loses_no_key_and_the_next_apply_converges() {
    let pebble = Pebble::start();
    let endpoint = Endpoint::of(&pebble);
    let config = many_certs(CERTIFICATES, "kill.hardening.test");

    // The kill moments spread over an uninterrupted apply's duration on this machine.
    let calibration = Project::new(&endpoint);
    calibration.config(&config);
    let started = Instant::now();
    calibration.expect(&["apply", "--auto-approve"], 0);
    let plan = KillPlan::new(TRIALS, started.elapsed());

    let mut interrupted_mid_apply = 0;
    for (trial, &delay) in plan.delays.iter().enumerate() {
        let context = format!(
            "trial {trial}, SIGKILL after {delay:?} ({})",
            plan.reproduce()
        );
        // A fresh CA per trial, without authorization reuse: in two suite runs the CA
        // stopped answering every request after a kill (its in-memory store takes a global
        // lock, and reusing the killed apply's authorizations waits on them). Should it
        // recur, the failure message carries Pebble's goroutine dump.
        let mut pebble = Pebble::builder().env("PEBBLE_AUTHZREUSE", "0").start();
        let roots = pebble.issuing_roots_pem();
        let p = Project::new(&Endpoint::of(&pebble));
        p.config(&config);
        let started = Instant::now();
        let mut apply = p.spawn(&["apply", "--auto-approve"]);
        if kill_after(&mut apply, started, delay) {
            interrupted_mid_apply += 1;
        }
        let identity = p.identity();
        let held = check_state(&p.state_path(), &identity)
            .unwrap_or_else(|e| panic!("{context}: after the kill, {e}"));

        let out = p.run(&["apply", "--auto-approve"]);
        if out.status.code() != Some(0) {
            panic!(
                "{context}: the follow-up apply failed (state held {held:?}):\n{}\n\
                 Pebble's log and goroutine dump:\n{}",
                text(&out),
                pebble.goroutine_dump()
            );
        }
        let after = check_state(&p.state_path(), &identity)
            .unwrap_or_else(|e| panic!("{context}: after the follow-up apply, {e}"));
        assert_eq!(after.certificates, CERTIFICATES, "{context}");
        let again = p.expect(&["plan", "--detailed-exitcode"], 0);
        assert!(again.contains("No changes."), "{context}: {again}");
        assert_deployed_keys_match_state(&p, &context);
        verify_all(&p, &roots, &context);
    }
    // Moments past the end of an apply test nothing; most must fall inside one.
    assert!(
        interrupted_mid_apply >= TRIALS / 2,
        "only {interrupted_mid_apply} of {TRIALS} kills hit a running apply ({})",
        plan.reproduce()
    );
}

/// Every deployed key file holds the key the state has for that certificate.
fn assert_deployed_keys_match_state(p: &Project, context: &str) {
    let secrets = p.secrets();
    for (address, secret) in &secrets.certificates {
        let name = address.to_string();
        let name = name.trim_start_matches("certificate.");
        let deployed = fs::read_to_string(p.path(&format!("tls/{name}/privkey.pem")))
            .unwrap_or_else(|e| panic!("{context}: {address}: no deployed key: {e}"));
        assert_eq!(
            deployed,
            secret.private_key_pem.expose(),
            "{context}: {address}: the deployed key is not the one in state"
        );
    }
}

/// `openssl verify` of every deployed certificate in one call (they share the chain).
fn verify_all(p: &Project, roots_pem: &str, context: &str) {
    let root = p.path("issuing-root.pem");
    fs::write(&root, roots_pem).unwrap();
    let mut verify = Command::new("openssl");
    verify
        .arg("verify")
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(p.path("tls/c0/chain.pem"));
    for i in 0..CERTIFICATES {
        verify.arg(p.path(&format!("tls/c{i}/cert.pem")));
    }
    let out = verify
        .output()
        .expect("openssl is needed: apt-get install -y openssl");
    assert!(out.status.success(), "{context}: {}", text(&out));
}

#[test]
fn sigint_stops_scheduling_saves_what_finished_and_exits_non_zero() {
    let pebble = Pebble::start();
    let p = Project::new(&Endpoint::of(&pebble));
    p.config(&many_certs(CERTIFICATES, "int.hardening.test"));
    let apply = p
        .command(&["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once some certificates are saved and most are still to do.
    let identity = p.identity();
    let mut saved = 0;
    for _ in 0..3000 {
        saved = check_state(&p.state_path(), &identity)
            .unwrap()
            .certificates;
        if saved >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(saved >= 2, "apply saved no certificate");
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(apply.id() as i32, libc::SIGINT) }, 0);
    let out = apply.wait_with_output().unwrap();
    let all = text(&out);

    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("Interrupt received: no new action starts"),
        "{all}"
    );
    assert!(all.contains("not started: apply was interrupted"), "{all}");
    assert!(all.contains("Apply was interrupted"), "{all}");
    let held = check_state(&p.state_path(), &identity).unwrap();
    assert!(
        held.certificates < CERTIFICATES,
        "apply went on after the interrupt: {held:?}\n{all}"
    );
    // Every action that reported done is in the saved state.
    let done = all.matches("(issue): done").count();
    assert_eq!(done, held.certificates, "{all}");
    // Nothing half-written is left next to the state.
    let leftovers: Vec<_> = fs::read_dir(p.path("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

/// How the harness self-test's victim writes: the real write path, or a broken one.
const VICTIM_ENV: &str = "CERTFORM_HARNESS_VICTIM";

/// Not a test by itself: the victim process of the self-test below (it returns at once
/// unless started by it). It writes a growing state again and again until killed.
#[test]
fn harness_victim() {
    let Ok(mode) = std::env::var(VICTIM_ENV) else {
        return;
    };
    let state_path = std::path::PathBuf::from(std::env::var("VICTIM_STATE").unwrap());
    let recipient = std::env::var("VICTIM_RECIPIENT").unwrap();
    let store = LocalStore::new(state_path.clone());
    let lock = store.lock("apply", Duration::from_secs(5)).unwrap();
    let mut persister = Persister::new(Box::new(store), lock, vec![recipient.clone()], None);
    let (mut state, mut secrets) = (State::new(), Secrets::default());
    for i in 0.. {
        add_account(&mut state, &mut secrets, i);
        match mode.as_str() {
            "atomic" => persister.persist(&mut state, &secrets).unwrap(),
            "in-place" => {
                // The mistake the harness must catch: overwriting the file where it is.
                state.serial += 1;
                let bytes = encode(&state, &secrets, std::slice::from_ref(&recipient)).unwrap();
                let (head, tail) = bytes.split_at(bytes.len() / 2);
                let mut file = fs::File::create(&state_path).unwrap();
                std::io::Write::write_all(&mut file, head).unwrap();
                // A slow disk: a crash now leaves half a document.
                std::thread::sleep(Duration::from_millis(5));
                std::io::Write::write_all(&mut file, tail).unwrap();
            }
            other => panic!("unknown victim mode {other}"),
        }
    }
}

fn add_account(state: &mut State, secrets: &mut Secrets, i: u32) {
    let now = time::OffsetDateTime::now_utc();
    let name = format!("a{i}");
    state.accounts.insert(
        name.clone(),
        AccountState {
            directory: "https://ca.invalid/dir".into(),
            account_url: format!("https://ca.invalid/acct/{i}"),
            contact: vec![],
            key_type: certform::keytype::KeyType::EcdsaP256,
            key_created_at: now,
            created_at: now,
            ca_bundle: None,
            deactivate_on_destroy: false,
        },
    );
    secrets.accounts.insert(
        name,
        AccountSecret {
            credentials: certform::secret::Sensitive::new(format!("{{\"key\":{i}}}")),
        },
    );
}

/// Runs the harness's trials against the victim; returns the first violation found.
fn harness_finds_a_violation(mode: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let identity_path = dir.path().join("identity.txt");
    let recipient = certform::state::generate_identity(&identity_path).unwrap();
    let identity = certform::state::Identity::parse(
        &fs::read_to_string(&identity_path).unwrap(),
        "the victim's identity",
    )
    .unwrap();
    let plan = KillPlan::new(TRIALS, Duration::from_millis(150));
    for (trial, &delay) in plan.delays.iter().enumerate() {
        let state_path = dir.path().join(format!("trial{trial}.certstate"));
        let started = Instant::now();
        let mut victim = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "harness_victim",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(VICTIM_ENV, mode)
            .env("VICTIM_STATE", &state_path)
            .env("VICTIM_RECIPIENT", &recipient)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill only once the victim has written, so every trial tests a write.
        while !state_path.exists() {
            assert!(victim.try_wait().unwrap().is_none(), "the victim exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            kill_after(&mut victim, started, delay),
            "the victim exited by itself"
        );
        if let Err(violation) = check_state(&state_path, &identity) {
            return Some(format!("trial {trial}: {violation}"));
        }
    }
    None
}

#[test]
fn the_kill_harness_catches_a_write_path_that_is_not_crash_safe() {
    let found = harness_finds_a_violation("in-place");
    assert!(
        found.is_some(),
        "the harness missed torn writes of an in-place write path"
    );
    assert!(
        found.as_deref().unwrap().contains("does not decode"),
        "{found:?}"
    );
    // The same trials against certform's own write path find nothing.
    assert_eq!(harness_finds_a_violation("atomic"), None);
}
