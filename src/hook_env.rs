//! What a command of the user's that certform starts — an `on_change` hook, an `exec` DNS
//! solver — inherits from certform's environment: everything but the secrets certform was
//! handed for its own work. Those are the identity text (`CERTFORM_IDENTITY_KEY`) and every
//! variable whose value is one of the configuration's secrets (a TSIG secret, an EAB HMAC
//! key, a connection string), part of one (the password in
//! `conn_str = "postgres://u:${env("PGPW")}@db/certs"`), or that holds a sensitive value —
//! anything the configuration read with `env()` or `file()` (see [`crate::redact`]). Only
//! the secret attributes are searched for parts: a file read with `file()` may be large,
//! and ordinary values (a home directory) would be parts of it. A reload command
//! has no business with them, and a hook's own logging (`env`, `set -x`) must not be where
//! they end up.
//! Ambient credentials (AWS keys, a cloud CLI's login) are the environment's, not
//! certform's: hooks keep them, as with certbot, because deploy hooks use them (uploading
//! to ACM or S3 with the credentials CI put in the environment).

use crate::secret::Sensitive;
use std::ffi::OsString;

/// Variables withheld whatever their value.
const ALWAYS_WITHHELD: [&str; 1] = [crate::state::ENV_IDENTITY_KEY];

/// The names of the variables a hook does not inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookEnv {
    withheld: Vec<OsString>,
}

impl HookEnv {
    /// For certform's own environment, the configuration's `secrets` and the sensitive
    /// values registered while it was loaded.
    pub fn new(secrets: &[&Sensitive]) -> HookEnv {
        HookEnv::from_vars(std::env::vars_os(), secrets, crate::redact::is_sensitive)
    }

    /// `sensitive` says whether a value holds a sensitive value.
    fn from_vars(
        vars: impl Iterator<Item = (OsString, OsString)>,
        secrets: &[&Sensitive],
        sensitive: impl Fn(&str) -> bool,
    ) -> HookEnv {
        let holds_secret = |value: &OsString| {
            let value = value.to_string_lossy();
            let value = value.trim();
            // Shorter values are no secret and would match by chance ("1", "yes").
            let partial = value.chars().count() >= crate::redact::MIN_LEN;
            !value.is_empty()
                && (sensitive(value)
                    || secrets.iter().any(|secret| {
                        let secret = secret.expose().trim();
                        secret == value || (partial && !secret.is_empty() && secret.contains(value))
                    }))
        };
        let mut withheld: Vec<OsString> = ALWAYS_WITHHELD.iter().map(OsString::from).collect();
        withheld.extend(
            vars.filter(|(_, value)| holds_secret(value))
                .map(|(name, _)| name),
        );
        withheld.sort();
        withheld.dedup();
        HookEnv { withheld }
    }

    /// Removes the withheld variables from what `command` inherits.
    pub fn apply(&self, command: &mut tokio::process::Command) {
        for name in &self.withheld {
            command.env_remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn withholds_the_identity_and_variables_holding_a_config_secret() {
        let tsig = Sensitive::new("c2VjcmV0LXRzaWcta2V5");
        let conn_str = Sensitive::new("postgres://u:pg-pass-word@db/certs");
        let env = HookEnv::from_vars(
            vars(&[
                ("TSIG_SECRET", "c2VjcmV0LXRzaWcta2V5\n"),
                ("PGPW", "pg-pass-word"),
                ("TOKEN", "from-file-or-env"),
                ("PATH", "/usr/bin"),
                ("PGUSER", "u"),
                ("EMPTY", ""),
                ("AWS_PROFILE", "dns"),
                ("AWS_SECRET_ACCESS_KEY", "ambient"),
            ]),
            &[&tsig, &conn_str, &Sensitive::new("")],
            |value| value == "from-file-or-env",
        );
        let names: Vec<&str> = env.withheld.iter().map(|n| n.to_str().unwrap()).collect();
        assert_eq!(
            names,
            ["CERTFORM_IDENTITY_KEY", "PGPW", "TOKEN", "TSIG_SECRET"]
        );
    }

    #[tokio::test]
    async fn a_command_does_not_see_withheld_variables() {
        let env = HookEnv {
            withheld: vec![OsString::from("HOOK_ENV_TEST_SECRET")],
        };
        let mut command = tokio::process::Command::new("sh");
        command
            .args(["-c", "echo \"${HOOK_ENV_TEST_SECRET:-unset} $0\"", "ran"])
            .env("HOOK_ENV_TEST_SECRET", "inherited");
        env.apply(&mut command);
        let out = command.output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "unset ran\n");
    }
}
