//! `diff`: the pure heart of certform. Given the desired model, the public half of state,
//! what a refresh observed on disk and the current time, it returns the changes apply must
//! make, each with its reasons. No I/O and no clock, so it is table-tested.

use super::renewal::Timing;
use super::{Action, AttrValue, Attributes, Change, Reason};
use crate::address::{Address, Kind};
use crate::desired::model::{AccountSpec, CertificateSpec, Desired, OutputSpec};
use crate::state::model::{AccountState, AriState, CertificateState, DeployedOutput, State};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use time::OffsetDateTime;

/// What a refresh learned before planning: the output files as they are on disk.
/// A path that was looked at and does not exist maps to `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub files: BTreeMap<PathBuf, FileSeen>,
    /// `--check-endpoints`: what each certificate's `check.endpoint` served.
    pub endpoints: BTreeMap<Address, super::drift::EndpointFacts>,
    /// ARI windows fetched for certificates in state (absent: use what state kept).
    pub ari: BTreeMap<Address, AriState>,
    /// What a remote output (`aws_acm`, `s3`, ...) holds now, by certificate and output
    /// name; absent when it was not read (not delivered yet, or the service did not answer).
    pub remote: BTreeMap<(Address, String), RemoteSeen>,
    /// dns-persist-01: each directory's issuer domain name (its first `caaIdentities`).
    pub persist_issuers: BTreeMap<String, String>,
}

/// What a refresh read back from a remote output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSeen {
    /// The whole delivery is gone (the ACM certificate, the secret).
    Missing,
    /// The items of [`crate::state::model::RemoteDelivery::items`] as the service has them
    /// now; an item it no longer has (a deleted object) is left out.
    Found(BTreeMap<String, String>),
}

/// What a refresh found at an output path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSeen {
    Missing,
    /// Something certform does not read (a FIFO, a device, a symbolic link, a file over the
    /// size limit): `why` ends the sentence that starts with the path.
    Unusable {
        why: String,
    },
    Regular(FileFacts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub sha256: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The names of `uid` and `gid` (the numbers when this machine has no name for them).
    pub owner: String,
    pub group: String,
}

/// Flags that steer a plan: `--target` and `--replace`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub targets: Vec<Address>,
    pub replace: Vec<Address>,
}

/// Computes the changes, accounts first, then certificates, each group in address order.
pub fn diff(
    desired: &Desired,
    state: &State,
    observed: &Observed,
    now: OffsetDateTime,
    options: &PlanOptions,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, spec) in &desired.accounts {
        let rotate = options.replace.contains(&Address::account(name));
        if let Some(change) = diff_account(name, spec, state.accounts.get(name), now, rotate) {
            changes.push(change);
        }
    }
    for (address, spec) in &desired.certificates {
        let account = &desired.accounts[&spec.account];
        let replace = options.replace.iter().any(|r| r.selects(address));
        let current = state.certificates.get(address);
        if let Some(change) = diff_certificate(spec, account, current, observed, now, replace) {
            changes.push(change);
        }
        if let Some(change) = current.and_then(|c| due_revocations(address, c, now)) {
            changes.push(change);
        }
    }
    changes.extend(super::persist::diff(desired, state, observed));
    for (address, current) in &state.certificates {
        if !desired.certificates.contains_key(address) {
            changes.push(Change {
                address: address.clone(),
                action: if current.revoke_on_destroy {
                    Action::Revoke
                } else {
                    Action::Delete
                },
                reasons: vec![Reason::RemovedFromConfig {
                    revoke_on_destroy: current.revoke_on_destroy,
                }],
                before: Some(certificate_attributes_from_state(current)),
                after: None,
            });
        }
    }
    for (name, current) in &state.accounts {
        if !desired.accounts.contains_key(name) {
            let (action, reason) = if current.deactivate_on_destroy {
                (Action::Deactivate, Reason::AccountRemovedDeactivate)
            } else {
                (Action::Delete, Reason::AccountRemoved)
            };
            changes.push(Change {
                address: Address::account(name),
                action,
                reasons: vec![reason],
                before: Some(account_attributes_from_state(current)),
                after: None,
            });
        }
    }
    // Values that came from env() or file() are shown as "(sensitive)": the registry
    // `redact` reads was filled when the configuration was loaded.
    changes.iter_mut().for_each(crate::redact::change);
    if options.targets.is_empty() {
        changes
    } else {
        restrict_to_targets(changes, desired, state, &options.targets)
    }
}

