//! `certform plan`: diff the configuration against the public half of state and explain
//! every change (as text, Markdown or JSON), report drift (`--refresh-only`,
//! `--check-endpoints`) and write metrics. Needs no identity, so it runs in pull-request review.

use super::{load_desired, read_state, refresh, store_for, Exit, Globals};
use crate::address::{Address, Kind};
use crate::config::suggest::did_you_mean_or_declared;
use crate::desired::model::Desired;
use crate::error::{Error, Result};
use crate::plan::drift::{self, Drift};
use crate::plan::graph::ConfigGraph;
use crate::plan::renewal::Upcoming;
use crate::plan::saved::{SavedOptions, SavedPlan};
use crate::plan::{change_classes, diff, Change, ChangeClass, Observed, PlanOptions};
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
    /// `--fail-on`: with `--detailed-exitcode`, exit 2 only for these classes.
    pub fail_on: Vec<ChangeClass>,
    pub refresh_only: bool,
    pub check_endpoints: bool,
    pub metrics: Option<std::path::PathBuf>,
}

/// Parses `--target` / `--replace` addresses and checks each against what they can
/// select: a typo must not turn a plan into a silent "No changes.".
pub fn plan_options(
    targets: &[String],
    replace: &[String],
    desired: &Desired,
    state: &State,
) -> Result<PlanOptions> {
    let configured: Vec<Address> = desired
        .accounts
        .keys()
        .map(Address::account)
        .chain(desired.certificates.keys().cloned())
        .collect();
    let in_state: Vec<Address> = state
        .accounts
        .keys()
        .map(Address::account)
        .chain(state.certificates.keys().cloned())
        .collect();
    let known: Vec<Address> = configured.iter().chain(&in_state).cloned().collect();
    Ok(PlanOptions {
        targets: parse_selecting(
            "target",
            targets,
            &known,
            "in the configuration or the state",
        )?,
        // Replacing needs a configuration to issue (or an account key to roll) from.
        replace: parse_selecting("replace", replace, &configured, "in the configuration")?,
    })
}

/// `--FLAG` addresses, each a certificate or account address that selects one of `known`.
fn parse_selecting(
    flag: &str,
    inputs: &[String],
    known: &[Address],
    where_known: &str,
) -> Result<Vec<Address>> {
    let parse = |input: &String| -> Result<Address> {
        let address: Address = input
            .parse()
            .map_err(|e: crate::address::ParseAddressError| {
                Error::Usage(format!("--{flag}: {e}"))
            })?;
        if !matches!(address.kind, Kind::Account | Kind::Certificate) {
            return Err(Error::Usage(format!(
                "--{flag} {address}: {} is a solver; --{flag} takes certificate and account addresses (certificate.NAME, certificate.NAME[\"key\"], account.NAME).",
                address.kind
            )));
        }
        if !known.iter().any(|k| address.selects(k)) {
            // Whole blocks too, so `certificate.sites` suggests the for_each block.
            let mut names: Vec<String> = known
                .iter()
                .flat_map(|k| [k.to_string(), Address::new(k.kind, &k.name).to_string()])
                .collect();
            names.sort();
            names.dedup();
            return Err(Error::Usage(format!(
                "--{flag} {address} matches nothing {where_known}.{}",
                did_you_mean_or_declared(names.iter().map(String::as_str), input, "")
            )));
        }
        Ok(address)
    };
    inputs.iter().map(parse).collect()
}

/// Everything a plan was computed from and what it found.
pub struct Planned {
    pub desired: crate::desired::model::Desired,
    /// [`crate::desired::digest`] of `desired`, taken before the state is read: the digest
    /// builds a JSON tree of the whole configuration, which need not coexist with the
    /// state (at 10,000 certificates they made the plan's peak memory together).
    pub desired_digest: String,
    pub state: Option<State>,
    pub options: PlanOptions,
    pub changes: Vec<Change>,
    pub drift: Vec<Drift>,
    /// The next renewal of each certificate the plan does not order anew.
    pub upcoming: Vec<Upcoming>,
}

