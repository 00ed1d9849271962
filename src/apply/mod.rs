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
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// A running action's share of `--parallelism`. An order holds it while it talks to the CA
/// and gives it back once what is left is local (its state writes and output files), so the
/// next order starts while those are written: `--parallelism` bounds the work that reaches
/// out (the CA, DNS, remote outputs), and the local writes overlap it.
pub(crate) struct Slot(Option<OwnedSemaphorePermit>);

impl Slot {
    /// Lets the next ready action start.
    pub fn release(&mut self) {
        self.0 = None;
    }
}

/// Runs every node of `graph`, at most `parallelism` at a time (each holding a [`Slot`]),
/// until done or until `stop` fires (then nothing new starts and the running actions
/// finish). Returns the report and the ledger (so the caller can shut the solvers down and
/// report the final serial).
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    desired: Desired,
    changes: Vec<Change>,
    graph: &ExecGraph,
    ledger: Ledger,
    solvers: Solvers,
    parallelism: usize,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> (Report, Ledger, Solvers) {
    let context = Arc::new(Context {
        desired,
        changes,
        ledger: SharedLedger::new(ledger),
        solvers,
        accounts: tokio::sync::Mutex::new(HashMap::new()),
    });
    let labels: Vec<String> = (0..graph.len())
        .map(|i| label(&context, graph.node(i)))
        .collect();
    let report = walk(graph, labels, parallelism, &*observer, stop, |i, slot| {
        let context = context.clone();
        let node = graph.node(i).clone();
        async move {
            let _running = context.ledger.running();
            actions::run(&context, &node, slot).await
        }
    })
    .await;
    let context =
        Arc::try_unwrap(context).unwrap_or_else(|_| unreachable!("every task has finished"));
    (report, context.ledger.into_inner(), context.solvers)
}

/// The walk itself: starts node `i` as the task `run(i, slot)` once its dependencies have
/// settled and a slot is free, and reports every node's outcome under `labels[i]`.
async fn walk<Run, Task>(
    graph: &ExecGraph,
    labels: Vec<String>,
    parallelism: usize,
    observer: &dyn Observer,
    mut stop: StopSignal,
    run: Run,
) -> Report
where
    Run: Fn(usize, Slot) -> Task,
    Task: Future<Output = Result<String, Error>> + Send + 'static,
{
    let mut progress = Progress::new(graph);
    let mut running = JoinSet::new();
    let mut interrupted = false;
    let slots = Arc::new(Semaphore::new(parallelism.max(1)));

    loop {
        while !progress.ready.is_empty() {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let i = progress.ready.pop_front().expect("a ready node");
            match blocked_by(graph, i, &progress.outcomes, &labels) {
                Some(reason) => {
                    let outcome = Outcome::Skipped(reason);
                    observer.finished(&labels[i], &outcome);
                    progress.settle(graph, i, outcome);
                }
                None => {
                    observer.started(&labels[i]);
                    let action = run(i, Slot(Some(permit)));
                    running.spawn(async move { (i, action.await) });
                }
            }
        }
        let waiting_for_a_slot = !progress.ready.is_empty();
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            // A running action gave its slot back: start the next ready one.
            _ = slots.clone().acquire_owned(), if waiting_for_a_slot => continue,
            () = stop.requested(), if !interrupted => {
                interrupted = true;
                progress.ready.clear();
                observer.stopping(running.len());
                continue;
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
    Report {
        results,
        interrupted,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    struct Silent;

    impl Observer for Silent {
        fn started(&self, _: &str) {}
        fn finished(&self, _: &str, _: &Outcome) {}
    }

    /// Walks `n` unconnected nodes, each running `action(i, slot)`, within five seconds.
    async fn walk_unconnected<Task>(
        n: usize,
        parallelism: usize,
        action: impl Fn(usize, Slot) -> Task,
    ) -> Report
    where
        Task: Future<Output = Result<String, Error>> + Send + 'static,
    {
        let graph = ExecGraph::unconnected(n);
        let labels = (0..n).map(|i| format!("node {i}")).collect();
        let walked = walk(
            &graph,
            labels,
            parallelism,
            &Silent,
            StopSignal::never(),
            action,
        );
        tokio::time::timeout(Duration::from_secs(5), walked)
            .await
            .expect("the walk finished")
    }

    #[tokio::test]
    async fn a_slot_given_back_starts_the_next_action_while_the_first_still_runs() {
        // Node 0 gives its slot back, then waits until node 1 has started: at parallelism
        // 1 that happens only if the slot it gave back went to node 1.
        let node_1_started = Arc::new(tokio::sync::Notify::new());
        let report = walk_unconnected(2, 1, |i, mut slot| {
            let node_1_started = node_1_started.clone();
            async move {
                if i == 0 {
                    slot.release();
                    node_1_started.notified().await;
                } else {
                    node_1_started.notify_one();
                }
                Ok("done".to_string())
            }
        })
        .await;
        assert_eq!(report.failed(), 0);
        assert!(report
            .results
            .iter()
            .all(|(_, outcome)| matches!(outcome, Outcome::Succeeded(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actions_that_keep_their_slot_never_exceed_the_parallelism() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let report = walk_unconnected(12, 3, |_, slot| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                let _held = slot;
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok("done".to_string())
            }
        })
        .await;
        assert_eq!(report.results.len(), 12);
        assert_eq!(report.failed(), 0);
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