fn diff_account(
    name: &str,
    spec: &AccountSpec,
    current: Option<&AccountState>,
    now: OffsetDateTime,
    rotate_requested: bool,
) -> Option<Change> {
    let address = Address::account(name);
    let after = Some(account_attributes(spec));
    let Some(current) = current else {
        return Some(Change {
            address,
            action: Action::Create,
            reasons: vec![Reason::NewAccount {
                directory: spec.directory.clone(),
            }],
            before: None,
            after,
        });
    };
    let before = Some(account_attributes_from_state(current));
    let binding = spec
        .external_account_binding
        .as_ref()
        .map(|eab| eab.kid_fingerprint());
    let binding_change = (binding != current.external_account_binding).then(|| {
        Reason::ExternalAccountBindingChanged {
            from: current.external_account_binding.clone(),
            to: binding.clone(),
        }
    });
    // The CA binds an account to its external account when it registers it: another
    // directory or another kid needs a new registration.
    let register_again = if current.directory != spec.directory {
        Some(Reason::AccountDirectoryChanged {
            from: current.directory.clone(),
            to: spec.directory.clone(),
        })
    } else if current.external_account_binding.is_some() && binding.is_some() {
        binding_change.clone()
    } else {
        None
    };
    if let Some(reason) = register_again {
        return Some(Change {
            address,
            action: Action::Create,
            reasons: vec![reason],
            before,
            after,
        });
    }
    // In-place changes share one change per account: a key rollover, when due, also
    // carries the contact and setting updates (apply does all of them).
    let mut rotation = Vec::new();
    if rotate_requested {
        rotation.push(Reason::KeyRotationRequested);
    }
    if let Some(days) = spec.key_rotation_days {
        let age_days = (now - current.key_created_at).whole_days();
        if age_days >= i64::from(days) {
            rotation.push(Reason::KeyRotationDue {
                age_days,
                key_rotation_days: days,
            });
        }
    }
    let mut updates = Vec::new();
    if current.contact != spec.contact {
        updates.push(Reason::ContactChanged {
            from: current.contact.clone(),
            to: spec.contact.clone(),
        });
    }
    if current.deactivate_on_destroy != spec.deactivate_on_destroy {
        updates.push(Reason::DeactivateOnDestroyChanged {
            to: spec.deactivate_on_destroy,
        });
    }
    if current.ca_bundle != spec.ca_bundle {
        let shown = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        updates.push(Reason::CaBundleChanged {
            from: shown(&current.ca_bundle),
            to: shown(&spec.ca_bundle),
        });
    }
    // Added or removed: recorded only; the account keeps the binding it was registered with.
    updates.extend(binding_change);
    let action = if rotation.is_empty() {
        Action::Update
    } else {
        Action::RotateKey
    };
    rotation.extend(updates);
    (!rotation.is_empty()).then_some(Change {
        address,
        action,
        reasons: rotation,
        before,
        after,
    })
}

/// A `revoke` of the replaced certificates whose `revoke_replaced_after` grace has ended.
fn due_revocations(
    address: &Address,
    current: &CertificateState,
    now: OffsetDateTime,
) -> Option<Change> {
    let due: Vec<_> = current
        .pending_revocation
        .iter()
        .filter(|p| p.revoke_after <= now)
        .collect();
    if due.is_empty() {
        return None;
    }
    Some(Change {
        address: address.clone(),
        action: Action::Revoke,
        reasons: due
            .iter()
            .map(|p| Reason::ReplacedCertificateDue {
                serial_number: p.serial_number.clone(),
                revoke_after: rfc3339(p.revoke_after),
            })
            .collect(),
        before: Some(Attributes::from([(
            "serial_number".into(),
            AttrValue::List(due.iter().map(|p| p.serial_number.clone()).collect()),
        )])),
        after: None,
    })
}

