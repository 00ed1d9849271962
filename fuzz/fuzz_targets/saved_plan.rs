//! Fuzzes the saved plan reader: arbitrary bytes as a plan file; a plan that parses is also
//! checked for freshness and rendered, as `certform show PLANFILE` and `apply PLANFILE` do.
//! Any panic is a bug; errors are expected.
#![no_main]

use certform::plan::saved::SavedPlan;
use certform::render::{plan, Style};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(saved) = SavedPlan::from_bytes(data, Path::new("fuzz.plan")) {
        let _ = saved.check_fresh("digest", None);
        let _ = plan::text(&saved.changes, Style { color: false });
    }
});
