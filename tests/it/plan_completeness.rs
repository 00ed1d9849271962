//! The plan says everything a configuration change does, end to end against Pebble: a
//! setting that only state keeps (`revoke_on_destroy`) is planned as an in-place `update`,
//! applied, and then decides what removing the block does; another external account
//! binding registers the account again, and state keeps only a fingerprint of the kid. A
//! refresh that changes no decision (ARI windows) does not rewrite state, so a saved plan
//! stays valid.

use crate::support;

use support::ari_proxy::AriProxy;
use support::fault_proxy::{Fault, FaultProxy};
use support::pebble::Pebble;
use support::project::{cert_block, read, Endpoint, Project, CONTACT};

#[test]
fn turning_on_revoke_on_destroy_is_planned_recorded_and_then_revokes() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["rod.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.www");

    p.config(&cert_block(
        "www",
        &["rod.e2e.test"],
        "revoke_on_destroy = true",
    ));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.www will be updated in place: revoke_on_destroy -> true (recorded: removing the block later revokes the certificate)"),
        "{plan}"
    );
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains("certificate.www (update): done"),
        "{applied}"
    );
    assert_eq!(
        p.serial_of("certificate.www"),
        serial,
        "nothing was ordered"
    );
    assert_eq!(
        p.state_json()["certificates"]["certificate.www"]["revoke_on_destroy"],
        true
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);

    p.config("");
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("# certificate.www will be revoked: removed from configuration (revoke_on_destroy = true)"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.status_at_ca(&serial), "Revoked");
}

fn eab_account(kid: &str) -> String {
    format!("contact = [\"{CONTACT}\"]\n  external_account_binding {{\n    kid = \"{kid}\"\n    hmac_key = env(\"TEST_EAB_HMAC\")\n  }}")
}

