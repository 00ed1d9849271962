//! Reading one block's body against a schema: which attributes and nested blocks are
//! allowed, and typed accessors that evaluate an attribute and report a wrong type, a
//! missing required attribute or a bad reference at the attribute's location.

use crate::address::{Address, Kind};
use crate::config::eval::{as_reference, contains_reference, REF_MARKER};
use crate::config::suggest::did_you_mean;
use crate::config::vars::describe;
use crate::config::{header_span, Evaluator, SecretEnv, SourceFile};
use crate::diag::{Diagnostics, SourceSpan};
use crate::secret::{ConfigSecret, Sensitive};
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::Span;
use hcl::Value;
use std::collections::BTreeMap;

/// The outcome of reading an optional attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Got<T> {
    /// Not written (or `null`).
    Absent,
    /// Written, but wrong; already reported.
    Invalid,
    Value(T),
}

impl<T> Got<T> {
    pub fn ok(self) -> Option<T> {
        match self {
            Got::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_invalid(&self) -> bool {
        matches!(self, Got::Invalid)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Got<U> {
        match self {
            Got::Absent => Got::Absent,
            Got::Invalid => Got::Invalid,
            Got::Value(v) => Got::Value(f(v)),
        }
    }

    /// The value, or the default when absent; `None` when invalid.
    pub fn or_default_value(self, default: T) -> Option<T> {
        match self {
            Got::Absent => Some(default),
            Got::Invalid => None,
            Got::Value(v) => Some(v),
        }
    }
}

/// A block body being read; `what` names the block in messages (`account "le"`).
pub struct BodyReader<'a> {
    pub file: &'a SourceFile,
    pub eval: &'a Evaluator,
    pub body: &'a Body,
    pub what: String,
    header: std::ops::Range<usize>,
}

impl<'a> BodyReader<'a> {
    pub fn new(
        file: &'a SourceFile,
        eval: &'a Evaluator,
        block: &'a Block,
        what: impl Into<String>,
    ) -> Self {
        BodyReader {
            file,
            eval,
            body: &block.body,
            what: what.into(),
            header: header_span(block),
        }
    }

    /// The block's header (`account "le"`), where block-level problems are reported.
    pub fn header_span(&self) -> SourceSpan {
        self.file.span(self.header.clone())
    }

    pub fn key_span(&self, attr: &Attribute) -> SourceSpan {
        self.file
            .span(attr.key.span().unwrap_or(self.header.clone()))
    }

    pub fn value_span(&self, attr: &Attribute) -> SourceSpan {
        self.expr_span(&attr.value, attr)
    }

    fn expr_span(&self, expr: &Expression, attr: &Attribute) -> SourceSpan {
        let fallback = attr.span().unwrap_or(self.header.clone());
        self.file.span(expr.span().unwrap_or(fallback))
    }

    /// Reports attributes and nested blocks not in the schema, and repeated attributes.
    pub fn check(&self, attrs: &[&str], blocks: &[&str], diags: &mut Diagnostics) {
        let mut seen: BTreeMap<&str, SourceSpan> = BTreeMap::new();
        for structure in self.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let key = attr.key.as_str();
                    if key == "for_each" && attrs.contains(&"for_each") {
                        continue;
                    }
                    if !attrs.contains(&key) {
                        let hint = if blocks.contains(&key) {
                            format!(" `{key}` is a block: write `{key} {{ ... }}` without `=`.")
                        } else {
                            hint_or_listing(attrs, key, attrs, blocks)
                        };
                        diags.error(
                            Some(self.key_span(attr)),
                            "Unsupported attribute",
                            format!(
                                "An attribute named `{key}` is not expected in {}.{hint}",
                                self.what
                            ),
                        );
                        continue;
                    }
                    if let Some(first) = seen.get(key) {
                        diags.error(
                            Some(self.key_span(attr)),
                            "Duplicate attribute",
                            format!(
                                "`{key}` was already set in {} at {}. Each attribute may be set once; remove one of them.",
                                self.what,
                                diags.describe_location(first)
                            ),
                        );
                    } else {
                        seen.insert(key, self.key_span(attr));
                    }
                }
                Structure::Block(block) => {
                    let ident = block.ident.as_str();
                    if !blocks.contains(&ident) {
                        let hint = if attrs.contains(&ident) {
                            format!(" `{ident}` is an attribute: write `{ident} = ...`.")
                        } else {
                            hint_or_listing(blocks, ident, attrs, blocks)
                        };
                        diags.error(
                            Some(self.file.span(header_span(block))),
                            "Unsupported block type",
                            format!(
                                "Blocks of type `{ident}` are not expected in {}.{hint}",
                                self.what
                            ),
                        );
                    }
                }
            }
        }
    }

    /// The first attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.body.get_attribute(name)
    }

    /// The nested blocks of one type.
    pub fn blocks(&self, ident: &'a str) -> Vec<&'a Block> {
        self.body.get_blocks(ident).collect()
    }

    /// Reports a missing required attribute.
    pub fn missing(&self, name: &str, example: &str, diags: &mut Diagnostics) {
        diags.error(
            Some(self.header_span()),
            "Missing required attribute",
            format!(
                "{} must set `{name}`, for example `{name} = {example}`.",
                self.what
            ),
        );
    }

    /// A required attribute: reports it when absent.
    pub fn required<T>(
        &self,
        name: &str,
        example: &str,
        got: Got<T>,
        diags: &mut Diagnostics,
    ) -> Option<T> {
        match got {
            Got::Absent => {
                self.missing(name, example, diags);
                None
            }
            Got::Invalid => None,
            Got::Value(v) => Some(v),
        }
    }

    /// The evaluated value of an attribute (`null` counts as absent).
    pub fn value(&self, name: &str, diags: &mut Diagnostics) -> Got<(Value, &'a Attribute)> {
        let Some(attr) = self.attr(name) else {
            return Got::Absent;
        };
        match self.eval.eval(self.file, &attr.value, diags) {
            None => Got::Invalid,
            Some(Value::Null) => Got::Absent,
            Some(value) => Got::Value((value, attr)),
        }
    }

    /// Reports a value of the wrong type.
    pub fn wrong_type(
        &self,
        attr: &Attribute,
        expected: &str,
        value: &Value,
        diags: &mut Diagnostics,
    ) {
        let mut detail = format!(
            "`{}` in {} must be {expected}, but this is {}.",
            attr.key.as_str(),
            self.what,
            describe(value)
        );
        if let Some(address) = as_reference(value) {
            detail = format!(
                "`{}` in {} must be {expected}, but this is a reference to {address}.",
                attr.key.as_str(),
                self.what
            );
        }
        diags.error(
            Some(self.value_span(attr)),
            "Incorrect attribute value type",
            detail,
        );
    }

    /// Reports an invalid value at the attribute's value.
    pub fn invalid(
        &self,
        attr: &Attribute,
        summary: &str,
        detail: impl Into<String>,
        diags: &mut Diagnostics,
    ) {
        diags.error(Some(self.value_span(attr)), summary, detail);
    }

    /// A secret attribute (TSIG secret, EAB key) and the span of its value. A plain
    /// `env("NAME")` is read here so the secret remembers its variable; when the variable is
    /// unset and the command uses no secret, the secret is left unknown instead of failing.
    pub fn secret(&self, name: &str, diags: &mut Diagnostics) -> Got<(ConfigSecret, SourceSpan)> {
        if let Some((attr, variable)) = self.attr(name).and_then(|attr| {
            let variable = plain_env_call(&attr.value)?;
            Some((attr, variable))
        }) {
            let span = self.value_span(attr);
            match std::env::var(&variable) {
                Ok(text) => {
                    crate::redact::register(&text);
                    let value = Sensitive::new(text);
                    let secret = ConfigSecret::Known {
                        value,
                        env: Some(variable),
                    };
                    return Got::Value((secret, span));
                }
                Err(_) if self.eval.secret_env() == SecretEnv::MayBeUnset => {
                    return Got::Value((ConfigSecret::Unset { env: variable }, span));
                }
                // Evaluated below, which reports the unset variable at the call.
                Err(_) => {}
            }
        }
        self.string_spanned(name, diags).map(|(text, span)| {
            let secret = ConfigSecret::Known {
                value: Sensitive::new(text),
                env: None,
            };
            (secret, span)
        })
    }

    pub fn string(&self, name: &str, diags: &mut Diagnostics) -> Got<String> {
        self.string_spanned(name, diags).map(|(s, _)| s)
    }

    /// A string attribute and the span of its value.
    pub fn string_spanned(&self, name: &str, diags: &mut Diagnostics) -> Got<(String, SourceSpan)> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        match self.text(&value, attr, &attr.value, "a string", diags) {
            Some(text) => Got::Value((text, self.value_span(attr))),
            None => Got::Invalid,
        }
    }

    /// A value used as text: strings, and numbers/bools converted.
    fn text(
        &self,
        value: &Value,
        attr: &Attribute,
        expr: &Expression,
        expected: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                self.wrong_type(attr, expected, other, diags);
                return None;
            }
        };
        if let Some(address) = contains_reference(&text) {
            diags.error(
                Some(self.expr_span(expr, attr)),
                "Incorrect attribute value type",
                format!(
                    "`{}` in {} must be text, but this uses the reference {address}, which names a block and has no text value.",
                    attr.key.as_str(),
                    self.what
                ),
            );
            return None;
        }
        Some(text)
    }

    pub fn bool(&self, name: &str, diags: &mut Diagnostics) -> Got<bool> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        match &value {
            Value::Bool(b) => Got::Value(*b),
            Value::String(s) if s == "true" || s == "false" => Got::Value(s == "true"),
            other => {
                self.wrong_type(attr, "true or false", other, diags);
                Got::Invalid
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn integer(&self, name: &str, min: u64, max: u64, diags: &mut Diagnostics) -> Got<u64> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        let number = match &value {
            Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|_| u64::MAX)),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let expected = format!("a whole number from {min} to {max}");
        match (number, &value) {
            (Some(n), _) if (min..=max).contains(&n) => Got::Value(n),
            (_, Value::Number(_)) | (Some(_), _) => {
                self.invalid(
                    attr,
                    "Value out of range",
                    format!("`{name}` in {} must be {expected}.", self.what),
                    diags,
                );
                Got::Invalid
            }
            (None, other) => {
                self.wrong_type(attr, &expected, other, diags);
                Got::Invalid
            }
        }
    }

    /// A list of strings, each with the span of its element when the list is written out
    /// literally (otherwise the span of the whole value).
    pub fn string_list(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Got<Vec<(String, SourceSpan)>> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        let Value::Array(items) = &value else {
            self.wrong_type(attr, "a list of strings", &value, diags);
            return Got::Invalid;
        };
        let elements = element_exprs(&attr.value, items.len());
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let expr = elements.as_ref().map_or(&attr.value, |e| e[i]);
            match item {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    match self.text(item, attr, expr, "a list of strings", diags) {
                        Some(text) => out.push((text, self.expr_span(expr, attr))),
                        None => ok = false,
                    }
                }
                other => {
                    diags.error(
                        Some(self.expr_span(expr, attr)),
                        "Incorrect attribute value type",
                        format!(
                            "`{name}` in {} must be a list of strings, but element {} is {}.",
                            self.what,
                            i + 1,
                            describe(other)
                        ),
                    );
                    ok = false;
                }
            }
        }
        if ok {
            Got::Value(out)
        } else {
            Got::Invalid
        }
    }

    /// A reference to a block of one of `kinds`, e.g. `account = account.le`.
    pub fn reference(
        &self,
        name: &str,
        kinds: &[Kind],
        example: &str,
        diags: &mut Diagnostics,
    ) -> Got<(Address, SourceSpan)> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        match self.check_reference(&value, attr, &attr.value, kinds, example, diags) {
            Some(address) => Got::Value((address, self.value_span(attr))),
            None => Got::Invalid,
        }
    }

    /// A list of references, e.g. `solvers = [http_solver.web, dns_solver.route53]`.
    pub fn reference_list(
        &self,
        name: &str,
        kinds: &[Kind],
        example: &str,
        diags: &mut Diagnostics,
    ) -> Got<Vec<(Address, SourceSpan)>> {
        let (value, attr) = match self.value(name, diags) {
            Got::Value(v) => v,
            Got::Absent => return Got::Absent,
            Got::Invalid => return Got::Invalid,
        };
        let Value::Array(items) = &value else {
            let expected = format!("a list of references such as [{example}]");
            self.wrong_type(attr, &expected, &value, diags);
            return Got::Invalid;
        };
        let elements = element_exprs(&attr.value, items.len());
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let expr = elements.as_ref().map_or(&attr.value, |e| e[i]);
            match self.check_reference(item, attr, expr, kinds, example, diags) {
                Some(address) => out.push((address, self.expr_span(expr, attr))),
                None => ok = false,
            }
        }
        if ok {
            Got::Value(out)
        } else {
            Got::Invalid
        }
    }

    fn check_reference(
        &self,
        value: &Value,
        attr: &Attribute,
        expr: &Expression,
        kinds: &[Kind],
        example: &str,
        diags: &mut Diagnostics,
    ) -> Option<Address> {
        let key = attr.key.as_str();
        let wanted = match kinds {
            [kind] => format!("{} `{kind}` block", article(*kind)),
            _ => {
                let names: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
                format!("a solver block ({})", join_or(&names))
            }
        };
        let span = self.expr_span(expr, attr);
        match as_reference(value) {
            Some(address) if kinds.contains(&address.kind) => Some(address),
            Some(address) => {
                diags.error(
                    Some(span),
                    "Reference to the wrong kind of block",
                    format!(
                        "`{key}` in {} must refer to {wanted}, but {address} is {} `{}` block.",
                        self.what,
                        article(address.kind),
                        address.kind
                    ),
                );
                None
            }
            None => {
                let hint = match value.as_str() {
                    Some(text) if !text.starts_with(REF_MARKER) => {
                        format!(" Write the reference without quotes: {example}.")
                    }
                    _ => format!(" For example: {key} = {example}."),
                };
                diags.error(
                    Some(span),
                    "Incorrect attribute value type",
                    format!(
                        "`{key}` in {} must be a reference to {wanted}, but this is {}.{hint}",
                        self.what,
                        describe(value)
                    ),
                );
                None
            }
        }
    }
}

