//! The certform binary: parse the command line, run one command, print an error once,
//! exit 0 (success), 1 (error) or 2 (changes, with --detailed-exitcode).

use certform::cli::{Cli, Command, StateCommand};
use certform::desired::VarInputs;
use certform::ops::{self, Exit, Globals};
use certform::render::Style;
use certform::{Error, Result};
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: with --detailed-exitcode, 2 means "changes".
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let style = Style { color };
    match run(cli, style) {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Changes) => ExitCode::from(2),
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
    };
    match cli.command {
        Command::Init(args) => ops::init::run(&globals, args.identity_out),
        Command::Validate => ops::show::validate(&globals),
        Command::Plan(args) => ops::plan::run(
            &globals,
            &ops::plan::PlanRequest {
                targets: args.targets.target,
                replace: args.targets.replace,
                out: args.out,
                json: args.json,
                markdown: args.markdown,
                detailed_exitcode: args.detailed_exitcode,
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
                lock_timeout: ops::parse_flag_duration(&args.lock_timeout, "lock-timeout")?,
            },
        ),
        Command::Show(args) => ops::show::show(&globals, args.plan_file.as_deref(), args.json),
        Command::Graph(args) => ops::plan::graph(&globals, &args.target, &args.replace),
        Command::State(StateCommand::List) => ops::show::list(&globals),
        Command::State(StateCommand::Show { address }) => ops::show::show_one(&globals, &address),
        Command::ForceUnlock { lock_id } => ops::show::force_unlock(&globals, &lock_id),
    }
}