fn diff_certificate(
    spec: &CertificateSpec,
    account: &AccountSpec,
    current: Option<&CertificateState>,
    observed: &Observed,
    now: OffsetDateTime,
    replace: bool,
) -> Option<Change> {
    let after = Some(certificate_attributes(spec, account));
    let change = |action, reasons, before| Change {
        address: spec.address.clone(),
        action,
        reasons,
        before,
        after: after.clone(),
    };
    let Some(current) = current else {
        return Some(change(Action::Issue, vec![Reason::NewCertificate], None));
    };
    let before = Some(certificate_attributes_from_state(current));

    let mut reissue = config_changes(spec, account, current);
    if replace {
        reissue.push(Reason::ReplaceRequested);
    }
    if let Some(revoked) = &current.revoked {
        reissue.push(Reason::RevokedOutsidePlan {
            reason: revoked.reason.clone(),
            at: revoked.at.date().to_string(),
        });
    }
    if !reissue.is_empty() {
        return Some(change(Action::Reissue, reissue, before));
    }
    let mut renewal = super::renewal::reasons(spec, current, observed, now);
    if !renewal.is_empty() {
        // A due renewal waits for the renewal window (`plan` lists it as waiting) unless the
        // certificate would expire first.
        match super::renewal::timing(spec, current, &renewal, now) {
            Timing::Wait => {}
            Timing::Now(why) => {
                renewal.extend(why);
                return Some(change(Action::Renew, renewal, before));
            }
        }
    }
    let mut drift: Vec<Reason> = spec
        .outputs
        .iter()
        .flat_map(|o| output_drift(&spec.address, o, current, observed))
        .collect();
    if !spec.outputs.is_empty() {
        drift.extend(super::drift::endpoint_drift(spec, current, observed, false));
    }
    // Settings state keeps for a certificate that stays; a redeploy records them too.
    let settings = (spec.revoke_on_destroy != current.revoke_on_destroy).then_some(
        Reason::RevokeOnDestroyChanged {
            to: spec.revoke_on_destroy,
        },
    );
    if !drift.is_empty() {
        drift.extend(settings);
        return Some(change(Action::Redeploy, drift, before));
    }
    settings.map(|reason| change(Action::Update, vec![reason], before))
}

/// Configuration changes that need a new certificate.
fn config_changes(
    spec: &CertificateSpec,
    account: &AccountSpec,
    current: &CertificateState,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let wanted: BTreeSet<&String> = spec.domains.iter().collect();
    let have: BTreeSet<&String> = current.domains.iter().collect();
    if wanted != have {
        reasons.push(Reason::DomainsChanged {
            added: spec
                .domains
                .iter()
                .filter(|d| !have.contains(d))
                .cloned()
                .collect(),
            removed: current
                .domains
                .iter()
                .filter(|d| !wanted.contains(d))
                .cloned()
                .collect(),
        });
    } else if spec.domains.first() != current.domains.first() {
        reasons.push(Reason::CommonNameChanged {
            from: current.domains.first().cloned().unwrap_or_default(),
            to: spec.domains.first().cloned().unwrap_or_default(),
        });
    }
    if spec.key_type != current.key_type {
        reasons.push(Reason::KeyTypeChanged {
            from: current.key_type.to_string(),
            to: spec.key_type.to_string(),
        });
    }
    if spec.account != current.account {
        reasons.push(Reason::AccountChanged {
            from: current.account.clone(),
            to: spec.account.clone(),
        });
    } else if account.directory != current.directory {
        reasons.push(Reason::CertificateDirectoryChanged {
            from: current.directory.clone(),
            to: account.directory.clone(),
        });
    }
    if spec.must_staple != current.must_staple {
        reasons.push(Reason::MustStapleChanged {
            to: spec.must_staple,
        });
    }
    if spec.profile != current.profile {
        reasons.push(Reason::ProfileChanged {
            from: current.profile.clone(),
            to: spec.profile.clone(),
        });
    }
    if spec.preferred_chain != current.preferred_chain {
        reasons.push(Reason::PreferredChainChanged {
            from: current.preferred_chain.clone(),
            to: spec.preferred_chain.clone(),
        });
    }
    reasons
}

