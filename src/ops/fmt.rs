//! `certform fmt`: rewrites `*.hcl` files in canonical layout (see `crate::fmt`), prints
//! the name of every file it changed (or, with `--check`, would change) and, with `--diff`,
//! a unified diff. `--check` writes nothing and exits 3 when a file is not formatted. When
//! any file has a syntax error, every such error is reported and no file is written.

use super::{Exit, Globals};
use crate::diag::{Diagnostics, SourceSpan};
use crate::error::{Error, Result};
use crate::fmt::{format_hcl, FormatError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct FmtRequest {
    /// Files or directories; none means the configuration directory.
    pub paths: Vec<PathBuf>,
    pub check: bool,
    pub diff: bool,
    /// Also format `*.hcl` files in subdirectories of directories given.
    pub recursive: bool,
}

/// One file and its canonical form.
struct Formatted {
    path: PathBuf,
    /// The path as shown: relative to the configuration directory when inside it.
    name: String,
    original: String,
    formatted: String,
}

pub fn run(globals: &Globals, request: &FmtRequest) -> Result<Exit> {
    let roots = if request.paths.is_empty() {
        vec![globals.config_dir.clone()]
    } else {
        request.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        collect(root, request.recursive, &mut files)?;
    }
    files.sort();
    files.dedup();

    let mut diags = Diagnostics::new();
    let mut results = Vec::new();
    for path in files {
        let original = std::fs::read_to_string(&path)
            .map_err(|e| Error::io("Cannot read a configuration file", &path, e))?;
        let name = display_name(&path, &globals.config_dir);
        match format_hcl(&original) {
            Ok(formatted) => results.push(Formatted {
                path,
                name,
                original,
                formatted,
            }),
            Err(FormatError::Syntax(offset, message)) => {
                let end = original[offset.min(original.len())..]
                    .chars()
                    .next()
                    .map_or(offset, |c| offset + c.len_utf8());
                diags.add_source(name.clone(), original);
                diags.error(
                    Some(SourceSpan::new(name, offset..end)),
                    "Syntax error",
                    format!("This is not valid HCL: {}.", message.trim_end_matches('.')),
                );
            }
            Err(changed @ FormatError::Changed) => {
                return Err(Error::Bug(format!("{}: {changed}", path.display())))
            }
        }
    }
    if diags.has_errors() {
        return Err(Error::Config {
            count: diags.len(),
            rendered: crate::render::diagnostics::render_diagnostics(&diags, globals.style.color),
        });
    }

    let mut unformatted = false;
    for file in results.iter().filter(|f| f.original != f.formatted) {
        unformatted = true;
        println!("{}", file.name);
        if request.diff {
            print!("{}", unified_diff(file));
        }
        if !request.check {
            let mode = std::fs::metadata(&file.path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o644);
            crate::deploy::write_atomic(&file.path, file.formatted.as_bytes(), mode)?;
        }
    }
    Ok(if request.check && unformatted {
        Exit::Unformatted
    } else {
        Exit::Success
    })
}

/// The `*.hcl` files at `path`: the file itself, or those in the directory (and below it
/// with `recursive`, skipping hidden directories).
fn collect(path: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<()> {
    if !path.is_dir() {
        if !path.exists() {
            return Err(Error::Usage(format!(
                "{} does not exist: fmt takes configuration files or directories.",
                path.display()
            )));
        }
        files.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| Error::io("Cannot read the directory", path, e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let child = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if child.is_dir() {
            if recursive && !hidden {
                collect(&child, recursive, files)?;
            }
        } else if child.extension().is_some_and(|ext| ext == "hcl") {
            files.push(child);
        }
    }
    Ok(())
}

fn display_name(path: &Path, config_dir: &Path) -> String {
    path.strip_prefix(config_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn unified_diff(file: &Formatted) -> String {
    similar::TextDiff::from_lines(&file.original, &file.formatted)
        .unified_diff()
        .header(&format!("a/{}", file.name), &format!("b/{}", file.name))
        .to_string()
}
