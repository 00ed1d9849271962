//! `certform apply`: lock the state, open its secrets, plan (or take a saved plan that is
//! still fresh), confirm, execute with state persisted after every action, report.

use super::plan::plan_options;
use super::{load_desired, refresh, store_for, Exit, Globals};
use crate::apply::{execute, Ledger, Observer, StopSignal};
use crate::error::{Error, Result};
use crate::plan::graph::ExecGraph;
use crate::plan::saved::SavedPlan;
use crate::plan::{diff, Change};
use crate::render;
use crate::solver::Solvers;
use crate::state::model::{Secrets, State};
use crate::state::{load_identity, Persister};
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone, Default)]
pub struct ApplyRequest {
    pub plan_file: Option<PathBuf>,
    pub targets: Vec<String>,
    pub replace: Vec<String>,
    pub auto_approve: bool,
    pub parallelism: Option<usize>,
    pub lock_timeout: Duration,
}

pub fn run(globals: &Globals, request: &ApplyRequest) -> Result<Exit> {
    let desired = load_desired(globals)?;
    let saved = match &request.plan_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::io("Cannot read the saved plan", path, e))?;
            Some(SavedPlan::from_bytes(&bytes, path)?)
        }
        None => None,
    };
    let store = store_for(&desired);
    let lock = store.lock("apply", request.lock_timeout)?;
    let stored = store.read()?;
    if let Some(saved) = &saved {
        saved.check_fresh(
            &crate::desired::digest(&desired),
            stored.as_ref().map(|s| &s.state),
        )?;
    }
    let identity = load_identity(globals.identity.as_deref())?;
    let (state, secrets) = match &stored {
        Some(stored) => (stored.state.clone(), stored.open_secrets(&identity)?),
        None => (State::new(), Secrets::default()),
    };

    let changes: Vec<Change> = match saved {
        Some(saved) => saved.changes,
        None => {
            let options = plan_options(&request.targets, &request.replace)?;
            let observed = refresh(&desired, &state);
            let changes = diff(
                &desired,
                &state,
                &observed,
                OffsetDateTime::now_utc(),
                &options,
            );
            if !changes.is_empty() {
                print!("{}", render::plan::text(&changes, globals.style));
                if !request.auto_approve {
                    confirm()?;
                }
            }
            changes
        }
    };
    if changes.is_empty() {
        print!("{}", render::plan::text(&changes, globals.style));
        return Ok(Exit::Success);
    }

    let recipients = if desired.state.recipients.is_empty() {
        vec![identity.recipient().ok_or_else(|| {
            Error::Identity(format!(
                "The state has no recipients: add `recipients = [\"age1...\"]` to certform {{ state {{ }} }}, or use an X25519 identity ({} holds none).",
                identity.source()
            ))
        })?]
    } else {
        desired.state.recipients.clone()
    };
    let graph = ExecGraph::build(&changes, &desired, &state);
    let needed_solvers: BTreeSet<_> = changes
        .iter()
        .filter(|c| c.action.orders())
        .filter_map(|c| desired.certificates.get(&c.address))
        .flat_map(|spec| spec.solver_for.values().cloned())
        .collect();
    let parallelism = request.parallelism.unwrap_or(desired.parallelism);
    let ledger = Ledger::new(state, secrets, Persister::new(store, lock, recipients));
    let observer: Arc<dyn Observer> = Arc::new(render::apply::LineObserver {
        style: globals.style,
        quiet: globals.quiet,
    });
    println!();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Bug(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async move {
        let stop = StopSignal::listen()
            .map_err(|e| Error::Bug(format!("cannot listen for SIGINT/SIGTERM: {e}")))?;
        let solvers = Solvers::start(&desired.solvers, &needed_solvers).await?;
        let (report, _ledger, solvers) = execute(
            desired,
            changes,
            &graph,
            ledger,
            solvers,
            parallelism,
            observer,
            stop,
        )
        .await;
        solvers.shutdown().await;
        Ok::<_, Error>(report)
    })?;
    print!("{}", render::apply::report(&report, globals.style));
    if report.interrupted {
        return Err(Error::Apply(
            "Apply was interrupted: actions in flight finished and were saved to state; the rest did not start. Run `certform apply` again to finish."
                .into(),
        ));
    }
    if report.failed() > 0
        || report
            .results
            .iter()
            .any(|(_, o)| matches!(o, crate::apply::Outcome::Skipped(_)))
    {
        return Err(Error::Apply(format!(
            "{} action(s) failed; see above.",
            report.failed().max(1)
        )));
    }
    Ok(Exit::Success)
}

/// Asks for `yes` on a terminal; refuses to guess without one.
fn confirm() -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "apply needs confirmation: run it on a terminal, pass --auto-approve, or apply a saved plan (certform plan --out FILE; certform apply FILE).".into(),
        ));
    }
    print!("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Usage("Apply cancelled.".into()))
    }
}
