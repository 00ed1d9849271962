//! Fuzzes the state decoder: arbitrary bytes as a state document, decoded (public half) and,
//! when that succeeds, opened with a fixed identity (age armor, decryption, seal checks).
//! Any panic is a bug; errors are expected.
#![no_main]

use certform::state::{decode, generate_identity, Identity};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("certform-fuzz-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("identity.txt");
        generate_identity(&path).unwrap();
        Identity::parse(&std::fs::read_to_string(&path).unwrap(), "the fuzz identity").unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(stored) = decode(data) {
        let _ = stored.open_secrets(identity());
    }
});
