//! Renders configuration diagnostics with codespan-reporting: a header with the summary,
//! `file:line:col`, the source snippet with a caret under the offending text, the detail as a
//! note, and a closing count line (`Error: 3 errors in configuration.`).

use crate::diag::{Diagnostics, Severity};
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};

/// Renders every diagnostic, then one summary line. `color` adds ANSI colour codes.
pub fn render_diagnostics(diags: &Diagnostics, color: bool) -> String {
    let mut files = SimpleFiles::new();
    let ids: Vec<(String, usize)> = diags
        .sources()
        .iter()
        .map(|s| (s.name.clone(), files.add(s.name.clone(), s.text.clone())))
        .collect();
    let config = term::Config::default();
    let mut out = String::new();
    for diag in diags {
        let severity = match diag.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut cs = CsDiagnostic::new(severity).with_message(&diag.summary);
        let mut located = false;
        if let Some(span) = &diag.span {
            let known = ids.iter().find(|(name, _)| *name == span.file);
            if let (Some((_, id)), Some(text)) = (known, diags.source(&span.file)) {
                let start = span.range.start.min(text.len());
                let end = span.range.end.clamp(start, text.len());
                cs = cs.with_labels(vec![Label::primary(*id, start..end)]);
                located = true;
            }
        }
        let mut notes = Vec::new();
        if !diag.detail.is_empty() {
            notes.push(diag.detail.clone());
        }
        if !located {
            if let Some(span) = &diag.span {
                notes.push(format!("in {}", span.file));
            }
        }
        cs = cs.with_notes(notes);
        let rendered = if color {
            let mut buffer = termcolor::Ansi::new(Vec::new());
            term::emit_to_write_style(&mut buffer, &config, &files, &cs)
                .map(|()| String::from_utf8_lossy(&buffer.into_inner()).into_owned())
        } else {
            term::emit_into_string(&config, &files, &cs)
        };
        match rendered {
            Ok(text) => out.push_str(&text),
            // Only reachable with a span outside its file: still show the message.
            Err(_) => {
                out.push_str(&format!("error: {}\n  = {}\n", diag.summary, diag.detail));
            }
        }
    }
    out.push_str(&summary_line(diags));
    out.push('\n');
    out
}

fn summary_line(diags: &Diagnostics) -> String {
    let errors = diags.error_count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    match (errors, warnings) {
        (0, 0) => "No problems in configuration.".to_string(),
        (0, w) => format!("Warning: {} in configuration.", plural(w, "warning")),
        (e, 0) => format!("Error: {} in configuration.", plural(e, "error")),
        (e, w) => format!(
            "Error: {} and {} in configuration.",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}
