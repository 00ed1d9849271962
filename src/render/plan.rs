//! The plan as a person reads it (Terraform-like text) and as a bot reads it (JSON);
//! the Markdown comment lives in `markdown`, the drift report in `drift`.

use super::Style;
use crate::address::Kind;
use crate::plan::renewal::Upcoming;
use crate::plan::saved::SavedPlan;
use crate::plan::{change_classes, Action, AttrValue, Attributes, Change, ChangeClass, Summary};
use serde_json::json;
use similar::{capture_diff_slices, Algorithm, ChangeTag};
use std::fmt::Write;

/// Terraform's markers: create, update in place, replace, destroy.
fn marker(action: Action) -> &'static str {
    match action {
        Action::Create | Action::Issue => "+",
        Action::Update | Action::Renew | Action::Redeploy | Action::RotateKey => "~",
        Action::Reissue => "-/+",
        Action::Revoke | Action::Delete | Action::Deactivate => "-",
    }
}

/// What happens to the resource at `change.address`: as [`verb`], except that a
/// dns-persist-01 record that is deleted is removed from the DNS, not only forgotten.
pub(super) fn change_verb(change: &Change) -> &'static str {
    match (change.kind(), change.action) {
        (Kind::DnsPersistSolver, Action::Delete) => "removed",
        (_, action) => verb(action),
    }
}

pub(super) fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated in place",
        Action::Issue => "issued",
        Action::Renew => "renewed",
        Action::Reissue => "reissued",
        Action::Redeploy => "redeployed",
        Action::Revoke => "revoked",
        Action::Delete => "forgotten",
        Action::RotateKey => "given a new key",
        Action::Deactivate => "deactivated",
    }
}

/// The whole text plan, ending with the summary line or `No changes.`.
pub fn text(changes: &[Change], style: Style) -> String {
    if changes.is_empty() {
        return format!(
            "{}\n",
            style.bold("No changes. Certificates are up to date.")
        );
    }
    let mut out = String::from("certform will perform the following actions:\n");
    for change in changes {
        out.push('\n');
        write_change(&mut out, change, style);
    }
    let _ = writeln!(out, "\n{}", style.bold(&summary_line(changes)));
    crate::redact::text(&out).into_owned()
}

/// After the text plan: the renewal time of each certificate with a renewal window or a
/// freeze or a short lifetime, and every due renewal that waits for its window. Empty when
/// there is none.
pub fn upcoming(list: &[Upcoming]) -> String {
    let mut out = String::new();
    for u in list.iter().filter(|u| u.notable) {
        if u.waiting.is_empty() {
            let _ = writeln!(
                out,
                "  {}: renews at {} ({})",
                u.address, u.renew_at, u.policy
            );
        } else {
            let why: Vec<String> = u.waiting.iter().map(|r| r.to_string()).collect();
            let _ = writeln!(
                out,
                "  {}: due, waiting for the window opening {} ({})",
                u.address,
                u.renew_at,
                why.join("; ")
            );
        }
    }
    if out.is_empty() {
        return out;
    }
    crate::redact::text(&format!("\nRenewal times:\n{out}")).into_owned()
}

/// `Plan: 1 to issue, 2 to renew, 0 to reissue, 1 to revoke, 0 to redeploy.` plus account
/// and forget counts when there are any.
pub fn summary_line(changes: &[Change]) -> String {
    let (records, others): (Vec<Change>, Vec<Change>) = changes
        .iter()
        .cloned()
        .partition(|c| c.kind() == Kind::DnsPersistSolver);
    let s = Summary::of(&others);
    let r = Summary::of(&records);
    let mut line = format!(
        "Plan: {} to issue, {} to renew, {} to reissue, {} to revoke, {} to redeploy",
        s.issue, s.renew, s.reissue, s.revoke, s.redeploy
    );
    let extra: Vec<String> = [
        (s.create, "account to create", "accounts to create"),
        (s.update, "account to update", "accounts to update"),
        (
            s.rotate_key,
            "account key to rotate",
            "account keys to rotate",
        ),
        (
            s.deactivate,
            "account to deactivate",
            "accounts to deactivate",
        ),
        (s.delete, "to forget", "to forget"),
        (
            r.create + r.update,
            "dns-persist-01 record to write",
            "dns-persist-01 records to write",
        ),
        (
            r.delete,
            "dns-persist-01 record to remove",
            "dns-persist-01 records to remove",
        ),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
    .collect();
    if !extra.is_empty() {
        let _ = write!(line, "; {}", extra.join(", "));
    }
    line.push('.');
    line
}

/// One change as the text plan shows it: the `#` line, then the attribute block.
pub(super) fn change_block(change: &Change, style: Style) -> String {
    let mut out = String::new();
    write_change(&mut out, change, style);
    out
}

fn write_change(out: &mut String, change: &Change, style: Style) {
    let action = change.action;
    let _ = writeln!(
        out,
        "  {}",
        style.bold(&format!(
            "# {} will be {}: {}",
            change.address,
            change_verb(change),
            change.reason_text()
        ))
    );
    let label = match &change.address.key {
        Some(key) => format!(
            "{} \"{}\" [{key:?}]",
            change.address.kind, change.address.name
        ),
        None => format!("{} \"{}\"", change.address.kind, change.address.name),
    };
    let _ = writeln!(
        out,
        "{} {label} {{",
        style.action(action, &format!("{:>3}", marker(action)))
    );
    let empty = Attributes::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let width = before
        .keys()
        .chain(after.keys())
        .map(String::len)
        .max()
        .unwrap_or(0);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        write_attribute(
            out,
            key,
            width,
            before.get(key),
            after.get(key),
            change,
            style,
        );
    }
    out.push_str("    }\n");
}

