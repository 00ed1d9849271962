//! `certform plan`: diff the configuration against the public half of state and explain
//! every change (as text, Markdown or JSON), report drift (`--refresh-only`,
//! `--check-endpoints`) and write metrics. Needs no identity, so it runs in pull-request review.

use super::{load_desired, read_state, refresh, store_for, Exit, Globals};
use crate::address::Address;
use crate::error::{Error, Result};
use crate::plan::drift::{self, Drift};
use crate::plan::graph::ConfigGraph;
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
    pub markdown: bool,
    pub detailed_exitcode: bool,
    pub refresh_only: bool,
    pub check_endpoints: bool,
    pub metrics: Option<std::path::PathBuf>,
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
    pub drift: Vec<Drift>,
}

/// The shared first half of `plan` and `graph`: load, read, refresh (the endpoints too
/// with `check_endpoints`), diff, detect drift.
pub fn compute(
    globals: &Globals,
    options: &PlanOptions,
    state: Option<State>,
    check_endpoints: bool,
) -> Result<Planned> {
    let desired = load_desired(globals)?;
    let state = match state {
        Some(state) => Some(state),
        None => read_state(&*store_for(globals, &desired)?)?.map(|stored| stored.state),
    };
    let empty = State::new();
    let base = state.as_ref().unwrap_or(&empty);
    let mut observed = refresh(&desired, base);
    if check_endpoints {
        observed.endpoints = crate::refresh::endpoints(&desired);
    }
    let changes = diff(
        &desired,
        base,
        &observed,
        OffsetDateTime::now_utc(),
        options,
    );
    let drift = drift::detect(&desired, base, &observed, &changes);
    Ok(Planned {
        desired,
        state,
        changes,
        drift,
    })
}

pub fn run(globals: &Globals, request: &PlanRequest) -> Result<Exit> {
    let options = plan_options(&request.targets, &request.replace)?;
    let planned = compute(globals, &options, None, request.check_endpoints)?;
    let now = OffsetDateTime::now_utc();
    if let Some(path) = &request.metrics {
        let empty = State::new();
        let state = planned.state.as_ref().unwrap_or(&empty);
        let metrics = render::metrics::prometheus(state, &planned.changes, &planned.drift, now);
        crate::deploy::write_atomic(path, metrics.as_bytes(), 0o644)?;
    }
    // `--refresh-only` proposes nothing: the plan keeps only what the refresh found.
    let changes = if request.refresh_only {
        Vec::new()
    } else {
        planned.changes
    };
    let saved = SavedPlan::new(
        planned.state.as_ref(),
        crate::desired::digest(&planned.desired),
        changes,
        now,
    )
    .with_drift(planned.drift);
    if request.json {
        print!("{}", render::plan::json(&saved));
    } else if request.markdown {
        print!(
            "{}",
            render::markdown::markdown(&saved, request.refresh_only)
        );
    } else if request.refresh_only {
        print!("{}", render::drift::text(&saved.drift, globals.style));
    } else {
        print!("{}", render::plan::text(&saved.changes, globals.style));
        print!(
            "{}",
            render::drift::warning(&saved.drift, &saved.changes, globals.style)
        );
    }
    if let Some(out) = &request.out {
        crate::deploy::write_atomic(out, &saved.to_bytes(), 0o644)?;
        if !request.json && !request.markdown {
            println!(
                "\nSaved the plan to {}. To carry it out exactly, run:\n    certform apply {}",
                out.display(),
                out.display()
            );
        }
    }
    let work =
        !saved.changes.is_empty() || !drift::unrepaired(&saved.drift, &saved.changes).is_empty();
    Ok(if request.detailed_exitcode && work {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// `certform graph`: the configuration's dependency graph in Graphviz DOT, with the
/// planned actions marked.
pub fn graph(globals: &Globals, targets: &[String], replace: &[String]) -> Result<Exit> {
    let options = plan_options(targets, replace)?;
    let planned = compute(globals, &options, None, false)?;
    let empty = State::new();
    let graph = ConfigGraph::build(
        &planned.changes,
        &planned.desired,
        planned.state.as_ref().unwrap_or(&empty),
    );
    print!("{}", render::graph::dot(&graph));
    Ok(Exit::Success)
}
