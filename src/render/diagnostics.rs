//! Renders configuration diagnostics with codespan-reporting: a header with the summary,
//! `file:line:col`, the source snippet with a caret under the offending text, the detail as a
//! note, and a closing count line (`Error: 3 errors in configuration.`); and as the JSON
//! document of `validate --json` (`schemas/validate.schema.json`).

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
        let mut cs = CsDiagnostic::new(severity).with_message(crate::redact::text(&diag.summary));
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
            // The snippet shows the source as written; an evaluated value in the detail
            // may hold a sensitive value.
            notes.push(crate::redact::text(&diag.detail).into_owned());
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
                let detail = crate::redact::text(&diag.detail);
                out.push_str(&format!("error: {}\n  = {detail}\n", diag.summary));
            }
        }
    }
    out.push_str(&summary_line(diags));
    out.push('\n');
    out
}

/// The `validate --json` document: validity, counts, and every diagnostic with its
/// one-based start and end line and column (`null` when it has no location).
pub fn json(diags: &Diagnostics) -> String {
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|diag| {
            let position = |offset: usize| {
                diag.span
                    .as_ref()
                    .and_then(|span| diags.line_col(&span.file, offset))
            };
            let start = diag.span.as_ref().and_then(|s| position(s.range.start));
            let end = diag.span.as_ref().and_then(|s| position(s.range.end));
            serde_json::json!({
                "severity": match diag.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                "summary": diag.summary,
                "detail": crate::redact::text(&diag.detail),
                "file": diag.span.as_ref().map(|s| s.file.clone()),
                "line": start.map(|(line, _)| line),
                "column": start.map(|(_, column)| column),
                "end_line": end.map(|(line, _)| line),
                "end_column": end.map(|(_, column)| column),
            })
        })
        .collect();
    let document = serde_json::json!({
        "format_version": "1",
        "valid": !diags.has_errors(),
        "error_count": diags.error_count(),
        "warning_count": diags.len() - diags.error_count(),
        "diagnostics": items,
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON values serialise");
    text.push('\n');
    text
}

/// `Error: 3 errors in configuration.` (or `No problems in configuration.`).
pub fn summary_line(diags: &Diagnostics) -> String {
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