fn write_attribute(
    out: &mut String,
    key: &str,
    width: usize,
    before: Option<&AttrValue>,
    after: Option<&AttrValue>,
    change: &Change,
    style: Style,
) {
    let pad = format!("{key:<width$}");
    match (before, after) {
        (None, Some(value)) => {
            let _ = writeln!(out, "      {} {pad} = {}", style.added("+"), show(value));
        }
        (Some(value), None) if change.after.is_none() => {
            let _ = writeln!(out, "      {} {pad} = {}", style.removed("-"), show(value));
        }
        // Attributes only state knows (serial, not_after) are shown as they were.
        (Some(value), None) => {
            let _ = writeln!(out, "        {pad} = {}", show(value));
        }
        (Some(AttrValue::List(old)), Some(AttrValue::List(new))) if old != new => {
            let _ = writeln!(out, "      {} {pad} = [", style.changed("~"));
            for op in capture_diff_slices(Algorithm::Myers, old, new) {
                for (tag, _, value) in op.iter_changes(old, new).map(|c| (c.tag(), (), c.value())) {
                    let line = match tag {
                        ChangeTag::Equal => format!("            {value:?},"),
                        ChangeTag::Insert => format!("          {} {value:?},", style.added("+")),
                        ChangeTag::Delete => format!("          {} {value:?},", style.removed("-")),
                    };
                    let _ = writeln!(out, "{line}");
                }
            }
            out.push_str("        ]\n");
        }
        (Some(old), Some(new)) if old != new => {
            let _ = writeln!(
                out,
                "      {} {pad} = {} -> {}",
                style.changed("~"),
                show(old),
                show(new)
            );
        }
        (Some(value), Some(_)) => {
            let _ = writeln!(out, "        {pad} = {}", show(value));
        }
        (None, None) => {}
    }
}

fn show(value: &AttrValue) -> String {
    // `(sensitive)` unquoted, as Terraform shows `(sensitive value)`: it is not the value.
    let quoted = |t: &String| match t.as_str() {
        crate::redact::PLACEHOLDER => t.clone(),
        _ => format!("{t:?}"),
    };
    match value {
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Text(t) => quoted(t),
        AttrValue::List(items) => {
            let inner: Vec<String> = items.iter().map(quoted).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// The stable JSON document of a plan (`plan --json`), described by
/// `schemas/plan.schema.json`.
/// The JSON plan. `renewals`: the next renewal of each certificate the plan does not order
/// (empty for a saved plan, which does not keep them).
pub fn json(plan: &SavedPlan, renewals: &[Upcoming]) -> String {
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| {
            json!({
                "address": c.address,
                "kind": c.address.kind.keyword(),
                "action": c.action,
                "reason": c.reason_text(),
                "reasons": c.reasons,
                "before": c.before,
                "after": c.after,
            })
        })
        .collect();
    let document = json!({
        "format_version": "1.3",
        "certform_version": plan.certform_version,
        "state_lineage": plan.state_lineage,
        "state_serial": plan.state_serial,
        "config_digest": plan.config_digest,
        "changes": changes,
        "drift": plan.drift.iter().map(|d| json!({
            "address": d.address,
            "kind": d.kind,
            "reason": d.reason.to_string(),
            "detail": d.reason,
        })).collect::<Vec<_>>(),
        "summary": Summary::of(&plan.changes),
        "change_classes": change_classes(&plan.changes, &plan.drift),
        "renewals": renewals.iter().map(|u| json!({
            "address": u.address,
            "renew_at": u.renew_at,
            "policy": u.policy,
            "waiting_for_window": !u.waiting.is_empty(),
            "reasons": u.waiting,
        })).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&document).expect("a plan always serialises");
    text.push('\n');
    crate::redact::text(&text).into_owned()
}

/// What `plan --detailed-exitcode --fail-on CLASSES` decided, for standard error: which
/// listed classes the plan has (exit 2), or that it has none of them (exit 0).
pub fn fail_on_verdict(fail_on: &[ChangeClass], present: &[ChangeClass]) -> String {
    let names = |classes: &mut dyn Iterator<Item = &ChangeClass>| {
        classes.map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    };
    let mut triggered = present.iter().filter(|c| fail_on.contains(c)).peekable();
    if triggered.peek().is_some() {
        format!(
            "--fail-on: exit 2: the plan has {} (classes present: {}).\n",
            names(&mut triggered),
            names(&mut present.iter())
        )
    } else if present.is_empty() {
        String::new()
    } else {
        format!(
            "--fail-on: exit 0: the plan has none of {} (classes present: {}).\n",
            names(&mut fail_on.iter()),
            names(&mut present.iter())
        )
    }
}
