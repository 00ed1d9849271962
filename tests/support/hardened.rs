//! A configuration directory with its own age identity, driven through the real `certform`
//! binary: the hardening tests' way to run commands, read the state (with the library, as
//! certform itself does) and check that a failed command wrote nothing.
//!
//! The CA it talks to is an [`Endpoint`]: a Pebble, a fault-injecting proxy in front of
//! one, or an address where nothing listens (for inputs refused before any network).

use super::pebble::Pebble;
use super::project::{certform_in, expect_exit, verify_deployed};
use certform::state::model::Secrets;
use certform::state::{Identity, LocalStore, StateStore, StoredState};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
// The same helpers as the shared project module, so tests import them from either (a test
// binary that imports neither would otherwise warn).
#[allow(unused_imports)]
pub use super::project::{cert_block, text};

/// Where the ACME directory is, and what certform needs to reach it and be validated.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub directory: String,
    pub ca_bundle: PathBuf,
    /// The port the CA connects to for HTTP-01 (certform's built-in listener binds it).
    pub http_port: u16,
}

impl Endpoint {
    pub fn of(pebble: &Pebble) -> Endpoint {
        Endpoint {
            directory: pebble.directory_url(),
            ca_bundle: pebble.ca_bundle_path(),
            http_port: pebble.http_port(),
        }
    }

    /// A directory URL on a closed port, for commands that must fail before any request.
    pub fn unreachable(ca_bundle: PathBuf) -> Endpoint {
        Endpoint {
            directory: "https://127.0.0.1:9/dir".into(),
            ca_bundle,
            http_port: 9,
        }
    }
}

pub struct Project {
    pub dir: tempfile::TempDir,
}

/// The variables and blocks every test configuration starts with.
const HEADER: &str = r#"
variable "directory" { type = string }
variable "ca_bundle" { type = string }
variable "http_listen" { type = string }

account "pebble" {
  directory               = var.directory
  contact                 = ["mailto:ops@hardening.test"]
  terms_of_service_agreed = true
  ca_bundle               = var.ca_bundle
}

http_solver "web" {
  listen = var.http_listen
}
"#;

impl Project {
    /// A new directory with the header configuration and an identity made by `init`.
    pub fn new(endpoint: &Endpoint) -> Project {
        let project = Project {
            dir: tempfile::Builder::new()
                .prefix("certform-hardening-")
                .tempdir()
                .unwrap(),
        };
        project.set_endpoint(endpoint);
        project.config("");
        project.expect(&["init"], 0);
        project
    }

    /// Points the configuration at another CA endpoint (the variables file).
    pub fn set_endpoint(&self, endpoint: &Endpoint) {
        let vars = format!(
            "directory = {:?}\nca_bundle = {:?}\nhttp_listen = \"127.0.0.1:{}\"\n",
            endpoint.directory,
            endpoint.ca_bundle.display().to_string(),
            endpoint.http_port
        );
        fs::write(self.path("ca.vars"), vars).unwrap();
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes main.hcl: the header plus `body`.
    pub fn config(&self, body: &str) {
        fs::write(self.path("main.hcl"), format!("{HEADER}\n{body}")).unwrap();
    }

    /// `certform --chdir DIR --var-file ca.vars ARGS`, with this project's identity.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = certform_in(self.dir.path());
        command
            .arg("--var-file")
            .arg(self.path("ca.vars"))
            .args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts certform in the background with its output discarded.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs and asserts the exit code, returning stdout + stderr.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        expect_exit(&mut self.command(args), code)
    }

    pub fn identity_path(&self) -> PathBuf {
        self.path("identity.txt")
    }

    pub fn identity(&self) -> Identity {
        let text = fs::read_to_string(self.identity_path()).unwrap();
        Identity::parse(&text, "the test identity").unwrap()
    }

    pub fn state_path(&self) -> PathBuf {
        self.path("state/default.certstate")
    }

    /// The state as certform reads it (`None` before the first write).
    pub fn stored(&self) -> Option<StoredState> {
        LocalStore::new(self.state_path()).read().unwrap()
    }

    /// The decrypted secret half; panics with certform's message when it cannot be opened.
    pub fn secrets(&self) -> Secrets {
        let stored = self.stored().expect("no state written");
        stored
            .open_secrets(&self.identity())
            .unwrap_or_else(|e| panic!("the state's secrets do not open: {e}"))
    }

    /// Every file under the project with its mode and SHA-256, to show nothing was written.
    /// The lock file is left out: it exists (empty) whenever a command took the lock.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u32, String)> {
        let mut files = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut files);
        files.retain(|path, _| !path.to_string_lossy().ends_with(".lock"));
        files
    }

    /// `openssl verify` of a deployed certificate against the CA's issuing root.
    pub fn verify(&self, output_dir: &str, roots_pem: &str) {
        verify_deployed(self.dir.path(), output_dir, roots_pem);
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, (u32, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(root, &path, files);
        } else {
            let digest = hex::encode(Sha256::digest(fs::read(&path).unwrap_or_default()));
            let mode = meta.permissions().mode() & 0o7777;
            files.insert(
                path.strip_prefix(root).unwrap().to_path_buf(),
                (mode, digest),
            );
        }
    }
}

/// `count` certificates `c0..`, one domain each under `zone`.
pub fn many_certs(count: usize, zone: &str) -> String {
    (0..count)
        .map(|i| cert_block(&format!("c{i}"), &[&format!("c{i}.{zone}")], ""))
        .collect()
}
