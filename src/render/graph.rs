//! `certform graph`: the configuration's dependency graph in Graphviz DOT. Every block is a
//! node, also when nothing is planned; a node with a planned action says it in its label
//! and is filled with the colour of the action's change class (green renewal, yellow
//! update, orange replace, red destroy), so a reviewer sees at a glance what apply touches.

use crate::plan::graph::{ConfigGraph, ConfigNodeKind};
use crate::plan::{Action, ChangeClass};
use std::fmt::Write;

pub fn dot(graph: &ConfigGraph) -> String {
    let mut out = String::from("digraph certform {\n  rankdir = LR;\n  node [shape = box];\n");
    for node in &graph.nodes {
        let shape = match node.kind {
            ConfigNodeKind::Account => "box",
            ConfigNodeKind::Solver => "component",
            ConfigNodeKind::Certificate => "box",
            ConfigNodeKind::Output => "note",
            ConfigNodeKind::Hook => "cds",
        };
        let mut attributes = format!("shape = {shape}");
        let label = match node.action {
            None => node.id.clone(),
            Some(action) => {
                let _ = write!(
                    attributes,
                    ", style = \"filled,bold\", fillcolor = {:?}",
                    colour(action)
                );
                match node.kind {
                    ConfigNodeKind::Output => format!("{} (written)", node.id),
                    ConfigNodeKind::Hook => format!("{} (runs)", node.id),
                    _ => format!("{} ({action})", node.id),
                }
            }
        };
        let _ = writeln!(out, "  {:?} [label = {label:?}, {attributes}];", node.id);
    }
    for &(from, to) in &graph.edges {
        let _ = writeln!(
            out,
            "  {:?} -> {:?};",
            graph.nodes[from].id, graph.nodes[to].id
        );
    }
    out.push_str("}\n");
    // Hook argv and addresses may hold a value from env() or file().
    crate::redact::text(&out).into_owned()
}

fn colour(action: Action) -> &'static str {
    match action.change_class() {
        ChangeClass::Create => "lightblue",
        ChangeClass::Renewal => "palegreen",
        ChangeClass::Update => "khaki",
        ChangeClass::Replace => "orange",
        ChangeClass::Destroy => "salmon",
        // Drift is a class of findings, not of actions; no action is classed so.
        ChangeClass::Drift => "lightgrey",
    }
}
