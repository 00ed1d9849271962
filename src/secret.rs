//! `Sensitive` wraps secret text (EAB HMAC keys, TSIG secrets, private keys in memory) so it
//! cannot leak by accident: `Debug`, `Display` and serialising it (for a digest) yield only
//! a placeholder, and the memory is zeroised on drop.
//! `ConfigSecret` is a secret attribute of the configuration, which may be left unknown by
//! commands that never use it.

use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(Zeroizing::new(value.into()))
    }

    /// The secret itself; call sites that use it should be few and obvious.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl std::fmt::Display for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// Serialised only as `(sensitive)`: the desired model is hashed into the configuration
/// digest of saved plans, and a digest over the secret (even an unsalted SHA-256 of it
/// alone) would let a weak one be guessed offline from a plan.
impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(crate::redact::PLACEHOLDER)
    }
}

/// A secret attribute of the configuration (a TSIG secret, an EAB HMAC key) as loaded.
/// Only `apply` uses these secrets, so every other command accepts a plain `env("NAME")`
/// whose variable is unset: a reviewer's `plan` then needs no secret, like it needs no
/// identity.
#[derive(Clone, Debug)]
pub enum ConfigSecret {
    /// The secret; `env` names the variable it was read from by a plain `env("NAME")`.
    Known {
        value: Sensitive,
        env: Option<String>,
    },
    /// A plain `env("NAME")` whose variable is not set (never in `apply`).
    Unset { env: String },
}

impl ConfigSecret {
    /// The secret, or why it is not known.
    pub fn value(&self) -> Result<&Sensitive, String> {
        match self {
            ConfigSecret::Known { value, .. } => Ok(value),
            ConfigSecret::Unset { env } => Err(format!(
                "the environment variable {env} is not set, and it holds a secret this needs"
            )),
        }
    }
}

/// For the configuration digest that binds saved plans: a secret read by `env("NAME")` is
/// identified by its variable's name, so a plan saved without the secret (by a reviewer)
/// binds the same configuration as the apply that has it; a secret written in the
/// configuration is not identified at all.
impl Serialize for ConfigSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ConfigSecret::Known { env: Some(env), .. } | ConfigSecret::Unset { env } => {
                serializer.serialize_str(&format!("env:{env}"))
            }
            ConfigSecret::Known { value, env: None } => value.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_from_the_environment_digests_the_same_known_or_not() {
        let known = ConfigSecret::Known {
            value: Sensitive::new("c2VjcmV0"),
            env: Some("TSIG_SECRET".into()),
        };
        let unset = ConfigSecret::Unset {
            env: "TSIG_SECRET".into(),
        };
        let json = |s: &ConfigSecret| serde_json::to_string(s).unwrap();
        assert_eq!(json(&known), json(&unset));
        assert!(!json(&known).contains("c2VjcmV0"));
        let literal = ConfigSecret::Known {
            value: Sensitive::new("c2VjcmV0"),
            env: None,
        };
        assert_eq!(json(&literal), "\"(sensitive)\"");
        assert!(unset
            .value()
            .unwrap_err()
            .contains("TSIG_SECRET is not set"));
        assert_eq!(known.value().unwrap().expose(), "c2VjcmV0");
    }
}
