//! Canonical HCL layout for `certform fmt`, with every comment kept where it was written.
//!
//! `hcl::format` rebuilds text from a syntax tree that has no comments, so this formatter
//! works on the text instead, guided by a small scanner that knows HCL's strings, template
//! interpolations, heredocs and comments. The rules are Terraform's: two spaces of
//! indentation per nesting level, `=` of adjacent attributes (and object items) at one
//! level aligned, trailing comments of adjacent lines aligned, no trailing whitespace, at
//! most one blank line in a row, none at the start and exactly one newline at the end.
//! Heredoc bodies and the inside of `/* */` comments are left as written.
//!
//! The result is checked: it must parse to the same body as the input, so formatting can
//! never change what a configuration means.

use std::fmt;

/// Why a text could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The input is not valid HCL: (byte offset, message).
    Syntax(usize, String),
    /// The formatted text would mean something else: a bug in the formatter.
    Changed,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Syntax(_, message) => write!(f, "{message}"),
            FormatError::Changed => f.write_str(
                "formatting would change the meaning of the file, so it was left as it is (a bug in certform fmt)",
            ),
        }
    }
}

/// The canonical form of `text`.
pub fn format_hcl(text: &str) -> Result<String, FormatError> {
    let before = hcl::parse(text).map_err(|e| syntax_error(text, e))?;
    let formatted = layout(&scan(text));
    let after = hcl::parse(&formatted).map_err(|_| FormatError::Changed)?;
    if before != after {
        return Err(FormatError::Changed);
    }
    Ok(formatted)
}

fn syntax_error(text: &str, err: hcl::Error) -> FormatError {
    match hcl::edit::parser::parse_body(text) {
        Err(parse) => FormatError::Syntax(parse.location().offset(), parse.message().to_string()),
        Ok(_) => FormatError::Syntax(0, err.to_string()),
    }
}

/// One source line as the scanner saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The line without its newline.
    text: String,
    /// Part of a heredoc body or a `/* */` comment that began on an earlier line: kept.
    verbatim: bool,
    /// Nesting depth of `{`, `[` and `(` before the line's first character.
    depth: usize,
    /// How many closing brackets the line starts with (they belong one level out).
    leading_closers: usize,
    /// Byte offset of a trailing `#` or `//` comment that follows code on this line.
    comment_at: Option<usize>,
}

/// Where the scanner is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Context {
    /// Expressions outside any string.
    Code,
    /// A quoted string.
    Quoted,
    /// `${ ... }` or `%{ ... }` inside a string: code until the `}` that closes it
    /// (`braces` counts the object braces opened inside).
    Interpolation { braces: usize },
}

