//! The seeded SIGKILL harness: kills a process that writes a certform state at randomised
//! moments and checks what a crash at that moment leaves on disk.
//!
//! The moments come from a seed, so a failing run can be repeated: the seed is printed in
//! every failure message, and `CERTFORM_KILL_SEED=N` runs with that seed (otherwise each run
//! of the suite picks a new one, so the suite explores new moments over time).
//!
//! [`check_store`] is the crash invariant: the state, if any, decodes; its secret half
//! opens and its seal matches; every account in it has its credentials and every
//! certificate its private key, and that key is the one the certificate certifies.
//! [`check_state`] checks it for a local state file.

use certform::state::{Identity, LocalStore, StateStore};
use rand::{Rng, SeedableRng};
use rcgen::PublicKeyData;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// The environment variable that fixes the seed.
pub const SEED_ENV: &str = "CERTFORM_KILL_SEED";

/// The kill moments of one run: one delay (after the victim starts) per trial.
#[derive(Debug, Clone)]
pub struct KillPlan {
    pub seed: u64,
    pub delays: Vec<Duration>,
}

impl KillPlan {
    /// `trials` delays drawn uniformly from `[0, span]` with the seed from
    /// [`SEED_ENV`], or a fresh one.
    pub fn new(trials: usize, span: Duration) -> KillPlan {
        let seed = std::env::var(SEED_ENV)
            .ok()
            .map(|s| s.parse().expect("CERTFORM_KILL_SEED must be a number"))
            .unwrap_or_else(|| rand::thread_rng().gen());
        KillPlan::with_seed(seed, trials, span)
    }

    pub fn with_seed(seed: u64, trials: usize, span: Duration) -> KillPlan {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let span_us = span.as_micros().max(1) as u64;
        let delays = (0..trials)
            .map(|_| Duration::from_micros(rng.gen_range(0..=span_us)))
            .collect();
        KillPlan { seed, delays }
    }

    /// How to repeat this run, for failure messages.
    pub fn reproduce(&self) -> String {
        format!("reproduce with {SEED_ENV}={}", self.seed)
    }
}

/// Sends SIGKILL to `child` once `delay` has passed since `started` (at once if that is
/// already past) and reaps it. Returns whether it was still running when killed.
pub fn kill_after(child: &mut Child, started: Instant, delay: Duration) -> bool {
    let deadline = started + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(2)));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// What a state that passed [`check_state`] holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    pub accounts: usize,
    pub certificates: usize,
}

/// The crash invariant for a local state file.
pub fn check_state(state_path: &Path, identity: &Identity) -> Result<Holdings, String> {
    check_store(&LocalStore::new(state_path.to_path_buf()), identity)
}

/// The crash invariant (see the module comment) for the state in `store`; `Err` says what
/// is broken.
pub fn check_store(store: &dyn StateStore, identity: &Identity) -> Result<Holdings, String> {
    let stored = match store.read() {
        Ok(None) => return Ok(Holdings::default()),
        Ok(Some(stored)) => stored,
        Err(e) => return Err(format!("the state does not decode: {e}")),
    };
    let secrets = stored
        .open_secrets(identity)
        .map_err(|e| format!("the state's secrets do not open: {e}"))?;
    let state = &stored.state;
    for name in state.accounts.keys() {
        if !secrets.accounts.contains_key(name) {
            return Err(format!("account {name} is in state without its key"));
        }
    }
    for (address, certificate) in &state.certificates {
        let secret = secrets
            .certificates
            .get(address)
            .ok_or_else(|| format!("{address} is in state without its private key"))?;
        let key = rcgen::KeyPair::from_pem(secret.private_key_pem.expose())
            .map_err(|e| format!("{address}: its private key does not parse: {e}"))?;
        let spki = hex::encode(Sha256::digest(key.subject_public_key_info()));
        if spki != certificate.spki_sha256 {
            return Err(format!(
                "{address}: the private key in state is not the certified one"
            ));
        }
    }
    Ok(Holdings {
        accounts: state.accounts.len(),
        certificates: state.certificates.len(),
    })
}
