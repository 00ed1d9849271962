//! The configuration as written: every `*.hcl` file directly inside the configuration
//! directory (sorted by name, merged), parsed with byte spans (hcl-edit) so every problem can
//! be reported at `file:line:col`. This module also owns the expression language: variables
//! (`var.NAME`, from `--var` / `--var-file` / defaults), `locals`, the functions `env()` and
//! `file()`, string templates, and references to blocks (`account.le`), which evaluate to
//! opaque reference values that `desired` turns into graph edges.
//!
//! [`Config::load`] does the language-level work (syntax, top-level block kinds, labels,
//! duplicate names, variables, locals); `desired::resolve` interprets the resource blocks.

pub mod body;
pub mod duration;
pub mod eval;
pub mod functions;
pub mod suggest;
pub mod vars;

use crate::address::Kind;
use crate::diag::{Diagnostics, SourceSpan};
use hcl::edit::structure::{Block, Body, Structure};
use hcl::edit::Span;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use body::BodyReader;
pub use eval::{Evaluator, SecretEnv};

/// One parsed configuration file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics: the file name inside the configuration directory.
    pub name: String,
    pub path: PathBuf,
    pub body: Body,
}

impl SourceFile {
    pub fn span(&self, range: Range<usize>) -> SourceSpan {
        SourceSpan::new(self.name.clone(), range)
    }
}

/// The kinds of top-level blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopKind {
    Certform,
    Variable,
    Locals,
    Resource(Kind),
}

impl TopKind {
    pub fn from_keyword(keyword: &str) -> Option<TopKind> {
        match keyword {
            "certform" => Some(TopKind::Certform),
            "variable" => Some(TopKind::Variable),
            "locals" => Some(TopKind::Locals),
            other => Kind::from_keyword(other).map(TopKind::Resource),
        }
    }

    fn label_count(self) -> usize {
        match self {
            TopKind::Certform | TopKind::Locals => 0,
            TopKind::Variable | TopKind::Resource(_) => 1,
        }
    }
}

const TOP_KEYWORDS: &str =
    "certform, variable, locals, account, certificate, http_solver, dns_solver and tls_alpn_solver";

/// A top-level block, by position: `config.files[file].body` structure number `index`.
#[derive(Debug, Clone)]
pub struct TopBlock {
    pub kind: TopKind,
    pub file: usize,
    pub index: usize,
    /// The label, for blocks that have one.
    pub name: Option<String>,
}

/// The configuration after the language-level checks, ready for `desired::resolve`.
#[derive(Debug)]
pub struct Config {
    /// Absolute configuration directory; relative paths resolve against it.
    pub dir: PathBuf,
    pub files: Vec<SourceFile>,
    /// Every well-formed top-level block, in file order, duplicates left out.
    pub blocks: Vec<TopBlock>,
    /// Variables and locals evaluated, resource names declared.
    pub eval: Evaluator,
}