/// Why an output must be written again, if it must.
pub(super) fn output_drift(
    address: &Address,
    output: &OutputSpec,
    current: &CertificateState,
    observed: &Observed,
) -> Vec<Reason> {
    let Some(deployed) = current.outputs.get(&output.name) else {
        return vec![Reason::OutputAdded {
            output: output.name.clone(),
        }];
    };
    if let Some(target) = output.kind.target() {
        let seen = observed.remote.get(&(address.clone(), output.name.clone()));
        return remote_drift(output, &target, deployed, current, seen);
    }
    let wanted: Vec<_> = output.files();
    let same_layout = wanted.len() == deployed.files.len()
        && wanted
            .iter()
            .zip(&deployed.files)
            .all(|((kind, path, _), file)| *kind == file.kind && **path == file.path);
    if !same_layout {
        return vec![Reason::OutputPathsChanged {
            output: output.name.clone(),
        }];
    }
    let mut reasons = Vec::new();
    for ((_, path, mode), file) in wanted.iter().zip(&deployed.files) {
        let shown = path.display().to_string();
        match observed.files.get(*path) {
            Some(FileSeen::Missing) => reasons.push(Reason::FileMissing { path: shown }),
            Some(FileSeen::Unusable { why }) => reasons.push(Reason::FileUnusable {
                path: shown,
                why: why.clone(),
            }),
            Some(FileSeen::Regular(facts)) if facts.sha256 != file.sha256 => {
                reasons.push(Reason::FileChanged { path: shown })
            }
            Some(FileSeen::Regular(facts)) if facts.mode != *mode => {
                reasons.push(Reason::FileModeChanged {
                    path: shown,
                    actual: format!("{:04o}", facts.mode),
                    expected: format!("{mode:04o}"),
                })
            }
            Some(FileSeen::Regular(facts)) if !owned_as_configured(output, facts) => {
                reasons.push(Reason::FileOwnerChanged {
                    path: shown,
                    actual: format!("{}:{}", facts.owner, facts.group),
                    expected: format!(
                        "{}:{}",
                        output.owner.as_ref().map_or("*", |o| o.name.as_str()),
                        output.group.as_ref().map_or("*", |g| g.name.as_str())
                    ),
                })
            }
            // Matching, or not observed (a refresh that skipped files reports no drift).
            _ => {}
        }
    }
    reasons
}

/// Why a remote output must be delivered again: it is new or moved, it holds an earlier
/// certificate, or what it delivered is gone or changed (`seen`: what a refresh read back).
fn remote_drift(
    output: &OutputSpec,
    target: &str,
    deployed: &DeployedOutput,
    current: &CertificateState,
    seen: Option<&RemoteSeen>,
) -> Vec<Reason> {
    let Some(remote) = &deployed.remote else {
        return vec![Reason::OutputAdded {
            output: output.name.clone(),
        }];
    };
    if remote.target != target {
        return vec![Reason::OutputTargetChanged {
            output: output.name.clone(),
            from: remote.target.clone(),
            to: target.to_string(),
        }];
    }
    if remote.serial_number != current.serial_number {
        return vec![Reason::OutputOutdated {
            output: output.name.clone(),
            location: remote.location.clone(),
        }];
    }
    match seen {
        // Not read: a refresh that skipped it, or a service that did not answer.
        None => Vec::new(),
        Some(RemoteSeen::Missing) => vec![Reason::RemoteMissing {
            what: output.kind.describe(&remote.location, None),
        }],
        Some(RemoteSeen::Found(items)) => remote
            .items
            .iter()
            .filter_map(|(item, recorded)| {
                let what = output.kind.describe(&remote.location, Some(item));
                match items.get(item) {
                    None => Some(Reason::RemoteMissing { what }),
                    Some(now) if now != recorded => Some(Reason::RemoteChanged { what }),
                    Some(_) => None,
                }
            })
            .collect(),
    }
}

/// Whether a file belongs to the output's `owner` and `group` (either unset: any).
fn owned_as_configured(output: &OutputSpec, facts: &FileFacts) -> bool {
    output.owner.as_ref().is_none_or(|o| o.id == facts.uid)
        && output.group.as_ref().is_none_or(|g| g.id == facts.gid)
}

