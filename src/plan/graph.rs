//! The dependency graph of a plan (the only user of petgraph): account changes before the
//! orders that use them, revocations before the account they need is forgotten, and each
//! distinct `on_change` command once, after every change that deploys an output naming it.
//! [`ConfigGraph`] is what `certform graph` draws: the whole configuration (and what state
//! still holds), whether or not anything is planned, with the planned actions marked.

use super::{Action, Change};
use crate::address::Kind;
use crate::desired::model::{Desired, OutputSpec};
use crate::state::model::State;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{BTreeMap, BTreeSet};

/// A unit of work in apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Index into the plan's changes.
    Change(usize),
    /// An `on_change` command (argv), run once.
    Hook(Vec<String>),
    /// An `ssh` output's `reload_command`, run once on its host.
    Reload(crate::deploy::ssh::Reload),
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
        let mut reloads = BTreeMap::new();
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
                for reload in crate::deploy::ssh::reloads(outputs) {
                    let node = *reloads
                        .entry(reload.key())
                        .or_insert_with(|| graph.add_node(Node::Reload(reload)));
                    graph.update_edge(nodes[i], node, ());
                }
            }
        }
        // A dns-persist-01 record is written after its account is registered and before
        // the orders that validate through it.
        for (j, record) in changes.iter().enumerate() {
            if record.kind() != Kind::DnsPersistSolver || record.action == Action::Delete {
                continue;
            }
            for cert in desired.certificates.values() {
                if !super::persist::records_of_certificate(desired, &cert.address)
                    .contains(&record.address)
                {
                    continue;
                }
                if let Some(&a) = account_node.get(cert.account.as_str()) {
                    graph.update_edge(nodes[a], nodes[j], ());
                }
                for (i, change) in changes.iter().enumerate() {
                    if change.address == cert.address && change.action.orders() {
                        graph.update_edge(nodes[j], nodes[i], ());
                    }
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

    /// `n` changes that depend on nothing, for tests of the walk.
    #[cfg(test)]
    pub fn unconnected(n: usize) -> ExecGraph {
        let mut graph = DiGraph::new();
        for i in 0..n {
            graph.add_node(Node::Change(i));
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
}

/// What a node of the configuration graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigNodeKind {
    Account,
    Solver,
    Certificate,
    Output,
    /// An `on_change` command, or an `ssh` output's `reload_command` on its host.
    Hook,
}

/// One block of the configuration (or a resource only state still holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNode {
    /// Unique in the graph: `account.le`, `http_solver.web`, `certificate.www`,
    /// `certificate.www.output.files`, `on_change: systemctl reload nginx`,
    /// `reload on deploy@edge:2222: systemctl reload nginx`.
    pub id: String,
    pub kind: ConfigNodeKind,
    /// The planned action on this node: the change's own, or for an output and a hook the
    /// action of the change that writes it (or runs it).
    pub action: Option<Action>,
}

/// The configuration's dependency graph: references as edges from what is needed to what
/// needs it (account → certificate, solver → certificate, certificate → output, output →
/// hook), in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigGraph {
    pub nodes: Vec<ConfigNode>,
    pub edges: Vec<(usize, usize)>,
}

impl ConfigGraph {
    pub fn build(changes: &[Change], desired: &Desired, state: &State) -> ConfigGraph {
        let planned: BTreeMap<(String, ConfigNodeKind), Action> = changes
            .iter()
            .map(|c| {
                let kind = match c.kind() {
                    Kind::Account => ConfigNodeKind::Account,
                    _ => ConfigNodeKind::Certificate,
                };
                ((c.address.to_string(), kind), c.action)
            })
            .collect();
        let mut graph = ConfigGraph::default();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut node = |graph: &mut ConfigGraph, id: String, kind, action: Option<Action>| {
            *index.entry(id.clone()).or_insert_with(|| {
                graph.nodes.push(ConfigNode { id, kind, action });
                graph.nodes.len() - 1
            })
        };
        let action_of = |id: &str, kind| planned.get(&(id.to_string(), kind)).copied();

        let accounts: BTreeSet<&String> = desired
            .accounts
            .keys()
            .chain(state.accounts.keys())
            .collect();
        let mut account_node = BTreeMap::new();
        for name in accounts {
            let id = crate::address::Address::account(name).to_string();
            let action = action_of(&id, ConfigNodeKind::Account);
            account_node.insert(
                name.clone(),
                node(&mut graph, id, ConfigNodeKind::Account, action),
            );
        }
        let mut solver_node = BTreeMap::new();
        for address in desired.solvers.keys() {
            let n = node(
                &mut graph,
                address.to_string(),
                ConfigNodeKind::Solver,
                None,
            );
            solver_node.insert(address.clone(), n);
        }
        let certificates: BTreeSet<&crate::address::Address> = desired
            .certificates
            .keys()
            .chain(state.certificates.keys())
            .collect();
        for address in certificates {
            let id = address.to_string();
            let action = action_of(&id, ConfigNodeKind::Certificate);
            let cert = node(&mut graph, id.clone(), ConfigNodeKind::Certificate, action);
            let spec = desired.certificates.get(address);
            let account = spec
                .map(|s| &s.account)
                .or_else(|| state.certificates.get(address).map(|s| &s.account));
            if let Some(&a) = account.and_then(|a| account_node.get(a)) {
                graph.edges.push((a, cert));
            }
            let Some(spec) = spec else { continue };
            let solvers: BTreeSet<_> = spec.solver_for.values().collect();
            for solver in solvers {
                if let Some(&s) = solver_node.get(solver) {
                    graph.edges.push((s, cert));
                }
            }
            let writes = action.filter(|a| a.deploys());
            for output in &spec.outputs {
                let out_id = format!("{id}.output.{}", output.name);
                let out = node(&mut graph, out_id, ConfigNodeKind::Output, writes);
                graph.edges.push((cert, out));
                for hook_id in hooks_of(output) {
                    let hook = node(&mut graph, hook_id, ConfigNodeKind::Hook, None);
                    // A hook runs when any output naming it is written.
                    if writes.is_some() && graph.nodes[hook].action.is_none() {
                        graph.nodes[hook].action = writes;
                    }
                    graph.edges.push((out, hook));
                }
            }
        }
        graph
    }
}

/// What runs after `output` is written: its `on_change` command, and an `ssh` output's
/// `reload_command` on its host (one node per host and command, as apply runs it).
fn hooks_of(output: &OutputSpec) -> impl Iterator<Item = String> + '_ {
    let on_change = output
        .on_change
        .iter()
        .map(|argv| format!("on_change: {}", argv.join(" ")));
    let reloads = crate::deploy::ssh::reloads(std::slice::from_ref(output)).map(|reload| {
        format!(
            "reload on {}: {}",
            reload.target.destination(),
            reload.argv.join(" ")
        )
    });
    on_change.chain(reloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::model::OutputKind;
    use crate::plan::diff::tests::{cert_spec, desired, output, output_mut, ssh};

    #[test]
    fn an_ssh_outputs_reload_command_is_a_hook_after_that_output_only() {
        let mut www = cert_spec("www", &["www.test"]);
        www.outputs.push(output("/tls/local"));
        www.outputs[1].name = "local".into();
        let mut desired = desired(vec![www]);
        ssh(&mut desired, "edge.test", Some(2222), Some("deploy"));
        if let OutputKind::Ssh(edge) = &mut output_mut(&mut desired).kind {
            edge.reload_command = Some(vec!["systemctl".into(), "reload".into(), "nginx".into()]);
        }
        let graph = ConfigGraph::build(&[], &desired, &State::new());
        let at = |id: &str| {
            graph
                .nodes
                .iter()
                .position(|node| node.id == id)
                .unwrap_or_else(|| panic!("no node {id} in {:?}", graph.nodes))
        };
        let reload = at("reload on deploy@edge.test:2222: systemctl reload nginx");
        assert_eq!(graph.nodes[reload].kind, ConfigNodeKind::Hook);
        let into_reload: Vec<usize> = graph
            .edges
            .iter()
            .filter(|&&(_, to)| to == reload)
            .map(|&(from, _)| from)
            .collect();
        assert_eq!(into_reload, vec![at("certificate.www.output.files")]);
        at("certificate.www.output.local");
    }
}
