//! The `exec` DNS provider: a command of the user's called as `COMMAND... present|cleanup
//! FQDN VALUE` in the configuration directory, with the same facts in the environment
//! (`CERTFORM_DNS_ACTION`, `CERTFORM_DNS_FQDN`, `CERTFORM_DNS_VALUE`, `CERTFORM_DNS_SOLVER`).
//! FQDN ends with a dot, as lego's exec provider passes it. A non-zero exit is an error
//! carrying the command's stderr. Like `on_change`, it does not inherit certform's secrets
//! (see [`HookEnv`]).

use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use crate::desired::model::ProviderSpec;
use crate::hook_env::HookEnv;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A hook that hangs must not hold the apply (and the state lock) forever.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of a failing hook's stderr an error quotes.
const STDERR_LIMIT: usize = 2000;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "exec",
    summary: "a command of yours, called as `COMMAND... present|cleanup FQDN VALUE` in the configuration directory (as lego's exec provider)",
    attributes: &[AttrSchema::new(
        "command",
        AttrKind::List,
        "argv of the command; certform appends `present|cleanup FQDN VALUE`",
    )
    .required("[\"./hooks/dns.sh\"]")],
    check,
    start,
};

fn check(attrs: &mut AttrCheck<'_>) {
    if attrs
        .list("command")
        .is_some_and(|command| command.first().is_none_or(|program| program.is_empty()))
    {
        let detail = format!(
            "`command` in {} must be a list of arguments whose first element is the program, such as [\"./hooks/dns.sh\"]; certform appends present|cleanup FQDN VALUE.",
            attrs.what
        );
        attrs.error("command", "Invalid command", detail);
    }
}

fn start<'a>(
    spec: &'a ProviderSpec,
    context: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let provider: Box<dyn DnsProvider> = Box::new(ExecHook {
            solver: context.solver.to_string(),
            command: spec.list("command").to_vec(),
            working_dir: spec.config_dir.clone(),
            env: context.hook_env.clone(),
        });
        Ok(provider)
    })
}

impl DnsProvider for ExecHook {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.run("present", name, value))
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.run("cleanup", name, value))
    }

    /// A command may fail half-way.
    fn atomic(&self) -> bool {
        false
    }
}

struct ExecHook {
    solver: String,
    command: Vec<String>,
    working_dir: PathBuf,
    env: HookEnv,
}

impl ExecHook {
    /// `action` is `present` or `cleanup`; `name` has no trailing dot.
    async fn run(&self, action: &str, name: &str, value: &str) -> Result<(), String> {
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
