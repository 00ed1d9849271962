//! Why a change is planned. Each reason is data (so JSON consumers can match on `code`)
//! and renders as a sentence a person can act on, e.g. `expires in 12 days (renew_before = 30d)`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    NewAccount {
        directory: String,
    },
    AccountDirectoryChanged {
        from: String,
        to: String,
    },
    ContactChanged {
        from: Vec<String>,
        to: Vec<String>,
    },
    AccountRemoved,
    NewCertificate,
    /// A dns-persist-01 record certform writes that does not exist yet.
    PersistRecordNew {
        name: String,
    },
    /// A part of a dns-persist-01 record changes (`to` absent: known after apply).
    PersistRecordChanged {
        field: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// No certificate validates through a dns-persist-01 record any more.
    PersistRecordUnused {
        name: String,
    },
    /// `days_left` is negative once expired; `policy` describes renew_before as written.
    RenewalDue {
        days_left: i64,
        not_after: String,
        policy: String,
    },
    DomainsChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    CommonNameChanged {
        from: String,
        to: String,
    },
    KeyTypeChanged {
        from: String,
        to: String,
    },
    AccountChanged {
        from: String,
        to: String,
    },
    CertificateDirectoryChanged {
        from: String,
        to: String,
    },
    MustStapleChanged {
        to: bool,
    },
    ProfileChanged {
        from: Option<String>,
        to: Option<String>,
    },
    PreferredChainChanged {
        from: Option<String>,
        to: Option<String>,
    },
    ReplaceRequested,
    OutputAdded {
        output: String,
    },
    FileMissing {
        path: String,
    },
    FileChanged {
        path: String,
    },
    FileModeChanged {
        path: String,
        actual: String,
        expected: String,
    },
    /// Something certform does not read is at an output path (a FIFO, a device, a symbolic
    /// link, a file over 1 MiB); `why` ends the sentence that starts with the path.
    FileUnusable {
        path: String,
        why: String,
    },
    /// `owner` / `group` of an output: `user:group` found and wanted (`*`: not configured).
    FileOwnerChanged {
        path: String,
        actual: String,
        expected: String,
    },
    OutputPathsChanged {
        output: String,
    },
    /// A remote output's configuration now delivers elsewhere than state records.
    OutputTargetChanged {
        output: String,
        from: String,
        to: String,
    },
    /// A remote output still holds an earlier certificate (its delivery of the current one
    /// has not succeeded yet).
    OutputOutdated {
        output: String,
        location: String,
    },
    /// What a remote output delivered is gone (`what`: "acm certificate arn:...").
    RemoteMissing {
        what: String,
    },
    /// What a remote output delivered was changed by someone else.
    RemoteChanged {
        what: String,
    },
    RemovedFromConfig {
        revoke_on_destroy: bool,
    },
    /// `--check-endpoints`: the endpoint serves another certificate than state's.
    EndpointServesOther {
        endpoint: String,
        expected: String,
        served: String,
    },
    /// `--check-endpoints`: no certificate could be read from the endpoint.
    EndpointUnreachable {
        endpoint: String,
        error: String,
    },
    KeyRotationDue {
        age_days: i64,
        key_rotation_days: u32,
    },
    KeyRotationRequested,
    DeactivateOnDestroyChanged {
        to: bool,
    },
    AccountRemovedDeactivate,
    /// The account's `ca_bundle` changed (recorded in state; used to reach the CA).
    CaBundleChanged {
        from: Option<String>,
        to: Option<String>,
    },
    /// Fingerprints (`sha256:...`) of the `external_account_binding` kid, never the HMAC key.
    ExternalAccountBindingChanged {
        from: Option<String>,
        to: Option<String>,
    },
    /// `revoke_on_destroy` changed on a certificate that stays: recorded in state, so
    /// removing the block later does what the configuration said last.
    RevokeOnDestroyChanged {
        to: bool,
    },
    /// The renewal time chosen inside the CA's ARI window has passed.
    AriWindowOpened {
        window_start: String,
        renew_at: String,
    },
    /// The CA moved the whole ARI window into the past: a signal to replace now (often a
    /// coming revocation).
    AriWindowPassed {
        window_end: String,
        explanation_url: Option<String>,
    },
    /// A replaced certificate whose `revoke_replaced_after` grace period has ended.
    ReplacedCertificateDue {
        serial_number: String,
        revoke_after: String,
    },
    /// A due renewal runs outside its `renewal_window` / `freeze` because the certificate
    /// would expire before the window next opens.
    ExpiresBeforeWindowOpens {
        opening: String,
        not_after: String,
    },
    /// `certform revoke` revoked the certificate; it must be replaced.
    RevokedOutsidePlan {
        reason: String,
        at: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewAccount { directory } => write!(f, "new account at {directory}"),
            Reason::AccountDirectoryChanged { from, to } => {
                write!(f, "directory changed: {from} -> {to}")
            }
            Reason::ContactChanged { from, to } => {
                write!(
                    f,
                    "contact changed: [{}] -> [{}]",
                    from.join(", "),
                    to.join(", ")
                )
            }
            Reason::AccountRemoved => write!(f, "account removed from configuration"),
            Reason::NewCertificate => write!(f, "new certificate"),
            Reason::PersistRecordNew { name } => write!(
                f,
                "{name} does not exist yet; once written, orders through it change no DNS"
            ),
            Reason::PersistRecordChanged { field, from, to } => write!(
                f,
                "{field} changed: {} -> {}",
                from.as_deref().unwrap_or("(none)"),
                to.as_deref()
                    .unwrap_or("(known after apply: the account is registered anew)")
            ),
            Reason::PersistRecordUnused { name } => {
                write!(f, "no certificate validates through {name} any more")
            }
            Reason::RenewalDue {
                days_left,
                not_after,
                policy,
            } => {
                if *days_left >= 0 {
                    let plural = if *days_left == 1 { "" } else { "s" };
                    write!(
                        f,
                        "expires in {days_left} day{plural} on {not_after} ({policy})"
                    )
                } else {
                    let ago = -days_left;
                    let plural = if ago == 1 { "" } else { "s" };
                    write!(f, "expired {ago} day{plural} ago on {not_after} ({policy})")
                }
            }
            Reason::DomainsChanged { added, removed } => {
                let parts: Vec<String> = added
                    .iter()
                    .map(|d| format!("+ {d}"))
                    .chain(removed.iter().map(|d| format!("- {d}")))
                    .collect();
                write!(f, "domains changed: {}", parts.join(", "))
            }
            Reason::CommonNameChanged { from, to } => {
                write!(f, "common name changed: {from} -> {to}")
            }
            Reason::KeyTypeChanged { from, to } => write!(f, "key_type {from} -> {to}"),
            Reason::AccountChanged { from, to } => {
                write!(f, "account changed: account.{from} -> account.{to}")
            }
            Reason::CertificateDirectoryChanged { from, to } => {
                write!(f, "the account's CA changed: {from} -> {to}")
            }
            Reason::MustStapleChanged { to } => write!(f, "must_staple -> {to}"),
            Reason::ProfileChanged { from, to } => write!(
                f,
                "profile {} -> {}",
                from.as_deref().unwrap_or("(none)"),
                to.as_deref().unwrap_or("(none)")
            ),
            Reason::PreferredChainChanged { from, to } => {
                let name = |n: &Option<String>| match n {
                    Some(name) => format!("{name:?}"),
                    None => "(none)".to_string(),
                };
                write!(f, "preferred_chain {} -> {}", name(from), name(to))
            }
            Reason::ReplaceRequested => write!(f, "replacement requested with --replace"),
            Reason::OutputAdded { output } => {
                write!(f, "output \"{output}\" has not been written yet")
            }
            Reason::FileMissing { path } => write!(f, "{path} is missing"),
            Reason::FileChanged { path } => write!(f, "{path} differs from state"),
            Reason::FileModeChanged {
                path,
                actual,
                expected,
            } => write!(f, "{path} has mode {actual}, expected {expected}"),
            Reason::FileUnusable { path, why } => write!(f, "{path} {why}"),
            Reason::FileOwnerChanged {
                path,
                actual,
                expected,
            } => write!(f, "{path} is owned by {actual}, expected {expected}"),
            Reason::OutputPathsChanged { output } => write!(f, "output \"{output}\" paths changed"),
            Reason::OutputTargetChanged { output, from, to } => {
                write!(f, "output \"{output}\" now delivers to {to}, not {from}")
            }
            Reason::OutputOutdated { output, location } => write!(
                f,
                "output \"{output}\": {location} holds an earlier certificate than state's"
            ),
            Reason::RemoteMissing { what } => write!(f, "{what} is missing"),
            Reason::RemoteChanged { what } => write!(f, "{what} differs from state"),
            Reason::RemovedFromConfig { revoke_on_destroy } => {
                if *revoke_on_destroy {
                    write!(f, "removed from configuration (revoke_on_destroy = true)")
                } else {
                    write!(f, "removed from configuration; the certificate stays valid at the CA (revoke_on_destroy = false)")
                }
            }
            Reason::EndpointServesOther {
                endpoint,
                expected,
                served,
            } => write!(
                f,
                "{endpoint} serves serial {served}, state has serial {expected}"
            ),
            Reason::EndpointUnreachable { endpoint, error } => {
                write!(f, "{endpoint} could not be checked: {error}")
            }
            Reason::KeyRotationDue {
                age_days,
                key_rotation_days,
            } => write!(
                f,
                "account key is {age_days} days old (key_rotation_days = {key_rotation_days})"
            ),
            Reason::KeyRotationRequested => write!(f, "key rollover requested with --replace"),
            Reason::DeactivateOnDestroyChanged { to } => {
                write!(f, "deactivate_on_destroy -> {to}")
            }
            Reason::AccountRemovedDeactivate => write!(
                f,
                "account removed from configuration (deactivate_on_destroy = true)"
            ),
            Reason::CaBundleChanged { from, to } => {
                let name = |p: &Option<String>| match p {
                    Some(path) => format!("{path:?}"),
                    None => "(none)".to_string(),
                };
                write!(f, "ca_bundle {} -> {}", name(from), name(to))
            }
            Reason::ExternalAccountBindingChanged { from, to } => match (from, to) {
                (Some(from), Some(to)) => write!(
                    f,
                    "external_account_binding kid changed ({} -> {}): the account is registered again under the new binding",
                    short(from),
                    short(to)
                ),
                (None, Some(to)) => write!(
                    f,
                    "external_account_binding (kid {}) recorded; the account at the CA is unchanged (the binding applies at registration)",
                    short(to)
                ),
                (_, None) => write!(
                    f,
                    "external_account_binding removed; the account at the CA keeps the binding it was registered with"
                ),
            },
            Reason::RevokeOnDestroyChanged { to } => write!(
                f,
                "revoke_on_destroy -> {to} (recorded: removing the block later {})",
                if *to { "revokes the certificate" } else { "only forgets it" }
            ),
            Reason::AriWindowOpened {
                window_start,
                renew_at,
            } => write!(
                f,
                "ARI window opened {window_start} (renewal time {renew_at} passed)"
            ),
            Reason::AriWindowPassed {
                window_end,
                explanation_url,
            } => {
                write!(
                    f,
                    "the CA moved the ARI window into the past (it ended {window_end}): replace now"
                )?;
                match explanation_url {
                    Some(url) => write!(f, "; see {url}"),
                    None => Ok(()),
                }
            }
            Reason::ReplacedCertificateDue {
                serial_number,
                revoke_after,
            } => write!(
                f,
                "replaced certificate {serial_number} is past its grace period (revoke_replaced_after ended {revoke_after}); reason superseded"
            ),
            Reason::ExpiresBeforeWindowOpens { opening, not_after } => write!(
                f,
                "renewing outside the renewal window: the certificate expires {not_after}, before the window opens {opening}"
            ),
            Reason::RevokedOutsidePlan { reason, at } => write!(
                f,
                "the certificate was revoked ({reason}) on {at} with certform revoke"
            ),
        }
    }
}

/// A fingerprint cut to its first 12 hex digits, enough to tell two apart in a sentence.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..19).unwrap_or(fingerprint)
}
