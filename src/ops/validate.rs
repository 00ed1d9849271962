//! `certform validate`: loads the configuration and says what it declares. With `--json`,
//! the result is one JSON document on standard output for editors and CI
//! (`schemas/validate.schema.json`), also when the configuration is invalid; the exit code
//! is 1 then, with the count line on standard error.

use super::{load_desired, Exit, Globals};
use crate::config::SecretEnv;
use crate::desired;
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::render::diagnostics::{json as render_json, summary_line};

pub fn run(globals: &Globals) -> Result<Exit> {
    let desired = load_desired(globals)?;
    if !globals.quiet {
        println!(
            "Success! The configuration is valid: {} account(s), {} certificate(s), {} solver(s).",
            desired.accounts.len(),
            desired.certificates.len(),
            desired.solvers.len()
        );
    }
    Ok(Exit::Success)
}

pub fn json(globals: &Globals) -> Result<Exit> {
    let diags = match desired::load(&globals.config_dir, &globals.vars, SecretEnv::MayBeUnset) {
        Ok(_) => Diagnostics::new(),
        Err(diags) => diags,
    };
    print!("{}", render_json(&diags));
    if diags.has_errors() {
        return Err(Error::Config {
            count: diags.len(),
            rendered: format!("{}\n", summary_line(&diags)),
        });
    }
    Ok(Exit::Success)
}