impl Config {
    /// Reads and checks the configuration in `dir`. Problems go to `diags`; `None` means
    /// the files could not be read or parsed, so nothing further can be checked.
    pub fn load(
        dir: &Path,
        vars: &[(String, String)],
        var_files: &[PathBuf],
        secret_env: SecretEnv,
        diags: &mut Diagnostics,
    ) -> Option<Config> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let files = read_dir(&dir, diags)?;
        let mut config = Config {
            eval: Evaluator::new(dir.clone()),
            dir,
            files,
            blocks: Vec::new(),
        };
        config.classify(diags);
        for block in &config.blocks {
            if let (TopKind::Resource(kind), Some(name)) = (block.kind, &block.name) {
                config.eval.declare_resource(kind, name);
            }
        }
        let mut eval = std::mem::replace(&mut config.eval, Evaluator::new(PathBuf::new()));
        eval.set_secret_env(secret_env);
        let variables: Vec<(&SourceFile, &Block)> = config
            .blocks_of(TopKind::Variable)
            .map(|(file, block, _)| (file, block))
            .collect();
        let values = vars::evaluate_variables(&variables, vars, var_files, &eval, diags);
        eval.set_vars(values);
        let locals: Vec<(&SourceFile, &Block)> = config
            .blocks_of(TopKind::Locals)
            .map(|(file, block, _)| (file, block))
            .collect();
        eval::evaluate_locals(&locals, &mut eval, diags);
        config.eval = eval;
        Some(config)
    }

    pub fn block(&self, top: &TopBlock) -> &Block {
        match self.files[top.file].body.get(top.index) {
            Some(Structure::Block(block)) => block,
            _ => unreachable!("TopBlock points at a block"),
        }
    }

    /// The blocks of one kind, with their file and name.
    pub fn blocks_of(
        &self,
        kind: TopKind,
    ) -> impl Iterator<Item = (&SourceFile, &Block, Option<&str>)> {
        self.blocks
            .iter()
            .filter(move |b| b.kind == kind)
            .map(|b| (&self.files[b.file], self.block(b), b.name.as_deref()))
    }

    /// Checks the top level: only known blocks, with the right labels, unique names.
    fn classify(&mut self, diags: &mut Diagnostics) {
        let mut seen: BTreeMap<(TopKind, String), SourceSpan> = BTreeMap::new();
        let mut blocks = Vec::new();
        for (file_index, file) in self.files.iter().enumerate() {
            for (index, structure) in file.body.iter().enumerate() {
                let block = match structure {
                    Structure::Attribute(attr) => {
                        diags.error(
                            attr.key.span().map(|r| file.span(r)),
                            "Unexpected attribute",
                            format!(
                                "The attribute `{}` is not allowed at the top level of a configuration file, which holds only blocks ({TOP_KEYWORDS}). To share a value, declare it in a `locals` block.",
                                attr.key.as_str()
                            ),
                        );
                        continue;
                    }
                    Structure::Block(block) => block,
                };
                let keyword = block.ident.as_str();
                let header = file.span(header_span(block));
                let Some(kind) = TopKind::from_keyword(keyword) else {
                    let keywords = ["certform", "variable", "locals"]
                        .into_iter()
                        .chain(Kind::ALL.iter().map(|k| k.keyword()));
                    let suggestion = suggest::did_you_mean(keywords, keyword, "");
                    diags.error(
                        Some(header),
                        "Unsupported block type",
                        format!("Blocks of type `{keyword}` are not expected here.{suggestion} The top level may contain {TOP_KEYWORDS} blocks."),
                    );
                    continue;
                };
                let want = kind.label_count();
                if block.labels.len() != want {
                    let detail = if want == 0 {
                        format!("A `{keyword}` block takes no labels: write `{keyword} {{ ... }}`.")
                    } else {
                        format!(
                            "A `{keyword}` block takes exactly one label, its name: write `{keyword} \"NAME\" {{ ... }}`."
                        )
                    };
                    diags.error(Some(header), "Wrong number of block labels", detail);
                    continue;
                }
                let name = block.labels.first().map(|l| l.as_str().to_string());
                if let Some(name) = &name {
                    if !crate::address::is_identifier(name) {
                        diags.error(
                            Some(header),
                            "Invalid block name",
                            format!(
                                "The name {name:?} of this `{keyword}` block is not a valid identifier. Names start with a letter or `_` and contain only letters, digits, `_` and `-`."
                            ),
                        );
                        continue;
                    }
                }
                if kind == TopKind::Certform {
                    if let Some(first) = seen.get(&(kind, String::new())) {
                        diags.error(
                            Some(header),
                            "Duplicate certform block",
                            format!(
                                "Only one `certform` block is allowed in a configuration; the first one is at {}. Merge the settings into it.",
                                diags.describe_location(first)
                            ),
                        );
                        continue;
                    }
                    seen.insert((kind, String::new()), header);
                } else if let (TopKind::Variable | TopKind::Resource(_), Some(name)) = (kind, &name)
                {
                    if let Some(first) = seen.get(&(kind, name.clone())) {
                        diags.error(
                            Some(header),
                            "Duplicate block name",
                            format!(
                                "{} `{keyword}` block named \"{name}\" was already declared at {}. Names must be unique per block type across all files; rename or remove one of them.",
                                if matches!(keyword.as_bytes()[0], b'a' | b'e' | b'i' | b'o' | b'u' | b'h') { "An" } else { "A" },
                                diags.describe_location(first)
                            ),
                        );
                        continue;
                    }
                    seen.insert((kind, name.clone()), header);
                }
                blocks.push(TopBlock {
                    kind,
                    file: file_index,
                    index,
                    name,
                });
            }
        }
        self.blocks = blocks;
    }
}

/// The span of a block's header: its type keyword through its last label.
pub fn header_span(block: &Block) -> Range<usize> {
    let start = block.ident.span().map_or(0, |r| r.start);
    let end = block
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| block.ident.span())
        .map_or(start, |r| r.end);
    start..end.max(start)
}

/// Reads and parses every `*.hcl` file directly inside `dir`, sorted by name. Registers
/// every source with `diags`. Returns `None` when anything could not be read or parsed.
pub fn read_dir(dir: &Path, diags: &mut Diagnostics) -> Option<Vec<SourceFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            diags.error(
                None,
                "Cannot read the configuration directory",
                format!("Reading {} failed: {err}.", dir.display()),
            );
            return None;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "hcl") && p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        diags.error(
            None,
            "No configuration files",
            format!(
                "The directory {} contains no *.hcl files. Run certform in the directory that holds your configuration, or pass --chdir DIR.",
                dir.display()
            ),
        );
        return None;
    }
    let mut files = Vec::new();
    let mut ok = true;
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match parse_file(&path, &name, diags) {
            Some(file) => files.push(file),
            None => ok = false,
        }
    }
    ok.then_some(files)
}

/// Reads and parses one HCL file; the source is registered with `diags` under `name`.
pub fn parse_file(path: &Path, name: &str, diags: &mut Diagnostics) -> Option<SourceFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            diags.error(
                None,
                "Cannot read a configuration file",
                format!("Reading {} failed: {err}.", path.display()),
            );
            return None;
        }
    };
    diags.add_source(name, text.clone());
    match hcl::edit::parser::parse_body(&text) {
        Ok(body) => Some(SourceFile {
            name: name.to_string(),
            path: path.to_path_buf(),
            body,
        }),
        Err(err) => {
            let offset = err.location().offset();
            if err.message().contains("redefined attribute") {
                // hcl-edit rejects a repeated attribute key while parsing.
                let rest = &text[offset.min(text.len())..];
                let key_len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(rest.len());
                let key = &rest[..key_len];
                let end = (offset + key_len).max(next_char_end(&text, offset));
                diags.error(
                    Some(SourceSpan::new(name, offset..end)),
                    "Duplicate attribute",
                    format!(
                        "`{key}` is already set earlier in this block. Each attribute may be set once; remove one of them."
                    ),
                );
                return None;
            }
            let end = next_char_end(&text, offset);
            diags.error(
                Some(SourceSpan::new(name, offset..end)),
                "Syntax error",
                format!(
                    "This is not valid HCL: {}.",
                    err.message().trim_end_matches('.')
                ),
            );
            None
        }
    }
}

/// The end of the character starting at `offset` (or `offset` at the end of the text).
fn next_char_end(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8())
}
