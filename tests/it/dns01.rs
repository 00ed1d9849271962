//! DNS-01 end to end: the real `certform` binary, a real BIND 9 that certform updates over
//! RFC 2136 with TSIG and that Pebble resolves through, and `exec` hooks. Each test starts
//! its own servers on free loopback ports.

use crate::support;

use std::time::{Duration, Instant};
use support::bind::{Bind, TSIG_SECRET};
use support::certform::{pebble_account, text, Workdir};
use support::pebble::Pebble;

fn bind_solver(bind: &Bind) -> String {
    bind.solver_block("example.test")
}

const WILDCARD_CERT: &str = r#"
certificate "wild" {
  account = account.pebble
  domains = ["example.test", "*.example.test"]
  solvers = [dns_solver.bind]
  output "files" {
    directory = "tls/wild"
  }
}
"#;

#[test]
fn rfc2136_issues_apex_and_wildcard_through_bind_and_leaves_the_zone_clean() {
    let bind = Bind::start("example.test");
    let pebble = Pebble::builder().dns_server(&bind.server()).start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            "{}{}{WILDCARD_CERT}",
            pebble_account(&pebble),
            bind_solver(&bind)
        ),
    );

    // A reviewer's plan needs no TSIG secret: only apply uses it.
    let plan_file = work.path("tls.plan").display().to_string();
    let out = work
        .command(&["plan", "--out", &plan_file])
        .env_remove("TSIG_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("certificate.wild will be issued"),
        "{}",
        text(&out)
    );
    // Apply does need it, and says so at the env() call before doing anything.
    let out = work
        .command(&["apply", "--auto-approve"])
        .env_remove("TSIG_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("The environment variable TSIG_SECRET is not set")
            && text(&out).contains("main.hcl:"),
        "{}",
        text(&out)
    );
    assert!(!work.path("tls/wild").exists());

    // With the secret set, neither the JSON plan nor the saved plan carries it.
    let out = work
        .command(&["plan", "--json"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(TSIG_SECRET), "{}", text(&out));
    let saved = std::fs::read(work.path("tls.plan")).unwrap();
    assert!(!String::from_utf8_lossy(&saved).contains(TSIG_SECRET));

    // The plan saved without the secret binds the same configuration as the apply that has it.

    let out = work
        .command(&["apply", &plan_file])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}\n{}", bind.log());
    assert!(!all.contains(TSIG_SECRET), "the TSIG secret leaked:\n{all}");

    let names = work.subject_alt_names("tls/wild/cert.pem");
    assert!(names.contains("DNS:example.test"), "{names}");
    assert!(names.contains("DNS:*.example.test"), "{names}");

    // Both authorizations used _acme-challenge.example.test: two values were added next to
    // each other (Pebble saw each), and exactly those two were deleted.
    let log = bind.log();
    let added = log
        .matches("adding an RR at '_acme-challenge.example.test' TXT")
        .count();
    let deleted = log
        .matches("deleting an RR at _acme-challenge.example.test TXT")
        .count();
    assert_eq!((added, deleted), (2, 2), "BIND log:\n{log}");
    let zone = bind.zone_records();
    assert!(zone.contains("SOA"), "AXFR failed: {zone}");
    assert!(
        !zone.contains("_acme-challenge"),
        "records left behind:\n{zone}"
    );

    // Nothing left to do.
    let out = work
        .command(&["plan", "--detailed-exitcode"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("No changes."), "{}", text(&out));
}

#[test]
fn wrong_tsig_secret_fails_naming_the_solver_and_the_record_and_leaves_nothing() {
    let bind = Bind::start("example.test");
    let pebble = Pebble::builder().dns_server(&bind.server()).start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            "{}{}{WILDCARD_CERT}",
            pebble_account(&pebble),
            bind_solver(&bind)
        ),
    );
    let wrong = "d3JvbmctdHNpZy1zZWNyZXQtdGhhdC1iaW5kLXJlamVjdHM=";
    let out = work
        .command(&["apply", "--auto-approve"])
        .env("TSIG_SECRET", wrong)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("dns_solver.bind"), "{all}");
    assert!(all.contains("_acme-challenge.example.test"), "{all}");
    assert!(
        all.contains("rejected the update's TSIG signature"),
        "{all}"
    );
    assert!(!all.contains(wrong), "the TSIG secret leaked:\n{all}");
    assert!(!bind.zone_records().contains("_acme-challenge"));
    assert!(work.state_json()["certificates"]
        .as_object()
        .is_none_or(|c| c.is_empty()));
}

