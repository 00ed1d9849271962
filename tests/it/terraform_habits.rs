//! What a Terraform user types, through the real binary and without a CA: single-dash long
//! options (`-chdir=DIR`, `-out=FILE`, `-detailed-exitcode`, `-auto-approve`, `-target=`,
//! `-var 'a=b'`) next to the real short flags, `certform version`, variables from
//! `CERTFORM_VAR_*` and `*.auto.vars` files in Terraform's precedence, compound durations,
//! and `force-unlock` asking for `yes`.

use crate::support;

use std::process::Command;
use support::certform::{text, Workdir};

/// A workdir whose configuration is `init`'s state block, an account at a directory that
/// refuses connections, and `body`.
fn workdir_with(body: &str) -> Workdir {
    let w = Workdir::new();
    let starter = std::fs::read_to_string(w.path("main.hcl")).unwrap();
    let state_block = &starter[..starter.find("account \"le\"").unwrap()];
    w.write(
        "main.hcl",
        &format!(
            r#"{state_block}
account "le" {{
  directory               = "https://127.0.0.1:9/directory"
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}}

http_solver "web" {{
  webroot = "/var/www/html"
}}
{body}"#
        ),
    );
    w
}

fn certificate(name: &str, domains: &str) -> String {
    format!(
        r#"
certificate "{name}" {{
  account = account.le
  domains = {domains}
  solvers = [http_solver.web]
}}
"#
    )
}

/// The domain variable, used by `certificate.www`, and a number.
fn with_domain_variable() -> Workdir {
    workdir_with(&format!(
        "variable \"domain\" {{\n  default = \"default.example.com\"\n}}\nvariable \"port\" {{\n  type    = number\n  default = 443\n}}\n{}",
        certificate("www", "[var.domain]")
    ))
}

/// Gives `command` the environment of `Workdir::command` (its identity, no colour).
fn with_workdir_env(w: &Workdir, command: &mut Command) {
    for (name, value) in w.command(&[]).get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
}

/// `certform ARGS` run from another directory, with exactly the arguments given (no
/// `--chdir`).
fn bare(w: &Workdir, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_certform"));
    with_workdir_env(w, &mut command);
    command.args(args).current_dir(std::env::temp_dir());
    command
}

fn expect(command: &mut Command, code: i32) -> String {
    let out = command.output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(code), "{command:?}:\n{all}");
    all
}

#[test]
fn single_dash_chdir_out_and_detailed_exitcode_work_as_in_terraform() {
    let w = workdir_with(&certificate("www", "[\"www.example.com\"]"));
    let plan_file = w.path("saved.plan");
    let chdir = format!("-chdir={}", w.dir().display());
    let out = format!("-out={}", plan_file.display());
    let said = expect(
        &mut bare(&w, &[&chdir, "plan", "-detailed-exitcode", &out]),
        2,
    );
    assert!(said.contains("certificate.www will be issued"), "{said}");
    assert!(plan_file.is_file(), "-out= saved no plan: {said}");
    let shown = w.expect(&["show", plan_file.to_str().unwrap()], 0);
    assert!(shown.contains("certificate.www"), "{shown}");
}

#[test]
fn single_dash_target_limits_the_plan() {
    let w = workdir_with(&format!(
        "{}{}",
        certificate("www", "[\"www.example.com\"]"),
        certificate("api", "[\"api.example.com\"]")
    ));
    let said = w.expect(&["plan", "-target=certificate.api"], 0);
    assert!(said.contains("certificate.api will be issued"), "{said}");
    assert!(!said.contains("certificate.www"), "{said}");
}

#[test]
fn single_dash_var_sets_a_variable() {
    let w = with_domain_variable();
    let said = w.expect(&["plan", "-var", "domain=cli.example.com"], 0);
    assert!(said.contains("\"cli.example.com\""), "{said}");
    let said = w.expect(&["plan", "-var=domain=eq.example.com"], 0);
    assert!(said.contains("\"eq.example.com\""), "{said}");
}

