//! The certform binary: parse the command line, run one command, print an error once,
//! exit 0 (success), 1 (error) or 2 (changes, with --detailed-exitcode).

use certform::cli::{Cli, Command, OnlyKind, StateCommand, WorkspaceCommand};
use certform::desired::VarInputs;
use certform::ops::{self, Exit, Globals};
use certform::render::Style;
use certform::{Error, Result};
use std::io::IsTerminal;
use std::process::ExitCode;

/// glibc serves a large allocation from its own mapping, returned to the system when
/// freed, but raises that threshold after each such free (up to 32 MiB), so a plan that
/// frees the configuration's tree and then reads a large state kept both in its heap: at
/// 10,000 certificates the peak RSS was a third above the peak of live memory. A fixed
/// threshold keeps large blocks (the state's bytes, big strings and tables) out of the heap.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    let cli = certform::cli_help::parse();
    certform::log::init(cli.verbose);
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let style = Style { color };
    match run(cli, style) {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Changes) => ExitCode::from(2),
        Ok(Exit::Unformatted) => ExitCode::from(3),
        Err(error) => {
            eprint!(
                "{}",
                certform::render::error(
                    &error,
                    Style {
                        color: color && std::io::stderr().is_terminal()
                    }
                )
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, style: Style) -> Result<Exit> {
    certform::runtime::start()?;
    let config_dir = match &cli.chdir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| Error::io("Cannot read the current directory", ".", e))?,
    };
    let vars = cli
        .vars
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--var {pair:?} must look like NAME=VALUE")))
        })
        .collect::<Result<Vec<_>>>()?;
    let globals = Globals {
        config_dir,
        vars: VarInputs {
            vars,
            var_files: cli.var_files.clone(),
        },
        style,
        identity: cli.identity.clone(),
        quiet: cli.quiet,
        workspace: cli.workspace.clone(),
    };
    match cli.command {
        Command::Init(args) => ops::init::run(&globals, args.identity_out),
        Command::Validate(args) if args.json => ops::validate::json(&globals),
        Command::Validate(_) => ops::validate::run(&globals),
        Command::Fmt(args) => ops::fmt::run(
            &globals,
            &ops::fmt::FmtRequest {
                paths: args.paths,
                check: args.check,
                diff: args.diff,
                recursive: args.recursive,
            },
        ),
        Command::Plan(args) => ops::plan::run(
            &globals,
            &ops::plan::PlanRequest {
                targets: args.targets.target,
                replace: args.targets.replace,
                out: args.out,
                json: args.json,
                markdown: args.markdown,
                detailed_exitcode: args.detailed_exitcode,
                fail_on: args.fail_on,
                refresh_only: args.refresh_only,
                check_endpoints: args.check_endpoints,
                metrics: args.metrics,
            },
        ),
        Command::Apply(args) => ops::apply::run(
            &globals,
            &ops::apply::ApplyRequest {
                plan_file: args.plan_file,
                targets: args.targets.target,
                replace: args.targets.replace,
                auto_approve: args.auto_approve,
                parallelism: args.parallelism.map(usize::from),
                lock_timeout: args.lock.timeout()?,
                only_renewals: args.only == Some(OnlyKind::Renewals),
            },
        ),
        Command::Show(args) => ops::show::show(&globals, args.plan_file.as_deref(), args.json),
        Command::Graph(args) => ops::plan::graph(&globals, &args.target, &args.replace),
        Command::State(StateCommand::List) => ops::show::list(&globals),
        Command::State(StateCommand::Show { address }) => ops::show::show_one(&globals, &address),
        Command::State(StateCommand::Pull) => ops::state_transfer::pull(&globals),
        Command::State(StateCommand::AcceptRollback) => {
            ops::state_surgery::accept_rollback(&globals)
        }
        Command::State(StateCommand::Push { file, force, lock }) => {
            ops::state_transfer::push(&globals, &file, force, lock.timeout()?)
        }
        Command::State(StateCommand::Migrate { to, force, lock }) => {
            ops::state_transfer::migrate(&globals, &to, force, lock.timeout()?)
        }
        Command::State(StateCommand::Rm { addresses, lock }) => {
            ops::state_surgery::rm(&globals, &addresses, lock.timeout()?)
        }
        Command::State(StateCommand::Mv { from, to, lock }) => {
            ops::state_surgery::mv(&globals, &from, &to, lock.timeout()?)
        }
        Command::Workspace(WorkspaceCommand::List) => ops::workspace::list(&globals),
        Command::Workspace(WorkspaceCommand::Show) => ops::workspace::show(&globals),
        Command::Workspace(WorkspaceCommand::New { name }) => ops::workspace::new(&globals, &name),
        Command::Workspace(WorkspaceCommand::Select { name }) => {
            ops::workspace::select(&globals, &name)
        }
        Command::Workspace(WorkspaceCommand::Delete { name, force, lock }) => {
            ops::workspace::delete(&globals, &name, force, lock.timeout()?)
        }
        Command::ForceUnlock { lock_id, force } => {
            ops::force_unlock::run(&globals, &lock_id, force)
        }
        Command::Version { json } => ops::version::run(json),
        Command::Completions { shell } => certform::cli_help::completions(shell),
        Command::Man { command } => certform::cli_help::man(&command),
        Command::Revoke(args) => ops::revoke::run(
            &globals,
            &ops::revoke::RevokeRequest {
                address: args.address,
                reason: args.reason.parse().map_err(Error::Usage)?,
                lock_timeout: args.lock.timeout()?,
            },
        ),
        Command::Import(args) => {
            let source = match (args.cert, args.key, args.from_certbot, args.from_lego) {
                (Some(cert), Some(key), None, None) => ops::import::ImportSource::Files {
                    cert,
                    key,
                    chain: args.chain,
                },
                (None, None, Some(dir), None) => ops::import::ImportSource::Certbot(dir),
                (None, None, None, Some(dir)) => ops::import::ImportSource::Lego(dir),
                _ => {
                    return Err(Error::Usage(
                        "import takes one source: --cert F --key F [--chain F], --from-certbot DIR or --from-lego DIR".into(),
                    ))
                }
            };
            ops::import::run(
                &globals,
                &ops::import::ImportRequest {
                    address: args.address,
                    source,
                    lock_timeout: args.lock.timeout()?,
                },
            )
        }
    }
}
