//! End-to-end tests: the real `certform` binary against a real Pebble that each test
//! starts on free loopback ports. They assert what a user sees: output, exit codes, files.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::pebble::Pebble;
use support::project::{cert_block, text, Project};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn issue_then_converge_with_no_changes() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["e2e.test", "www.e2e.test"], ""));

    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("# account.pebble will be created"), "{plan}");
    assert!(
        plan.contains("# certificate.www will be issued: new certificate"),
        "{plan}"
    );
    assert!(plan.contains("Plan: 1 to issue, 0 to renew, 0 to reissue, 0 to revoke, 0 to redeploy; 1 account to create."), "{plan}");
    p.expect(&["plan", "--detailed-exitcode"], 2);

    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(applied.contains("Apply complete!"), "{applied}");
    p.verify("tls/www");
    assert_eq!(mode(&p.path("tls/www/privkey.pem")), 0o600);
    assert_eq!(mode(&p.path("tls/www/fullchain.pem")), 0o644);
    assert_eq!(mode(&p.state_path()), 0o600);

    let state = fs::read_to_string(p.state_path()).unwrap();
    assert!(
        !state.contains("PRIVATE KEY"),
        "the state holds a PEM private key"
    );
    assert!(
        !state.contains("key_pkcs8"),
        "the state holds account key material in the clear"
    );
    let key = fs::read_to_string(p.path("tls/www/privkey.pem")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        !state.contains(&key_body),
        "the state holds the certificate key in the clear"
    );

    let again = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(
        again.contains("No changes. Certificates are up to date."),
        "{again}"
    );
}

