//! `certform plan`: diff the configuration against the public half of state and explain
//! every change. Needs no identity, so it runs in pull-request review.

use super::{load_desired, read_state, refresh, store_for, Exit, Globals};
use crate::address::Address;
use crate::error::{Error, Result};
use crate::plan::graph::ExecGraph;
use crate::plan::saved::SavedPlan;
use crate::plan::{diff, Change, PlanOptions};
use crate::render;
use crate::state::model::State;
use time::OffsetDateTime;

#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub targets: Vec<String>,
    pub replace: Vec<String>,
    pub out: Option<std::path::PathBuf>,
    pub json: bool,
    pub detailed_exitcode: bool,
}

/// Parses `--target` / `--replace` addresses.
pub fn plan_options(targets: &[String], replace: &[String]) -> Result<PlanOptions> {
    let parse = |list: &[String]| -> Result<Vec<Address>> {
        list.iter()
            .map(|t| {
                t.parse::<Address>()
                    .map_err(|e| Error::Usage(e.to_string()))
            })
            .collect()
    };
    Ok(PlanOptions {
        targets: parse(targets)?,
        replace: parse(replace)?,
    })
}

/// Everything a plan was computed from and what it found.
pub struct Planned {
    pub desired: crate::desired::model::Desired,
    pub state: Option<State>,
    pub changes: Vec<Change>,
}

/// The shared first half of `plan`, `graph` and `apply`: load, read, refresh, diff.
pub fn compute(globals: &Globals, options: &PlanOptions, state: Option<State>) -> Result<Planned> {
    let desired = load_desired(globals)?;
    let state = match state {
        Some(state) => Some(state),
        None => read_state(&*store_for(globals, &desired)?)?.map(|stored| stored.state),
    };
    let empty = State::new();
    let base = state.as_ref().unwrap_or(&empty);
    let observed = refresh(&desired, base);
    let changes = diff(
        &desired,
        base,
        &observed,
        OffsetDateTime::now_utc(),
        options,
    );
    Ok(Planned {
        desired,
        state,
        changes,
    })
}

pub fn run(globals: &Globals, request: &PlanRequest) -> Result<Exit> {
    let options = plan_options(&request.targets, &request.replace)?;
    let planned = compute(globals, &options, None)?;
    let saved = SavedPlan::new(
        planned.state.as_ref(),
        crate::desired::digest(&planned.desired),
        planned.changes,
        OffsetDateTime::now_utc(),
    );
    if request.json {
        print!("{}", render::plan::json(&saved));
    } else {
        print!("{}", render::plan::text(&saved.changes, globals.style));
    }
    if let Some(out) = &request.out {
        crate::deploy::write_atomic(out, &saved.to_bytes(), 0o644)?;
        if !request.json {
            println!(
                "\nSaved the plan to {}. To carry it out exactly, run:\n    certform apply {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if request.detailed_exitcode && !saved.changes.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// `certform graph`: the planned actions and their dependencies in Graphviz DOT.
pub fn graph(globals: &Globals, targets: &[String], replace: &[String]) -> Result<Exit> {
    let options = plan_options(targets, replace)?;
    let planned = compute(globals, &options, None)?;
    let empty = State::new();
    let graph = ExecGraph::build(
        &planned.changes,
        &planned.desired,
        planned.state.as_ref().unwrap_or(&empty),
    );
    print!("{}", render::plan::dot(&planned.changes, &graph));
    Ok(Exit::Success)
}
