//! Faults between certform and its CA, injected by a proxy in front of Pebble: dropped
//! connections, 503, 429 with `Retry-After`, slow answers, and a CA that stays down.
//! Apply converges through the transient ones and says what it retried; against a CA that
//! stays down it gives up within its retry bounds with a clear error and changes nothing.
//! Pebble itself adds rejected nonces and its random validation sleeps.

use crate::support;

use std::time::Duration;
use support::fault_proxy::{Fault, FaultProxy};
use support::pebble::Pebble;
use support::project::{cert_block, many_certs, Endpoint, Project};

#[test]
fn apply_converges_through_drops_503_429_and_delays_and_reports_its_retries() {
    let pebble = Pebble::start();
    let faults = vec![
        Fault::Drop,
        Fault::Unavailable,
        Fault::RateLimited,
        Fault::Delay(Duration::from_millis(300)),
    ];
    // One round: three failures in all, fewer than the six attempts any one request gets,
    // so apply must converge however the three orders' requests interleave. (Faults for
    // ever once lined up with one order's retries and exhausted them.)
    let proxy = FaultProxy::start_rounds(&pebble, 3, faults, 1);
    let p = Project::at(&proxy.endpoint());
    p.config(&many_certs(3, "faults.hardening.test"));

    let out = p.expect(&["apply", "--auto-approve"], 0);
    assert!(out.contains("Apply complete!"), "{out}");
    let injected = proxy.injected();
    for fault in [Fault::Drop, Fault::Unavailable, Fault::RateLimited] {
        assert!(
            injected.get(&fault).copied().unwrap_or(0) >= 1,
            "{injected:?}"
        );
    }
    // Every injected failure (a delay is no failure) was retried, and said so.
    let failures: usize = injected
        .iter()
        .filter(|(fault, _)| !matches!(fault, Fault::Delay(_)))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        out.matches("Retrying ").count(),
        failures,
        "{injected:?}\n{out}"
    );
    assert!(out.contains("(status 503)"), "{out}");
    assert!(
        out.contains("rateLimited: injected by the fault proxy (status 429)"),
        "{out}"
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
    let roots = pebble.issuing_roots_pem();
    for i in 0..3 {
        p.verify_against(&format!("tls/c{i}"), &roots);
    }
}

#[test]
fn apply_converges_when_pebble_rejects_half_of_all_nonces() {
    let pebble = Pebble::builder()
        .env("PEBBLE_WFE_NONCEREJECT", "50")
        .start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config(&many_certs(3, "nonces.hardening.test"));
    let out = p.expect(&["apply", "--auto-approve"], 0);
    assert!(out.contains("Apply complete!"), "{out}");
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn apply_converges_through_pebbles_validation_sleeps_with_rejected_nonces() {
    // Without PEBBLE_VA_NOSLEEP Pebble sleeps 0–15 s before each validation; at
    // parallelism 3 the three sleeps overlap, and order polling must outlast the longest.
    let pebble = Pebble::builder()
        .env("PEBBLE_VA_NOSLEEP", "0")
        .env("PEBBLE_WFE_NONCEREJECT", "50")
        .start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config(&many_certs(3, "sleepy.hardening.test"));
    let out = p.expect(&["apply", "--auto-approve", "--parallelism", "3"], 0);
    assert!(out.contains("Apply complete!"), "{out}");
    let log = pebble.pebble_log();
    assert!(
        log.matches("before validating").count() >= 3,
        "Pebble did not sleep before each validation:\n{log}"
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
    let roots = pebble.issuing_roots_pem();
    for i in 0..3 {
        p.verify_against(&format!("tls/c{i}"), &roots);
    }
}

#[test]
fn a_ca_that_stays_down_gives_a_clear_error_and_changes_nothing() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config(&cert_block("up", &["up.hardening.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    let down = FaultProxy::start(&pebble, 1, vec![Fault::Unavailable]);
    p.set_endpoint(&down.endpoint());
    p.config(&format!(
        "{}{}",
        cert_block("up", &["up.hardening.test"], ""),
        cert_block("new", &["new.hardening.test"], "")
    ));
    let before = p.snapshot();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("gave up after 6 attempts"), "{out}");
    assert!(
        out.contains("failed: ACME error: the CA answered HTTP status 503"),
        "{out}"
    );
    assert_eq!(p.snapshot(), before, "apply changed files:\n{out}");
}

#[test]
fn an_oversized_answer_is_refused_and_changes_nothing() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config(&cert_block("up", &["up.hardening.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    let hostile = FaultProxy::start(&pebble, 1, vec![Fault::Oversized]);
    p.set_endpoint(&hostile.endpoint());
    p.config(&format!(
        "{}{}",
        cert_block("up", &["up.hardening.test"], ""),
        cert_block("new", &["new.hardening.test"], "")
    ));
    let before = p.snapshot();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains("larger than 1024 KiB; certform refuses answers that large"),
        "{out}"
    );
    assert_eq!(p.snapshot(), before, "apply changed files:\n{out}");
}

#[test]
fn a_path_traversal_token_never_escapes_the_webroot() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    let hostile = FaultProxy::start(&pebble, 1, vec![Fault::HostileToken]);
    p.set_endpoint(&hostile.endpoint());
    p.config(&format!(
        "http_solver \"files\" {{\n  webroot = \"www\"\n}}\n{}",
        cert_block("site", &["site.hardening.test"], "")
            .replace("http_solver.web", "http_solver.files")
    ));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains("that is not base64url; refusing to use it"),
        "{out}"
    );
    assert!(
        !std::path::Path::new("/tmp/certform-escaped").exists(),
        "a file escaped the webroot"
    );
    let written: Vec<_> = walk(&p.path("www"));
    assert!(
        written.is_empty(),
        "nothing is left in the webroot: {written:?}"
    );
    assert!(
        !p.snapshot()
            .keys()
            .any(|k| k.to_string_lossy().contains("tls/site")),
        "no certificate was deployed: {out}"
    );
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
