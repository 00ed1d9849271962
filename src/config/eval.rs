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

use crate::address::{Address, Kind};
use crate::config::functions;
use crate::config::suggest::{did_you_mean, did_you_mean_or_declared};
use crate::config::SourceFile;
use crate::diag::Diagnostics;
use hcl::edit::expr::{Expression, ForExpr, FuncCall, TraversalOperator};
use hcl::edit::structure::Block;
use hcl::edit::template::ForTemplateExpr;
use hcl::edit::visit::{self, Visit};
use hcl::edit::visit_mut::{self, VisitMut};
use hcl::edit::{Decorated, Span};
use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        let ctx = self.context(&refs.refs);
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

    /// The evaluation context: the referenced variables, locals and blocks (only those, so
    /// a large map is not copied for every expression that does not use it), `each`, and the
    /// functions.
    fn context(&self, refs: &[(Ref, Range<usize>)]) -> Context<'static> {
        let mut ctx = Context::new();
        let mut vars = Map::new();
        let mut locals = Map::new();
        for (reference, _) in refs {
            let (values, into, name) = match reference {
                Ref::Var(name) => (&self.vars, &mut vars, name),
                Ref::Local(name) => (&self.locals, &mut locals, name),
                _ => continue,
            };
            if !into.contains_key(name) {
                let value = values.get(name).cloned().flatten().unwrap_or(Value::Null);
                into.insert(name.clone(), value);
            }
        }
        ctx.declare_var("var", Value::Object(vars));
        ctx.declare_var("local", Value::Object(locals));
        if let Some((key, value)) = &self.each {
            let mut each = Map::new();
            each.insert("key".to_string(), Value::String(key.clone()));
            each.insert("value".to_string(), value.clone());
            ctx.declare_var("each", Value::Object(each));
        }
        // Likewise only the blocks the expression names: declaring every block for every
        // expression made loading N certificates cost O(N²).
        let mut blocks: BTreeMap<Kind, Map<String, Value>> = BTreeMap::new();
        for (reference, _) in refs {
            if let Ref::Resource(kind, name) = reference {
                if self.has_resource(*kind, name) {
                    let value = Value::String(reference_value(&Address::new(*kind, name.clone())));
                    blocks.entry(*kind).or_default().insert(name.clone(), value);
                }
            }
        }
        for kind in Kind::ALL {
            let object = blocks.remove(&kind).unwrap_or_default();
            ctx.declare_var(kind.keyword(), Value::Object(object));
        }
        functions::declare(&mut ctx, &self.config_dir);
        ctx
    }
}

/// A reference found in an expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    Var(String),
    Local(String),
    /// `each.key` / `each.value` (the attribute as written).
    Each(String),
    Resource(Kind, String),
}

impl Ref {
    fn describe(&self) -> String {
        match self {
            Ref::Var(name) => format!("var.{name}"),
            Ref::Local(name) => format!("local.{name}"),
            Ref::Each(attr) => format!("each.{attr}"),
            Ref::Resource(kind, name) => format!("{kind}.{name}"),
        }
    }
}

enum RefStatus {
    Known,
    /// Declared, but its value failed (already reported).
    Unknown,
    Undeclared(&'static str, String),
}

struct Problem {
    range: Range<usize>,
    summary: &'static str,
    detail: String,
}

#[derive(Default)]
struct RefCollector {
    /// Names bound by enclosing `for` expressions.
    scope: Vec<String>,
    refs: Vec<(Ref, Range<usize>)>,
    problems: Vec<Problem>,
}

/// Every reference in `expr` with its span, and malformed references as problems.
fn collect_refs(expr: &Expression) -> RefCollector {
    let mut collector = RefCollector::default();
    collector.visit_expr(expr);
    collector
}

/// The references in an expression (for dependency ordering of locals).
pub fn references(expr: &Expression) -> Vec<(Ref, Range<usize>)> {
    collect_refs(expr).refs
}

impl RefCollector {
    fn root(
        &mut self,
        root: &Decorated<hcl::edit::Ident>,
        next: Option<&Decorated<TraversalOperator>>,
    ) {
        let name = root.as_str();
        if self.scope.iter().any(|s| s == name) {
            return;
        }
        let root_range = root.span().unwrap_or(0..0);
        let attr = match next.map(|op| op.value()) {
            Some(TraversalOperator::GetAttr(ident)) => Some(ident),
            _ => None,
        };
        let range = match (attr, next.and_then(|op| op.span())) {
            (Some(_), Some(op_range)) => root_range.start..op_range.end.max(root_range.end),
            _ => root_range.clone(),
        };
        let kind = match name {
            "var" | "local" | "each" => Some(None),
            other => Kind::from_keyword(other).map(Some),
        };
        match (kind, attr) {
            (Some(kind), Some(attr)) => {
                let attr = attr.as_str().to_string();
                let reference = match (name, kind) {
                    ("var", _) => Ref::Var(attr),
                    ("local", _) => Ref::Local(attr),
                    ("each", _) => Ref::Each(attr),
                    (_, Some(kind)) => Ref::Resource(kind, attr),
                    _ => unreachable!(),
                };
                self.refs.push((reference, range));
            }
            (Some(_), None) => self.problems.push(Problem {
                range,
                summary: "Invalid reference",
                detail: format!("`{name}` must be followed by a name, as in {name}.NAME."),
            }),
            (None, _) if name == "count" => self.problems.push(Problem {
                range,
                summary: "Unsupported feature",
                detail: "`count` is not supported: use for_each over a map or set, and each.key."
                    .to_string(),
            }),
            (None, _) => self.problems.push(Problem {
                range,
                summary: "Unknown variable",
                detail: format!(
                    "There is no variable named `{name}`. Expressions may refer to var.NAME, local.NAME and blocks such as account.NAME or http_solver.NAME; text must be quoted (\"{name}\")."
                ),
            }),
        }
    }

