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
    crate::runtime::block_on(async {
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

/// Warnings about records managed elsewhere (a `dns_persist_solver` without `via`): each
/// name's `_validation-persist` record must exist and name this configuration's account, or
/// the order it is for fails. Checked only for accounts already registered (a new account's
/// URL is not known yet).
pub fn check_records_elsewhere(
    desired: &Desired,
    state: &crate::state::model::State,
) -> Vec<String> {
    use crate::plan::persist::{record_address, RecordValue, RECORD_LABEL};
    let mut wanted: BTreeMap<crate::address::Address, (String, String, Vec<String>)> =
        BTreeMap::new();
    for cert in desired.certificates.values() {
        let Some(account) = state.accounts.get(&cert.account) else {
            continue;
        };
        for (domain, solver) in &cert.solver_for {
            if let Some(SolverSpec::DnsPersist(spec)) = desired.solvers.get(solver) {
                if spec.via.is_none() {
                    wanted.entry(record_address(solver, domain)).or_insert((
                        cert.account.clone(),
                        account.account_url.clone(),
                        spec.resolvers.clone(),
                    ));
                }
            }
        }
    }
    if wanted.is_empty() {
        return Vec::new();
    }
    crate::runtime::block_on(async {
        let mut warnings = Vec::new();
        for (address, (account, url, resolvers)) in wanted {
            let name = format!(
                "{RECORD_LABEL}.{}",
                address.key.as_deref().unwrap_or_default()
            );
            match crate::solver::txt_values(&name, &resolvers).await {
                Err(e) => warnings.push(format!("{address}: cannot read {name}: {e}")),
                Ok(values) if values.is_empty() => warnings.push(format!(
                    "{address}: {name} has no TXT record, so orders through it will fail; it must say \"<issuer>; accounturi={url}\" (account.{account})"
                )),
                Ok(values) => {
                    let named: Vec<String> = values
                        .iter()
                        .filter_map(|v| RecordValue::parse(v))
                        .map(|v| v.account_url)
                        .collect();
                    if !named.contains(&url) {
                        warnings.push(format!(
                            "{address}: {name} names another account (accounturi={}), so orders through it will fail; account.{account} is {url}",
                            named.join(", accounturi=")
                        ));
                    }
                }
            }
        }
        warnings
    })
}
