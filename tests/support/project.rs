//! A configuration directory with its own age identity, driving the real `certform` binary
//! against one ACME server (a [`Pebble`], or any directory URL in front of it).
//!
//! It also holds what every test helper that drives the binary shares (`hardened` and
//! `certform` build on it): [`certform_in`], [`expect_exit`], [`verify_deployed`], [`text`].
//!
//! ```ignore
//! let p = Project::new(Pebble::start());
//! p.config(&cert_block("www", &["www.test"], ""));
//! p.expect(&["apply", "--auto-approve"], 0);
//! ```

use super::pebble::Pebble;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Project {
    pub pebble: Pebble,
    pub dir: tempfile::TempDir,
    directory_url: String,
}

impl Project {
    pub fn new(pebble: Pebble) -> Project {
        let url = pebble.directory_url();
        Project::with_directory(pebble, url)
    }

    /// Talks to `directory_url` (e.g. a proxy in front of `pebble`) instead of Pebble itself.
    pub fn with_directory(pebble: Pebble, directory_url: String) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let project = Project {
            pebble,
            dir,
            directory_url,
        };
        fs::write(project.path("pebble.vars"), project.vars()).unwrap();
        project.config("");
        let out = project.run(&["init"]);
        assert!(out.status.success(), "init failed: {}", text(&out));
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn vars(&self) -> String {
        format!(
            "directory = {:?}\nca_bundle = {:?}\nhttp_listen = \"127.0.0.1:{}\"\n",
            self.directory_url,
            self.pebble.ca_bundle_path().display().to_string(),
            self.pebble.http_port()
        )
    }

    /// Writes main.hcl: variables, an HTTP solver, the account "pebble" with `account_extra`
    /// attributes, then `body`.
    pub fn config_with_account(&self, account_extra: &str, body: &str) {
        let header = format!(
            r#"
variable "directory" {{ type = string }}
variable "ca_bundle" {{ type = string }}
variable "http_listen" {{ type = string }}

account "pebble" {{
  directory               = var.directory
  terms_of_service_agreed = true
  ca_bundle               = var.ca_bundle
  {account_extra}
}}

http_solver "web" {{
  listen = var.http_listen
}}
"#
        );
        fs::write(self.path("main.hcl"), format!("{header}\n{body}")).unwrap();
    }

    /// The account with the contact `mailto:ops@e2e.test`, then `body`.
    pub fn config(&self, body: &str) {
        self.config_with_account("contact = [\"mailto:ops@e2e.test\"]", body);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = certform_in(self.dir.path());
        command
            .arg("--var-file")
            .arg(self.path("pebble.vars"))
            .args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and asserts the exit code, returning stdout + stderr.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        expect_exit(&mut self.command(args), code)
    }

    /// Like [`Project::expect`], with no identity anywhere (a reviewer's laptop, a fork's CI).
    pub fn expect_without_identity(&self, args: &[&str], code: i32) -> String {
        let mut command = self.command(args);
        command
            .env_remove("CERTFORM_IDENTITY")
            .env("XDG_CONFIG_HOME", self.path("no-identity-here"));
        expect_exit(&mut command, code)
    }

    /// Only stdout, asserting the exit code (for documents such as JSON).
    pub fn stdout(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "certform {args:?}:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `openssl verify` of the certificate deployed in `dir` (`cert.pem` + `chain.pem`)
    /// against Pebble's issuing root.
    pub fn verify(&self, dir: &str) {
        verify_deployed(self.dir.path(), dir, &self.pebble.issuing_roots_pem());
    }

    pub fn state_path(&self) -> PathBuf {
        self.path("state/default.certstate")
    }

    /// The public half of state.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.state_path()).unwrap()).unwrap()
    }

    /// The secret half, opened with this project's identity.
    pub fn secrets(&self) -> certform::state::model::Secrets {
        let stored = certform::state::decode(&fs::read(self.state_path()).unwrap()).unwrap();
        let identity = certform::state::load_identity(Some(&self.path("identity.txt"))).unwrap();
        stored.open_secrets(&identity).unwrap()
    }

    pub fn serial_of(&self, address: &str) -> String {
        self.state_json()["certificates"][address]["serial_number"]
            .as_str()
            .unwrap_or_else(|| panic!("{address} not in state"))
            .to_string()
    }

    pub fn account_url(&self, name: &str) -> String {
        self.state_json()["accounts"][name]["account_url"]
            .as_str()
            .unwrap_or_else(|| panic!("account.{name} not in state"))
            .to_string()
    }

    /// Pebble's status of a certificate by serial: "Valid" or "Revoked".
    pub fn status_at_ca(&self, serial: &str) -> String {
        let body = self.pebble.cert_status(serial);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["Status"].as_str().unwrap_or_default().to_string()
    }
}

/// `certform --chdir DIR`, isolated from the caller's identity and colour settings: the
/// identity is `DIR/identity.txt` (made by `certform init`), `CERTFORM_IDENTITY_KEY` is
/// removed, `XDG_CONFIG_HOME` is `DIR/xdg` and `XDG_STATE_HOME` (rollback records)
/// `DIR/xdg-state`. Arguments go after it.
pub fn certform_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_certform"));
    command
        .arg("--chdir")
        .arg(dir)
        .env("CERTFORM_IDENTITY", dir.join("identity.txt"))
        .env_remove("CERTFORM_IDENTITY_KEY")
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("NO_COLOR", "1");
    command
}

/// Runs `command` and asserts its exit code, returning stdout + stderr.
pub fn expect_exit(command: &mut Command, code: i32) -> String {
    let out = command.output().unwrap();
    let all = text(&out);
    let args: Vec<_> = command.get_args().skip(2).collect();
    assert_eq!(out.status.code(), Some(code), "certform {args:?}:\n{all}");
    all
}

/// `openssl verify` of `DIR/OUTPUT/cert.pem` with `DIR/OUTPUT/chain.pem` against the CA's
/// issuing root.
pub fn verify_deployed(dir: &Path, output_dir: &str, roots_pem: &str) {
    let (verified, said) = openssl_verifies(dir, output_dir, roots_pem);
    assert!(verified, "openssl verify {output_dir}: {said}");
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A certificate block on `account.pebble` and `http_solver.web`, with `extra` attributes
/// and one output to `tls/NAME`.
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

/// Waits (bounded) until `certform plan` output satisfies `ready`, returning it.
pub fn plan_until(project: &Project, ready: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let plan = project.expect(&["plan"], 0);
        if ready(&plan) {
            return plan;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plan never showed {what}:\n{plan}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `openssl verify` accepts the certificate deployed in `dir/output_dir` (`cert.pem`
/// with `chain.pem` as untrusted intermediates) when `root_pem` is the only trusted root,
/// and what openssl said: for tests that ask which root a chain ends at.
pub fn openssl_verifies(dir: &Path, output_dir: &str, root_pem: &str) -> (bool, String) {
    let root = dir.join("trusted-root.pem");
    fs::write(&root, root_pem).unwrap();
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(dir.join(output_dir).join("chain.pem"))
        .arg(dir.join(output_dir).join("cert.pem"))
        .output()
        .expect("openssl is needed: apt-get install -y openssl");
    (out.status.success(), text(&out))
}
