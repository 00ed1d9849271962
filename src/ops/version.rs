//! `certform version`: the release, the git commit it was built from (embedded by
//! `build.rs`) and the cargo features compiled in, as text or JSON (for bug reports and
//! for pipelines that pin a build).

use crate::error::Result;
use crate::ops::Exit;
use serde::Serialize;

/// What `certform version --json` prints (schemas/version.schema.json).
#[derive(Debug, Serialize)]
pub struct Version {
    pub version: &'static str,
    /// The full git commit hash, or "unknown" when built outside a git checkout.
    pub commit: &'static str,
    pub features: Vec<&'static str>,
}

/// This binary's version.
pub fn current() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("CERTFORM_COMMIT"),
        features: crate::features::enabled(),
    }
}

/// Prints the version: `certform 0.1.0` with its commit and features, or the JSON.
pub fn run(json: bool) -> Result<Exit> {
    let version = current();
    if json {
        let text = serde_json::to_string_pretty(&version).expect("the version always serialises");
        println!("{text}");
    } else {
        let features = if version.features.is_empty() {
            "none".to_string()
        } else {
            version.features.join(", ")
        };
        println!(
            "certform {}\ncommit {}\nfeatures: {features}",
            version.version, version.commit
        );
    }
    Ok(Exit::Success)
}
