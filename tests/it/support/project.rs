//! A configuration directory with its own age identity, driving the real `certform` binary
//! against one ACME server, and reading what it left (the state, through the library as
//! certform itself reads it, and every file, to show a failed command wrote nothing).
//!
//! The CA is an [`Endpoint`]: a [`Pebble`] (owned by the project with [`Project::new`]), a
//! proxy in front of one, or an address where nothing listens (for inputs refused before
//! any network). It also holds what every helper that drives the binary shares
//! (`certform::Workdir` builds on it): [`certform_in`], [`expect_exit`], [`verify_deployed`],
//! [`text`].
//!
//! ```ignore
//! let p = Project::new(Pebble::start());
//! p.config(&cert_block("www", &["www.test"], ""));
//! p.expect(&["apply", "--auto-approve"], 0);
//! ```

use super::pebble::Pebble;
use certform::state::model::Secrets;
use certform::state::{Identity, LocalStore, StateStore, StoredState};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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
    /// The CA, when this project owns it ([`Project::new`], [`Project::with_directory`]).
    pebble: Option<Pebble>,
    /// More environment for every command (credentials of a state backend).
    env: Vec<(String, String)>,
}

/// The contact of the account every test configuration declares.
pub const CONTACT: &str = "mailto:ops@certform.test";

impl Project {
    /// A project that owns `pebble` and talks to it.
    pub fn new(pebble: Pebble) -> Project {
        let url = pebble.directory_url();
        Project::with_directory(pebble, url)
    }

    /// A project that owns `pebble` but talks to `directory_url` (a proxy in front of it).
    pub fn with_directory(pebble: Pebble, directory_url: String) -> Project {
        let endpoint = Endpoint {
            directory: directory_url,
            ..Endpoint::of(&pebble)
        };
        Project::create(&endpoint, Some(pebble), &[], &[])
    }

    /// A project that talks to `endpoint` (a CA the test holds itself, a proxy, nowhere).
    pub fn at(endpoint: &Endpoint) -> Project {
        Project::create(endpoint, None, &[], &[])
    }

    /// A project that owns `pebble`, for which `init` needs more than the defaults: every
    /// command gets `env` too, and `files` (path, text) are written before `init` (a
    /// `backend.hcl` that `init` checks, with its credentials in `env`).
    pub fn with_setup(pebble: Pebble, env: &[(&str, &str)], files: &[(&str, &str)]) -> Project {
        Project::create(&Endpoint::of(&pebble), Some(pebble), env, files)
    }

    /// An empty directory: no configuration, identity or variables file (commands still
    /// name `ca.vars`), for a test that brings a configuration of its own.
    pub fn empty() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("certform-test-")
                .tempdir()
                .unwrap(),
            pebble: None,
            env: Vec::new(),
        }
    }

    /// A new directory with the variables for `endpoint`, the header configuration, `files`
    /// and an identity made by `init`.
    fn create(
        endpoint: &Endpoint,
        pebble: Option<Pebble>,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Project {
        let project = Project {
            pebble,
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ..Project::empty()
        };
        project.set_endpoint(endpoint);
        project.config("");
        for (path, text) in files {
            fs::write(project.path(path), text).unwrap();
        }
        project.expect(&["init"], 0);
        project
    }

    /// The Pebble this project owns.
    pub fn pebble(&self) -> &Pebble {
        self.pebble
            .as_ref()
            .expect("this project was made by Project::at and owns no Pebble")
    }

    /// Points the configuration at another CA endpoint (the variables file).
    pub fn set_endpoint(&self, endpoint: &Endpoint) {
        let vars = format!(
            "directory = {:?}\nca_bundle = {:?}\nhttp_listen = \"127.0.0.1:{}\"\n",
            endpoint.directory,
            endpoint.ca_bundle.display().to_string(),
            endpoint.http_port
        );
        fs::write(self.vars_path(), vars).unwrap();
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The variables file every command is given (`--var-file`).
    pub fn vars_path(&self) -> PathBuf {
        self.path("ca.vars")
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

    /// The account with the contact [`CONTACT`], then `body`.
    pub fn config(&self, body: &str) {
        self.config_with_account(&format!("contact = [\"{CONTACT}\"]"), body);
    }

    /// `certform --chdir DIR --var-file ca.vars ARGS`, with this project's identity.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = certform_in(self.dir.path());
        command
            .arg("--var-file")
            .arg(self.vars_path())
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)));
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
    /// against the issuing root of the Pebble this project owns.
    pub fn verify(&self, dir: &str) {
        self.verify_against(dir, &self.pebble().issuing_roots_pem());
    }

    /// `openssl verify` of a deployed certificate against the CA's issuing root.
    pub fn verify_against(&self, output_dir: &str, roots_pem: &str) {
        verify_deployed(self.dir.path(), output_dir, roots_pem);
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

    /// The public half of state.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.state_path()).unwrap()).unwrap()
    }

    /// The decrypted secret half; panics with certform's message when it cannot be opened.
    pub fn secrets(&self) -> Secrets {
        let stored = self.stored().expect("no state written");
        stored
            .open_secrets(&self.identity())
            .unwrap_or_else(|e| panic!("the state's secrets do not open: {e}"))
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

    /// The owned Pebble's status of a certificate by serial: "Valid" or "Revoked".
    pub fn status_at_ca(&self, serial: &str) -> String {
        let body = self.pebble().cert_status(serial);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["Status"].as_str().unwrap_or_default().to_string()
    }

    /// Every file under the project with its mode and SHA-256, to show nothing was written.
    /// The lock file is left out: it exists (empty) whenever a command took the lock.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u32, String)> {
        let mut files = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut files);
        files.retain(|path, _| !path.to_string_lossy().ends_with(".lock"));
        files
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

/// `certform --chdir DIR`, isolated from the caller's identity, workspace and colour
/// settings: the identity is `DIR/identity.txt` (made by `certform init`),
/// `CERTFORM_IDENTITY_KEY` and `CERTFORM_WORKSPACE` are removed, `XDG_CONFIG_HOME` is
/// `DIR/xdg` and `XDG_STATE_HOME` (rollback records) `DIR/xdg-state`. Arguments go after it.
pub fn certform_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_certform"));
    command
        .arg("--chdir")
        .arg(dir)
        .env("CERTFORM_IDENTITY", dir.join("identity.txt"))
        .env_remove("CERTFORM_IDENTITY_KEY")
        .env_remove("CERTFORM_WORKSPACE")
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

/// `count` certificates `c0..`, one domain each under `zone`.
pub fn many_certs(count: usize, zone: &str) -> String {
    (0..count)
        .map(|i| cert_block(&format!("c{i}"), &[&format!("c{i}.{zone}")], ""))
        .collect()
}
