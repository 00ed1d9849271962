//! The `exec` DNS provider: a command of the user's called as `COMMAND... present|cleanup
//! FQDN VALUE` in the configuration directory, with the same facts in the environment
//! (`CERTFORM_DNS_ACTION`, `CERTFORM_DNS_FQDN`, `CERTFORM_DNS_VALUE`, `CERTFORM_DNS_SOLVER`).
//! FQDN ends with a dot, as lego's exec provider passes it. A non-zero exit is an error
//! carrying the command's stderr. Like `on_change`, it does not inherit certform's secrets
//! (see [`HookEnv`]), runs in a process group of its own, killed whole after `timeout`
//! (5 minutes unless set), and is done when it exits (see [`crate::child`]).

use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use crate::child::{self, Ended, Failed, DEFAULT_HOOK_TIMEOUT};
use crate::config::duration::{format_duration, positive_duration};
use crate::desired::model::ProviderSpec;
use crate::hook_env::HookEnv;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;


pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "exec",
    summary: "a command of yours, called as `COMMAND... present|cleanup FQDN VALUE` in the configuration directory (as lego's exec provider)",
    attributes: &[
        AttrSchema::new(
            "command",
            AttrKind::List,
            "argv of the command; certform appends `present|cleanup FQDN VALUE`",
        )
        .required("[\"./hooks/dns.sh\"]"),
        AttrSchema::new(
            "timeout",
            AttrKind::Text,
            "how long one call may run before it is killed with its process group, such as `\"10m\"`",
        )
        .default("5m"),
    ],
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
    if let Some(Err(why)) = attrs.text("timeout").map(positive_duration) {
        let detail = format!("`timeout` in {}: {why}.", attrs.what);
        attrs.error("timeout", "Invalid timeout", detail);
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
            // `check` refused a timeout that does not parse.
            timeout: spec
                .text("timeout")
                .and_then(|t| positive_duration(t).ok())
                .unwrap_or(DEFAULT_HOOK_TIMEOUT),
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
    timeout: Duration,
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
        command
            .args(args)
            .args([action, &fqdn, value])
            .current_dir(&self.working_dir)
            .env("CERTFORM_DNS_ACTION", action)
            .env("CERTFORM_DNS_FQDN", &fqdn)
            .env("CERTFORM_DNS_VALUE", value)
            .env("CERTFORM_DNS_SOLVER", &self.solver)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match child::run(&mut command, self.timeout).await {
            Ok(Ended::Exited { status, .. }) if status.success() => Ok(()),
            Ok(Ended::Exited { status, stderr }) => Err(format!(
                "command {:?} {action} exited with {status}: {stderr}",
                self.command
            )),
            Ok(Ended::TimedOut) => Err(format!(
                "command {:?} {action} did not finish within {}; it was killed with its \
                 process group (set `timeout` on the solver to allow longer)",
                self.command,
                format_duration(self.timeout)
            )),
            Err(Failed::Start(e)) => Err(format!("command {:?} could not start: {e}", self.command)),
            Err(Failed::Wait(e)) => Err(format!("command {:?} failed: {e}", self.command)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, dir: &std::path::Path) -> ExecHook {
        ExecHook {
            solver: "dns_solver.hook".into(),
            command: vec!["sh".into(), "-c".into(), script.into(), "hook".into()],
            working_dir: dir.to_path_buf(),
            env: HookEnv::default(),
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }

    /// A hook that starts a helper in the background (which inherits its stderr) is done
    /// when it exits, not when the helper closes the pipe.
    #[tokio::test]
    async fn a_hook_is_done_when_it_exits_whatever_it_left_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        hook("sleep 5 & echo \"$1 $2 $3\" > seen", dir.path())
            .run("present", "_acme-challenge.a.test", "v4lue")
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
        assert_eq!(seen.trim(), "present _acme-challenge.a.test. v4lue");
    }

    #[tokio::test]
    async fn a_hung_hook_is_killed_at_its_timeout_and_the_error_says_how_to_allow_longer() {
        let dir = tempfile::tempdir().unwrap();
        let hung = ExecHook {
            timeout: Duration::from_secs(1),
            ..hook("sleep 600", dir.path())
        };
        let err = hung
            .run("present", "_acme-challenge.a.test", "v4lue")
            .await
            .unwrap_err();
        assert!(
            err.contains("present did not finish within 1s; it was killed with its process group (set `timeout` on the solver"),
            "{err}"
        );
    }

    #[test]
    fn a_timeout_must_be_a_duration_longer_than_zero() {
        assert_eq!(positive_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(positive_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(positive_duration("0s").unwrap_err().contains("\"0s\" is not longer than zero"));
        assert!(positive_duration("ten minutes").unwrap_err().contains("is not a duration"));
        // The default the provider table shows is the one a solver without it gets.
        let default = PROVIDER.attributes.iter().find(|a| a.name == "timeout").unwrap();
        assert_eq!(positive_duration(default.default.unwrap()), Ok(DEFAULT_HOOK_TIMEOUT));
    }

    #[tokio::test]
    async fn a_failing_hook_is_an_error_with_its_action_status_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let err = hook("echo 'zone refused' >&2; exit 4", dir.path())
            .run("cleanup", "_acme-challenge.a.test", "v4lue")
            .await
            .unwrap_err();
        assert!(err.contains("cleanup exited with exit status: 4: zone refused"), "{err}");
    }
}