    fn with_scope(&mut self, names: Vec<String>, f: impl FnOnce(&mut Self)) {
        let depth = self.scope.len();
        self.scope.extend(names);
        f(self);
        self.scope.truncate(depth);
    }
}

impl Visit for RefCollector {
    fn visit_expr(&mut self, expr: &Expression) {
        match expr {
            Expression::Variable(var) => self.root(var, None),
            Expression::Traversal(traversal) => match &traversal.expr {
                Expression::Variable(var) => {
                    self.root(var, traversal.operators.first());
                    for op in &traversal.operators {
                        self.visit_traversal_operator(op);
                    }
                }
                _ => visit::visit_traversal(self, traversal),
            },
            _ => visit::visit_expr(self, expr),
        }
    }

    fn visit_for_expr(&mut self, node: &ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let mut names = vec![node.intro.value_var.as_str().to_string()];
        if let Some(key) = &node.intro.key_var {
            names.push(key.as_str().to_string());
        }
        self.with_scope(names, |this| {
            if let Some(key_expr) = &node.key_expr {
                this.visit_expr(key_expr);
            }
            this.visit_expr(&node.value_expr);
            if let Some(cond) = &node.cond {
                this.visit_expr(&cond.expr);
            }
        });
    }

    fn visit_for_template_expr(&mut self, node: &ForTemplateExpr) {
        self.visit_expr(&node.collection_expr);
        let mut names = vec![node.value_var.as_str().to_string()];
        if let Some(key) = &node.key_var {
            names.push(key.as_str().to_string());
        }
        self.with_scope(names, |this| this.visit_template(&node.template));
    }
}

/// Whether `expr` mentions any of `names` as a variable.
fn mentions(expr: &Expression, names: &[String]) -> bool {
    struct Finder<'a> {
        names: &'a [String],
        found: bool,
    }
    impl Visit for Finder<'_> {
        fn visit_expr(&mut self, expr: &Expression) {
            if let Expression::Variable(var) = expr {
                if self.names.iter().any(|n| n == var.as_str()) {
                    self.found = true;
                }
            }
            visit::visit_expr(self, expr);
        }
    }
    let mut finder = Finder {
        names,
        found: false,
    };
    finder.visit_expr(expr);
    finder.found
}

/// Carries out `env()` and `file()` calls whose arguments are known, replacing each call
/// by its result; reports unknown functions and failing calls at the call.
struct FuncSubst<'a> {
    eval: &'a Evaluator,
    ctx: &'a Context<'static>,
    scope: Vec<String>,
    errors: Vec<(Range<usize>, &'static str, String)>,
}

impl FuncSubst<'_> {
    fn call(&mut self, call: &mut FuncCall) -> Option<Expression> {
        visit_mut::visit_func_args_mut(self, &mut call.args);
        let range = call.span().unwrap_or(0..0);
        let name = call.name.name.as_str().to_string();
        let function = functions::find(&name).filter(|_| !call.name.is_namespaced());
        let Some(function) = function else {
            let name_range = call.name.name.span().unwrap_or(range);
            let names = functions::FUNCTIONS.iter().map(|f| f.name);
            self.errors.push((
                name_range,
                "Unknown function",
                format!(
                    "There is no function named `{name}`.{} certform provides {}.",
                    did_you_mean(names, &name, ""),
                    functions::listing()
                ),
            ));
            return None;
        };
        if call.args.expand_final() || call.args.iter().any(|arg| mentions(arg, &self.scope)) {
            // Depends on a `for` variable, or spreads a list: hcl::eval calls it.
            return None;
        }
        let mut args = Vec::new();
        for arg in call.args.iter() {
            let expr: hcl::Expression = arg.clone().into();
            match expr.evaluate(self.ctx) {
                Ok(value) => args.push(value),
                Err(err) => {
                    self.errors.push((
                        arg.span().unwrap_or(range.clone()),
                        "Invalid function argument",
                        format!(
                            "This argument of {name}() cannot be evaluated: {}.",
                            err.kind()
                        ),
                    ));
                    return None;
                }
            }
        }
        match function.call(&args, self.eval.config_dir()) {
            Ok(value) => Some(value_to_expr(value)),
            Err((summary, detail)) => {
                self.errors.push((range, summary, detail));
                None
            }
        }
    }
}

fn value_to_expr(value: Value) -> Expression {
    let expr: hcl::Expression = value.into();
    expr.into()
}