/// A hook that logs its arguments to calls.log; `present` fails when `fail` is set.
fn hook(work: &Workdir, fail: bool) {
    let failure = if fail {
        "if [ \"$1\" = present ]; then echo \"zone exec.test is read-only\" >&2; exit 1; fi\n"
    } else {
        ""
    };
    work.write(
        "hooks/dns.sh",
        &format!(
            "#!/bin/sh\necho \"$1 $2 $3 $CERTFORM_DNS_ACTION $CERTFORM_DNS_SOLVER\" >> calls.log\n{failure}exit 0\n"
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        work.path("hooks/dns.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

fn exec_config(pebble: &Pebble, extra: &str) -> String {
    format!(
        r#"{}
dns_solver "hook" {{
  provider = "exec"
  zones    = ["exec.test"]
  command  = ["./hooks/dns.sh"]
  {extra}
}}

certificate "hooked" {{
  account = account.pebble
  domains = ["www.exec.test"]
  solvers = [dns_solver.hook]
}}
"#,
        pebble_account(pebble)
    )
}

fn calls(work: &Workdir) -> Vec<Vec<String>> {
    std::fs::read_to_string(work.path("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn failing_hook_exits_1_with_its_stderr_and_is_cleaned_up() {
    let pebble = Pebble::start();
    let work = Workdir::new();
    hook(&work, true);
    work.write(
        "main.hcl",
        &exec_config(&pebble, "propagation_check = false"),
    );
    let all = work.expect(&["apply", "--auto-approve"], 1);
    assert!(all.contains("dns_solver.hook"), "{all}");
    assert!(all.contains("_acme-challenge.www.exec.test"), "{all}");
    assert!(all.contains("zone exec.test is read-only"), "{all}");

    let calls = calls(&work);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let (present, cleanup) = (&calls[0], &calls[1]);
    assert_eq!(present[..2], ["present", "_acme-challenge.www.exec.test."]);
    assert_eq!(present[3..], ["present", "dns_solver.hook"]);
    assert_eq!(cleanup[..2], ["cleanup", "_acme-challenge.www.exec.test."]);
    assert_eq!(
        present[2], cleanup[2],
        "cleanup removes the value presented"
    );
}

#[test]
fn an_exec_timeout_of_zero_is_a_configuration_error_at_its_place() {
    let pebble = Pebble::start();
    let work = Workdir::new();
    hook(&work, false);
    let config = exec_config(&pebble, r#"timeout  = "0s""#);
    let line = 1 + config
        .lines()
        .position(|l| l.contains("timeout  ="))
        .unwrap();
    work.write("main.hcl", &config);
    let all = work.expect(&["validate"], 1);
    assert!(all.contains(&format!("main.hcl:{line}:")), "{all}");
    assert!(all.contains("Invalid timeout"), "{all}");
    assert!(all.contains("\"0s\" is not longer than zero"), "{all}");
    assert!(calls(&work).is_empty());
}

#[test]
fn ctrl_c_during_the_propagation_wait_cleans_up() {
    // BIND serves the zone but never gets the hook's record, so the check waits.
    let bind = Bind::start("exec.test");
    let pebble = Pebble::start();
    let work = Workdir::new();
    hook(&work, false);
    let extra = format!(
        "resolvers = [\"{}\"]\n  propagation_timeout = \"60s\"",
        bind.server()
    );
    work.write("main.hcl", &exec_config(&pebble, &extra));
    let child = work
        .command(&["apply", "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while calls(&work).is_empty() {
        assert!(Instant::now() < deadline, "the hook was never called");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    // The first interrupt lets the order in flight finish (here: wait out its propagation
    // check); the second stops at once, and the presented record must still be removed.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(130), "{all}");
    assert!(all.contains("Interrupted"), "{all}");
    let calls = calls(&work);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1][0], "cleanup");
    assert_eq!(
        calls[0][1..3],
        calls[1][1..3],
        "cleanup removes what was presented"
    );
}

#[test]
fn follow_cname_writes_the_record_at_the_delegated_name() {
    // _acme-challenge.alias.example.test is delegated to a name the solver may write.
    let bind = Bind::start_with(
        "example.test",
        "_acme-challenge.alias IN CNAME alias.challenges.example.test.",
    );
    let pebble = Pebble::builder().dns_server(&bind.server()).start();
    let work = Workdir::new();
    let solver = bind_solver(&bind).replace(
        "propagation_timeout = \"20s\"",
        "propagation_timeout = \"20s\"\n  follow_cname        = true",
    );
    work.write(
        "main.hcl",
        &format!(
            r#"{}{solver}
certificate "alias" {{
  account = account.pebble
  domains = ["alias.example.test"]
  solvers = [dns_solver.bind]
}}
"#,
            pebble_account(&pebble)
        ),
    );
    let out = work
        .command(&["apply", "--auto-approve"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), bind.log());
    let log = bind.log();
    assert!(
        log.contains("adding an RR at 'alias.challenges.example.test' TXT"),
        "{log}"
    );
    assert!(bind.txt("alias.challenges.example.test").is_empty());
}

#[test]
fn propagation_timeout_names_the_record_and_the_server_that_lacks_it() {
    // The hook "succeeds" but writes nothing, so BIND never shows the value.
    let bind = Bind::start("exec.test");
    let pebble = Pebble::start();
    let work = Workdir::new();
    hook(&work, false);
    let extra = format!(
        "resolvers = [\"{}\"]\n  propagation_timeout = \"1s\"",
        bind.server()
    );
    work.write("main.hcl", &exec_config(&pebble, &extra));
    let all = work.expect(&["apply", "--auto-approve"], 1);
    let calls = calls(&work);
    let value = &calls[0][2];
    let expected = format!(
        "dns_solver.hook: TXT record _acme-challenge.www.exec.test \"{value}\" was not visible after 1s (propagation_timeout) at {} (no TXT record)",
        bind.server()
    );
    assert!(all.contains(&expected), "{all}");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1][..3],
        ["cleanup", "_acme-challenge.www.exec.test.", value.as_str()]
    );
}

/// With `resolvers` unset, the propagation check asks the zone's authoritative nameservers,
/// found through the system's resolvers. Here BIND plays the resolver (at its own port; the
/// servers found are always at port 53, as NS records carry no port).
#[tokio::test]
async fn the_authoritative_nameservers_of_a_zone_are_found_through_a_resolver() {
    let bind = Bind::start_with(
        "found.test",
        "@ IN NS ns2.found.test.\nns2 IN A 127.0.0.2\nns2 IN AAAA ::2\nwww IN A 127.0.0.1",
    );
    let resolvers = ["127.0.0.1:1".to_string(), bind.server()];
    // An NXDOMAIN name names its zone in the authority section, as the challenge name does
    // before the record is added; the resolver that does not answer is passed over.
    let servers =
        certform::solver::authoritative_servers_via("_acme-challenge.www.found.test", &resolvers)
            .await
            .unwrap();
    assert_eq!(servers, ["127.0.0.1:53", "127.0.0.2:53", "[::2]:53"]);

    // A name of no zone BIND serves: the error names the resolver and what it answered.
    let err = certform::solver::authoritative_servers_via("www.elsewhere.test", &[bind.server()])
        .await
        .unwrap_err();
    assert!(
        err.starts_with(&format!("{}: ", bind.server())) && err.contains("Refused"),
        "{err}"
    );
}
