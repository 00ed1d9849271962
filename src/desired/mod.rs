//! The desired model and how configuration becomes it: [`load`] reads the configuration
//! directory (`config`), resolves references and applies defaults (`resolve`), and either
//! returns the model or every problem found, as diagnostics.

pub mod domain;
pub mod model;
pub mod resolve;
pub mod solver_specs;

use crate::config::{Config, SecretEnv};
use crate::diag::Diagnostics;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Values for input variables from the command line, in the order given.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var NAME=VALUE`, already split at the first `=`.
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`: HCL files of `name = value` lines.
    pub var_files: Vec<PathBuf>,
}

/// Reads, checks and resolves the configuration in `config_dir`. On failure, every
/// problem found is returned at once, with the sources needed to render it. `secret_env`
/// says whether secret attributes read with `env("NAME")` need their variable set.
pub fn load(
    config_dir: &Path,
    inputs: &VarInputs,
    secret_env: SecretEnv,
) -> Result<model::Desired, Diagnostics> {
    let mut diags = Diagnostics::new();
    let desired = Config::load(
        config_dir,
        &inputs.vars,
        &inputs.var_files,
        secret_env,
        &mut diags,
    )
    .and_then(|config| resolve::resolve(&config, &mut diags));
    if let Some(desired) = &desired {
        // Secret attributes are sensitive whether read by `env()` or written literally.
        desired
            .secrets()
            .iter()
            .for_each(|secret| crate::redact::register(secret.expose()));
    }
    match desired {
        Some(desired) if !diags.has_errors() => Ok(desired),
        _ => {
            diags.sort_by_location();
            Err(diags)
        }
    }
}

/// The configuration digest that binds saved plans: hex SHA-256 of the model's JSON, in
/// which every sensitive value is `(sensitive)`. A saved plan may lie in the open, and the
/// rest of the model is known to whoever reads the configuration, so a digest over a
/// sensitive value would let it be guessed offline; a plan binds it by where it is used
/// (and a secret attribute by its variable's name), not by its value.
pub fn digest(desired: &model::Desired) -> String {
    let mut json = serde_json::to_value(desired).expect("the desired model always serialises");
    crate::redact::json(&mut json);
    hex::encode(Sha256::digest(json.to_string()))
}
