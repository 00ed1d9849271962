//! Apply progress — live lines on a terminal, plain log lines otherwise — and the closing
//! report.

use super::Style;
use crate::apply::{Observer, Outcome, Report};
use std::io::Write;

/// Prints plain progress lines to standard output; fine on a TTY and in CI logs alike.
pub struct LineObserver {
    pub style: Style,
    pub quiet: bool,
}

impl Observer for LineObserver {
    fn started(&self, label: &str) {
        if !self.quiet {
            println!("{}: started", crate::redact::text(label));
            let _ = std::io::stdout().flush();
        }
    }

    fn finished(&self, label: &str, outcome: &Outcome) {
        let line = outcome_line(label, outcome, self.style);
        if !self.quiet || !matches!(outcome, Outcome::Succeeded(_)) {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }

    fn stopping(&self, in_flight: usize) {
        println!(
            "{}",
            self.style.changed(&format!(
                "Interrupt received: no new action starts; waiting for {in_flight} action(s) in flight to finish. Interrupt again to exit at once."
            ))
        );
        let _ = std::io::stdout().flush();
    }
}

/// The closing lines of apply: a success line, or what succeeded, failed and was skipped.
pub fn report(report: &Report, style: Style) -> String {
    let succeeded = report
        .results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Succeeded(_)))
        .count();
    let skipped = report
        .results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
        .count();
    let failed = report.failed();
    if failed == 0 && skipped == 0 {
        return format!(
            "\n{}\n",
            style.added(&style.bold(&format!("Apply complete! {succeeded} action(s) done.")))
        );
    }
    let ending = if report.interrupted {
        "Apply interrupted"
    } else {
        "Apply finished with errors"
    };
    let mut out = format!(
        "\n{}\n",
        style.removed(&style.bold(&format!(
            "{ending}: {succeeded} succeeded, {failed} failed, {skipped} skipped."
        )))
    );
    for (label, outcome) in &report.results {
        match outcome {
            Outcome::Failed(error) => out.push_str(&failure(label, error)),
            Outcome::Skipped(why) => out.push_str(&format!("  skipped: {label}: {why}\n")),
            Outcome::Succeeded(_) => {}
        }
    }
    out.push_str(
        "Completed actions were saved to state; run `certform plan` to see what remains.\n",
    );
    crate::redact::text(&out).into_owned()
}

/// A failed action's lines: the error, and for a CA's problem with subproblems, one line
/// per name saying what the CA found wrong with it.
fn failure(label: &str, error: &crate::Error) -> String {
    match error {
        crate::Error::AcmeProblem(refusal) if !refusal.problem.subproblems.is_empty() => {
            let mut text = format!("  failed:  {label}: ACME error: {}\n", refusal.headline());
            for sub in &refusal.problem.subproblems {
                text.push_str(&format!("             {sub}\n"));
            }
            text
        }
        _ => format!("  failed:  {label}: {}\n", crate::error::error_chain(error)),
    }
}

/// On a terminal: one live line per action (a spinner while it runs, then its result),
/// so a long apply shows what is in flight.
pub struct TerminalObserver {
    style: Style,
    lines: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl TerminalObserver {
    pub fn new(style: Style) -> Self {
        TerminalObserver {
            style,
            lines: indicatif::MultiProgress::new(),
            bars: Default::default(),
        }
    }
}

impl Observer for TerminalObserver {
    fn started(&self, label: &str) {
        let bar = self.lines.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .expect("a valid template"),
        );
        bar.set_prefix(crate::redact::text(label).into_owned());
        bar.set_message("running");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_string(), bar);
    }

    fn finished(&self, label: &str, outcome: &Outcome) {
        let bar = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(label)
            .unwrap_or_else(|| self.lines.add(indicatif::ProgressBar::new_spinner()));
        bar.set_style(indicatif::ProgressStyle::with_template("{msg}").expect("a valid template"));
        bar.finish_with_message(outcome_line(label, outcome, self.style));
    }
}

fn outcome_line(label: &str, outcome: &Outcome, style: Style) -> String {
    let line = match outcome {
        Outcome::Succeeded(detail) => format!("{label}: {} ({detail})", style.added("done")),
        Outcome::Failed(error) => format!("{label}: {}: {error}", style.removed("failed")),
        Outcome::Skipped(why) => format!("{label}: {}", style.changed(why)),
    };
    // A label may name an `on_change` argv, an error may quote a value.
    crate::redact::text(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AcmeProblem, AcmeRefusal, AcmeSubproblem};

    #[test]
    fn a_refused_order_lists_what_the_ca_found_wrong_per_name() {
        let subproblem = |name: &str, detail: &str| AcmeSubproblem {
            identifier: Some(name.into()),
            kind: Some("urn:ietf:params:acme:error:rejectedIdentifier".into()),
            detail: Some(detail.into()),
        };
        let refusal = AcmeRefusal {
            problem: AcmeProblem {
                kind: Some("urn:ietf:params:acme:error:rejectedIdentifier".into()),
                detail: Some("2 names refused".into()),
                status: Some(400),
                subproblems: vec![
                    subproblem("a.example", "on the blocklist"),
                    subproblem("b.example", "not a public suffix child"),
                ],
            },
            during: "creating the order".into(),
            attempts: None,
            retry_after: None,
            retry_at: None,
        };
        let report = Report {
            results: vec![(
                "certificate.www (issue)".into(),
                Outcome::Failed(crate::Error::AcmeProblem(Box::new(refusal))),
            )],
            interrupted: false,
        };
        let text = super::report(&report, Style::PLAIN);
        assert!(
            text.contains(
                "  failed:  certificate.www (issue): ACME error: urn:ietf:params:acme:error:rejectedIdentifier: 2 names refused (status 400) (while creating the order)\n\
                 \x20            a.example: urn:ietf:params:acme:error:rejectedIdentifier: on the blocklist\n\
                 \x20            b.example: urn:ietf:params:acme:error:rejectedIdentifier: not a public suffix child\n"
            ),
            "{text}"
        );
    }
}
