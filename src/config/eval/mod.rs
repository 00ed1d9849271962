//! Expression evaluation with precise locations.
//!
//! An expression is evaluated in three steps: (1) every reference in it (`var.x`,
//! `local.y`, `each.key`, `account.le`, `for` variables) is checked against what is declared
//! and reported at its own span; (2) calls of the functions (see `functions`) whose
//! arguments are known are carried out and replaced by their result, so a failing call is
//! reported at the call; (3) what is left is evaluated by `hcl::eval` (operators,
//! conditionals, `for` expressions, templates).
//!
//! A reference to a block evaluates to an opaque string (see [`reference_value`]) that
//! `desired` decodes back into an [`Address`]; using one as text is an error there.
//!
//! This module holds the evaluator; `refs` finds references, `subst` carries out function
//! calls and `locals` orders and evaluates the `locals` blocks.

mod locals;
mod refs;
mod subst;

pub use locals::evaluate_locals;
pub use refs::{references, Ref};

use crate::address::{Address, Kind};
use crate::config::functions;
use crate::config::suggest::{did_you_mean, did_you_mean_or_declared};
use crate::config::SourceFile;
use crate::diag::Diagnostics;
use hcl::edit::expr::Expression;
use hcl::edit::visit_mut::VisitMut;
use hcl::edit::Span;
use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};
use refs::collect_refs;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subst::FuncSubst;

/// The first character of a reference value; never part of text a user can write.
pub const REF_MARKER: char = '\u{1}';

/// The value a reference to a block evaluates to.
pub fn reference_value(address: &Address) -> String {
    format!("{REF_MARKER}{address}")
}

/// Decodes a reference value.
pub fn as_reference(value: &Value) -> Option<Address> {
    value.as_str()?.strip_prefix(REF_MARKER)?.parse().ok()
}

/// Whether a string holds a reference value somewhere (e.g. interpolated into a template).
pub fn contains_reference(text: &str) -> Option<String> {
    let start = text.find(REF_MARKER)?;
    let rest = &text[start + REF_MARKER.len_utf8()..];
    // `kind.name`: the name ends at the first character an identifier cannot hold.
    let dot = rest.find('.')?;
    let name_len = rest[dot + 1..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len() - dot - 1);
    Some(rest[..dot + 1 + name_len].to_string())
}

/// Variable and local values plus the names of declared blocks. Cloning is cheap (the
/// values are shared), so each `for_each` instance gets its own evaluator with `each` set.
#[derive(Debug, Clone)]
pub struct Evaluator {
    config_dir: PathBuf,
    /// Declared variables; `None` when the value could not be determined (already reported).
    vars: Arc<BTreeMap<String, Option<Value>>>,
    locals: Arc<BTreeMap<String, Option<Value>>>,
    resources: Arc<BTreeMap<Kind, BTreeSet<String>>>,
    /// `each.key` and `each.value` inside a block with `for_each`.
    each: Option<(String, Value)>,
    secret_env: SecretEnv,
}

/// Whether a secret attribute's plain `env("NAME")` must find its variable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretEnv {
    /// `apply`, which uses the secrets: an unset variable is an error.
    Required,
    /// Commands that never use them (plan, show, validate, ...): an unset variable leaves
    /// the secret unknown.
    MayBeUnset,
}

impl Evaluator {
    pub fn new(config_dir: PathBuf) -> Self {
        Evaluator {
            config_dir,
            vars: Arc::default(),
            locals: Arc::default(),
            resources: Arc::default(),
            each: None,
            secret_env: SecretEnv::Required,
        }
    }

    pub fn set_secret_env(&mut self, secret_env: SecretEnv) {
        self.secret_env = secret_env;
    }

    pub fn secret_env(&self) -> SecretEnv {
        self.secret_env
    }

    /// The evaluator for one `for_each` instance: `each.key` and `each.value` are known.
    pub fn with_each(&self, key: String, value: Value) -> Evaluator {
        Evaluator {
            each: Some((key, value)),
            ..self.clone()
        }
    }

    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub fn declare_resource(&mut self, kind: Kind, name: &str) {
        Arc::make_mut(&mut self.resources)
            .entry(kind)
            .or_default()
            .insert(name.to_string());
    }

    pub fn has_resource(&self, kind: Kind, name: &str) -> bool {
        self.resources
            .get(&kind)
            .is_some_and(|names| names.contains(name))
    }