#[test]
fn single_dash_auto_approve_skips_the_question() {
    let w = workdir_with(&certificate("www", "[\"www.example.com\"]"));
    let asked = w.expect(&["apply"], 1);
    assert!(asked.contains("apply needs confirmation"), "{asked}");
    // Approved, apply goes on to the CA, which refuses the connection.
    let approved = w.expect(&["apply", "-auto-approve"], 1);
    assert!(!approved.contains("needs confirmation"), "{approved}");
    assert!(approved.contains("127.0.0.1:9"), "{approved}");
}

#[test]
fn short_flags_and_unknown_single_dash_options_keep_their_meaning() {
    let w = workdir_with(&certificate("www", "[\"www.example.com\"]"));
    w.expect(&["-q", "validate"], 0);
    w.expect(&["-vv", "validate"], 0);
    let unknown = w.expect(&["plan", "-no-such-option"], 1);
    assert!(
        unknown.contains("unexpected argument '--no-such-option'"),
        "{unknown}"
    );
    let misspelt = w.expect(&["plan", "-jsn"], 1);
    assert!(
        misspelt.contains("a similar argument exists: '--json'"),
        "{misspelt}"
    );
}

#[test]
fn version_prints_the_release_commit_and_features() {
    let w = workdir_with("");
    let said = w.expect(&["version"], 0);
    let release = format!("certform {}", env!("CARGO_PKG_VERSION"));
    assert!(said.starts_with(&release), "{said}");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    assert!(said.contains(&format!("commit {head}")), "{said}");
    let out = w.command(&["-version"]).output().unwrap();
    assert!(text(&out).contains(&release), "{}", text(&out));

    let json: serde_json::Value =
        serde_json::from_str(&w.expect(&["version", "--json"], 0)).unwrap();
    support::schema::assert_valid("version.schema.json", &json);
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["commit"], head.as_str());
    let built: Vec<&str> = [
        ("acme-dns", cfg!(feature = "acme-dns")),
        ("aws-acm", cfg!(feature = "aws-acm")),
        ("aws-secretsmanager", cfg!(feature = "aws-secretsmanager")),
        ("azure", cfg!(feature = "azure")),
        ("cloudflare", cfg!(feature = "cloudflare")),
        ("digitalocean", cfg!(feature = "digitalocean")),
        ("google", cfg!(feature = "google")),
        ("hetzner", cfg!(feature = "hetzner")),
        ("postgres", cfg!(feature = "postgres")),
        ("powerdns", cfg!(feature = "powerdns")),
        ("route53", cfg!(feature = "route53")),
        ("s3", cfg!(feature = "s3")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    assert_eq!(json["features"], serde_json::json!(built));
    let listed = if built.is_empty() {
        "none".to_string()
    } else {
        built.join(", ")
    };
    assert!(said.contains(&format!("features: {listed}")), "{said}");
}

#[test]
fn variables_come_from_env_auto_files_var_files_and_var_in_terraform_order() {
    let w = with_domain_variable();
    let plan = |env: Option<&str>, args: &[&str]| {
        let mut command = w.command(&["plan"]);
        command.args(args).env_remove("CERTFORM_VAR_domain");
        if let Some(value) = env {
            command.env("CERTFORM_VAR_domain", value);
        }
        expect(&mut command, 0)
    };
    assert!(plan(None, &[]).contains("\"default.example.com\""));
    assert!(plan(Some("env.example.com"), &[]).contains("\"env.example.com\""));

    // Auto files beat the environment; the later one (lexical order) wins.
    w.write("b.auto.vars", "domain = \"b-auto.example.com\"\n");
    w.write("a.auto.vars", "domain = \"a-auto.example.com\"\n");
    let said = plan(Some("env.example.com"), &[]);
    assert!(said.contains("\"b-auto.example.com\""), "{said}");

    w.write("prod.vars", "domain = \"file.example.com\"\n");
    let var_file = w.path("prod.vars");
    let var_file = var_file.to_str().unwrap();
    let said = plan(Some("env.example.com"), &["--var-file", var_file]);
    assert!(said.contains("\"file.example.com\""), "{said}");
    let said = plan(
        Some("env.example.com"),
        &["--var-file", var_file, "--var", "domain=cli.example.com"],
    );
    assert!(said.contains("\"cli.example.com\""), "{said}");
}

#[test]
fn an_env_variable_nothing_declares_is_ignored_but_an_auto_file_line_is_an_error() {
    let w = with_domain_variable();
    let mut command = w.command(&["validate"]);
    command.env("CERTFORM_VAR_nothing", "1");
    expect(&mut command, 0);

    let mut command = w.command(&["plan"]);
    command.env("CERTFORM_VAR_port", "https");
    let said = expect(&mut command, 1);
    assert!(
        said.contains("The value given with CERTFORM_VAR_port does not match"),
        "{said}"
    );

    w.write("certform.auto.vars", "domian = \"typo.example.com\"\n");
    let said = w.expect(&["validate"], 1);
    assert!(said.contains("Undeclared variable"), "{said}");
    assert!(said.contains("certform.auto.vars:1"), "{said}");
}

#[test]
fn durations_accept_compound_forms_in_configuration_and_flags() {
    let w = workdir_with(
        r#"
certificate "www" {
  account               = account.le
  domains               = ["www.example.com"]
  solvers               = [http_solver.web]
  renew_before          = "2d12h"
  revoke_replaced_after = "1h30m"
}

dns_solver "hook" {
  provider            = "exec"
  zones               = ["example.net"]
  command             = ["./dns-hook.sh"]
  propagation_timeout = "1m30s"
}
"#,
    );
    w.expect(&["validate"], 0);
    let said = w.expect(
        &["state", "rm", "-lock-timeout=1m30s", "certificate.www"],
        1,
    );
    assert!(!said.contains("lock-timeout"), "{said}");
    let said = w.expect(
        &["state", "rm", "--lock-timeout", "1h30", "certificate.www"],
        1,
    );
    assert!(
        said.contains("--lock-timeout: \"1h30\" is not a duration") && said.contains("\"1h30m\""),
        "{said}"
    );
}

#[test]
fn lock_timeout_defaults_to_zero_as_documented() {
    let w = workdir_with("");
    for command in [&["apply", "--help"][..], &["state", "rm", "--help"]] {
        let help = w.expect(command, 0);
        assert!(help.contains("[default: 0s]"), "{help}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    assert!(readme.unwrap().contains("`--lock-timeout` (default `0s`"));
}

#[test]
fn force_unlock_asks_for_yes_and_refuses_without_a_terminal() {
    let w = workdir_with("");
    let said = w.expect(&["force-unlock", "5f0c1d52"], 1);
    assert!(
        said.contains("force-unlock needs confirmation") && said.contains("pass --force"),
        "{said}"
    );

    // On a terminal (script(1) gives it one), anything but `yes` cancels.
    let line: Vec<String> = w
        .command(&["force-unlock", "5f0c1d52"])
        .get_args()
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    let mut on_terminal = Command::new("script");
    with_workdir_env(&w, &mut on_terminal);
    on_terminal
        .args(["-qec"])
        .arg(format!(
            "{} {}",
            env!("CARGO_BIN_EXE_certform"),
            line.join(" ")
        ))
        .arg("/dev/null")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = on_terminal.spawn().expect("script(1) from util-linux runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert!(
        said.contains("Do you really want to force-unlock?"),
        "{said}"
    );
    assert!(said.contains("force-unlock cancelled"), "{said}");
    assert_eq!(out.status.code(), Some(1), "{said}");

    // --force skips the question: the store is asked, and says no lock is held.
    let said = w.expect(&["force-unlock", "--force", "5f0c1d52"], 1);
    assert!(!said.contains("confirmation"), "{said}");
}