/// Keeps the changes a target selects, plus the account changes they depend on.
fn restrict_to_targets(
    changes: Vec<Change>,
    desired: &Desired,
    state: &State,
    targets: &[Address],
) -> Vec<Change> {
    let selected = |a: &Address| targets.iter().any(|t| t.selects(a));
    let needed_accounts: BTreeSet<Address> = changes
        .iter()
        .filter(|c| c.kind() == Kind::Certificate && selected(&c.address))
        .filter_map(|c| {
            desired
                .certificates
                .get(&c.address)
                .map(|spec| spec.account.clone())
                .or_else(|| {
                    state
                        .certificates
                        .get(&c.address)
                        .map(|s| s.account.clone())
                })
        })
        .map(Address::account)
        .collect();
    // The dns-persist-01 records a targeted order validates through come along.
    let needed_records: BTreeSet<Address> = changes
        .iter()
        .filter(|c| c.kind() == Kind::Certificate && selected(&c.address))
        .flat_map(|c| super::persist::records_of_certificate(desired, &c.address))
        .collect();
    changes
        .into_iter()
        .filter(|c| {
            selected(&c.address)
                || needed_accounts.contains(&c.address)
                || needed_records.contains(&c.address)
        })
        .collect()
}

fn text(value: impl Into<String>) -> AttrValue {
    AttrValue::Text(value.into())
}

fn account_attributes(spec: &AccountSpec) -> Attributes {
    Attributes::from([
        ("directory".into(), text(&spec.directory)),
        ("contact".into(), AttrValue::List(spec.contact.clone())),
        ("key_type".into(), text(spec.key_type.as_str())),
    ])
}

fn account_attributes_from_state(current: &AccountState) -> Attributes {
    Attributes::from([
        ("directory".into(), text(&current.directory)),
        ("contact".into(), AttrValue::List(current.contact.clone())),
        ("key_type".into(), text(current.key_type.as_str())),
        ("account_url".into(), text(&current.account_url)),
    ])
}

/// `identifiers = ["ip:127.0.0.1", "dns:example.com"]`: how each name is ordered, shown only
/// for a certificate with an IP address (RFC 8738), so the plans of plain DNS certificates
/// stay as they were.
fn identifiers(domains: &[String]) -> Option<(String, AttrValue)> {
    typed_identifiers(domains).map(|list| ("identifiers".to_string(), AttrValue::List(list)))
}

/// Each name with its ACME identifier type (`ip:` for an address, `dns:` otherwise), when
/// at least one is an IP address; `None` for names only.
pub fn typed_identifiers(domains: &[String]) -> Option<Vec<String>> {
    use crate::desired::domain::is_ip_address;
    domains.iter().any(|d| is_ip_address(d)).then(|| {
        domains
            .iter()
            .map(|d| match is_ip_address(d) {
                true => format!("ip:{d}"),
                false => format!("dns:{d}"),
            })
            .collect()
    })
}

fn certificate_attributes(spec: &CertificateSpec, account: &AccountSpec) -> Attributes {
    let mut attributes = Attributes::from([
        ("account".into(), text(format!("account.{}", spec.account))),
        ("directory".into(), text(&account.directory)),
        ("domains".into(), AttrValue::List(spec.domains.clone())),
        ("key_type".into(), text(spec.key_type.as_str())),
        ("must_staple".into(), spec.must_staple.into()),
    ]);
    attributes.extend(identifiers(&spec.domains));
    if let Some(profile) = &spec.profile {
        attributes.insert("profile".into(), text(profile));
    }
    if let Some(chain) = &spec.preferred_chain {
        attributes.insert("preferred_chain".into(), text(chain));
    }
    attributes
}

fn certificate_attributes_from_state(current: &CertificateState) -> Attributes {
    let mut attributes = Attributes::from([
        (
            "account".into(),
            text(format!("account.{}", current.account)),
        ),
        ("directory".into(), text(&current.directory)),
        ("domains".into(), AttrValue::List(current.domains.clone())),
        ("key_type".into(), text(current.key_type.as_str())),
        ("must_staple".into(), current.must_staple.into()),
        ("serial_number".into(), text(&current.serial_number)),
        ("not_after".into(), text(rfc3339(current.not_after))),
    ]);
    attributes.extend(identifiers(&current.domains));
    if let Some(profile) = &current.profile {
        attributes.insert("profile".into(), text(profile));
    }
    if let Some(chain) = &current.preferred_chain {
        attributes.insert("preferred_chain".into(), text(chain));
    }
    attributes
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
