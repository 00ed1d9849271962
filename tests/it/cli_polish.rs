//! The command line beyond plan and apply, through the real binary: `fmt` (examples are
//! formatted, scrambled copies are restored with their comments, `--check` exits 3,
//! `--diff`), diagnostics with `Did you mean` at file:line:col, `validate --json`, shell
//! completions, manual pages and examples in every command's `--help`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn certform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certform"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("certform runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "hcl") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("examples"), &mut files);
    files.sort();
    assert!(files.len() >= 3, "examples found: {files:?}");
    files
}

/// Undoes the layout a formatter owns while keeping every token and comment: random-ish
/// indentation, `=` without or with extra spaces, trailing spaces, doubled blank lines.
fn scramble(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            out.push_str("\n\n");
            continue;
        }
        let mut line = trimmed.to_string();
        if let Some(eq) = line.find(" = ") {
            let key = line[..eq].trim_end().to_string();
            if !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-\".".contains(c))
            {
                let spaces = if i % 2 == 0 { "" } else { "    " };
                line = format!("{key}{spaces}={spaces}{}", &line[eq + 3..]);
            }
        }
        out.push_str(&" ".repeat(i * 3 % 7));
        out.push_str(&line);
        out.push_str(&" ".repeat(i % 3));
        out.push('\n');
    }
    out
}

#[test]
fn every_example_is_formatted() {
    for file in example_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            certform::fmt::format_hcl(&text).unwrap(),
            text,
            "{} is not formatted: run certform fmt --recursive examples",
            file.display()
        );
    }
    let out = certform(&["fmt", "--check", "--recursive", "examples"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn fmt_restores_scrambled_examples_and_keeps_comments() {
    for file in example_files() {
        let original = std::fs::read_to_string(&file).unwrap();
        let scrambled = scramble(&original);
        assert_ne!(scrambled, original);
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("main.hcl");
        std::fs::write(&copy, &scrambled).unwrap();
        let chdir = dir.path().to_str().unwrap();

        let out = certform(&["fmt", "--check", "--chdir", chdir]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(stdout(&out), "main.hcl\n");
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), scrambled);

        let out = certform(&["fmt", "--chdir", chdir]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "main.hcl\n");
        let formatted = std::fs::read_to_string(&copy).unwrap();
        assert_eq!(formatted, original, "{} was not restored", file.display());
        let comments = |t: &str| t.lines().filter(|l| l.contains('#')).count();
        assert!(comments(&original) > 0 && comments(&formatted) == comments(&original));

        let out = certform(&["fmt", "--check", "--chdir", chdir]);
        assert_eq!(out.status.code(), Some(0), "formatting is idempotent");
    }
}

#[test]
fn fmt_diff_shows_a_unified_diff() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.hcl");
    std::fs::write(
        &file,
        "account \"le\" {\ndirectory=\"letsencrypt\" # the CA\n}\n",
    )
    .unwrap();
    let out = certform(&["fmt", "--check", "--diff", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(
        text.contains("-directory=\"letsencrypt\" # the CA\n"),
        "{text}"
    );
    assert!(
        text.contains("+  directory = \"letsencrypt\" # the CA\n"),
        "{text}"
    );
    assert!(text.contains("@@ "), "{text}");
}

#[test]
fn fmt_reports_syntax_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.hcl"), "x {\ny=1\n}\n").unwrap();
    std::fs::write(dir.path().join("b.hcl"), "x {\n  y = = 1\n}\n").unwrap();
    let out = certform(&["fmt", "--chdir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("┌─ b.hcl:2:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Syntax error"), "{}", stderr(&out));
    let a = std::fs::read_to_string(dir.path().join("a.hcl")).unwrap();
    assert_eq!(a, "x {\ny=1\n}\n");
}

#[test]
fn a_misspelt_attribute_gets_did_you_mean_at_its_location() {
    let case = root().join("tests/fixtures/config/did_you_mean");
    let out = certform(&["validate", "--chdir", case.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    let expected = "error: Unsupported attribute\n   ┌─ main.hcl:10:3\n   │\n10 │   contacts  = [\"mailto:${var.emial}\"]\n   │   ^^^^^^^^\n   │\n   = An attribute named `contacts` is not expected in `account \"le\"`. Did you mean `contact`?\n";
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("Did you mean `account.le`?"), "{text}");
}

#[test]
fn validate_json_for_editors_and_ci() {
    let case = root().join("tests/fixtures/config/did_you_mean");
    let out = certform(&["validate", "--json", "--chdir", case.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["error_count"], 5);
    let contacts = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["detail"].as_str().unwrap().contains("`contacts`"))
        .unwrap();
    assert_eq!(
        contacts,
        &serde_json::json!({
            "severity": "error",
            "summary": "Unsupported attribute",
            "detail": "An attribute named `contacts` is not expected in `account \"le\"`. Did you mean `contact`?",
            "file": "main.hcl",
            "line": 10,
            "column": 3,
            "end_line": 10,
            "end_column": 11,
        })
    );

    let valid = root().join("examples/multi-site");
    let out = certform(&["validate", "--json", "--chdir", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "format_version": "1",
            "valid": true,
            "error_count": 0,
            "warning_count": 0,
            "diagnostics": [],
        })
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _certform"),
        ("zsh", "#compdef certform"),
        ("fish", "complete -c certform"),
    ] {
        let out = certform(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("force-unlock"),
            "{shell} completes commands"
        );
    }
    let out = certform(&["completions", "tcsh"]);
    // Usage errors exit 1: with --detailed-exitcode, 2 means "changes".
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown shell is a usage error"
    );
}

#[test]
fn manual_pages_for_certform_and_each_command() {
    let out = certform(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH certform 1"), "{page}");
    assert!(page.contains("certform\\-plan(1)"), "{page}");

    let out = certform(&["man", "state", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(".TH certform-state-list 1"));
    assert!(stdout(&out).contains("Examples:"));

    let out = certform(&["man", "plna"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("There is no command `plna`"));
}

#[test]
fn every_command_has_help_with_examples() {
    fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.clone();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            paths(sub, path, out);
        }
    }
    let mut commands = Vec::new();
    paths(&certform::cli_help::command(), Vec::new(), &mut commands);
    assert!(commands.len() >= 12, "{commands:?}");
    for path in commands {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = certform(&args);
        assert!(out.status.success(), "{args:?}");
        let help = stdout(&out);
        assert!(
            help.contains("\nExamples:\n  certform "),
            "`certform {}` has no examples in --help (add them to cli_help::EXAMPLES):\n{help}",
            path.join(" ")
        );
    }
}
