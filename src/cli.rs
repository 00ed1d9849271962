//! Command-line definitions (the only user of clap) and how they map to `ops` options.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The `--help` section of the options every command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "certform",
    version,
    about = "Declarative ACME certificates: plan and apply like Terraform",
    after_help = "Examples:\n  certform init\n  certform plan --out tls.plan\n  certform apply tls.plan\n  certform plan --detailed-exitcode   # 0 = no changes, 2 = changes, 1 = error"
)]
pub struct Cli {
    /// Use DIR as the configuration directory instead of the current one.
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Set a variable: NAME=VALUE (repeatable).
    #[arg(long = "var", global = true, help_heading = GLOBAL, value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from an HCL file of `name = value` lines (repeatable).
    #[arg(long = "var-file", global = true, help_heading = GLOBAL, value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Never colour the output (also: the NO_COLOR environment variable).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
    /// More detail on standard error (repeat for more).
    #[arg(short, long, global = true, help_heading = GLOBAL, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors and results.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// The age identity that opens the state's secrets (else CERTFORM_IDENTITY,
    /// CERTFORM_IDENTITY_KEY or ~/.config/certform/identity.txt).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The workspace to use (else the one `certform workspace select` chose, else default).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "NAME", env = "CERTFORM_WORKSPACE")]
    pub workspace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an age identity (if none), print its recipient, write a starter configuration.
    Init(InitArgs),
    /// Parse and check the configuration (no network, no state).
    Validate(ValidateArgs),
    /// Rewrite *.hcl files in canonical layout, keeping comments.
    Fmt(FmtArgs),
    /// Show what apply would do and why.
    Plan(PlanArgs),
    /// Carry out a fresh plan, or a saved one.
    Apply(ApplyArgs),
    /// Show the state, or a saved plan.
    Show(ShowArgs),
    /// Print the configuration's dependency graph in Graphviz DOT, planned actions marked.
    Graph(TargetArgs),
    /// Inspect the state, and change it by hand (rm, mv, push, migrate).
    #[command(subcommand)]
    State(StateCommand),
    /// Manage workspaces: independent states of one configuration.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Release a lock left by a process that hangs (a dead process releases its lock itself).
    ForceUnlock {
        /// The lock ID printed in the "state is locked" error.
        lock_id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print a manual page in roff: certform(1), or certform-COMMAND(1) for a command.
    Man {
        /// The command whose page to print, e.g. `plan` or `state list`.
        command: Vec<String>,
    },
    /// Revoke a certificate now (e.g. its key leaked); the next plan reissues it.
    Revoke(RevokeArgs),
    /// Adopt an existing certificate and key into state without ordering a new one.
    Import(ImportArgs),
    /// Print certform's version, the git commit it was built from and its features.
    Version {
        /// Print JSON (see schemas/version.schema.json).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the result as JSON (see schemas/validate.schema.json), for editors and CI.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or directories to format (default: the configuration directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; exit 3 when a file is not formatted.
    #[arg(long)]
    pub check: bool,
    /// Show a unified diff of the changes.
    #[arg(long)]
    pub diff: bool,
    /// Also format files in subdirectories.
    #[arg(long)]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate, e.g. certificate.www
    pub address: String,
    /// RFC 5280 reason: unspecified, keyCompromise, superseded or cessationOfOperation.
    #[arg(long, default_value = "unspecified")]
    pub reason: String,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["cert", "from_certbot", "from_lego"])))]
pub struct ImportArgs {
    /// The configured certificate to import into, e.g. certificate.www
    pub address: String,
    /// The certificate (PEM; may hold the chain after the leaf).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The issuer chain (PEM), when the certificate file holds only the leaf.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub chain: Option<PathBuf>,
    /// A certbot `live/NAME` directory.
    #[arg(long, value_name = "DIR")]
    pub from_certbot: Option<PathBuf>,
    /// A lego `.lego` (or `.lego/certificates`) directory.
    #[arg(long, value_name = "DIR")]
    pub from_lego: Option<PathBuf>,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// What `apply --only` restricts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyKind {
    /// renew and redeploy actions: never a revoke, reissue or account change.
    Renewals,
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
    /// With --detailed-exitcode: exit 2 only when the plan has one of these change classes
    /// (comma-separated: renewal, create, update, replace, destroy, drift), else 0.
    #[arg(
        long,
        value_name = "CLASSES",
        value_delimiter = ',',
        requires = "detailed_exitcode",
        value_parser = parse_change_class
    )]
    pub fail_on: Vec<crate::plan::ChangeClass>,
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

fn parse_change_class(name: &str) -> Result<crate::plan::ChangeClass, String> {
    name.parse()
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
    /// How many actions may talk to the CA or a remote output at once; an order's local
    /// writes (state, output files) run beside the next orders (default: the
    /// configuration's, else 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: Option<u16>,
    #[command(flatten)]
    pub lock: LockArgs,
    /// Carry out only this class of actions (`renewals`: the unattended job).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub only: Option<OnlyKind>,
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
    /// Print the stored state document (its secret half stays age-encrypted).
    Pull,
    /// Take the stored state as current after restoring an older version on purpose (it
    /// resets this machine's rollback record; the state is not changed).
    AcceptRollback,
    /// Replace the stored state with a document from FILE (`-` for standard input).
    Push {
        /// The state document to push, or `-` for standard input.
        file: PathBuf,
        /// Also push a state of another lineage or a lower serial.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Forget resources: they stay valid at the CA and their files stay in place.
    Rm {
        /// e.g. certificate.www account.le
        #[arg(required = true)]
        addresses: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Rename a resource in the state (after renaming its block), so it is not reissued.
    Mv {
        /// The address in state now, e.g. certificate.www
        from: String,
        /// The address of the renamed block, e.g. certificate.web
        to: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Copy every workspace to the backend configured in DIR and verify each copy.
    Migrate {
        /// A configuration directory whose `certform { state { ... } }` names the target.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Overwrite target workspaces that already hold a different state.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
}

/// `--lock-timeout`, for every command that takes the state lock.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// How long to wait for the state lock, e.g. 30s or 2m.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
}

impl LockArgs {
    /// The timeout as a duration; a malformed one is a usage error naming the flag.
    pub fn timeout(&self) -> crate::Result<std::time::Duration> {
        crate::ops::parse_flag_duration(&self.lock_timeout, "lock-timeout")
    }
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// List the workspaces; `*` marks the current one.
    List,
    /// Print the current workspace's name.
    Show,
    /// Create a workspace and switch to it.
    New {
        /// The new workspace's name.
        name: String,
    },
    /// Switch to a workspace (remembered in .certform/workspace).
    Select {
        /// The workspace to switch to.
        name: String,
    },
    /// Delete a workspace; one whose state still has resources only with --force.
    Delete {
        /// The workspace to delete (not the current one).
        name: String,
        /// Delete even though its state still tracks certificates or accounts.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
}