#[test]
fn another_eab_kid_registers_the_account_again() {
    let hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let p = Project::new(
        Pebble::builder()
            .eab_key("kid-1", hmac)
            .eab_key("kid-2", hmac)
            .start(),
    );
    let run = |args: &[&str], code: i32| {
        let out = p.command(args).env("TEST_EAB_HMAC", hmac).output().unwrap();
        let all = support::project::text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        assert!(!all.contains(hmac), "the HMAC key is never printed");
        all
    };
    let cert = cert_block("www", &["eab-plan.e2e.test"], "");
    p.config_with_account(&eab_account("kid-1"), &cert);
    run(&["apply", "--auto-approve"], 0);
    let first_url = p.account_url("pebble");
    run(&["plan", "--detailed-exitcode"], 0);
    let public = read(&p.state_path());
    assert!(
        !public.contains("kid-1") && !public.contains(hmac),
        "{public}"
    );

    p.config_with_account(&eab_account("kid-2"), &cert);
    let plan = run(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains(
            "# account.pebble will be created: external_account_binding kid changed (sha256:"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("the account is registered again under the new binding"),
        "{plan}"
    );
    run(&["apply", "--auto-approve"], 0);
    assert_ne!(p.account_url("pebble"), first_url);
    run(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn an_apply_that_only_refreshed_ari_keeps_saved_plans_fresh() {
    let pebble = Pebble::start();
    let proxy = AriProxy::start(&pebble);
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    proxy.set_window(&rfc3339(far), &rfc3339(far + time::Duration::days(2)), None);
    // No Retry-After wait: every refresh fetches the window again.
    proxy.set_retry_after(0);
    let p = Project::with_directory(pebble, proxy.directory_url());
    p.config(&cert_block("www", &["ari-saved.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    p.config(&format!(
        "{}{}",
        cert_block("www", &["ari-saved.e2e.test"], ""),
        cert_block("api", &["ari-saved-api.e2e.test"], "")
    ));
    let reviewed = p.path("reviewed.plan");
    let reviewed = reviewed.to_str().unwrap();
    p.expect(&["plan", "--out", reviewed], 0);
    let serial = p.state_json()["serial"].clone();
    let fetched = proxy.renewal_info_requests();

    let unattended = p.expect(&["apply", "--auto-approve", "--only", "renewals"], 0);
    assert!(
        proxy.renewal_info_requests() > fetched,
        "the window was refreshed"
    );
    assert!(unattended.contains("No changes."), "{unattended}");
    assert_eq!(
        p.state_json()["serial"],
        serial,
        "a refresh does not rewrite state"
    );

    let applied = p.expect(&["apply", reviewed], 0);
    assert!(
        applied.contains("certificate.api (issue): done"),
        "{applied}"
    );
}

/// `dot` accepts the graph, when Graphviz is installed (it is optional for this check).
fn dot_accepts(graph: &str) {
    use std::io::Write;
    let Ok(mut dot) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        return;
    };
    dot.stdin
        .take()
        .unwrap()
        .write_all(graph.as_bytes())
        .unwrap();
    let out = dot.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot refused the graph: {}\n{graph}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn graph_draws_the_configuration_and_marks_planned_actions() {
    let p = Project::new(Pebble::start());
    let hooked = |domains: &[&str], name: &str| {
        cert_block(name, domains, "").replace(
            "    directory = ",
            "    on_change = [\"true\", \"reload\"]\n    directory = ",
        )
    };
    p.config(&format!(
        "{}{}",
        hooked(&["graph-a.e2e.test"], "a"),
        hooked(&["graph-b.e2e.test"], "b")
    ));
    p.expect(&["apply", "--auto-approve"], 0);

    // Nothing to do: the configuration is still drawn, nothing is marked.
    let graph = p.stdout(&["graph"], 0);
    for line in [
        "\"account.pebble\" [label = \"account.pebble\", shape = box];",
        "\"http_solver.web\" [label = \"http_solver.web\", shape = component];",
        "\"certificate.a\" [label = \"certificate.a\", shape = box];",
        "\"certificate.a.output.files\" [label = \"certificate.a.output.files\", shape = note];",
        "\"on_change: true reload\" [label = \"on_change: true reload\", shape = cds];",
        "\"account.pebble\" -> \"certificate.a\";",
        "\"http_solver.web\" -> \"certificate.a\";",
        "\"certificate.a\" -> \"certificate.a.output.files\";",
        "\"certificate.a.output.files\" -> \"on_change: true reload\";",
        "\"certificate.b.output.files\" -> \"on_change: true reload\";",
    ] {
        assert!(graph.contains(line), "missing {line:?} in:\n{graph}");
    }
    assert!(!graph.contains("filled"), "{graph}");
    dot_accepts(&graph);

    // A pending reissue of one certificate: it, its output and the hook are marked.
    p.config(&format!(
        "{}{}",
        hooked(&["graph-a.e2e.test", "graph-a2.e2e.test"], "a"),
        hooked(&["graph-b.e2e.test"], "b")
    ));
    let graph = p.stdout(&["graph"], 0);
    for line in [
        "\"certificate.a\" [label = \"certificate.a (reissue)\", shape = box, style = \"filled,bold\", fillcolor = \"orange\"];",
        "\"certificate.a.output.files\" [label = \"certificate.a.output.files (written)\", shape = note, style = \"filled,bold\", fillcolor = \"orange\"];",
        "\"on_change: true reload\" [label = \"on_change: true reload (runs)\", shape = cds, style = \"filled,bold\", fillcolor = \"orange\"];",
        "\"certificate.b\" [label = \"certificate.b\", shape = box];",
    ] {
        assert!(graph.contains(line), "missing {line:?} in:\n{graph}");
    }
    dot_accepts(&graph);

    // A certificate only state still holds is drawn with its account and its removal.
    p.config(&hooked(&["graph-a.e2e.test"], "a"));
    let graph = p.stdout(&["graph"], 0);
    for line in [
        "\"certificate.b\" [label = \"certificate.b (delete)\", shape = box, style = \"filled,bold\", fillcolor = \"salmon\"];",
        "\"account.pebble\" -> \"certificate.b\";",
    ] {
        assert!(graph.contains(line), "missing {line:?} in:\n{graph}");
    }
    assert!(!graph.contains("certificate.b.output"), "{graph}");
    dot_accepts(&graph);
}

#[test]
fn a_refused_order_lists_the_ca_subproblems_per_name() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config("");
    p.expect(&["apply", "--auto-approve"], 0);
    let refusing = FaultProxy::start(&pebble, 1, vec![Fault::RejectOrders]);
    p.set_endpoint(&refusing.endpoint());
    p.config(&cert_block("www", &["one.e2e.test", "two.e2e.test"], ""));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(
            "  failed:  certificate.www (issue): ACME error: urn:ietf:params:acme:error:rejectedIdentifier: the order names refused identifiers (status 400) (while creating an order for one.e2e.test, two.e2e.test)\n\
             \x20            one.e2e.test: urn:ietf:params:acme:error:rejectedIdentifier: one.e2e.test is refused by the fault proxy\n\
             \x20            two.e2e.test: urn:ietf:params:acme:error:rejectedIdentifier: two.e2e.test is refused by the fault proxy\n"
        ),
        "{out}"
    );
}

#[test]
fn a_rate_limited_request_says_when_to_retry() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config("");
    p.expect(&["apply", "--auto-approve"], 0);
    let limited = FaultProxy::start(&pebble, 1, vec![Fault::RateLimitOrders]);
    p.set_endpoint(&limited.endpoint());
    p.config(&cert_block("www", &["limited.e2e.test"], ""));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(
            "urn:ietf:params:acme:error:rateLimited: injected by the fault proxy (status 429)"
        ) && out.contains("the CA's rate limit was reached: retry after 1s, at 20"),
        "{out}"
    );
}
