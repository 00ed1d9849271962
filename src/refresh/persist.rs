//! The dns-persist-01 step of the refresh: the issuer domain name of each CA whose records
//! certform writes without an `issuer_domain_name` in the configuration, read from its
//! directory. A CA that cannot be reached is a warning; the record's value is then known
//! after apply.

use crate::desired::model::{Desired, SolverSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Issuer domain names by directory URL.
pub fn issuers(desired: &Desired) -> BTreeMap<String, String> {
    let wanted: BTreeMap<String, Option<PathBuf>> = desired
        .certificates
        .values()
        .filter(|cert| {
            cert.solver_for.values().any(|solver| {
                matches!(
                    desired.solvers.get(solver),
                    Some(SolverSpec::DnsPersist(spec))
                        if spec.via.is_some() && spec.issuer_domain_name.is_none()
                )
            })
        })
        .filter_map(|cert| desired.accounts.get(&cert.account))
        .map(|account| (account.directory.clone(), account.ca_bundle.clone()))
        .collect();
    if wanted.is_empty() {
        return BTreeMap::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("warning: issuer domain names not read: cannot start the async runtime: {e}");
            return BTreeMap::new();
        }
    };
    runtime.block_on(async {
        let mut found = BTreeMap::new();
        for (directory, ca_bundle) in wanted {
            match crate::acme::issuer_domain_name(&directory, ca_bundle.as_deref()).await {
                Ok(issuer) => {
                    found.insert(directory, issuer);
                }
                Err(e) => eprintln!(
                    "warning: the dns-persist-01 issuer domain name of {directory} is known after apply: {e}"
                ),
            }
        }
        found
    })
}
