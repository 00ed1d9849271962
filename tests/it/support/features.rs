//! Cargo features in fixture cases: a case's `features.txt` lists the features its
//! configuration uses; a build without one must refuse the case by naming it.

use std::path::Path;

/// The features `case/features.txt` lists that this build of certform lacks.
pub fn missing(case: &Path) -> Vec<String> {
    let listed = std::fs::read_to_string(case.join("features.txt")).unwrap_or_default();
    listed
        .split_whitespace()
        .filter(|feature| !certform::features::ALL.contains(&(feature, true)))
        .map(str::to_string)
        .collect()
}

/// What a build without `feature` says about a configuration that uses it.
pub fn refusal(feature: &str) -> String {
    format!("certform was built without the `{feature}` feature")
}
