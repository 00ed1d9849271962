//! From the checked configuration to the [`Desired`] model: each resource block is read
//! against its schema, references are resolved to addresses, defaults applied, paths made
//! absolute, and each certificate domain is given a solver. Every problem is reported;
//! the model is returned only when there were none.

mod account;
mod backend;
mod certificate;
mod collisions;
mod dns_persist;
mod dns_solver;
mod for_each;
mod output;
pub mod schema;
mod settings;
mod solver;

use account::account;
use certificate::certificate;
use dns_persist::dns_persist_solver;
use dns_solver::dns_solver;
use for_each::certificate_instances;
use settings::certform_settings;
use solver::{http_solver, tls_alpn_solver};

pub use account::DIRECTORY_SHORTCUTS;
pub use certificate::parse_mode;
pub use dns_solver::dns_server;
pub use solver::listen_address;

use crate::address::{Address, Kind};
use crate::config::body::Got;
use crate::config::duration::{parse_duration, DURATION_HELP};
use crate::config::{BodyReader, Config, Evaluator, SourceFile, TopKind};
use crate::desired::domain::{choose_solver, normalize_domain, SolverCaps};
use crate::desired::model::*;
use crate::diag::{Diagnostics, SourceSpan};
use crate::keytype::KeyType;
use crate::secret::{ConfigSecret, Sensitive};
use hcl::edit::structure::Block;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

const SOLVER_KINDS: [Kind; 4] = [
    Kind::HttpSolver,
    Kind::DnsSolver,
    Kind::TlsAlpnSolver,
    Kind::DnsPersistSolver,
];

/// Builds the desired model; `None` when any error was reported (including earlier ones).
pub fn resolve(config: &Config, diags: &mut Diagnostics) -> Option<Desired> {
    let dir = &config.dir;
    let (state, parallelism) = certform_settings(config, diags);

    let mut accounts = BTreeMap::new();
    for (file, block, name) in config.blocks_of(TopKind::Resource(Kind::Account)) {
        let name = name.unwrap_or_default();
        if let Some(account) = account(config, file, block, name, diags) {
            accounts.insert(name.to_string(), account);
        }
    }

    // Solver capabilities by address; `None` for solvers that are declared but unusable
    // (already reported), so certificates naming them do not report follow-on errors.
    let mut solvers = BTreeMap::new();
    let mut caps: BTreeMap<Address, Option<SolverCaps>> = BTreeMap::new();
    for kind in SOLVER_KINDS {
        for (file, block, name) in config.blocks_of(TopKind::Resource(kind)) {
            let address = Address::new(kind, name.unwrap_or_default());
            match kind {
                Kind::HttpSolver => {
                    let spec = http_solver(config, file, block, &address, diags);
                    caps.insert(address.clone(), spec.as_ref().map(|_| SolverCaps::Http));
                    if let Some(spec) = spec {
                        solvers.insert(address, SolverSpec::Http(spec));
                    }
                }
                Kind::DnsSolver => {
                    let spec = dns_solver(config, file, block, &address, diags);
                    let zones = spec.as_ref().map(|s| SolverCaps::Dns {
                        zones: s.zones.clone(),
                    });
                    caps.insert(address.clone(), zones);
                    if let Some(spec) = spec {
                        solvers.insert(address, SolverSpec::Dns(spec));
                    }
                }
                Kind::DnsPersistSolver => {
                    let spec = dns_persist_solver(config, file, block, &address, diags);
                    let zones = spec.as_ref().map(|s| SolverCaps::DnsPersist {
                        zones: s.zones.clone(),
                        wildcard: s.wildcard,
                    });
                    caps.insert(address.clone(), zones);
                    if let Some(spec) = spec {
                        solvers.insert(address, SolverSpec::DnsPersist(spec));
                    }
                }
                _ => {
                    let spec = tls_alpn_solver(config, file, block, &address, diags);
                    caps.insert(address.clone(), spec.as_ref().map(|_| SolverCaps::TlsAlpn));
                    if let Some(spec) = spec {
                        solvers.insert(address, SolverSpec::TlsAlpn(spec));
                    }
                }
            }
        }
    }

    let mut certificates = BTreeMap::new();
    for (file, block, name) in config.blocks_of(TopKind::Resource(Kind::Certificate)) {
        let name = name.unwrap_or_default();
        for cert in certificate_instances(config, file, block, name, &caps, diags) {
            certificates.insert(cert.address.clone(), cert);
        }
    }
    collisions::output_collisions(config, state.as_ref(), &certificates, diags);

    if diags.has_errors() {
        return None;
    }
    Some(Desired {
        config_dir: dir.clone(),
        state: state?,
        parallelism: parallelism?,
        accounts,
        solvers,
        certificates,
    })
}

pub(super) fn optional_text(
    reader: &BodyReader,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<Option<String>> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) if text.trim().is_empty() => {
            diags.error(
                Some(span),
                "Empty value",
                format!(
                    "`{name}` in {} is empty; remove it or give a value.",
                    reader.what
                ),
            );
            None
        }
        Got::Value((text, _)) => Some(Some(text)),
    }
}

/// `path` made absolute against `dir`, with `.` and `..` resolved lexically.
pub fn absolute(dir: &Path, path: &str) -> PathBuf {
    let joined = dir.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::certificate::renew_before;
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address(":80"), Ok("0.0.0.0:80".to_string()));
        assert_eq!(
            listen_address("127.0.0.1:5002"),
            Ok("127.0.0.1:5002".to_string())
        );
        assert_eq!(listen_address("[::]:80"), Ok("[::]:80".to_string()));
        for bad in ["80", ":", ":0", ":99999", "::80", "a b:80"] {
            assert!(listen_address(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600"), Some(0o600));
        assert_eq!(parse_mode("644"), Some(0o644));
        for bad in ["", "0", "68", "0x644", "06444", "rw-"] {
            assert_eq!(parse_mode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn renew_before_forms() {
        assert_eq!(
            renew_before("30d"),
            Ok(RenewBefore::Remaining(Duration::from_secs(30 * 86400)))
        );
        assert_eq!(renew_before("33%"), Ok(RenewBefore::PercentOfLifetime(33)));
        for bad in ["0%", "100%", "0d", "soon", "33.3%"] {
            assert!(renew_before(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        let dir = Path::new("/etc/certform");
        assert_eq!(
            absolute(dir, "state/x"),
            PathBuf::from("/etc/certform/state/x")
        );
        assert_eq!(absolute(dir, "./a/../b"), PathBuf::from("/etc/certform/b"));
        assert_eq!(absolute(dir, "/abs"), PathBuf::from("/abs"));
    }
}