/// The element expressions of a literal list with `len` elements.
fn element_exprs(expr: &Expression, len: usize) -> Option<Vec<&Expression>> {
    match expr {
        Expression::Array(array) if array.len() == len => Some(array.iter().collect()),
        _ => None,
    }
}

/// " Did you mean `NAME`?" for a close name among `candidates`, else what the block takes.
fn hint_or_listing(candidates: &[&str], name: &str, attrs: &[&str], blocks: &[&str]) -> String {
    let suggestion = did_you_mean(candidates.iter().copied(), name, "");
    if suggestion.is_empty() {
        listing(attrs, blocks)
    } else {
        suggestion
    }
}

fn listing(attrs: &[&str], blocks: &[&str]) -> String {
    let attrs: Vec<String> = attrs
        .iter()
        .filter(|a| **a != "for_each")
        .map(|a| format!("`{a}`"))
        .collect();
    let blocks: Vec<String> = blocks.iter().map(|b| format!("`{b}`")).collect();
    match (attrs.is_empty(), blocks.is_empty()) {
        (true, true) => " This block takes no attributes or blocks.".to_string(),
        (false, true) => format!(" Expected attributes: {}.", attrs.join(", ")),
        (true, false) => format!(" Expected blocks: {}.", blocks.join(", ")),
        (false, false) => format!(
            " Expected attributes: {}; blocks: {}.",
            attrs.join(", "),
            blocks.join(", ")
        ),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// "a" or "an" before a block keyword.
fn article(kind: Kind) -> &'static str {
    match kind {
        Kind::Account | Kind::HttpSolver => "an",
        Kind::Certificate | Kind::DnsSolver | Kind::TlsAlpnSolver | Kind::DnsPersistSolver => "a",
    }
}

/// `NAME` when `expr` is exactly `env("NAME")`: one literal argument, no default.
fn plain_env_call(expr: &Expression) -> Option<String> {
    let Expression::FuncCall(call) = expr else {
        return None;
    };
    if call.name.is_namespaced() || call.name.name.as_str() != "env" || call.args.len() != 1 {
        return None;
    }
    match call.args.iter().next() {
        Some(Expression::String(name)) => Some(name.value().to_string()),
        _ => None,
    }
}