/// What a plan looks at before it diffs: the output files and ARI windows ([`refresh`]),
/// and with `check_endpoints` what each `check.endpoint` serves. `apply FILE` observes the
/// same way, so it plans again exactly as the saved plan was planned.
pub fn observe(desired: &Desired, state: &State, check_endpoints: bool) -> Observed {
    let mut observed = refresh(desired, state);
    if check_endpoints {
        observed.endpoints = crate::refresh::endpoints(desired);
    }
    observed
}

/// The shared first half of `plan` and `graph`: load, read, check the `--target` and
/// `--replace` addresses, refresh (the endpoints too with `check_endpoints`), diff,
/// detect drift.
pub fn compute(
    globals: &Globals,
    targets: &[String],
    replace: &[String],
    check_endpoints: bool,
) -> Result<Planned> {
    let desired = load_desired(globals)?;
    let desired_digest = crate::desired::digest(&desired);
    let state = read_state(&*store_for(globals, &desired)?)?.map(|stored| stored.state);
    let empty = State::new();
    let base = state.as_ref().unwrap_or(&empty);
    let options = plan_options(targets, replace, &desired, base)?;
    super::profiles::check(&desired)?;
    let observed = observe(&desired, base, check_endpoints);
    let now = OffsetDateTime::now_utc();
    let changes = diff(&desired, base, &observed, now, &options);
    let drift = drift::detect(&desired, base, &observed, &changes);
    let upcoming = crate::plan::renewal::upcoming(&desired, base, &observed, &changes, now);
    Ok(Planned {
        desired,
        desired_digest,
        state,
        options,
        changes,
        drift,
        upcoming,
    })
}

pub fn run(globals: &Globals, request: &PlanRequest) -> Result<Exit> {
    let planned = compute(
        globals,
        &request.targets,
        &request.replace,
        request.check_endpoints,
    )?;
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
    let saved = SavedPlan::new(planned.state.as_ref(), planned.desired_digest, changes, now)
        .with_options(SavedOptions::new(&planned.options, request.check_endpoints))
        .with_drift(planned.drift);
    if request.json {
        print!("{}", render::plan::json(&saved, &planned.upcoming));
    } else if request.markdown {
        print!(
            "{}",
            render::markdown::markdown(&saved, request.refresh_only)
        );
    } else if request.refresh_only {
        print!("{}", render::drift::text(&saved.drift, globals.style));
    } else {
        print!("{}", render::plan::text(&saved.changes, globals.style));
        print!("{}", render::plan::upcoming(&planned.upcoming));
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
    Ok(exit_for(
        request,
        &change_classes(&saved.changes, &saved.drift),
    ))
}

/// `--detailed-exitcode`: 2 when the plan has any class of work (changes, or drift no
/// change repairs); with `--fail-on`, 2 only when it has one of the listed classes, and
/// standard error says which.
fn exit_for(request: &PlanRequest, present: &[ChangeClass]) -> Exit {
    if !request.detailed_exitcode {
        return Exit::Success;
    }
    let gate_closed = if request.fail_on.is_empty() {
        !present.is_empty()
    } else {
        eprint!(
            "{}",
            render::plan::fail_on_verdict(&request.fail_on, present)
        );
        present.iter().any(|class| request.fail_on.contains(class))
    };
    if gate_closed {
        Exit::Changes
    } else {
        Exit::Success
    }
}

/// `certform graph`: the configuration's dependency graph in Graphviz DOT, with the
/// planned actions marked.
pub fn graph(globals: &Globals, targets: &[String], replace: &[String]) -> Result<Exit> {
    let planned = compute(globals, targets, replace, false)?;
    let empty = State::new();
    let graph = ConfigGraph::build(
        &planned.changes,
        &planned.desired,
        planned.state.as_ref().unwrap_or(&empty),
    );
    print!("{}", render::graph::dot(&graph));
    Ok(Exit::Success)
}
