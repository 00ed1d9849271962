//! Validates JSON documents against the schemas in `schemas/`, failing with every error.

use std::path::Path;

/// Panics, listing every violation, unless `instance` is valid against `schemas/NAME`.
pub fn assert_valid(name: &str, instance: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the schema file exists"))
            .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid against {name}:\n{}\n\n{instance:#}",
        errors.join("\n")
    );
}
