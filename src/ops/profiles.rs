//! `profile` checked against what the CA offers before anything is ordered: the directory's
//! `meta.profiles` (draft-ietf-acme-profiles), read with a plain GET when `plan` or `apply`
//! plans. A profile the CA does not list is an error naming the ones it does; a CA that
//! cannot be reached leaves the check to the order (the ARI step already warns about it).

use crate::address::Address;
use crate::desired::model::Desired;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One CA as certform reaches it: (directory URL, ca_bundle).
type Ca = (String, Option<PathBuf>);

/// Fails when a configured certificate asks its CA for a profile the CA does not offer.
pub fn check(desired: &Desired) -> Result<()> {
    let mut by_ca: BTreeMap<Ca, Vec<(&Address, &str)>> = BTreeMap::new();
    for (address, spec) in &desired.certificates {
        let (Some(profile), Some(account)) =
            (spec.profile.as_deref(), desired.accounts.get(&spec.account))
        else {
            continue;
        };
        by_ca
            .entry((account.directory.clone(), account.ca_bundle.clone()))
            .or_default()
            .push((address, profile));
    }
    if by_ca.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    for ((directory, ca_bundle), wanted) in by_ca {
        let offered = crate::runtime::block_on(crate::acme::offered_profiles(
            &directory,
            ca_bundle.as_deref(),
        ));
        let offered = match offered {
            Ok(offered) => offered,
            Err(e) => {
                tracing::debug!("profiles not checked: {directory} could not be read ({e})");
                continue;
            }
        };
        let listed = |names: &[String]| {
            let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            quoted.join(", ")
        };
        for (address, profile) in wanted {
            match &offered {
                Some(names) if names.iter().any(|n| n == profile) => {}
                Some(names) => problems.push(format!(
                    "{address} asks for the profile {profile:?}, which the CA at {directory} does not offer; it offers {} (its directory's meta.profiles)",
                    listed(names)
                )),
                None => problems.push(format!(
                    "{address} asks for the profile {profile:?}, but the CA at {directory} offers no profiles (its directory has no meta.profiles); remove `profile`"
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Acme(format!("{}.", problems.join(".\n"))))
    }
}
