//! The `exec` DNS provider: a command of the user's called as `COMMAND... present|cleanup
//! FQDN VALUE` in the configuration directory, with the same facts in the environment
//! (`CERTFORM_DNS_ACTION`, `CERTFORM_DNS_FQDN`, `CERTFORM_DNS_VALUE`, `CERTFORM_DNS_SOLVER`).
//! FQDN ends with a dot, as lego's exec provider passes it. A non-zero exit is an error
//! carrying the command's stderr. Like `on_change`, it does not inherit certform's secrets
//! (see [`HookEnv`]).

use crate::address::Address;
use crate::desired::model::ExecSpec;
use crate::hook_env::HookEnv;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A hook that hangs must not hold the apply (and the state lock) forever.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of a failing hook's stderr an error quotes.
const STDERR_LIMIT: usize = 2000;

pub(super) struct ExecHook {
    solver: String,
    command: Vec<String>,
    working_dir: PathBuf,
    env: HookEnv,
}

impl ExecHook {
    pub(super) fn new(solver: &Address, spec: &ExecSpec, env: HookEnv) -> ExecHook {
        ExecHook {
            solver: solver.to_string(),
            command: spec.command.clone(),
            working_dir: spec.working_dir.clone(),
            env,
        }
    }

    /// `action` is `present` or `cleanup`; `name` has no trailing dot.
    pub(super) async fn run(&self, action: &str, name: &str, value: &str) -> Result<(), String> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| "the command is empty".to_string())?;
        let fqdn = format!("{name}.");
        let mut command = tokio::process::Command::new(program);
        self.env.apply(&mut command);
        let child = command
            .args(args)
            .args([action, &fqdn, value])
            .current_dir(&self.working_dir)
            .env("CERTFORM_DNS_ACTION", action)
            .env("CERTFORM_DNS_FQDN", &fqdn)
            .env("CERTFORM_DNS_VALUE", value)
            .env("CERTFORM_DNS_SOLVER", &self.solver)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("command {:?} could not start: {e}", self.command))?;
        let output = tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                format!(
                    "command {:?} {action} did not finish within {}s",
                    self.command,
                    HOOK_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("command {:?} failed: {e}", self.command))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let tail = match stderr.char_indices().rev().nth(STDERR_LIMIT) {
            Some((cut, _)) => format!("...{}", &stderr[cut..]),
            None => stderr.to_string(),
        };
        Err(format!(
            "command {:?} {action} exited with {}: {}",
            self.command,
            output.status,
            if tail.is_empty() {
                "(no stderr)"
            } else {
                &tail
            }
        ))
    }
}