    pub fn set_vars(&mut self, vars: BTreeMap<String, Option<Value>>) {
        self.vars = Arc::new(vars);
    }

    /// The value of `var.NAME`, if declared and known.
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)?.as_ref()
    }

    pub fn local(&self, name: &str) -> Option<&Value> {
        self.locals.get(name)?.as_ref()
    }

    /// Evaluates `expr` from `file`; problems are reported to `diags` and give `None`.
    pub fn eval(
        &self,
        file: &SourceFile,
        expr: &Expression,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        self.eval_inner(file, expr, false, diags)
    }

    /// Evaluates an expression that may not refer to anything (variable defaults, var files).
    pub fn eval_constant(
        &self,
        file: &SourceFile,
        expr: &Expression,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        self.eval_inner(file, expr, true, diags)
    }

    fn eval_inner(
        &self,
        file: &SourceFile,
        expr: &Expression,
        constant: bool,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        if let Some(value) = literal(expr) {
            return Some(value);
        }
        let whole = expr.span().unwrap_or(0..0);
        let refs = collect_refs(expr);
        let mut ok = true;
        let mut unknown_value = false;
        for problem in refs.problems {
            diags.error(
                Some(file.span(problem.range)),
                problem.summary,
                problem.detail,
            );
            ok = false;
        }
        for (reference, range) in &refs.refs {
            let range = range.clone();
            if constant {
                diags.error(
                    Some(file.span(range)),
                    "Reference not allowed",
                    format!(
                        "This value must be a constant: it cannot refer to {}. Write the value itself.",
                        reference.describe()
                    ),
                );
                ok = false;
                continue;
            }
            match self.check_ref(reference) {
                RefStatus::Known => {}
                RefStatus::Unknown => unknown_value = true,
                RefStatus::Undeclared(summary, detail) => {
                    diags.error(Some(file.span(range)), summary, detail);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        if unknown_value {
            // Something this depends on failed and was reported already.
            return None;
        }
        let ctx = self.context(&refs.refs, subst::calls_a_function(expr));
        let mut expr = expr.clone();
        let mut subst = FuncSubst {
            eval: self,
            ctx: &ctx,
            scope: Vec::new(),
            errors: Vec::new(),
        };
        subst.visit_expr_mut(&mut expr);
        if !subst.errors.is_empty() {
            for (range, summary, detail) in subst.errors {
                diags.error(Some(file.span(range)), summary, detail);
            }
            return None;
        }
        let expr: hcl::Expression = expr.into();
        match expr.evaluate(&ctx) {
            Ok(value) => Some(value),
            Err(err) => {
                diags.error(
                    Some(file.span(whole)),
                    "Invalid expression",
                    format!("This expression cannot be evaluated: {}.", err.kind()),
                );
                None
            }
        }
    }

    fn check_ref(&self, reference: &Ref) -> RefStatus {
        match reference {
            Ref::Var(name) => match self.vars.get(name) {
                Some(Some(_)) => RefStatus::Known,
                Some(None) => RefStatus::Unknown,
                None => RefStatus::Undeclared(
                    "Reference to an undeclared variable",
                    format!(
                        "There is no variable named \"{name}\".{} To add one, declare a `variable \"{name}\" {{ ... }}` block.",
                        did_you_mean_or_declared(self.vars.keys().map(String::as_str), name, "var.")
                    ),
                ),
            },
            Ref::Local(name) => match self.locals.get(name) {
                Some(Some(_)) => RefStatus::Known,
                Some(None) => RefStatus::Unknown,
                None => RefStatus::Undeclared(
                    "Reference to an undeclared local value",
                    format!(
                        "There is no local value named \"{name}\".{} To add one, define it in a `locals {{ ... }}` block.",
                        did_you_mean_or_declared(self.locals.keys().map(String::as_str), name, "local.")
                    ),
                ),
            },
            Ref::Each(attr) => match (&self.each, attr.as_str()) {
                (None, _) => RefStatus::Undeclared(
                    "Invalid reference",
                    format!("each.{attr} is only available inside a `certificate` block that sets `for_each` (and not in `for_each` itself)."),
                ),
                (Some(_), "key" | "value") => RefStatus::Known,
                (Some(_), _) => RefStatus::Undeclared(
                    "Invalid reference",
                    format!(
                        "`each` has only each.key and each.value.{}",
                        did_you_mean(["key", "value"], attr, "each.")
                    ),
                ),
            },
            Ref::Resource(Kind::Certificate, name) => RefStatus::Undeclared(
                "Invalid reference",
                format!(
                    "certificate.{name}: certificates cannot be referred to from other blocks. References may name account, http_solver, dns_solver and tls_alpn_solver blocks."
                ),
            ),
            Ref::Resource(kind, name) => {
                if self.has_resource(*kind, name) {
                    RefStatus::Known
                } else {
                    let names = self.resources.get(kind).into_iter().flatten();
                    RefStatus::Undeclared(
                        "Reference to an undeclared block",
                        format!(
                            "There is no `{kind}` block named \"{name}\".{}",
                            did_you_mean_or_declared(names.map(String::as_str), name, &format!("{kind}."))
                        ),
                    )
                }
            }
        }
    }

    /// The evaluation context: what the expression refers to, and only that (the
    /// referenced variables, locals, `each` and blocks: a large map is not copied for every
    /// expression that does not use it), and the functions when it calls one.
    fn context(&self, refs: &[(Ref, Range<usize>)], calls_a_function: bool) -> Context<'static> {
        let mut ctx = Context::new();
        let mut vars: Option<Map<String, Value>> = None;
        let mut locals: Option<Map<String, Value>> = None;
        // Likewise only the blocks the expression names: declaring every block for every
        // expression made loading N certificates cost O(N²).
        let mut blocks: BTreeMap<Kind, Map<String, Value>> = BTreeMap::new();
        let mut each = false;
        for (reference, _) in refs {
            let (values, into, name) = match reference {
                Ref::Var(name) => (&self.vars, &mut vars, name),
                Ref::Local(name) => (&self.locals, &mut locals, name),
                Ref::Each(_) => {
                    each = true;
                    continue;
                }
                Ref::Resource(kind, name) => {
                    if self.has_resource(*kind, name) {
                        let value =
                            Value::String(reference_value(&Address::new(*kind, name.clone())));
                        blocks.entry(*kind).or_default().insert(name.clone(), value);
                    }
                    continue;
                }
            };
            let into = into.get_or_insert_with(Map::new);
            if !into.contains_key(name) {
                let value = values.get(name).cloned().flatten().unwrap_or(Value::Null);
                into.insert(name.clone(), value);
            }
        }
        if let Some(vars) = vars {
            ctx.declare_var("var", Value::Object(vars));
        }
        if let Some(locals) = locals {
            ctx.declare_var("local", Value::Object(locals));
        }
        if let (true, Some((key, value))) = (each, &self.each) {
            let mut each = Map::new();
            each.insert("key".to_string(), Value::String(key.clone()));
            each.insert("value".to_string(), value.clone());
            ctx.declare_var("each", Value::Object(each));
        }
        for (kind, object) in blocks {
            ctx.declare_var(kind.keyword(), Value::Object(object));
        }
        if calls_a_function {
            functions::declare(&mut ctx, &self.config_dir);
        }
        ctx
    }
}

/// The value of an expression made of literals only (strings without interpolation,
/// numbers, booleans, null, arrays of those), read without an evaluation context. Most
/// attributes are such, and building a context (every function declared) for each was a
/// fifth of loading a large configuration.
fn literal(expr: &Expression) -> Option<Value> {
    Some(match expr {
        Expression::Null(_) => Value::Null,
        Expression::Bool(value) => Value::Bool(*value.value()),
        Expression::Number(value) => Value::Number(*value.value()),
        Expression::String(value) => Value::String(value.value().clone()),
        Expression::Array(array) => Value::Array(array.iter().map(literal).collect::<Option<_>>()?),
        _ => return None,
    })
}

enum RefStatus {
    Known,
    /// Declared, but its value failed (already reported).
    Unknown,
    Undeclared(&'static str, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            name: "t.hcl".to_string(),
            path: PathBuf::from("t.hcl"),
            body: hcl::edit::parser::parse_body(text).unwrap(),
        }
    }

    /// Evaluates `x = EXPR` with var.list = ["a", "b"] and a file `hello.txt` in the dir.
    fn eval(expr: &str) -> (Option<Value>, Diagnostics) {
        // A directory per call: tests run in parallel and must not rewrite each other's file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.txt"), "hi").unwrap();
        let mut evaluator = Evaluator::new(dir.path().to_path_buf());
        evaluator.set_vars(BTreeMap::from([(
            "list".to_string(),
            Some(Value::Array(vec![Value::from("a"), Value::from("b")])),
        )]));
        evaluator.declare_resource(Kind::Account, "le");
        let source = file(&format!("x = {expr}\n"));
        let attr = source.body.get_attribute("x").unwrap();
        let mut diags = Diagnostics::new();
        let value = evaluator.eval(&source, &attr.value, &mut diags);
        (value, diags)
    }

    #[test]
    fn literals_read_without_a_context_equal_their_evaluated_values() {
        let attribute = |text: &str| {
            file(&format!("x = {text}\n"))
                .body
                .get_attribute("x")
                .unwrap()
                .value
                .clone()
        };
        for text in [
            r#""plain""#,
            r#""a\tb""#,
            "42",
            "1.5",
            "true",
            "null",
            "[]",
            r#"["a", 2, [false, null]]"#,
        ] {
            let expr = attribute(text);
            let evaluated = hcl::Expression::from(expr.clone())
                .evaluate(&Context::new())
                .unwrap();
            assert_eq!(literal(&expr), Some(evaluated), "{text}");
        }
        for text in [
            r#""${var.x}""#,
            "var.x",
            r#"[env("X")]"#,
            "1 + 1",
            "{ a = 1 }",
            "(1)",
        ] {
            assert_eq!(literal(&attribute(text)), None, "{text}");
        }
    }

    #[test]
    fn functions_in_templates_and_for_expressions() {
        assert_eq!(
            eval(r#""<${file("hello.txt")}>""#).0,
            Some(Value::from("<hi>"))
        );
        assert_eq!(
            eval(r#"[for v in var.list : env("CERTFORM_TEST_SURELY_UNSET_${v}", v)]"#).0,
            Some(Value::Array(vec![Value::from("a"), Value::from("b")]))
        );
        assert_eq!(
            eval(r#"{ for k, v in var.list : v => k }"#)
                .0
                .unwrap()
                .as_object()
                .unwrap()["b"],
            Value::from(1)
        );
        assert_eq!(
            eval(r#""%{ for v in var.list }${v}.%{ endfor }""#).0,
            Some(Value::from("a.b."))
        );
        assert_eq!(eval("true ? 1 : 2").0, Some(Value::from(1)));
    }

    #[test]
    fn values_derived_from_a_file_stay_sensitive_through_templates_and_for_expressions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.txt"), "Evq7w-Tkz9r-Xq83Lm\n").unwrap();
        let evaluator = Evaluator::new(dir.path().to_path_buf());
        let source = file(concat!(
            "a = \"mailto:x?${lower(file(\"token.txt\"))}\"\n",
            "b = [for part in split(\"-\", file(\"token.txt\")) : upper(part)]\n",
        ));
        let mut diags = Diagnostics::new();
        let a = source.body.get_attribute("a").unwrap();
        let a = evaluator.eval(&source, &a.value, &mut diags).unwrap();
        assert_eq!(a.as_str(), Some("mailto:x?evq7w-tkz9r-xq83lm\n"));
        assert!(crate::redact::is_sensitive(a.as_str().unwrap()));
        let b = source.body.get_attribute("b").unwrap();
        let b = evaluator.eval(&source, &b.value, &mut diags).unwrap();
        // Upper-cased inside a `for` expression (hcl::eval calls the function there). The
        // parts are no words: unit tests share the registry.
        let last = b.as_array().unwrap().last().unwrap().as_str().unwrap();
        assert_eq!(last, "XQ83LM\n");
        assert!(crate::redact::is_sensitive(last));
    }

    #[test]
    fn references_become_reference_values() {
        let (value, _) = eval("account.le");
        assert_eq!(as_reference(&value.unwrap()), Some(Address::account("le")));
        let (value, diags) = eval("[account.nope]");
        assert!(value.is_none());
        assert_eq!(diags.len(), 1);
        let span = diags.iter().next().unwrap().span.clone().unwrap();
        assert_eq!(span.range, 5..17);
    }

    #[test]
    fn failing_calls_are_reported_at_the_call() {
        let (value, diags) = eval(r#"["a", file("missing.txt")]"#);
        assert!(value.is_none());
        let diag = diags.iter().next().unwrap();
        assert_eq!(diag.summary, "Cannot read file");
        assert_eq!(diag.span.as_ref().unwrap().range, 10..29);
    }
}
