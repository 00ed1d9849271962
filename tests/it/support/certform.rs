//! Runs the real `certform` binary in a throwaway configuration directory with its own
//! identity, as a user would: `Workdir::new()`, write `*.hcl`, then `expect(&["apply",
//! "--auto-approve"], 0)`.

pub use super::project::text;
use super::project::{certform_in, expect_exit};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// An empty configuration directory with an identity made by `certform init`.
    pub fn new() -> Workdir {
        let workdir = Workdir {
            dir: tempfile::tempdir().unwrap(),
        };
        workdir.expect(&["init"], 0);
        workdir
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// The command, isolated from the caller's identity, colour and AWS settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = certform_in(self.dir.path());
        command.args(args).env("HOME", self.dir.path());
        for name in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_ROUTE_53",
            "AWS_SESSION_TOKEN",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// Runs and asserts the exit code, returning stdout + stderr.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        expect_exit(&mut self.command(args), code)
    }

    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path("state/default.certstate")).unwrap())
            .unwrap()
    }

    /// `openssl x509 -ext subjectAltName` of a deployed certificate.
    pub fn subject_alt_names(&self, cert: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(self.path(cert))
            .output()
            .expect("openssl is needed: apt-get install -y openssl");
        assert!(out.status.success(), "openssl x509: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// An `account` block for this Pebble (its directory and CA bundle).
pub fn pebble_account(pebble: &super::pebble::Pebble) -> String {
    format!(
        r#"
account "pebble" {{
  directory               = "{}"
  contact                 = ["mailto:ops@dns.test"]
  terms_of_service_agreed = true
  ca_bundle               = "{}"
}}
"#,
        pebble.directory_url(),
        pebble.ca_bundle_path().display()
    )
}
