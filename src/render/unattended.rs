//! What `apply --only renewals` leaves for a reviewed apply: every change it skipped, with
//! its reason, so the unattended job's log says what still needs a person.

use super::Style;
use crate::plan::Change;
use std::fmt::Write;

/// The note printed before an `--only renewals` apply (empty when nothing was left out).
pub fn left_for_review(left: &[Change], style: Style) -> String {
    if left.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{}\n",
        style.bold(&format!(
            "--only renewals: {} change(s) left for a reviewed apply:",
            left.len()
        ))
    );
    for change in left {
        let _ = writeln!(
            out,
            "  - {} ({}): {}",
            change.address,
            change.action,
            change.reason_text()
        );
    }
    out.push_str("Run `certform plan` and `certform apply` to review and carry them out.\n\n");
    out
}
