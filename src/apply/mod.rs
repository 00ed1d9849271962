//! The executor: walks the plan's graph in dependency order with bounded parallelism,
//! carries out each change through the ACME, solver and deploy ports, and persists state
//! after every completed action (by group commit, see [`ledger`]). A failure stops that
//! node and its dependants, never its siblings; `on_change` hooks run when at least one
//! change that feeds them succeeded.

mod actions;
mod ledger;
mod lifecycle;
mod persist;
mod stop;

pub use ledger::Ledger;
pub use stop::StopSignal;

use crate::acme::AcmeAccount;
use crate::desired::model::Desired;
use crate::error::Error;
use crate::plan::graph::{ExecGraph, Node};
use crate::plan::Change;
use crate::solver::Solvers;
use ledger::SharedLedger;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::task::JoinSet;

/// What happened to one node of the graph.
#[derive(Debug)]
pub enum Outcome {
    Succeeded(String),
    Failed(Error),
    Skipped(String),
}

/// Progress events, rendered by the caller (TTY or plain log lines).
pub trait Observer: Send + Sync {
    fn started(&self, label: &str);
    fn finished(&self, label: &str, outcome: &Outcome);
    /// A stop was requested; `in_flight` actions are still running and will finish.
    fn stopping(&self, _in_flight: usize) {}
}

/// One line per node, in the order of `graph` nodes.
#[derive(Debug)]
pub struct Report {
    pub results: Vec<(String, Outcome)>,
    /// A stop (SIGINT/SIGTERM) ended the walk before every action was started.
    pub interrupted: bool,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }
}

/// Everything a running action may touch.
pub(crate) struct Context {
    pub desired: Desired,
    pub changes: Vec<Change>,
    pub ledger: SharedLedger,
    pub solvers: Solvers,
    /// ACME accounts loaded or created during this apply, by account name.
    pub accounts: tokio::sync::Mutex<HashMap<String, Arc<AcmeAccount>>>,
}

/// Runs every node of `graph`, at most `parallelism` at a time, until done or until `stop`
/// fires (then nothing new starts and the running actions finish). Returns the report and
/// the ledger (so the caller can shut the solvers down and report the final serial).
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    desired: Desired,
    changes: Vec<Change>,
    graph: &ExecGraph,
    ledger: Ledger,
    solvers: Solvers,
    parallelism: usize,
    observer: Arc<dyn Observer>,
    mut stop: StopSignal,
) -> (Report, Ledger, Solvers) {
    let context = Arc::new(Context {
        desired,
        changes,
        ledger: SharedLedger::new(ledger),
        solvers,
        accounts: tokio::sync::Mutex::new(HashMap::new()),
    });
    let n = graph.len();
    let labels: Vec<String> = (0..n).map(|i| label(&context, graph.node(i))).collect();
    let mut progress = Progress::new(graph);
    let mut running = JoinSet::new();
    let mut interrupted = false;

    loop {
        while running.len() < parallelism.max(1) {
            let Some(i) = progress.ready.pop_front() else {
                break;
            };
            match blocked_by(graph, i, &progress.outcomes, &labels) {
                Some(reason) => {
                    let outcome = Outcome::Skipped(reason);
                    observer.finished(&labels[i], &outcome);
                    progress.settle(graph, i, outcome);
                }
                None => {
                    observer.started(&labels[i]);
                    let context = context.clone();
                    let node = graph.node(i).clone();
                    running.spawn(async move { (i, actions::run(&context, &node).await) });
                }
            }
        }
        let joined = if interrupted {
            running.join_next().await
        } else {
            tokio::select! {
                joined = running.join_next() => joined,
                () = stop.requested() => {
                    interrupted = true;
                    progress.ready.clear();
                    observer.stopping(running.len());
                    continue;
                }
            }
        };
        let Some(joined) = joined else {
            break;
        };
        let (i, result) = joined.unwrap_or_else(|e| {
            (
                usize::MAX,
                Err(Error::Bug(format!("an apply task panicked: {e}"))),
            )
        });
        if i == usize::MAX {
            // A panicking task cannot be attributed; stop scheduling new work.
            progress.ready.clear();
            continue;
        }
        let outcome = match result {
            Ok(detail) => Outcome::Succeeded(detail),
            Err(error) => Outcome::Failed(error),
        };
        observer.finished(&labels[i], &outcome);
        if interrupted {
            // Settling would make its dependants ready; after a stop nothing new starts.
            progress.outcomes[i] = Some(outcome);
        } else {
            progress.settle(graph, i, outcome);
        }
    }

    let results = labels
        .into_iter()
        .zip(progress.outcomes)
        .map(|(label, outcome)| {
            (
                label,
                outcome.unwrap_or_else(|| {
                    Outcome::Skipped(if interrupted {
                        "not started: apply was interrupted".into()
                    } else {
                        "not started: apply stopped early".into()
                    })
                }),
            )
        })
        .collect();
    let context =
        Arc::try_unwrap(context).unwrap_or_else(|_| unreachable!("every task has finished"));
    let ledger = context.ledger.into_inner();
    (
        Report {
            results,
            interrupted,
        },
        ledger,
        context.solvers,
    )
}

/// Why node `i` must not run, if one of its dependencies did not succeed. A change needs
/// all of its dependencies; a hook needs at least one (files changed, so reload).
fn blocked_by(
    graph: &ExecGraph,
    i: usize,
    outcomes: &[Option<Outcome>],
    labels: &[String],
) -> Option<String> {
    let dependencies = graph.dependencies(i);
    let unmet: Vec<&str> = dependencies
        .iter()
        .filter(|&&d| !matches!(outcomes[d], Some(Outcome::Succeeded(_))))
        .map(|&d| labels[d].as_str())
        .collect();
    let blocked = match graph.node(i) {
        Node::Change(_) => !unmet.is_empty(),
        Node::Hook(_) | Node::Reload(_) => {
            !dependencies.is_empty() && unmet.len() == dependencies.len()
        }
    };
    blocked.then(|| format!("skipped because {} did not complete", unmet.join(", ")))
}

/// Where the walk stands: each node's outcome, how many dependencies each still waits
/// for, and the nodes whose dependencies have all settled.
struct Progress {
    outcomes: Vec<Option<Outcome>>,
    waiting_on: Vec<usize>,
    ready: VecDeque<usize>,
}

impl Progress {
    fn new(graph: &ExecGraph) -> Progress {
        let n = graph.len();
        let waiting_on: Vec<usize> = (0..n).map(|i| graph.dependencies(i).len()).collect();
        Progress {
            outcomes: (0..n).map(|_| None).collect(),
            ready: (0..n).filter(|&i| waiting_on[i] == 0).collect(),
            waiting_on,
        }
    }

    /// Records node `i`'s outcome and makes ready every dependant that waited only for it.
    fn settle(&mut self, graph: &ExecGraph, i: usize, outcome: Outcome) {
        self.outcomes[i] = Some(outcome);
        for dependant in graph.dependants(i) {
            self.waiting_on[dependant] -= 1;
            if self.waiting_on[dependant] == 0 {
                self.ready.push_back(dependant);
            }
        }
    }
}

fn label(context: &Context, node: &Node) -> String {
    match node {
        Node::Change(i) => {
            let change = &context.changes[*i];
            format!("{} ({})", change.address, change.action)
        }
        Node::Hook(argv) => format!("on_change {}", argv.join(" ")),
        Node::Reload(reload) => format!(
            "reload_command {} on {}",
            reload.argv.join(" "),
            reload.target.destination()
        ),
    }
}