/// Splits `text` into lines and records, for each, what the layout needs.
fn scan(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut depth = 0usize;
    let mut stack = vec![Context::Code];
    let mut heredoc: Option<String> = None;
    let mut pending_heredoc: Option<String> = None;
    let mut in_block_comment = false;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(marker) = &heredoc {
            if raw.trim() == marker {
                heredoc = None;
            }
            lines.push(Line {
                text: raw.to_string(),
                verbatim: true,
                depth,
                leading_closers: 0,
                comment_at: None,
            });
            continue;
        }
        let verbatim = in_block_comment;
        let line_depth = depth;
        let mut leading_closers = 0;
        let mut seen_code = false;
        let mut comment_at = None;
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if in_block_comment {
                if raw[i..].starts_with("*/") {
                    in_block_comment = false;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            match stack.last().cloned().unwrap_or(Context::Code) {
                Context::Quoted => {
                    if c == b'\\' {
                        i += 2;
                        continue;
                    }
                    if c == b'"' {
                        stack.pop();
                    } else if (raw[i..].starts_with("${") || raw[i..].starts_with("%{"))
                        && !raw[..i].ends_with(['$', '%'])
                    {
                        stack.push(Context::Interpolation { braces: 0 });
                        i += 2;
                        continue;
                    }
                    i += 1;
                }
                context @ (Context::Code | Context::Interpolation { .. }) => {
                    let is_code = context == Context::Code;
                    if c == b'#' || raw[i..].starts_with("//") {
                        if seen_code && is_code {
                            comment_at = Some(i);
                        }
                        break;
                    }
                    if raw[i..].starts_with("/*") {
                        in_block_comment = true;
                        i += 2;
                        continue;
                    }
                    if c == b' ' || c == b'\t' {
                        i += 1;
                        continue;
                    }
                    let closer = matches!(c, b'}' | b']' | b')');
                    if is_code && closer && !seen_code {
                        leading_closers += 1;
                    } else {
                        seen_code = true;
                    }
                    match (c, context) {
                        (b'"', _) => stack.push(Context::Quoted),
                        (b'{', Context::Interpolation { braces }) => {
                            stack.pop();
                            stack.push(Context::Interpolation { braces: braces + 1 });
                        }
                        (b'}', Context::Interpolation { braces: 0 }) => {
                            stack.pop();
                        }
                        (b'}', Context::Interpolation { braces }) => {
                            stack.pop();
                            stack.push(Context::Interpolation { braces: braces - 1 });
                        }
                        (b'{' | b'[' | b'(', Context::Code) => depth += 1,
                        (b'}' | b']' | b')', Context::Code) => depth = depth.saturating_sub(1),
                        (b'<', Context::Code) if raw[i..].starts_with("<<") => {
                            let rest = raw[i + 2..].strip_prefix('-').unwrap_or(&raw[i + 2..]);
                            let marker: String = rest
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            if !marker.is_empty() {
                                pending_heredoc = Some(marker);
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
        }
        lines.push(Line {
            text: raw.to_string(),
            verbatim,
            depth: line_depth,
            leading_closers,
            comment_at,
        });
        if let Some(marker) = pending_heredoc.take() {
            heredoc = Some(marker);
        }
    }
    // `split` yields an empty last piece for text ending in a newline.
    if lines
        .last()
        .is_some_and(|l| l.text.is_empty() && !l.verbatim)
    {
        lines.pop();
    }
    lines
}

/// A line ready to be aligned: indentation, code and an optional trailing comment.
struct Laid {
    indent: usize,
    /// For `KEY = VALUE` lines: the key and the rest after `=`.
    assignment: Option<(String, String)>,
    code: String,
    comment: Option<String>,
    verbatim: bool,
}

fn layout(lines: &[Line]) -> String {
    let mut laid: Vec<Laid> = Vec::new();
    for line in lines {
        if line.verbatim {
            laid.push(Laid {
                indent: 0,
                assignment: None,
                code: line.text.clone(),
                comment: None,
                verbatim: true,
            });
            continue;
        }
        let (code, comment) = match line.comment_at {
            Some(at) => (
                &line.text[..at],
                Some(line.text[at..].trim_end().to_string()),
            ),
            None => (line.text.as_str(), None),
        };
        let code = code.trim().to_string();
        let blank = code.is_empty() && comment.is_none();
        // Collapse blank lines: none at the start, never two in a row.
        if blank && laid.last().is_none_or(is_blank) {
            continue;
        }
        laid.push(Laid {
            indent: line.depth.saturating_sub(line.leading_closers),
            assignment: split_assignment(&code),
            code,
            comment,
            verbatim: false,
        });
    }
    while laid.last().is_some_and(is_blank) {
        laid.pop();
    }
    align_assignments(&mut laid);
    align_comments(&mut laid);
    let mut out = String::new();
    for line in &laid {
        if line.verbatim {
            out.push_str(&line.code);
        } else if !is_blank(line) {
            out.push_str(&"  ".repeat(line.indent));
            out.push_str(&line.code);
            if let Some(comment) = &line.comment {
                if !line.code.is_empty() {
                    out.push(' ');
                }
                out.push_str(comment);
            }
        }
        out.push('\n');
    }
    out
}

fn is_blank(line: &Laid) -> bool {
    !line.verbatim && line.code.is_empty() && line.comment.is_none()
}

/// `key = value` (an identifier or a plain quoted key, then a single `=`): (key, value).
fn split_assignment(code: &str) -> Option<(String, String)> {
    let key_len = if let Some(rest) = code.strip_prefix('"') {
        let end = rest.find('"')?;
        let key = &rest[..end];
        if key.contains(['\\', '$', '%']) {
            return None;
        }
        end + 2
    } else {
        code.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .filter(|&n| n > 0 && !code.starts_with(|c: char| c.is_ascii_digit()))?
    };
    let rest = code[key_len..].trim_start();
    let value = rest.strip_prefix('=')?;
    if value.starts_with(['=', '>']) {
        return None;
    }
    Some((code[..key_len].to_string(), value.trim().to_string()))
}

/// Pads the keys of adjacent assignment lines at one indentation so their `=` line up.
fn align_assignments(laid: &mut [Laid]) {
    let mut start = 0;
    while start < laid.len() {
        let mut end = start;
        while end < laid.len()
            && laid[end].assignment.is_some()
            && laid[end].indent == laid[start].indent
        {
            end += 1;
        }
        if end == start {
            start += 1;
            continue;
        }
        let width = laid[start..end]
            .iter()
            .filter_map(|l| l.assignment.as_ref())
            .map(|(key, _)| key.chars().count())
            .max()
            .unwrap_or(0);
        for line in &mut laid[start..end] {
            if let Some((key, value)) = &line.assignment {
                let pad = width - key.chars().count();
                line.code = format!("{key}{} = {value}", " ".repeat(pad))
                    .trim_end()
                    .to_string();
            }
        }
        start = end;
    }
}

/// Lines up the trailing comments of adjacent lines that have code and a comment.
fn align_comments(laid: &mut [Laid]) {
    let has_trailing = |l: &Laid| !l.verbatim && !l.code.is_empty() && l.comment.is_some();
    let width = |l: &Laid| 2 * l.indent + l.code.chars().count();
    let mut start = 0;
    while start < laid.len() {
        let mut end = start;
        while end < laid.len() && has_trailing(&laid[end]) {
            end += 1;
        }
        if end == start {
            start += 1;
            continue;
        }
        let column = laid[start..end].iter().map(width).max().unwrap_or(0);
        for line in &mut laid[start..end] {
            let pad = column - width(line);
            line.code = format!("{}{}", line.code, " ".repeat(pad));
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats(input: &str, expected: &str) {
        let once = format_hcl(input).unwrap();
        assert_eq!(once, expected);
        assert_eq!(format_hcl(&once).unwrap(), once, "formatting is idempotent");
    }

    #[test]
    fn indents_aligns_and_keeps_comments() {
        formats(
            "# top\n\n\n\naccount \"le\" {\ndirectory=\"x\" # the CA\n    contact   =   [\"mailto:a@b\"]   # who\n\n\n  key_type = \"ecdsa-p256\"\n  }\n\n",
            "# top\n\naccount \"le\" {\n  directory = \"x\"            # the CA\n  contact   = [\"mailto:a@b\"] # who\n\n  key_type = \"ecdsa-p256\"\n}\n",
        );
    }

    #[test]
    fn nested_values_and_quoted_keys() {
        formats(
            "locals {\nsites = {\n\"a.example\" = { team = \"web\" }\n\"long.example\" = {\nteam = \"api\"\n}\n}\nlist = [\n\"x\",\n]\n}\n",
            "locals {\n  sites = {\n    \"a.example\"    = { team = \"web\" }\n    \"long.example\" = {\n      team = \"api\"\n    }\n  }\n  list = [\n    \"x\",\n  ]\n}\n",
        );
    }

    #[test]
    fn strings_templates_and_heredocs_are_not_code() {
        formats(
            "locals {\na = \"{ [ # not a comment\"\nb = \"${join(\"}\", [\"x\"])}\"\nc = <<EOT\n  { kept as written\nEOT\nd = 1\n}\n",
            "locals {\n  a = \"{ [ # not a comment\"\n  b = \"${join(\"}\", [\"x\"])}\"\n  c = <<EOT\n  { kept as written\nEOT\n  d = 1\n}\n",
        );
    }

    #[test]
    fn block_comments_and_comparisons() {
        formats(
            "/* a\n   { b */\nx {\ny = 1 == 1 ? \"a\" : \"b\"\nzz = { for k, v in {} : k => v }\n}\n",
            "/* a\n   { b */\nx {\n  y  = 1 == 1 ? \"a\" : \"b\"\n  zz = { for k, v in {} : k => v }\n}\n",
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(
            format_hcl("a = {\n"),
            Err(FormatError::Syntax(_, _))
        ));
    }
}
