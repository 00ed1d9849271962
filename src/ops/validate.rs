//! `certform validate --json`: the result as one JSON document on standard output for
//! editors and CI (`schemas/validate.schema.json`), also when the configuration is invalid;
//! the exit code is 1 then, with the count line on standard error.

use super::{Exit, Globals};
use crate::config::SecretEnv;
use crate::desired;
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::render::diagnostics::{json as render_json, summary_line};

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