#[test]
fn domain_change_reissues_and_deleted_file_is_redeployed_without_an_order() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["one.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    p.config(&cert_block("www", &["one.e2e.test", "two.e2e.test"], ""));
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("will be reissued: domains changed: + two.e2e.test"),
        "{plan}"
    );
    assert!(
        plan.contains("+ \"two.e2e.test\","),
        "the domain list is diffed element by element:\n{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to issue, 0 to renew, 1 to reissue"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["plan", "--detailed-exitcode"], 0);
    p.verify("tls/www");

    let serial = p.serial_of("certificate.www");
    fs::remove_file(p.path("tls/www/fullchain.pem")).unwrap();
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(plan.contains("will be redeployed:"), "{plan}");
    assert!(plan.contains("fullchain.pem is missing"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(p.path("tls/www/fullchain.pem").exists());
    assert_eq!(
        p.serial_of("certificate.www"),
        serial,
        "redeploy must not order a new certificate"
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn wrong_identity_changes_nothing_and_plan_needs_no_identity() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["id.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    p.config(&cert_block("www", &["id.e2e.test", "more.e2e.test"], ""));
    let before = fs::read(p.state_path()).unwrap();

    let other = p.path("other-identity.txt");
    let out = p.run(&["--identity", other.to_str().unwrap(), "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let failed = p.expect(
        &[
            "--identity",
            other.to_str().unwrap(),
            "apply",
            "--auto-approve",
        ],
        1,
    );
    assert!(failed.contains("Error:"), "{failed}");
    assert!(
        failed.to_lowercase().contains("identity"),
        "the message names the identity:\n{failed}"
    );
    assert_eq!(
        fs::read(p.state_path()).unwrap(),
        before,
        "the state must be byte-for-byte unchanged"
    );

    let mut plan = p.command(&["plan"]);
    plan.env_remove("CERTFORM_IDENTITY");
    let out = plan.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("will be reissued"), "{}", text(&out));
}

#[test]
fn saved_plan_applies_once_and_is_stale_after_the_state_moves() {
    let p = Project::new(Pebble::start());
    p.config(&format!(
        "{}{}",
        cert_block("a", &["a.e2e.test"], ""),
        cert_block("b", &["b.e2e.test"], "")
    ));
    let plan_file = p.path("tls.plan");
    p.expect(&["plan", "--out", plan_file.to_str().unwrap()], 0);
    let saved = fs::read_to_string(&plan_file).unwrap();
    assert!(!saved.contains("PRIVATE KEY") && !saved.contains("AGE-SECRET-KEY"));

    let shown = p.expect(&["show", plan_file.to_str().unwrap()], 0);
    assert!(shown.contains("# certificate.a will be issued"), "{shown}");

    p.expect(&["apply", "--auto-approve", "--target", "certificate.a"], 0);
    let stale = p.expect(&["apply", plan_file.to_str().unwrap()], 1);
    assert!(stale.contains("Saved plan is stale"), "{stale}");

    p.expect(&["plan", "--out", plan_file.to_str().unwrap()], 0);
    let applied = p.expect(&["apply", plan_file.to_str().unwrap()], 0);
    assert!(applied.contains("certificate.b (issue)"), "{applied}");
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn second_apply_waits_for_the_lock_and_names_the_holder() {
    let p = Project::new(Pebble::start());
    let slow = r#"output "hold" {
    cert      = "tls/hold/cert.pem"
    on_change = ["sleep", "4"]
  }"#;
    p.config(&cert_block("www", &["lock.e2e.test"], slow));
    let mut first = p
        .command(&["apply", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first apply holds the lock (the lock file names its holder).
    let lock = p.path("state/default.certstate.lock");
    for _ in 0..100 {
        if fs::read_to_string(&lock)
            .map(|t| t.contains("apply"))
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = p.expect(&["apply", "--auto-approve", "--lock-timeout", "1s"], 1);
    assert!(second.contains("locked"), "{second}");
    assert!(
        second.contains("operation apply"),
        "the holder's details are shown:\n{second}"
    );
    assert!(second.contains(&format!("pid {}", first.id())), "{second}");
    assert!(first.wait().unwrap().success());
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn kill_during_apply_loses_no_key_and_the_next_apply_converges() {
    let p = Project::new(Pebble::start());
    let blocks: String = (0..10)
        .map(|i| cert_block(&format!("c{i}"), &[&format!("c{i}.kill.e2e.test")], ""))
        .collect();
    p.config(&blocks);
    let mut child = p
        .command(&["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few certificates have been saved.
    for _ in 0..400 {
        let saved = fs::read_to_string(p.state_path())
            .map(|s| s.matches("\"serial_number\"").count())
            .unwrap_or(0);
        if saved >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The state decrypts (apply opens the secrets) and the rest is issued.
    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["plan", "--detailed-exitcode"], 0);
    for i in 0..10 {
        p.verify(&format!("tls/c{i}"));
        let key = fs::read_to_string(p.path(&format!("tls/c{i}/privkey.pem"))).unwrap();
        assert!(key.contains("PRIVATE KEY"));
    }
}

#[test]
fn removing_a_certificate_with_revoke_on_destroy_revokes_it() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block(
        "gone",
        &["gone.e2e.test"],
        "revoke_on_destroy = true",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.gone");

    p.config("");
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("# certificate.gone will be revoked: removed from configuration (revoke_on_destroy = true)"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    let status = p.pebble().cert_status(&serial);
    assert!(
        status.to_lowercase().contains("revoked"),
        "Pebble says: {status}"
    );
    let list = p.expect(&["state", "list"], 0);
    assert_eq!(list.trim(), "account.pebble");
}

#[test]
fn broken_configuration_reports_file_line_col() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block(
        "www",
        &["bad_domain!.test"],
        "key_type = \"dsa-512\"",
    ));
    let out = p.expect(&["validate"], 1);
    assert!(out.contains("main.hcl:"), "{out}");
    assert!(out.contains("bad_domain!.test"), "{out}");
    assert!(out.contains("dsa-512"), "{out}");
}

#[test]
fn due_certificate_is_renewed_with_a_new_key_unless_reuse_key() {
    let p = Project::new(Pebble::start());
    // Pebble issues 5-year certificates: a renew_before longer than that makes them due.
    p.config(&format!(
        "{}{}",
        cert_block("fresh", &["fresh.e2e.test"], "renew_before = \"2000d\""),
        cert_block(
            "kept",
            &["kept.e2e.test"],
            "renew_before = \"2000d\"\n  reuse_key = true"
        )
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.fresh");
    let fresh_key = fs::read_to_string(p.path("tls/fresh/privkey.pem")).unwrap();
    let kept_key = fs::read_to_string(p.path("tls/kept/privkey.pem")).unwrap();

    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.fresh will be renewed: expires in"),
        "{plan}"
    );
    assert!(plan.contains("(renew_before = 2000d)"), "{plan}");
    assert!(plan.contains("Plan: 0 to issue, 2 to renew"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_ne!(p.serial_of("certificate.fresh"), serial);
    assert_ne!(
        fs::read_to_string(p.path("tls/fresh/privkey.pem")).unwrap(),
        fresh_key
    );
    assert_eq!(
        fs::read_to_string(p.path("tls/kept/privkey.pem")).unwrap(),
        kept_key
    );
    p.verify("tls/fresh");
}

/// Serves `root` over HTTP on `port` (Pebble's httpPort), as a web server would.
struct StaticServer(std::process::Child);

impl StaticServer {
    fn start(root: &Path, port: u16) -> StaticServer {
        fs::create_dir_all(root).unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 is needed to serve the webroot");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        StaticServer(child)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn webroot_solver_writes_and_removes_the_challenge_file() {
    let p = Project::new(Pebble::start());
    let webroot = p.path("www");
    let _server = StaticServer::start(&webroot, p.pebble().http_port());
    p.config(&format!(
        "http_solver \"files\" {{\n  webroot = \"www\"\n}}\n{}",
        cert_block("site", &["webroot.e2e.test"], "")
            .replace("http_solver.web", "http_solver.files")
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    p.verify("tls/site");
    let left: Vec<_> = fs::read_dir(webroot.join(".well-known/acme-challenge"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "challenge files are cleaned up: {left:?}");
}

#[test]
fn a_failed_certificate_stops_only_itself() {
    let p = Project::new(Pebble::start());
    // Nobody serves this webroot, so Pebble cannot validate `broken`.
    p.config(&format!(
        "http_solver \"unserved\" {{\n  webroot = \"unserved\"\n}}\n{}{}",
        cert_block("good", &["good.e2e.test"], ""),
        cert_block("broken", &["broken.e2e.test"], "")
            .replace("http_solver.web", "http_solver.unserved")
    ));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("certificate.good (issue): done"), "{out}");
    assert!(out.contains("certificate.broken (issue): failed"), "{out}");
    assert!(
        out.contains("broken.e2e.test"),
        "the error names the domain:\n{out}"
    );
    assert!(
        out.contains("urn:ietf:params:acme:error:"),
        "the ACME problem is shown:\n{out}"
    );
    assert!(
        out.contains("1 succeeded, 1 failed") || out.contains("2 succeeded, 1 failed"),
        "{out}"
    );
    p.verify("tls/good");
    let list = p.expect(&["state", "list"], 0);
    assert!(
        list.contains("certificate.good") && !list.contains("certificate.broken"),
        "{list}"
    );
    let left: Vec<_> = fs::read_dir(p.path("unserved/.well-known/acme-challenge"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "the failed challenge is cleaned up: {left:?}"
    );
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.broken will be issued"),
        "{plan}"
    );
}

#[test]
fn verbose_levels_log_what_certform_does_on_stderr_only() {
    // No authorization reuse: every reissue must present a challenge, which -v shows.
    let p = Project::new(Pebble::builder().env("PEBBLE_AUTHZREUSE", "0").start());
    p.config(&cert_block("www", &["verbose.e2e.test"], ""));

    let quiet = p.run(&["apply", "--auto-approve"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(
        String::from_utf8_lossy(&quiet.stderr).is_empty(),
        "without -v, stderr stays empty:\n{}",
        text(&quiet)
    );

    // A forced reissue at `flag`: its stderr, with stdout keeping the results.
    let reissue_log = |flag: &str| {
        let out = p.run(&[
            flag,
            "apply",
            "--auto-approve",
            "--replace",
            "certificate.www",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Apply complete!"));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // -v: what certform does.
    let log = reissue_log("-v");
    assert!(log.contains("locked the state at"), "{log}");
    assert!(
        log.contains("http_solver.web: presenting the challenge response for verbose.e2e.test"),
        "{log}"
    );
    assert!(log.contains("withdrawing the challenge response"), "{log}");
    assert!(log.contains("privkey.pem (mode 600)"), "{log}");
    assert!(
        !log.contains("POST https://"),
        "ACME requests are -vv:\n{log}"
    );

    // -vv: every ACME request with its status.
    let log = reissue_log("-vv");
    assert!(log.contains("POST https://127.0.0.1:"), "{log}");
    assert!(log.contains("-> 201 in"), "{log}");
}
