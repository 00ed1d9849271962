//! Drift: where the world no longer matches the state, found purely from what a refresh
//! observed. Output files missing, changed, with the wrong mode or owner, or replaced by
//! something certform does not read (a FIFO, a device, a symbolic link, a huge file); certificates in state that
//! the configuration no longer has; with `--check-endpoints`, endpoints that serve another
//! certificate than the state's (or none). `plan --refresh-only` reports these (and the
//! renewals the plan found due) without proposing other work; the metrics count them.

use super::diff::output_drift;
use super::{Action, Change, Observed, Reason};
use crate::address::Address;
use crate::desired::model::{CertificateSpec, Desired};
use crate::state::model::{CertificateState, State};
use serde::{Deserialize, Serialize};

/// What a TLS handshake with a certificate's `check.endpoint` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointFacts {
    /// The serial number of the served leaf, lower-case hex as state keeps it.
    Served { serial: String },
    /// No certificate could be read (connection refused, timeout, handshake failure).
    Unreachable { error: String },
}

/// The closed set of drift kinds: the `kind` label of `certform_drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    FileMissing,
    FileChanged,
    FileMode,
    /// Something certform does not read is at an output path (a FIFO, a device, a link).
    FileUnusable,
    FileOwner,
    /// What a remote output (ACM, Secrets Manager, S3) delivered is gone.
    RemoteMissing,
    /// What a remote output delivered was changed by someone else.
    RemoteChanged,
    NotInConfig,
    EndpointMismatch,
    EndpointUnreachable,
    /// Expiry (or the CA's renewal information) makes a renewal due.
    RenewalDue,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::FileMissing => "file_missing",
            DriftKind::FileChanged => "file_changed",
            DriftKind::FileMode => "file_mode",
            DriftKind::FileUnusable => "file_unusable",
            DriftKind::FileOwner => "file_owner",
            DriftKind::RemoteMissing => "remote_missing",
            DriftKind::RemoteChanged => "remote_changed",
            DriftKind::NotInConfig => "not_in_config",
            DriftKind::EndpointMismatch => "endpoint_mismatch",
            DriftKind::EndpointUnreachable => "endpoint_unreachable",
            DriftKind::RenewalDue => "renewal_due",
        }
    }
}

/// One finding on one certificate, with the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: Address,
    pub kind: DriftKind,
    pub reason: Reason,
}

/// Every drift finding, in address order: observations first, then the renewals that
/// `changes` (the full plan) found due, whatever their reason (expiry or ARI).
pub fn detect(
    desired: &Desired,
    state: &State,
    observed: &Observed,
    changes: &[Change],
) -> Vec<Drift> {
    let mut found = Vec::new();
    for (address, current) in &state.certificates {
        let reasons = match desired.certificates.get(address) {
            None => vec![Reason::RemovedFromConfig {
                revoke_on_destroy: current.revoke_on_destroy,
            }],
            Some(spec) => observed_drift(spec, current, observed),
        };
        found.extend(reasons.into_iter().filter_map(|reason| {
            kind_of(&reason).map(|kind| Drift {
                address: address.clone(),
                kind,
                reason,
            })
        }));
    }
    for change in changes.iter().filter(|c| c.action == Action::Renew) {
        found.extend(change.reasons.iter().map(|reason| Drift {
            address: change.address.clone(),
            kind: DriftKind::RenewalDue,
            reason: reason.clone(),
        }));
    }
    found.sort_by(|a, b| (&a.address, a.kind).cmp(&(&b.address, b.kind)));
    found
}

/// Drift on resources the plan does not touch (all of it when nothing is planned): what
/// a plan warns about, and what makes `--detailed-exitcode` exit 2 without changes.
pub fn unrepaired<'a>(drift: &'a [Drift], changes: &[Change]) -> Vec<&'a Drift> {
    drift
        .iter()
        .filter(|d| !changes.iter().any(|c| c.address == d.address))
        .collect()
}

/// Files and endpoints of a configured certificate that differ from state.
fn observed_drift(
    spec: &CertificateSpec,
    current: &CertificateState,
    observed: &Observed,
) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = spec
        .outputs
        .iter()
        .flat_map(|o| output_drift(&spec.address, o, current, observed))
        .collect();
    reasons.extend(endpoint_drift(spec, current, observed, true));
    reasons
}

/// Reasons from the endpoint check: a served serial other than state's, and (only when
/// `unreachable` is asked for) an endpoint that could not be read. A plan redeploys for
/// the first (rewriting files and running `on_change` reloads the server); the second is
/// reported as drift only, since writing files cannot fix a server that does not answer.
pub(super) fn endpoint_drift(
    spec: &CertificateSpec,
    current: &CertificateState,
    observed: &Observed,
    unreachable: bool,
) -> Option<Reason> {
    let endpoint = spec.check_endpoint.as_ref()?;
    match observed.endpoints.get(&spec.address)? {
        EndpointFacts::Served { serial } if *serial != current.serial_number => {
            Some(Reason::EndpointServesOther {
                endpoint: endpoint.clone(),
                expected: current.serial_number.clone(),
                served: serial.clone(),
            })
        }
        EndpointFacts::Unreachable { error } if unreachable => Some(Reason::EndpointUnreachable {
            endpoint: endpoint.clone(),
            error: error.clone(),
        }),
        _ => None,
    }
}

/// The drift kind of an observed reason; configuration changes (a new output, changed
/// paths) are not drift.
fn kind_of(reason: &Reason) -> Option<DriftKind> {
    Some(match reason {
        Reason::FileMissing { .. } => DriftKind::FileMissing,
        Reason::FileChanged { .. } => DriftKind::FileChanged,
        Reason::FileModeChanged { .. } => DriftKind::FileMode,
        Reason::FileUnusable { .. } => DriftKind::FileUnusable,
        Reason::FileOwnerChanged { .. } => DriftKind::FileOwner,
        Reason::RemoteMissing { .. } => DriftKind::RemoteMissing,
        Reason::RemoteChanged { .. } => DriftKind::RemoteChanged,
        Reason::RemovedFromConfig { .. } => DriftKind::NotInConfig,
        Reason::EndpointServesOther { .. } => DriftKind::EndpointMismatch,
        Reason::EndpointUnreachable { .. } => DriftKind::EndpointUnreachable,
        _ => return None,
    })
}
