//! Command-line definitions (the only user of clap) and how they map to `ops` options.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "certform",
    version,
    about = "Declarative ACME certificates: plan and apply like Terraform",
    after_help = "Examples:\n  certform init\n  certform plan --out tls.plan\n  certform apply tls.plan\n  certform plan --detailed-exitcode   # 0 = no changes, 2 = changes, 1 = error"
)]
pub struct Cli {
    /// Use DIR as the configuration directory instead of the current one.
    #[arg(long, global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Set a variable: NAME=VALUE (repeatable).
    #[arg(long = "var", global = true, value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from an HCL file of `name = value` lines (repeatable).
    #[arg(long = "var-file", global = true, value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Never colour the output (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More detail on standard error (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors and results.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The age identity that opens the state's secrets (else CERTFORM_IDENTITY,
    /// CERTFORM_IDENTITY_KEY or ~/.config/certform/identity.txt).
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an age identity (if none), print its recipient, write a starter configuration.
    Init(InitArgs),
    /// Parse and check the configuration (no network, no state).
    Validate,
    /// Show what apply would do and why.
    Plan(PlanArgs),
    /// Carry out a fresh plan, or a saved one.
    Apply(ApplyArgs),
    /// Show the state, or a saved plan.
    Show(ShowArgs),
    /// Print the dependency graph of the planned actions in Graphviz DOT.
    Graph(TargetArgs),
    /// Inspect the state.
    #[command(subcommand)]
    State(StateCommand),
    /// Release a lock left by a process that hangs (a dead process releases its lock itself).
    ForceUnlock {
        /// The lock ID printed in the "state is locked" error.
        lock_id: String,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the identity (default: ~/.config/certform/identity.txt, or --identity).
    #[arg(long, value_name = "FILE")]
    pub identity_out: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct TargetArgs {
    /// Limit the plan to this resource and what it depends on (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Reissue this certificate even though nothing changed (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Save the plan to FILE for `certform apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the plan as a Markdown pull-request comment.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Exit 0 when there are no changes, 2 when there are (or drift), 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Only report drift and renewals due; propose nothing else.
    #[arg(long, conflicts_with = "out")]
    pub refresh_only: bool,
    /// Connect to each certificate's `check.endpoint` and compare the served certificate.
    #[arg(long)]
    pub check_endpoints: bool,
    /// Write Prometheus metrics to FILE (atomically), for node_exporter's textfile collector.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `certform plan --out FILE`.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many actions may run at once (default: the configuration's, else 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: Option<u16>,
    /// How long to wait for the state lock, e.g. 30s or 2m.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A saved plan to show instead of the state.
    pub plan_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List every address in state.
    List,
    /// Show one resource in state.
    Show {
        /// e.g. certificate.www
        address: String,
    },
}
