//! Drift as text: the report of `plan --refresh-only`, and the warning a normal plan adds
//! for drift that no planned action repairs (an endpoint that serves nothing, say).

use super::Style;
use crate::plan::drift::{unrepaired, Drift, DriftKind};
use crate::plan::Change;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The `--refresh-only` report: every finding, then a count per kind.
pub fn text(drift: &[Drift], style: Style) -> String {
    if drift.is_empty() {
        return format!(
            "{}\n",
            style.bold("No drift. Output files, endpoints and state agree, and no renewal is due.")
        );
    }
    let mut out =
        String::from("certform found drift (refresh only: nothing is proposed or changed):\n\n");
    for finding in drift {
        let marker = match finding.kind {
            DriftKind::NotInConfig => style.removed("-"),
            _ => style.changed("~"),
        };
        let _ = writeln!(out, "  {marker} {}: {}", finding.address, finding.reason);
    }
    let _ = writeln!(out, "\n{}", style.bold(&summary_line(drift)));
    out.push_str("Run `certform plan` to see the actions that repair it.\n");
    crate::redact::text(&out).into_owned()
}

/// `Drift: 1 file_missing, 2 renewal_due.` in the fixed order of the kinds.
pub fn summary_line(drift: &[Drift]) -> String {
    let mut counts: BTreeMap<DriftKind, usize> = BTreeMap::new();
    for finding in drift {
        *counts.entry(finding.kind).or_default() += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.as_str()))
        .collect();
    format!("Drift: {}.", parts.join(", "))
}

/// The warning block a normal plan ends with when some drift has no planned action.
pub fn warning(drift: &[Drift], changes: &[Change], style: Style) -> String {
    let left = unrepaired(drift, changes);
    if left.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n{} drift that no planned action repairs:\n",
        style.changed(&style.bold("Warning:"))
    );
    for finding in left {
        let _ = writeln!(out, "  {}: {}", finding.address, finding.reason);
    }
    crate::redact::text(&out).into_owned()
}
