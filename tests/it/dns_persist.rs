//! dns-persist-01 (draft-ietf-acme-dns-persist) end to end: the real `certform` binary, the
//! current Pebble (which offers the challenge and reads `_validation-persist.<name>`) and a
//! real BIND 9 that Pebble resolves through. The standing record is either planned and
//! written by certform through a `dns_solver` (`via`), or managed elsewhere (set here with
//! nsupdate, as another tool would).

use crate::support;

use support::bind::{Bind, TSIG_SECRET};
use support::certform::{pebble_account, text, Workdir};
use support::pebble::Pebble;

/// Pebble's issuer domain name (its default `caaIdentities`).
const ISSUER: &str = "pebble.letsencrypt.org";
const RECORD: &str = "_validation-persist.example.test";

fn certificate(domains: &str) -> String {
    format!(
        r#"
certificate "site" {{
  account = account.pebble
  domains = [{domains}]
  solvers = [dns_persist_solver.persist]
  output "files" {{
    directory = "tls/site"
  }}
}}
"#
    )
}

fn servers() -> (Bind, Pebble) {
    let bind = Bind::start("example.test");
    let pebble = Pebble::builder()
        .current()
        .dns_server(&bind.server())
        .start();
    (bind, pebble)
}

fn account_url(work: &Workdir) -> String {
    work.state_json()["accounts"]["pebble"]["account_url"]
        .as_str()
        .expect("the account URL in state")
        .to_string()
}

#[test]
fn a_record_managed_elsewhere_that_names_another_account_fails_with_the_cas_message() {
    let (bind, pebble) = servers();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            r#"{}
dns_persist_solver "persist" {{
  zones     = ["example.test"]
  resolvers = ["{}"]
}}
{}"#,
            pebble_account(&pebble),
            bind.server(),
            certificate(r#""example.test""#)
        ),
    );
    let elsewhere = "https://ca.invalid/acme/acct/1";
    bind.set_txt(RECORD, &format!("{ISSUER}; accounturi={elsewhere}"));

    let out = work.command(&["apply", "--auto-approve"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("dns-persist-01") && all.contains("accounturi mismatch"),
        "{all}"
    );
    assert!(all.contains(elsewhere), "{all}");
    assert!(!work.path("tls/site").exists());

    // Now that the account exists, plan warns before another order is spent.
    let out = work.command(&["plan"]).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains(&format!("warning: dns_persist_solver.persist[\"example.test\"]: {RECORD} names another account (accounturi={elsewhere})")),
        "{all}"
    );

    // The same record naming this account lets the order through, and no DNS is written.
    bind.set_txt(
        RECORD,
        &format!("{ISSUER}; accounturi={}", account_url(&work)),
    );
    let serial = bind.serial();
    let out = work.command(&["apply", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let names = work.subject_alt_names("tls/site/cert.pem");
    assert!(names.contains("DNS:example.test"), "{names}");
    assert_eq!(bind.serial(), serial, "{}", bind.log());
    let out = work.command(&["plan"]).output().unwrap();
    assert!(!text(&out).contains("warning:"), "{}", text(&out));
}

fn managed(bind: &Bind, pebble: &Pebble, policy: &str, domains: &str) -> String {
    format!(
        r#"{}{}
dns_persist_solver "persist" {{
  zones = ["example.test"]
  via   = dns_solver.bind
  {policy}
}}
{}"#,
        pebble_account(pebble),
        bind.solver_block("example.test"),
        certificate(domains)
    )
}

#[test]
fn apply_writes_the_record_once_and_a_renewal_changes_no_dns() {
    let (bind, pebble) = servers();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &managed(&bind, &pebble, "", r#""example.test", "www.example.test""#),
    );

    // The plan shows the record created, its value known after the account is registered.
    let out = work.command(&["plan"]).output().unwrap();
    let plan = text(&out);
    assert!(out.status.success(), "{plan}");
    assert!(
        plan.contains(r#"dns_persist_solver.persist["example.test"] will be created"#)
            && plan.contains(&format!("{RECORD} does not exist yet"))
            && plan.contains("(known after apply)")
            && plan.contains("1 account to create, 2 dns-persist-01 records to write."),
        "{plan}"
    );

    let out = work
        .command(&["apply", "--auto-approve"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), bind.log());
    let url = account_url(&work);
    assert_eq!(bind.txt(RECORD), [format!("{ISSUER}; accounturi={url}")]);
    assert_eq!(
        bind.txt("_validation-persist.www.example.test"),
        [format!("{ISSUER}; accounturi={url}")]
    );
    let state = work.state_json();
    support::schema::assert_valid("state.schema.json", &state);
    assert_eq!(
        state["persist_records"][r#"dns_persist_solver.persist["example.test"]"#]["value"],
        format!("{ISSUER}; accounturi={url}").as_str(),
        "{state:#}"
    );

    // Nothing left to do; a renewal orders again and touches no DNS.
    let out = work
        .command(&["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let serial = bind.serial();
    let out = work
        .command(&["apply", "--auto-approve", "--replace", "certificate.site"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("certificate.site"), "{}", text(&out));
    assert_eq!(
        bind.serial(),
        serial,
        "a renewal wrote DNS:\n{}",
        bind.log()
    );

    // A policy change updates the record in place, with the reason.
    work.write(
        "main.hcl",
        &managed(
            &bind,
            &pebble,
            r#"policy = "wildcard""#,
            r#""example.test", "www.example.test""#,
        ),
    );
    let out = work.command(&["plan", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    support::schema::assert_valid("plan.schema.json", &json);
    let out = work.command(&["plan"]).output().unwrap();
    let plan = text(&out);
    assert!(
        plan.contains(r#"dns_persist_solver.persist["example.test"] will be updated in place"#)
            && plan.contains("policy changed: (none) -> wildcard"),
        "{plan}"
    );
}

#[test]
fn a_wildcard_needs_policy_wildcard_and_issues_with_it() {
    let (bind, pebble) = servers();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &managed(&bind, &pebble, "", r#""example.test", "*.example.test""#),
    );
    let out = work.command(&["validate"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("Wildcard needs policy = \"wildcard\"") && all.contains("main.hcl:"),
        "{all}"
    );

    work.write(
        "main.hcl",
        &managed(
            &bind,
            &pebble,
            r#"policy = "wildcard""#,
            r#""example.test", "*.example.test""#,
        ),
    );
    let out = work
        .command(&["apply", "--auto-approve"])
        .env("TSIG_SECRET", TSIG_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), bind.log());
    let names = work.subject_alt_names("tls/site/cert.pem");
    assert!(names.contains("DNS:*.example.test"), "{names}");
    assert_eq!(
        bind.txt(RECORD),
        [format!(
            "{ISSUER}; accounturi={}; policy=wildcard",
            account_url(&work)
        )]
    );
}
