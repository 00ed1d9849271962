//! Hardened file handling, end to end with the real binary (issue 13, items 4 and 6): what
//! `plan` reads at output paths (a FIFO, a device), the local lock file as a planted link,
//! the modes of the state and output directories whatever the umask, symbolic links in
//! output directories, and the `owner` / `group` of outputs. Tests run as root, so files
//! can be given to `nobody:nogroup`.

use crate::support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::pebble::Pebble;
use support::project::{text, Project};

/// Long enough for any plan on a loaded machine; a command still running then is hung.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `command`, killing it if it has not finished within [`WATCHDOG`] (a failure).
fn run_watched(mut command: Command, what: &str) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WATCHDOG {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{what} hung and was killed:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A certificate `www` with one output to `tls/www` and `extra` attributes in it.
fn www_with_output(extra: &str) -> String {
    format!(
        r#"
certificate "www" {{
  account = account.pebble
  domains = ["www.file-safety.test"]
  solvers = [http_solver.web]
  output "files" {{
    directory = "tls/www"
    {extra}
  }}
}}
"#
    )
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn a_fifo_at_an_output_path_is_drift_and_plan_does_not_hang() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output(""));
    p.expect(&["apply", "--auto-approve"], 0);
    let chain = p.path("tls/www/chain.pem");
    fs::remove_file(&chain).unwrap();
    mkfifo(&chain);

    let out = run_watched(p.command(&["plan"]), "plan with a FIFO at chain.pem");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("chain.pem is not a regular file (a FIFO)"),
        "{said}"
    );
    assert!(said.contains("will be redeployed"), "{said}");

    let json = run_watched(p.command(&["plan", "--json"]), "plan --json");
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["drift"][0]["kind"], "file_unusable", "{document}");

    // Apply replaces the FIFO with the file.
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(fs::symlink_metadata(&chain).unwrap().is_file());
    p.verify("tls/www");
}

#[test]
fn an_output_path_only_the_state_names_is_never_read() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output(""));
    p.expect(&["apply", "--auto-approve"], 0);
    // A writer of the state points a deployed file at a device that never ends.
    let state = fs::read_to_string(p.state_path()).unwrap();
    let chain = p.path("tls/www/chain.pem").display().to_string();
    assert!(state.contains(&chain), "{state}");
    fs::write(p.state_path(), state.replace(&chain, "/dev/zero")).unwrap();
    // Read on a machine that never saw the state (a CI runner), so no rollback record
    // refuses the edit first.
    fs::remove_dir_all(p.path("xdg-state")).unwrap();

    let out = run_watched(p.command(&["plan"]), "plan with /dev/zero in state");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("output \"files\" paths changed"), "{said}");
}

#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_left_alone() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output(""));
    let victim = p.path("precious.txt");
    fs::write(&victim, "do not truncate me\n").unwrap();
    fs::create_dir_all(p.path("state")).unwrap();
    std::os::unix::fs::symlink(&victim, p.path("state/default.certstate.lock")).unwrap();

    let said = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        said.contains("default.certstate.lock is a symbolic link; certform does not follow it"),
        "{said}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "do not truncate me\n");
    assert!(!p.state_path().exists(), "nothing was applied");
}

#[test]
fn init_creates_the_state_directory_0700() {
    let p = Project::new(Pebble::start());
    assert_eq!(mode(&p.path("state")), 0o700);
}

#[test]
fn output_directories_are_0755_and_keys_0600_under_umask_000() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output(""));
    let mut apply = p.command(&["apply", "--auto-approve"]);
    unsafe {
        apply.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = run_watched(apply, "apply under umask 000");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&p.path("tls")), 0o755);
    assert_eq!(mode(&p.path("tls/www")), 0o755);
    assert_eq!(mode(&p.path("tls/www/privkey.pem")), 0o600);
    assert_eq!(mode(&p.path("tls/www/fullchain.pem")), 0o644);
}

#[test]
fn a_symlinked_output_directory_is_refused_unless_follow_symlinks() {
    let p = Project::new(Pebble::start());
    let elsewhere = p.path("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, p.path("tls")).unwrap();
    p.config(&www_with_output(""));

    let said = p.expect(&["apply", "--auto-approve"], 1);
    let link = p.path("tls").display().to_string();
    assert!(
        said.contains(&format!(
            "Cannot write output \"files\": {link} is a symbolic link"
        )),
        "{said}"
    );
    assert!(said.contains("follow_symlinks = true"), "{said}");
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the link"
    );

    p.config(&www_with_output("follow_symlinks = true"));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(elsewhere.join("www/privkey.pem").is_file());
    p.verify("elsewhere/www");
}

#[test]
fn owner_and_group_are_given_to_files_and_created_directories() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output(
        "owner = \"nobody\"\n    group = \"nogroup\"\n    key_mode = \"0640\"",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let nobody = |path: &str| {
        let meta = fs::metadata(p.path(path)).unwrap();
        (meta.uid(), meta.gid())
    };
    let expected = (65534, 65534);
    for path in ["tls", "tls/www", "tls/www/privkey.pem", "tls/www/cert.pem"] {
        assert_eq!(nobody(path), expected, "{path}");
    }
    assert_eq!(mode(&p.path("tls/www/privkey.pem")), 0o640);

    // A file given back to root is drift, and apply gives it to nobody again.
    let key = p.path("tls/www/privkey.pem");
    std::os::unix::fs::chown(&key, Some(0), Some(0)).unwrap();
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("privkey.pem is owned by root:root, expected nobody:nogroup"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(nobody("tls/www/privkey.pem"), expected);
}

#[test]
fn an_unknown_owner_is_a_validate_error_at_the_attribute() {
    let p = Project::new(Pebble::start());
    p.config(&www_with_output("owner = \"no-such-user-certform\""));
    let said = p.expect(&["validate"], 1);
    assert!(said.contains("error: Unknown user"), "{said}");
    assert!(said.contains("main.hcl:24:13"), "{said}");
    assert!(
        said.contains("There is no user named \"no-such-user-certform\" on this machine"),
        "{said}"
    );
}
