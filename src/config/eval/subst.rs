//! Function substitution: calls whose arguments are known are carried out before
//! `hcl::eval` runs, so a failing call is reported at the call itself.

use super::Evaluator;
use crate::config::functions;
use crate::config::suggest::did_you_mean;
use hcl::edit::expr::{Expression, ForExpr, FuncCall};
use hcl::edit::template::ForTemplateExpr;
use hcl::edit::visit::{self, Visit};
use hcl::edit::visit_mut::{self, VisitMut};
use hcl::edit::Span;
use hcl::eval::{Context, Evaluate};
use hcl::Value;
use std::ops::Range;

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

/// Whether `expr` calls any function.
pub(super) fn calls_a_function(expr: &Expression) -> bool {
    struct Finder(bool);
    impl Visit for Finder {
        fn visit_func_call(&mut self, _: &FuncCall) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_expr(expr);
    finder.0
}

/// Carries out `env()` and `file()` calls whose arguments are known, replacing each call
/// by its result; reports unknown functions and failing calls at the call.
pub(super) struct FuncSubst<'a> {
    pub(super) eval: &'a Evaluator,
    pub(super) ctx: &'a Context<'static>,
    pub(super) scope: Vec<String>,
    pub(super) errors: Vec<(Range<usize>, &'static str, String)>,
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
