//! Diagnostics: problems found in the configuration, each with a constant summary, a
//! full-sentence detail and (when it has one) the source range it is about. A
//! [`Diagnostics`] collection also keeps the text of every source file it refers to, so it
//! can be rendered (see `render::diagnostics`) long after the files were read.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A byte range in one source file. `file` is the name the file is shown under: its path
/// relative to the configuration directory (for configuration files, just the file name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceSpan {
    pub file: String,
    pub range: Range<usize>,
}

impl SourceSpan {
    pub fn new(file: impl Into<String>, range: Range<usize>) -> Self {
        SourceSpan {
            file: file.into(),
            range,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A short, constant description of the kind of problem ("Unknown reference").
    pub summary: String,
    /// Full sentences that say what is wrong with this instance and how to fix it.
    pub detail: String,
    pub span: Option<SourceSpan>,
}

impl Diagnostic {
    pub fn error(
        summary: impl Into<String>,
        detail: impl Into<String>,
        span: Option<SourceSpan>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            detail: detail.into(),
            span,
        }
    }
}

/// A source text that diagnostics may point into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Diagnostics in the order they were found, plus the sources needed to render them.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    diags: Vec<Diagnostic>,
    sources: Vec<Source>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Registers the text of a source file (a later registration under the same name wins).
    pub fn add_source(&mut self, name: impl Into<String>, text: impl Into<String>) {
        let name = name.into();
        let text = text.into();
        match self.sources.iter_mut().find(|s| s.name == name) {
            Some(source) => source.text = text,
            None => self.sources.push(Source { name, text }),
        }
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.text.as_str())
    }

    pub fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// Adds an error located at `span`.
    pub fn error(
        &mut self,
        span: Option<SourceSpan>,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary, detail, span));
    }

    /// Removes and returns the diagnostics added after the first `len` (to look at what one
    /// step reported before passing it on).
    pub fn split_off(&mut self, len: usize) -> Vec<Diagnostic> {
        self.diags.split_off(len)
    }

    /// Moves the diagnostics and sources of `other` into `self`.
    pub fn extend(&mut self, other: Diagnostics) {
        for source in other.sources {
            self.add_source(source.name, source.text);
        }
        self.diags.extend(other.diags);
    }

    /// Orders diagnostics for reading: those without a location (command-line input) first,
    /// then by file (in the order the sources were registered) and position. Stable.
    pub fn sort_by_location(&mut self) {
        let sources = &self.sources;
        self.diags.sort_by_key(|d| match &d.span {
            None => (0, 0, 0),
            Some(span) => (
                1,
                sources
                    .iter()
                    .position(|s| s.name == span.file)
                    .unwrap_or(usize::MAX),
                span.range.start,
            ),
        });
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.diags.iter()
    }

    pub fn len(&self) -> usize {
        self.diags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diags.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// One-based line and column (in characters) of a byte offset, if the file is known.
    pub fn line_col(&self, file: &str, offset: usize) -> Option<(usize, usize)> {
        let text = self.source(file)?;
        Some(line_col(text, offset))
    }

    /// `file:line:col` of the start of `span` (just `file` when the file is unknown).
    pub fn describe_location(&self, span: &SourceSpan) -> String {
        match self.line_col(&span.file, span.range.start) {
            Some((line, col)) => format!("{}:{line}:{col}", span.file),
            None => span.file.clone(),
        }
    }
}

/// One-based line and column (counted in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.diags.iter()
    }
}

/// A plain one-line-per-diagnostic form, for logs and `Debug`-like contexts; user-facing
/// output goes through `render::diagnostics`.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diag in &self.diags {
            let level = match diag.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            match &diag.span {
                Some(span) => writeln!(
                    f,
                    "{}: {level}: {}: {}",
                    self.describe_location(span),
                    diag.summary,
                    diag.detail
                )?,
                None => writeln!(f, "{level}: {}: {}", diag.summary, diag.detail)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
    }
}