impl VisitMut for FuncSubst<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expression) {
        if let Expression::FuncCall(call) = expr {
            if let Some(replacement) = self.call(call) {
                *expr = replacement;
            }
        } else {
            visit_mut::visit_expr_mut(self, expr);
        }
    }

    fn visit_for_expr_mut(&mut self, node: &mut ForExpr) {
        self.visit_expr_mut(&mut node.intro.collection_expr);
        let depth = self.scope.len();
        self.scope.push(node.intro.value_var.as_str().to_string());
        if let Some(key) = &node.intro.key_var {
            self.scope.push(key.as_str().to_string());
        }
        if let Some(key_expr) = &mut node.key_expr {
            self.visit_expr_mut(key_expr);
        }
        self.visit_expr_mut(&mut node.value_expr);
        if let Some(cond) = &mut node.cond {
            self.visit_expr_mut(&mut cond.expr);
        }
        self.scope.truncate(depth);
    }

    fn visit_for_template_expr_mut(&mut self, node: &mut ForTemplateExpr) {
        self.visit_expr_mut(&mut node.collection_expr);
        let depth = self.scope.len();
        self.scope.push(node.value_var.as_str().to_string());
        if let Some(key) = &node.key_var {
            self.scope.push(key.as_str().to_string());
        }
        self.visit_template_mut(&mut node.template);
        self.scope.truncate(depth);
    }
}

/// Evaluates every `locals` block in dependency order. Duplicate names and cycles are
/// reported; locals whose value cannot be determined stay declared without a value.
pub fn evaluate_locals(
    blocks: &[(&SourceFile, &Block)],
    eval: &mut Evaluator,
    diags: &mut Diagnostics,
) {
    struct Local<'a> {
        file: &'a SourceFile,
        attr: &'a hcl::edit::structure::Attribute,
        deps: BTreeSet<String>,
    }
    let mut locals: BTreeMap<String, Local> = BTreeMap::new();
    for (file, block) in blocks {
        for structure in block.body.iter() {
            match structure {
                hcl::edit::structure::Structure::Block(inner) => {
                    diags.error(
                        Some(file.span(crate::config::header_span(inner))),
                        "Unexpected block",
                        "A `locals` block holds only attributes (`name = value`).",
                    );
                }
                hcl::edit::structure::Structure::Attribute(attr) => {
                    let name = attr.key.as_str().to_string();
                    let key_span = file.span(attr.key.span().unwrap_or(0..0));
                    if let Some(first) = locals.get(&name) {
                        let first_span = first.file.span(first.attr.key.span().unwrap_or(0..0));
                        diags.error(
                            Some(key_span),
                            "Duplicate local value",
                            format!(
                                "A local value named \"{name}\" was already defined at {}. Local names must be unique across all files.",
                                diags.describe_location(&first_span)
                            ),
                        );
                        continue;
                    }
                    let deps = references(&attr.value)
                        .into_iter()
                        .filter_map(|(r, _)| match r {
                            Ref::Local(dep) => Some(dep),
                            _ => None,
                        })
                        .collect();
                    locals.insert(name, Local { file, attr, deps });
                }
            }
        }
    }
    // Declared up front, without values, so references resolve (and wait) correctly.
    for name in locals.keys() {
        Arc::make_mut(&mut eval.locals).insert(name.clone(), None);
    }
    // Depth-first topological order; a back edge is a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut in_cycle: BTreeSet<String> = BTreeSet::new();
    fn visit_local(
        name: &str,
        locals: &BTreeMap<String, Local>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
        order: &mut Vec<String>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        match marks.get(name) {
            Some(Mark::Done) => return,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| n == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(name.to_string());
                cycles.push(cycle);
                return;
            }
            None => {}
        }
        let Some(local) = locals.get(name) else {
            return;
        };
        marks.insert(name.to_string(), Mark::Visiting);
        stack.push(name.to_string());
        for dep in &local.deps {
            visit_local(dep, locals, marks, stack, order, cycles);
        }
        stack.pop();
        marks.insert(name.to_string(), Mark::Done);
        order.push(name.to_string());
    }
    let mut cycles = Vec::new();
    for name in locals.keys() {
        visit_local(
            name,
            &locals,
            &mut marks,
            &mut Vec::new(),
            &mut order,
            &mut cycles,
        );
    }
    for cycle in cycles {
        let first = &cycle[0];
        let local = &locals[first];
        let path: Vec<String> = cycle.iter().map(|n| format!("local.{n}")).collect();
        diags.error(
            Some(local.file.span(local.attr.key.span().unwrap_or(0..0))),
            "Cycle in local values",
            format!(
                "These local values refer to each other in a cycle: {}. Break the cycle so each value can be computed from the others.",
                path.join(" -> ")
            ),
        );
        in_cycle.extend(cycle);
    }
    for name in order {
        if in_cycle.contains(&name) {
            continue;
        }
        let local = &locals[&name];
        let value = eval.eval(local.file, &local.attr.value, diags);
        Arc::make_mut(&mut eval.locals).insert(name, value);
    }
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
