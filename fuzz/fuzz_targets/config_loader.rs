//! Fuzzes the configuration loader: arbitrary bytes as `main.hcl`, loaded, resolved and, when
//! refused, rendered as diagnostics (spans into arbitrary text are where a renderer breaks).
//! Any panic is a bug; errors are expected.
#![no_main]

use certform::config::SecretEnv;
use certform::desired::{load, VarInputs};
use certform::render::diagnostics::render_diagnostics;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch configuration directory per fuzzing process, rewritten for every input.
fn config_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("certform-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = config_dir();
    std::fs::write(dir.join("main.hcl"), data).unwrap();
    if let Err(diags) = load(dir, &VarInputs::default(), SecretEnv::MayBeUnset) {
        let _ = render_diagnostics(&diags, false);
    }
});
