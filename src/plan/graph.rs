//! The dependency graph of a plan (the only user of petgraph): account changes before the
//! orders that use them, revocations before the account they need is forgotten, and each
//! distinct `on_change` command once, after every change that deploys an output naming it.

use super::{Action, Change};
use crate::address::Kind;
use crate::desired::model::Desired;
use crate::state::model::State;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::BTreeMap;

/// A unit of work in apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Index into the plan's changes.
    Change(usize),
    /// An `on_change` command (argv), run once.
    Hook(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ExecGraph {
    graph: DiGraph<Node, ()>,
}

impl ExecGraph {
    /// Builds the graph for `changes`. Edges come from the configuration's references
    /// (certificate → account, output → on_change) and, for removed resources, from state.
    pub fn build(changes: &[Change], desired: &Desired, state: &State) -> ExecGraph {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..changes.len())
            .map(|i| graph.add_node(Node::Change(i)))
            .collect();
        let account_of = |change: &Change| {
            desired
                .certificates
                .get(&change.address)
                .map(|spec| spec.account.clone())
                .or_else(|| {
                    state
                        .certificates
                        .get(&change.address)
                        .map(|s| s.account.clone())
                })
        };
        let account_node: BTreeMap<&str, usize> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind() == Kind::Account)
            .map(|(i, c)| (c.address.name.as_str(), i))
            .collect();
        let mut hooks: BTreeMap<Vec<String>, NodeIndex> = BTreeMap::new();
        for (i, change) in changes.iter().enumerate() {
            if change.kind() != Kind::Certificate {
                continue;
            }
            let Some(account) = account_of(change) else {
                continue;
            };
            if let Some(&a) = account_node.get(account.as_str()) {
                if matches!(changes[a].action, Action::Delete | Action::Deactivate) {
                    // The account is forgotten only after its certificates are dealt with.
                    graph.add_edge(nodes[i], nodes[a], ());
                } else {
                    graph.add_edge(nodes[a], nodes[i], ());
                }
            }
            if change.action.deploys() {
                let outputs = desired
                    .certificates
                    .get(&change.address)
                    .map(|s| s.outputs.as_slice())
                    .unwrap_or(&[]);
                for argv in outputs.iter().filter_map(|o| o.on_change.as_ref()) {
                    let hook = *hooks
                        .entry(argv.clone())
                        .or_insert_with(|| graph.add_node(Node::Hook(argv.clone())));
                    graph.update_edge(nodes[i], hook, ());
                }
            }
        }
        // A deferred revocation waits for its successor's order and outputs (when the
        // same plan renews or reissues it), so the replaced certificate is revoked last.
        for (i, change) in changes.iter().enumerate() {
            if change.action != Action::Revoke
                || !desired.certificates.contains_key(&change.address)
            {
                continue;
            }
            for (j, other) in changes.iter().enumerate() {
                if j != i && other.address == change.address {
                    graph.update_edge(nodes[j], nodes[i], ());
                }
            }
        }
        ExecGraph { graph }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn node(&self, index: usize) -> &Node {
        &self.graph[NodeIndex::new(index)]
    }

    /// Nodes that must finish before `index` starts.
    pub fn dependencies(&self, index: usize) -> Vec<usize> {
        self.neighbours(index, Direction::Incoming)
    }

    /// Nodes that wait for `index`.
    pub fn dependants(&self, index: usize) -> Vec<usize> {
        self.neighbours(index, Direction::Outgoing)
    }

    fn neighbours(&self, index: usize, direction: Direction) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .graph
            .edges_directed(NodeIndex::new(index), direction)
            .map(|e| match direction {
                Direction::Incoming => e.source().index(),
                Direction::Outgoing => e.target().index(),
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every edge as (before, after) node indices, for rendering.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        self.graph
            .edge_references()
            .map(|e| (e.source().index(), e.target().index()))
            .collect()
    }
}
