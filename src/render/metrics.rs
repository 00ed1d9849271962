//! Prometheus text format for node_exporter's textfile collector (`plan --metrics FILE`):
//! per certificate in state its expiry and whether the plan renews it, one series per drift
//! finding, and when the plan ran. Labels are addresses; nothing secret is known here.

use crate::address::Address;
use crate::plan::drift::{Drift, DriftKind};
use crate::plan::{Action, Change};
use crate::state::model::State;
use std::collections::BTreeSet;
use std::fmt::Write;
use time::OffsetDateTime;

/// The whole metrics file.
pub fn prometheus(
    state: &State,
    changes: &[Change],
    drift: &[Drift],
    now: OffsetDateTime,
) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "certform_certificate_not_after_seconds",
        "When the certificate in state expires (Unix time).",
    );
    for (address, cert) in &state.certificates {
        sample(
            &mut out,
            "certform_certificate_not_after_seconds",
            address,
            None,
            cert.not_after.unix_timestamp(),
        );
    }
    family(
        &mut out,
        "certform_certificate_expiry_seconds",
        "Seconds from the plan until the certificate in state expires (negative once expired).",
    );
    for (address, cert) in &state.certificates {
        let left = (cert.not_after - now).whole_seconds();
        sample(
            &mut out,
            "certform_certificate_expiry_seconds",
            address,
            None,
            left,
        );
    }
    family(
        &mut out,
        "certform_certificate_renewal_due",
        "1 when the plan renews the certificate (expiry or the CA's renewal information), else 0.",
    );
    let renewing: BTreeSet<&Address> = changes
        .iter()
        .filter(|c| c.action == Action::Renew)
        .map(|c| &c.address)
        .collect();
    for address in state.certificates.keys() {
        let due = i64::from(renewing.contains(address));
        sample(
            &mut out,
            "certform_certificate_renewal_due",
            address,
            None,
            due,
        );
    }
    family(
        &mut out,
        "certform_drift",
        "1 for each kind of drift found on a certificate (files, endpoint, not in configuration).",
    );
    let findings: BTreeSet<(&Address, DriftKind)> = drift
        .iter()
        .filter(|d| d.kind != DriftKind::RenewalDue)
        .map(|d| (&d.address, d.kind))
        .collect();
    for (address, kind) in findings {
        sample(&mut out, "certform_drift", address, Some(kind.as_str()), 1);
    }
    family(
        &mut out,
        "certform_last_plan_timestamp_seconds",
        "When these metrics were computed (Unix time).",
    );
    let _ = writeln!(
        out,
        "certform_last_plan_timestamp_seconds {}",
        now.unix_timestamp()
    );
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, address: &Address, kind: Option<&str>, value: i64) {
    let mut labels = format!("address=\"{}\"", escape(&address.to_string()));
    if let Some(kind) = kind {
        let _ = write!(labels, ",kind=\"{kind}\"");
    }
    let _ = writeln!(out, "{name}{{{labels}}} {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn for_each_addresses_are_escaped() {
        assert_eq!(
            escape(r#"certificate.site["example.org"]"#),
            r#"certificate.site[\"example.org\"]"#
        );
    }
}
