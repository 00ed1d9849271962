//! The plan as a pull-request comment (`plan --markdown`): a summary line, a table of every
//! change (address, action, reason), each change's attribute diff in a collapsible section
//! (a `diff` block, so the forge colours it), and a table of drift. No ANSI codes ever.

use super::plan::{change_block, change_verb, summary_line};
use super::Style;
use crate::plan::drift::Drift;
use crate::plan::saved::SavedPlan;
use crate::plan::Change;
use std::fmt::Write;

/// The whole comment. `refresh_only` titles it as a drift check.
pub fn markdown(plan: &SavedPlan, refresh_only: bool) -> String {
    let mut out = String::new();
    if refresh_only {
        out.push_str("### certform drift check (refresh only)\n\n");
        if plan.drift.is_empty() {
            out.push_str(
                "**No drift.** Output files, endpoints and state agree, and no renewal is due.\n",
            );
        } else {
            let _ = writeln!(out, "**{}**", super::drift::summary_line(&plan.drift));
        }
    } else {
        out.push_str("### certform plan\n\n");
        if plan.changes.is_empty() {
            out.push_str("**No changes.** Certificates are up to date.\n");
        } else {
            let _ = writeln!(out, "**{}**\n", summary_line(&plan.changes));
            write_changes(&mut out, &plan.changes);
        }
    }
    if !plan.drift.is_empty() {
        write_drift(&mut out, &plan.drift);
    }
    crate::redact::text(&out).into_owned()
}

fn write_changes(out: &mut String, changes: &[Change]) {
    out.push_str("| Address | Action | Reason |\n|---|---|---|\n");
    for change in changes {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            change.address,
            change.action,
            cell(&change.reason_text())
        );
    }
    for change in changes {
        let _ = write!(
            out,
            "\n<details><summary><code>{}</code> will be {}</summary>\n\n```diff\n",
            html(&change.address.to_string()),
            change_verb(change)
        );
        // The first line of the text block is the `#` headline the summary already says.
        for line in change_block(change, Style::PLAIN).lines().skip(1) {
            let _ = writeln!(out, "{}", diff_line(line));
        }
        out.push_str("```\n\n</details>\n");
    }
}

fn write_drift(out: &mut String, drift: &[Drift]) {
    out.push_str(
        "\n#### Drift found by the refresh\n\n| Address | Kind | Finding |\n|---|---|---|\n",
    );
    for finding in drift {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            finding.address,
            finding.kind.as_str(),
            cell(&finding.reason.to_string())
        );
    }
}

/// Moves a Terraform marker to the first column, where a `diff` block colours it:
/// `+` added, `-` removed, `!` (from `~`) changed; `-/+` stays as it is.
fn diff_line(line: &str) -> String {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    for (marker, shown) in [("-/+ ", "-/+"), ("+ ", "+"), ("- ", "-"), ("~ ", "!")] {
        if let Some(rest) = body.strip_prefix(marker) {
            let gap = " ".repeat((indent.len() + marker.len()).saturating_sub(shown.len()));
            return format!("{shown}{gap}{rest}");
        }
    }
    line.to_string()
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    html(text).replace('|', "\\|").replace('\n', " ")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::diff_line;

    #[test]
    fn markers_move_to_the_first_column_keeping_alignment() {
        assert_eq!(diff_line("      + key = 1"), "+       key = 1");
        assert_eq!(diff_line("      ~ key = 1 -> 2"), "!       key = 1 -> 2");
        assert_eq!(
            diff_line("-/+ certificate \"www\" {"),
            "-/+ certificate \"www\" {"
        );
        assert_eq!(diff_line("  + account \"le\" {"), "+   account \"le\" {");
        assert_eq!(diff_line("        key = 1"), "        key = 1");
    }
}
