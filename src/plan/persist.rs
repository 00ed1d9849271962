//! dns-persist-01 records as planned resources. A `dns_persist_solver` with `via` owns one
//! standing TXT record `_validation-persist.<name>` per name its certificates validate
//! through it, addressed `dns_persist_solver.NAME["<name>"]`, whose value
//! (draft-ietf-acme-dns-persist §3) is
//! `<issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix>]`.
//! The plan creates it, updates it when what it says changes (another account URL after a new
//! registration, the policy, `persist_until`, the issuer) and deletes it when no certificate
//! uses it; orders then touch no DNS. A key rollover keeps the account URL, so the record
//! stays. Pure, like `diff`: the issuer comes from the configuration or from what the refresh
//! read in the CA's directory (`Observed::persist_issuers`).

use super::{Action, AttrValue, Attributes, Change, Observed, Reason};
use crate::address::{Address, Kind};
use crate::desired::model::{Desired, DnsPersistSolverSpec, SolverSpec};
use crate::state::model::State;
use std::collections::BTreeMap;

/// The record name's first label.
pub const RECORD_LABEL: &str = "_validation-persist";

/// Shown for a value apply learns (an account not registered yet, an unreachable directory).
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordValue {
    pub issuer: String,
    pub account_url: String,
    pub wildcard: bool,
    pub persist_until: Option<i64>,
}

impl RecordValue {
    /// The TXT value.
    pub fn text(&self) -> String {
        let mut text = format!("{}; accounturi={}", self.issuer, self.account_url);
        if self.wildcard {
            text.push_str("; policy=wildcard");
        }
        if let Some(until) = self.persist_until {
            text.push_str(&format!("; persistUntil={until}"));
        }
        text
    }

