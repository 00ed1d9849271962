//! Finding the references in an expression: `var.x`, `local.y`, `each.key`, blocks such as
//! `account.le`, each with its span, skipping names bound by `for` expressions; malformed
//! references are collected as problems to report at their own span.

use crate::address::Kind;
use hcl::edit::expr::{Expression, ForExpr, TraversalOperator};
use hcl::edit::template::ForTemplateExpr;
use hcl::edit::visit::{self, Visit};
use hcl::edit::{Decorated, Span};
use std::ops::Range;
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
    pub(super) fn describe(&self) -> String {
        match self {
            Ref::Var(name) => format!("var.{name}"),
            Ref::Local(name) => format!("local.{name}"),
            Ref::Each(attr) => format!("each.{attr}"),
            Ref::Resource(kind, name) => format!("{kind}.{name}"),
        }
    }
}

pub(super) struct Problem {
    pub(super) range: Range<usize>,
    pub(super) summary: &'static str,
    pub(super) detail: String,
}

#[derive(Default)]
pub(super) struct RefCollector {
    /// Names bound by enclosing `for` expressions.
    scope: Vec<String>,
    pub(super) refs: Vec<(Ref, Range<usize>)>,
    pub(super) problems: Vec<Problem>,
}

/// Every reference in `expr` with its span, and malformed references as problems.
pub(super) fn collect_refs(expr: &Expression) -> RefCollector {
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
