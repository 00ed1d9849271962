//! Terraform's single-dash long options (`-out=tls.plan`, `-chdir=dir`, `-auto-approve`,
//! `-var 'name=value'`), accepted as a Terraform user types them. Before clap parses, a
//! `-NAME` or `-NAME=VALUE` whose NAME is a long option of the command being parsed becomes
//! `--NAME...`. The real short flags (`-v`, `-vv`, `-q`) keep working: any other `-name`
//! is left alone when it begins with a short flag, and otherwise doubled as well, so that
//! clap's error names the option typed (`--input`), not its first letter (`-i`). Nothing
//! after `--`, and no option's value (`--var -x`), is rewritten.

use std::ffi::OsString;

/// `args` (program name first) with single-dash long options doubled. `command` must be
/// built (`clap::Command::build`), so that every subcommand carries the global options.
pub fn terraform_style(command: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut current = command;
    let mut rewritten = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    rewritten.extend(args.next());
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            rewritten.push(arg);
            continue;
        };
        if text == "--" {
            rewritten.push(arg);
            rewritten.extend(args.by_ref());
            break;
        }
        let single = text
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-') && name_of(rest).len() > 1);
        let value_follows = |given: &str, option: Option<&clap::Arg>| {
            !given.contains('=') && option.is_some_and(|o| o.get_action().takes_values())
        };
        let (doubled, takes_next) = if let Some(single) = single {
            let option = long_option(current, single);
            // An unknown name that is not short flags either (`-input=false`) is doubled
            // too: clap's error then names `--input`, not a puzzling `-i`.
            if option.is_none() && starts_with_short_flag(current, single) {
                (false, false)
            } else {
                (true, value_follows(single, option))
            }
        } else if let Some(long) = text.strip_prefix("--") {
            (false, value_follows(long, long_option(current, long)))
        } else {
            if let Some(sub) = current.find_subcommand(text) {
                current = sub;
            }
            (false, false)
        };
        rewritten.push(if doubled {
            format!("-{text}").into()
        } else {
            arg
        });
        // The option's value is the next argument, whatever it looks like (`--var -x`).
        if takes_next {
            rewritten.extend(args.next());
        }
    }
    rewritten
}

/// `name` of `name=value`.
fn name_of(option: &str) -> &str {
    option.split_once('=').map_or(option, |(name, _)| name)
}

/// Whether `flags` begins with one of `command`'s short options, as `vv` and `vq` do.
fn starts_with_short_flag(command: &clap::Command, flags: &str) -> bool {
    let first = flags.chars().next();
    command
        .get_arguments()
        .any(|arg| first.is_some() && arg.get_short() == first)
}

/// The long option `name[=value]` of `command`, if it has one.
fn long_option<'a>(command: &'a clap::Command, option: &str) -> Option<&'a clap::Arg> {
    let name = name_of(option);
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(name) || arg.get_all_aliases().is_some_and(|a| a.contains(&name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &str) -> String {
        let mut command = crate::cli_help::command();
        command.build();
        let args = std::iter::once("certform")
            .chain(args.split(' '))
            .map(OsString::from)
            .collect();
        let out: Vec<String> = terraform_style(&command, args)
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn single_dash_long_options_become_double_dash() {
        assert_eq!(
            rewrite("-chdir=dir plan -out=x.plan -detailed-exitcode -target=certificate.www"),
            "--chdir=dir plan --out=x.plan --detailed-exitcode --target=certificate.www"
        );
        assert_eq!(
            rewrite("apply -auto-approve -var a=b -lock-timeout 1m"),
            "apply --auto-approve --var a=b --lock-timeout 1m"
        );
        assert_eq!(rewrite("-help"), "--help");
    }

    #[test]
    fn short_flags_values_and_unknown_names_stay() {
        assert_eq!(rewrite("-v -vv -q plan -v"), "-v -vv -q plan -v");
        assert_eq!(rewrite("plan -vq -vx"), "plan -vq -vx");
        assert_eq!(rewrite("plan -input=false"), "plan --input=false");
        assert_eq!(
            rewrite("plan --var -out=x -var -json"),
            "plan --var -out=x --var -json"
        );
        assert_eq!(
            rewrite("state push -force -- -out"),
            "state push --force -- -out"
        );
        // Another command's option is doubled too, and clap refuses `--out` by that name.
        assert_eq!(rewrite("show -out=x"), "show --out=x");
    }
}