    /// Reads a value certform wrote (parameters in any order, tags in any case).
    pub fn parse(text: &str) -> Option<RecordValue> {
        let mut parts = text.split(';').map(str::trim);
        let issuer = parts.next().filter(|i| !i.is_empty())?.to_string();
        let mut value = RecordValue {
            issuer,
            account_url: String::new(),
            wildcard: false,
            persist_until: None,
        };
        for part in parts {
            let (tag, v) = part.split_once('=')?;
            match tag.trim().to_ascii_lowercase().as_str() {
                "accounturi" => value.account_url = v.trim().to_string(),
                "policy" => value.wildcard = v.trim().eq_ignore_ascii_case("wildcard"),
                "persistuntil" => value.persist_until = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(value)
    }
}

/// A record the configuration asks for.
#[derive(Debug, Clone)]
pub struct WantedRecord {
    /// `_validation-persist.<name>`.
    pub name: String,
    /// The `dns_solver` that writes it.
    pub via: Address,
    /// The account whose URL it names.
    pub account: String,
    /// `None` until apply knows the account URL or the issuer.
    pub value: Option<RecordValue>,
}

/// The record address for `domain` (a wildcard's base name) under `solver`.
pub fn record_address(solver: &Address, domain: &str) -> Address {
    solver
        .clone()
        .with_key(domain.strip_prefix("*.").unwrap_or(domain))
}

/// Every record the configuration asks for, by address. Two certificates of different
/// accounts on one name share the record of the first (in address order).
pub fn wanted(
    desired: &Desired,
    state: &State,
    observed: &Observed,
) -> BTreeMap<Address, WantedRecord> {
    let mut records = BTreeMap::new();
    for cert in desired.certificates.values() {
        for (domain, solver) in &cert.solver_for {
            let Some(SolverSpec::DnsPersist(spec)) = desired.solvers.get(solver) else {
                continue;
            };
            let Some(via) = &spec.via else { continue };
            let address = record_address(solver, domain);
            if records.contains_key(&address) {
                continue;
            }
            let base = address.key.clone().unwrap_or_default();
            let account = &desired.accounts[&cert.account];
            // An account registered anew (another directory) gets another URL.
            let account_url = state
                .accounts
                .get(&cert.account)
                .filter(|a| a.directory == account.directory)
                .map(|a| a.account_url.clone());
            let issuer = spec
                .issuer_domain_name
                .clone()
                .or_else(|| observed.persist_issuers.get(&account.directory).cloned());
            let value = account_url
                .zip(issuer)
                .map(|(account_url, issuer)| value_for(spec, issuer, account_url));
            records.insert(
                address,
                WantedRecord {
                    name: format!("{RECORD_LABEL}.{base}"),
                    via: via.clone(),
                    account: cert.account.clone(),
                    value,
                },
            );
        }
    }
    records
}

/// The value `spec` asks for, once the issuer and the account URL are known.
pub fn value_for(spec: &DnsPersistSolverSpec, issuer: String, account_url: String) -> RecordValue {
    RecordValue {
        issuer,
        account_url,
        wildcard: spec.wildcard,
        persist_until: spec.persist_until,
    }
}

/// The record changes: created, updated in place or deleted, each with its reasons.
pub fn diff(desired: &Desired, state: &State, observed: &Observed) -> Vec<Change> {
    let wanted = wanted(desired, state, observed);
    let mut changes = Vec::new();
    for (address, record) in &wanted {
        let after = Some(attributes(
            &record.name,
            record.value.as_ref().map(RecordValue::text).as_deref(),
            &record.via,
        ));
        let Some(current) = state.persist_records.get(address) else {
            changes.push(Change {
                address: address.clone(),
                action: Action::Create,
                reasons: vec![Reason::PersistRecordNew {
                    name: record.name.clone(),
                }],
                before: None,
                after,
            });
            continue;
        };
        let before = Some(attributes(
            &current.name,
            Some(&current.value),
            &current.via,
        ));
        let reasons = match &record.value {
            Some(value) if value.text() == current.value && record.via == current.via => continue,
            Some(value) => changed_fields(RecordValue::parse(&current.value), value),
            None => vec![Reason::PersistRecordChanged {
                field: "accounturi".into(),
                from: RecordValue::parse(&current.value).map(|v| v.account_url),
                to: None,
            }],
        };
        let reasons = if reasons.is_empty() {
            vec![Reason::PersistRecordChanged {
                field: "via".into(),
                from: Some(current.via.to_string()),
                to: Some(record.via.to_string()),
            }]
        } else {
            reasons
        };
        changes.push(Change {
            address: address.clone(),
            action: Action::Update,
            reasons,
            before,
            after,
        });
    }
    for (address, current) in &state.persist_records {
        if !wanted.contains_key(address) {
            changes.push(Change {
                address: address.clone(),
                action: Action::Delete,
                reasons: vec![Reason::PersistRecordUnused {
                    name: current.name.clone(),
                }],
                before: Some(attributes(
                    &current.name,
                    Some(&current.value),
                    &current.via,
                )),
                after: None,
            });
        }
    }
    changes
}

/// One reason per part of the record that changes.
fn changed_fields(old: Option<RecordValue>, new: &RecordValue) -> Vec<Reason> {
    let old = old.unwrap_or(RecordValue {
        issuer: String::new(),
        account_url: String::new(),
        wildcard: false,
        persist_until: None,
    });
    let policy = |wildcard: bool| Some(if wildcard { "wildcard" } else { "(none)" }.to_string());
    let until = |t: Option<i64>| Some(t.map_or("(none)".to_string(), |t| t.to_string()));
    let fields = [
        ("issuer", Some(old.issuer), Some(new.issuer.clone())),
        (
            "accounturi",
            Some(old.account_url),
            Some(new.account_url.clone()),
        ),
        ("policy", policy(old.wildcard), policy(new.wildcard)),
        (
            "persistUntil",
            until(old.persist_until),
            until(new.persist_until),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| Reason::PersistRecordChanged {
            field: field.into(),
            from,
            to,
        })
        .collect()
}

fn attributes(name: &str, value: Option<&str>, via: &Address) -> Attributes {
    Attributes::from([
        ("name".into(), AttrValue::Text(name.into())),
        (
            "value".into(),
            AttrValue::Text(value.unwrap_or(KNOWN_AFTER_APPLY).into()),
        ),
        ("via".into(), AttrValue::Text(via.to_string())),
    ])
}

/// The `dns_solver`s apply needs started for the record changes.
pub fn via_solvers<'a>(
    changes: &'a [Change],
    desired: &'a Desired,
    state: &'a State,
) -> impl Iterator<Item = Address> + 'a {
    changes
        .iter()
        .filter(|c| c.kind() == Kind::DnsPersistSolver)
        .filter_map(move |c| {
            match desired.solvers.get(&Address::new(
                Kind::DnsPersistSolver,
                c.address.name.clone(),
            )) {
                Some(SolverSpec::DnsPersist(DnsPersistSolverSpec { via: Some(via), .. }))
                    if c.action != Action::Delete =>
                {
                    Some(via.clone())
                }
                _ => state.persist_records.get(&c.address).map(|r| r.via.clone()),
            }
        })
}

/// For the graph: the record changes each certificate's order needs first.
pub fn records_of_certificate(desired: &Desired, certificate: &Address) -> Vec<Address> {
    let Some(cert) = desired.certificates.get(certificate) else {
        return Vec::new();
    };
    cert.solver_for
        .iter()
        .filter(|(_, solver)| solver.kind == Kind::DnsPersistSolver)
        .map(|(domain, solver)| record_address(solver, domain))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_show_only_what_is_set() {
        let value = RecordValue {
            issuer: "letsencrypt.org".into(),
            account_url: "https://acme.example/acct/1".into(),
            wildcard: true,
            persist_until: Some(1_800_000_000),
        };
        assert_eq!(
            value.text(),
            "letsencrypt.org; accounturi=https://acme.example/acct/1; policy=wildcard; persistUntil=1800000000"
        );
        assert_eq!(RecordValue::parse(&value.text()), Some(value.clone()));
        let plain = RecordValue {
            wildcard: false,
            persist_until: None,
            ..value
        };
        assert_eq!(
            plain.text(),
            "letsencrypt.org; accounturi=https://acme.example/acct/1"
        );
    }

    #[test]
    fn a_new_account_url_and_a_policy_are_reasons_of_their_own() {
        let old = RecordValue::parse("ca.example; accounturi=https://a/1").unwrap();
        let new =
            RecordValue::parse("ca.example; accounturi=https://a/2; policy=wildcard").unwrap();
        let texts: Vec<String> = changed_fields(Some(old), &new)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            texts,
            [
                "accounturi changed: https://a/1 -> https://a/2",
                "policy changed: (none) -> wildcard"
            ]
        );
    }
}
