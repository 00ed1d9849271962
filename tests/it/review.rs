//! Pull-request review and drift checks, end to end: the real `certform` binary against a
//! real Pebble (and a local TLS server for `--check-endpoints`), each started by the test.
//! They assert what a user sees: the outputs, their schemas, exit codes, the metrics file,
//! and that no output format ever shows key material.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use support::pebble::Pebble;
use support::project::{cert_block, Project};
use support::schema::assert_valid;
use support::tls_server::TlsServer;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Fails when `output` holds anything that looks like key material or `secrets`.
fn assert_no_secrets(what: &str, output: &str, secrets: &[String]) {
    for marker in [
        "PRIVATE KEY",
        "AGE-SECRET-KEY",
        "BEGIN AGE ENCRYPTED",
        "key_pkcs8",
    ] {
        assert!(!output.contains(marker), "{what} shows {marker}:\n{output}");
    }
    for secret in secrets {
        assert!(
            !output.contains(secret.as_str()),
            "{what} shows a line of a private key:\n{output}"
        );
    }
}

/// The base64 lines of a PEM private key: any one of them in an output is a leak.
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(String::from)
        .collect()
}

#[test]
fn review_and_drift_check_need_no_identity_and_show_no_secret() {
    let p = Project::new(Pebble::start());
    // Pebble issues 5-year certificates: renew_before = 2000d makes `due` due at once.
    p.config(&format!(
        "{}{}{}",
        cert_block("due", &["due.review.test"], "renew_before = \"2000d\""),
        cert_block("kept", &["kept.review.test"], ""),
        cert_block("gone", &["gone.review.test"], ""),
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let mut secrets = key_lines(&fs::read_to_string(p.path("tls/due/privkey.pem")).unwrap());
    secrets.extend(key_lines(
        &fs::read_to_string(p.path("tls/kept/privkey.pem")).unwrap(),
    ));

    // Drift: a file deleted, a key made world-readable, a certificate dropped from config.
    fs::remove_file(p.path("tls/kept/chain.pem")).unwrap();
    fs::set_permissions(
        p.path("tls/kept/privkey.pem"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    p.config(&format!(
        "{}{}",
        cert_block("due", &["due.review.test"], "renew_before = \"2000d\""),
        cert_block("kept", &["kept.review.test", "more.review.test"], ""),
    ));

    let plan = p.expect_without_identity(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.due will be renewed: expires in"),
        "{plan}"
    );
    assert!(
        plan.contains("# certificate.kept will be reissued: domains changed: + more.review.test"),
        "{plan}"
    );
    assert!(
        plan.contains("# certificate.gone will be forgotten"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "Plan: 0 to issue, 1 to renew, 1 to reissue, 0 to revoke, 0 to redeploy; 1 to forget."
        ),
        "{plan}"
    );
    assert_no_secrets("the text plan", &plan, &secrets);

    let refresh = p.expect_without_identity(&["plan", "--refresh-only", "--detailed-exitcode"], 2);
    for line in [
        "certform found drift (refresh only: nothing is proposed or changed):",
        "chain.pem is missing",
        "privkey.pem has mode 0644, expected 0600",
        "- certificate.gone: removed from configuration",
        "~ certificate.due: expires in",
        "Drift: 1 file_missing, 1 file_mode, 1 not_in_config, 1 renewal_due.",
    ] {
        assert!(refresh.contains(line), "missing {line:?} in:\n{refresh}");
    }
    assert!(
        !refresh.contains("reissue"),
        "--refresh-only proposes nothing:\n{refresh}"
    );

    let markdown = p.expect_without_identity(&["plan", "--markdown"], 0);
    assert!(markdown.starts_with("### certform plan\n"), "{markdown}");
    assert!(
        markdown.contains("| `certificate.kept` | reissue | domains changed: + more.review.test |"),
        "{markdown}"
    );
    assert!(markdown.contains("<details><summary>"), "{markdown}");
    assert!(!markdown.contains('\x1b'));

    let plan_json = p.stdout(&["plan", "--json"], 0);
    let document = json(&plan_json);
    assert_valid("plan.schema.json", &document);
    assert_eq!(
        document["change_classes"],
        serde_json::json!(["renewal", "replace", "destroy"])
    );
    let refresh_json = p.stdout(&["plan", "--json", "--refresh-only"], 0);
    let refresh_document = json(&refresh_json);
    assert_valid("plan.schema.json", &refresh_document);
    assert_eq!(refresh_document["changes"], serde_json::json!([]));
    assert_eq!(refresh_document["drift"].as_array().unwrap().len(), 4);

    let plan_file = p.path("review.plan");
    p.expect_without_identity(&["plan", "--out", plan_file.to_str().unwrap()], 0);
    let saved = fs::read_to_string(&plan_file).unwrap();
    let shown = p.expect_without_identity(&["show", plan_file.to_str().unwrap()], 0);
    assert!(shown.contains("will be reissued"), "{shown}");
    let shown_json = p.stdout(&["show", plan_file.to_str().unwrap(), "--json"], 0);
    assert_valid("plan.schema.json", &json(&shown_json));

    let state_json = p.stdout(&["show", "--json"], 0);
    assert_valid("state.schema.json", &json(&state_json));
    let state_text = p.expect_without_identity(&["show"], 0);
    assert!(state_text.contains("certificate \"due\""), "{state_text}");

    let graph = p.expect_without_identity(&["graph"], 0);
    assert!(graph.starts_with("digraph certform {"), "{graph}");
    assert!(graph.contains("certificate.due (renew)"), "{graph}");

    let metrics_file = p.path("metrics/certform.prom");
    p.expect_without_identity(
        &[
            "plan",
            "--refresh-only",
            "--metrics",
            metrics_file.to_str().unwrap(),
        ],
        0,
    );
    let metrics = fs::read_to_string(&metrics_file).unwrap();
    for line in [
        "# TYPE certform_certificate_not_after_seconds gauge",
        "certform_certificate_renewal_due{address=\"certificate.due\"} 1",
        "certform_certificate_renewal_due{address=\"certificate.gone\"} 0",
        "certform_drift{address=\"certificate.kept\",kind=\"file_missing\"} 1",
        "certform_drift{address=\"certificate.kept\",kind=\"file_mode\"} 1",
        "certform_drift{address=\"certificate.gone\",kind=\"not_in_config\"} 1",
        "certform_last_plan_timestamp_seconds ",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
    assert!(
        metrics.contains("certform_certificate_not_after_seconds{address=\"certificate.kept\"} ")
    );
    let leftovers = fs::read_dir(p.path("metrics")).unwrap().count();
    assert_eq!(
        leftovers, 1,
        "the metrics file is written atomically, no temp file left"
    );

    for (what, output) in [
        ("the Markdown plan", &markdown),
        ("the refresh-only report", &refresh),
        ("the JSON plan", &plan_json),
        ("the refresh-only JSON", &refresh_json),
        ("the saved plan", &saved),
        ("show PLANFILE", &shown),
        ("show PLANFILE --json", &shown_json),
        ("show --json", &state_json),
        ("show", &state_text),
        ("graph", &graph),
        ("the metrics", &metrics),
    ] {
        assert_no_secrets(what, output, &secrets);
    }
}

#[test]
fn check_endpoints_reports_an_older_served_certificate_by_both_serials() {
    let p = Project::new(Pebble::start());
    let server = TlsServer::start();
    let check = format!("check {{\n    endpoint = \"{}\"\n  }}", server.endpoint());
    p.config(&cert_block("site", &["site.review.test"], &check));
    p.expect(&["apply", "--auto-approve"], 0);
    let old_serial = p.serial_of("certificate.site");
    let old_chain = fs::read_to_string(p.path("tls/site/fullchain.pem")).unwrap();
    let old_key = fs::read_to_string(p.path("tls/site/privkey.pem")).unwrap();
    server.serve(&old_chain, &old_key);

    let clean = p.expect(
        &[
            "plan",
            "--refresh-only",
            "--check-endpoints",
            "--detailed-exitcode",
        ],
        0,
    );
    assert!(clean.contains("No drift."), "{clean}");

    // A new certificate is deployed, but the server still serves the old one.
    p.expect(
        &["apply", "--auto-approve", "--replace", "certificate.site"],
        0,
    );
    let new_serial = p.serial_of("certificate.site");
    assert_ne!(old_serial, new_serial);

    let expected = format!(
        "{} serves serial {old_serial}, state has serial {new_serial}",
        server.endpoint()
    );
    let refresh = p.expect_without_identity(
        &[
            "plan",
            "--refresh-only",
            "--check-endpoints",
            "--detailed-exitcode",
        ],
        2,
    );
    assert!(
        refresh.contains(&format!("~ certificate.site: {expected}")),
        "{refresh}"
    );
    assert!(refresh.contains("Drift: 1 endpoint_mismatch."), "{refresh}");

    let plan = p.expect(&["plan", "--check-endpoints", "--detailed-exitcode"], 2);
    assert!(
        plan.contains(&format!(
            "# certificate.site will be redeployed: {expected}"
        )),
        "{plan}"
    );
    let document = json(&p.stdout(&["plan", "--check-endpoints", "--json"], 0));
    assert_valid("plan.schema.json", &document);
    assert_eq!(document["drift"][0]["kind"], "endpoint_mismatch");
    assert_eq!(
        document["drift"][0]["detail"]["served"],
        old_serial.as_str()
    );
    assert_eq!(
        document["drift"][0]["detail"]["expected"],
        new_serial.as_str()
    );
    assert_eq!(document["change_classes"], serde_json::json!(["renewal"]));
    // Without the flag nothing is probed: the files on disk are right.
    p.expect(&["plan", "--detailed-exitcode"], 0);

    // The server is reloaded with the current certificate: no drift.
    let new_chain = fs::read_to_string(p.path("tls/site/fullchain.pem")).unwrap();
    let new_key = fs::read_to_string(p.path("tls/site/privkey.pem")).unwrap();
    server.serve(&new_chain, &new_key);
    p.expect(&["plan", "--check-endpoints", "--detailed-exitcode"], 0);

    // Nobody listens any more: reported, and the drift check fails.
    let endpoint = server.endpoint();
    drop(server);
    let gone = p.expect(&["plan", "--check-endpoints", "--detailed-exitcode"], 2);
    assert!(gone.contains("No changes."), "{gone}");
    assert!(
        gone.contains(&format!(
            "certificate.site: {endpoint} could not be checked:"
        )),
        "{gone}"
    );
}

#[test]
fn saved_plan_is_refused_after_the_configuration_changes() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["www.review.test"], ""));
    let plan_file = p.path("tls.plan");
    p.expect_without_identity(&["plan", "--out", plan_file.to_str().unwrap()], 0);
    p.config(&cert_block(
        "www",
        &["www.review.test", "api.review.test"],
        "",
    ));
    let stale = p.expect(&["apply", plan_file.to_str().unwrap()], 1);
    assert!(stale.contains("Saved plan is stale"), "{stale}");
    assert!(stale.contains("configuration changed"), "{stale}");
    assert!(
        !p.path("state/default.certstate").exists(),
        "a refused plan changes nothing"
    );
    let refused = p.expect(
        &[
            "plan",
            "--refresh-only",
            "--out",
            plan_file.to_str().unwrap(),
        ],
        1,
    );
    assert!(refused.contains("--out"), "{refused}");
}
