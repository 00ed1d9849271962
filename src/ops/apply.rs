//! `certform apply`: lock the state, open its secrets, plan (or plan again for a saved plan
//! that is still fresh and refuse it unless it equals what apply would do now), confirm,
//! execute with state persisted after every action, report.

use super::plan::{observe, plan_options};
use super::{load_desired_for_apply, recipients_for, refresh, store_for, Exit, Globals, ReadState};
use crate::apply::{execute, Ledger, Observer, StopSignal};
use crate::error::{Error, Result};
use crate::hook_env::HookEnv;
use crate::plan::graph::ExecGraph;
use crate::plan::saved::SavedPlan;
use crate::plan::{diff, Change};
use crate::render;
use crate::solver::Solvers;
use crate::state::{load_identity, Persister};
use std::collections::BTreeSet;
use std::io::IsTerminal;
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
    /// `--only renewals`: carry out renew and redeploy actions only (the unattended job).
    pub only_renewals: bool,
}

pub fn run(globals: &Globals, request: &ApplyRequest) -> Result<Exit> {
    refuse_flags_with_saved_plan(request)?;
    let desired = load_desired_for_apply(globals)?;
    super::profiles::check(&desired)?;
    let saved = match &request.plan_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::io("Cannot read the saved plan", path, e))?;
            Some(SavedPlan::from_bytes(&bytes, path)?)
        }
        None => None,
    };
    let store = store_for(globals, &desired)?;
    let lock = store.lock("apply", request.lock_timeout)?;
    tracing::info!("locked the state at {}", store.describe());
    let read = ReadState::read(&*store)?;
    if let Some(saved) = &saved {
        saved.check_fresh(
            &crate::desired::digest(&desired),
            read.as_ref().map(ReadState::state),
        )?;
    }
    let identity = load_identity(globals.identity.as_deref())?;
    let stored_serial = read.as_ref().map(|r| r.state().serial);
    let (state, secrets) =
        ReadState::open_or_new(read, &identity, &desired.state, &store.describe())?;
    // A state this apply creates: its key id is worth pinning, and only now is it known.
    let key_id_to_pin = match (stored_serial, &desired.state.key_id, &secrets.state_key) {
        (None, None, Some(key)) => Some(key.id()),
        _ => None,
    };

    let now = OffsetDateTime::now_utc();
    let (changes, fetched_ari): (Vec<Change>, _) = match saved {
        // The file is only a claim: plan again as it was planned, apply what that gives.
        Some(saved) => {
            let observed = observe(&desired, &state, saved.options.check_endpoints);
            let changes = diff(
                &desired,
                &state,
                &observed,
                now,
                &saved.options.plan_options(),
            );
            saved.check_matches(&changes)?;
            (changes, observed.ari)
        }
        None => {
            let options = plan_options(&request.targets, &request.replace, &desired, &state)?;
            let observed = refresh(&desired, &state);
            let changes = diff(&desired, &state, &observed, now, &options);
            let changes = only(request, changes, globals);
            if !changes.is_empty() {
                print!("{}", render::plan::text(&changes, globals.style));
                if !request.auto_approve {
                    super::confirm::ask(
                        "Do you want to perform these actions?\n  Only 'yes' will be accepted to approve.",
                        "apply needs confirmation: run it on a terminal, pass --auto-approve, or apply a saved plan (certform plan --out FILE; certform apply FILE).",
                        "Apply cancelled.",
                    )?;
                }
            }
            (changes, observed.ari)
        }
    };
    if changes.is_empty() {
        // Keep the ARI windows (outside state), so their Retry-After is honoured.
        super::ari::remember(&state, &fetched_ari);
        print!("{}", render::plan::text(&changes, globals.style));
        return Ok(Exit::Success);
    }

    let recipients = recipients_for(&desired, &identity)?;
    let graph = ExecGraph::build(&changes, &desired, &state);
    let needed_solvers: BTreeSet<_> = changes
        .iter()
        .filter(|c| c.action.orders())
        .filter_map(|c| desired.certificates.get(&c.address))
        .flat_map(|spec| spec.solver_for.values().cloned())
        .chain(crate::plan::persist::via_solvers(
            &changes, &desired, &state,
        ))
        .collect();
    let parallelism = request.parallelism.unwrap_or(desired.parallelism);
    let persister = Persister::new(store, lock, recipients, stored_serial);
    super::ari::remember(&state, &fetched_ari);
    let ledger = Ledger::new(state, secrets, persister);
    let observer: Arc<dyn Observer> = if std::io::stdout().is_terminal() && !globals.quiet {
        Arc::new(render::apply::TerminalObserver::new(globals.style))
    } else {
        Arc::new(render::apply::LineObserver {
            style: globals.style,
            quiet: globals.quiet,
        })
    };
    println!();

    let report = crate::runtime::block_on(async move {
        let stop = StopSignal::listen()
            .map_err(|e| Error::Bug(format!("cannot listen for SIGINT/SIGTERM: {e}")))?;
        let hook_env = HookEnv::new(&desired.secrets());
        let solvers = Solvers::start(&desired.solvers, &needed_solvers, hook_env).await?;
        let on_interrupt = solvers.clone();
        let mut forced = stop.clone();
        let run = execute(
            desired,
            changes,
            &graph,
            ledger,
            solvers,
            parallelism,
            observer,
            stop,
        );
        tokio::select! {
            (report, _ledger, solvers) = run => {
                solvers.shutdown().await;
                Ok::<_, Error>(report)
            }
            // A second interrupt: dropping `run` stops the orders in flight (their state
            // writes are lost, as in a crash); the challenge records they published must not
            // outlive them.
            () = forced.forced() => {
                let failures = on_interrupt.withdraw_all().await;
                on_interrupt.shutdown().await;
                let mut message = "Interrupted twice: apply stopped at once; completed actions are in the state.".to_string();
                if !failures.is_empty() {
                    message.push_str(&format!(" Removing challenge records failed: {}", failures.join("; ")));
                }
                eprint!("{}", render::error(&Error::Apply(message), globals.style));
                std::process::exit(StopSignal::FORCED_EXIT_STATUS);
            }
        }
    })?;
    print!("{}", render::apply::report(&report, globals.style));
    if let Some(key_id) = key_id_to_pin {
        print!("\n{}", render::state::key_id_line(&key_id));
    }
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

/// A saved plan is applied as it was planned: flags that would change it are refused
/// (as Terraform does), not silently ignored. Plan with them instead.
fn refuse_flags_with_saved_plan(request: &ApplyRequest) -> Result<()> {
    let Some(path) = &request.plan_file else {
        return Ok(());
    };
    let given: Vec<&str> = [
        (!request.targets.is_empty(), "--target"),
        (!request.replace.is_empty(), "--replace"),
        (request.only_renewals, "--only"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} cannot be used with a saved plan: {} is applied exactly as it was planned. Pass --target and --replace to `certform plan --out FILE` instead, or run `certform apply` without a plan file.",
        given.join(" and "),
        path.display()
    )))
}

/// With `--only renewals`, keeps renew and redeploy actions and says what was left out.
fn only(request: &ApplyRequest, changes: Vec<Change>, globals: &Globals) -> Vec<Change> {
    if !request.only_renewals {
        return changes;
    }
    let (kept, left): (Vec<Change>, Vec<Change>) =
        changes.into_iter().partition(|c| c.action.is_renewal());
    print!(
        "{}",
        render::unattended::left_for_review(&left, globals.style)
    );
    kept
}
