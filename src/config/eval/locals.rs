//! `locals` blocks: duplicate names, dependency order between locals, cycles.

use super::refs::{references, Ref};
use super::Evaluator;
use crate::config::SourceFile;
use crate::diag::Diagnostics;
use hcl::edit::structure::Block;
use hcl::edit::Span;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
