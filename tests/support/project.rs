//! A configuration directory for running the real `certform` binary: its own identity and
//! a Pebble to talk to, helpers to write `main.hcl` and run commands with or without the
//! identity. (`tests/e2e.rs` predates it and keeps its own copy.)

use super::pebble::Pebble;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Project {
    pub pebble: Pebble,
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A fresh Pebble, a `pebble.vars` pointing at it, an empty configuration and `init`.
    pub fn new() -> Project {
        let project = Project {
            pebble: Pebble::start(),
            dir: tempfile::tempdir().unwrap(),
        };
        let vars = format!(
            "directory = {:?}\nca_bundle = {:?}\nhttp_listen = \"127.0.0.1:{}\"\n",
            project.pebble.directory_url(),
            project.pebble.ca_bundle_path().display().to_string(),
            project.pebble.http_port()
        );
        fs::write(project.path("pebble.vars"), vars).unwrap();
        project.config("");
        project.expect(&["init"], 0);
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes main.hcl: an account on the Pebble, an HTTP solver, then `body`.
    pub fn config(&self, body: &str) {
        let header = r#"
variable "directory" { type = string }
variable "ca_bundle" { type = string }
variable "http_listen" { type = string }

account "pebble" {
  directory               = var.directory
  contact                 = ["mailto:ops@review.test"]
  terms_of_service_agreed = true
  ca_bundle               = var.ca_bundle
}

http_solver "web" {
  listen = var.http_listen
}
"#;
        fs::write(self.path("main.hcl"), format!("{header}\n{body}")).unwrap();
    }

    /// `certform --chdir DIR --var-file pebble.vars ARGS` with the project's identity.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_certform"));
        command
            .arg("--chdir")
            .arg(self.dir.path())
            .arg("--var-file")
            .arg(self.path("pebble.vars"))
            .args(args)
            .env("CERTFORM_IDENTITY", self.path("identity.txt"))
            .env_remove("CERTFORM_IDENTITY_KEY")
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("NO_COLOR", "1");
        command
    }

    /// Runs and asserts the exit code; returns stdout + stderr.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        check(self.command(args).output().unwrap(), args, code)
    }

    /// Like [`Project::expect`], with no identity anywhere (a reviewer's laptop, a fork's CI).
    pub fn expect_without_identity(&self, args: &[&str], code: i32) -> String {
        let mut command = self.command(args);
        command
            .env_remove("CERTFORM_IDENTITY")
            .env("XDG_CONFIG_HOME", self.path("no-identity-here"));
        check(command.output().unwrap(), args, code)
    }

    /// Only stdout, asserting the exit code (for documents such as JSON).
    pub fn stdout(&self, args: &[&str], code: i32) -> String {
        let out = self.command(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        check(out, args, code);
        stdout
    }

    pub fn serial_of(&self, address: &str) -> String {
        let state: serde_json::Value =
            serde_json::from_slice(&fs::read(self.path("state/default.certstate")).unwrap())
                .unwrap();
        state["certificates"][address]["serial_number"]
            .as_str()
            .unwrap_or_else(|| panic!("{address} not in state"))
            .to_string()
    }
}

fn check(out: Output, args: &[&str], code: i32) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "certform {args:?}:\n{all}");
    all
}

/// A certificate block with an output directory `tls/NAME` and `extra` lines.
pub fn cert_block(name: &str, domains: &[&str], extra: &str) -> String {
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    format!(
        r#"
certificate "{name}" {{
  account = account.pebble
  domains = [{}]
  solvers = [http_solver.web]
  {extra}
  output "files" {{
    directory = "tls/{name}"
  }}
}}
"#,
        domains.join(", ")
    )
}
