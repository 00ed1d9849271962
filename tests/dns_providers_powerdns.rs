//! The `powerdns` DNS provider against a real PowerDNS Authoritative Server (sqlite3
//! backend, HTTP API) that Pebble resolves through: a wildcard issued end to end by the
//! real binary leaves the zone clean; two authorizations sharing a record name keep both
//! values and cleanup removes exactly certform's; a wrong API key or a missing one is a
//! clear error.

mod support;

use certform::address::{Address, Kind};
use certform::config::SecretEnv;
use certform::desired::VarInputs;
use certform::solver::{ChallengeData, Solvers};
use std::collections::BTreeSet;
use support::certform::{pebble_account, text, Workdir};
use support::pdns::{Pdns, API_KEY};
use support::pebble::Pebble;

const WILDCARD_CERT: &str = r#"
certificate "wild" {
  account = account.pebble
  domains = ["example.test", "*.example.test"]
  solvers = [dns_solver.pdns]
  output "files" {
    directory = "tls/wild"
  }
}
"#;

#[test]
fn powerdns_issues_a_wildcard_through_a_real_pdns_server_and_leaves_the_zone_clean() {
    let pdns = Pdns::start("example.test");
    let pebble = Pebble::builder().dns_server(&pdns.server()).start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            "{}{}{WILDCARD_CERT}",
            pebble_account(&pebble),
            pdns.solver_block("example.test")
        ),
    );

    // A reviewer's plan needs no API key; apply does, and says which variable to set.
    let out = work
        .command(&["plan"])
        .env_remove("PDNS_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = work
        .command(&["apply", "--auto-approve"])
        .env_remove("PDNS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("`api_key`") && text(&out).contains("PDNS_API_KEY"),
        "{}",
        text(&out)
    );
    assert!(!work.path("tls/wild").exists());

    let out = work
        .command(&["apply", "--auto-approve"])
        .env("PDNS_API_KEY", API_KEY)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}\n{}", pdns.log());
    assert!(!all.contains(API_KEY), "the API key leaked:\n{all}");
    let names = work.subject_alt_names("tls/wild/cert.pem");
    assert!(names.contains("DNS:example.test"), "{names}");
    assert!(names.contains("DNS:*.example.test"), "{names}");

    let zone = pdns.zone_records();
    assert!(zone.contains("SOA"), "{zone}");
    assert!(
        !zone.contains("_acme-challenge"),
        "records left behind:\n{zone}"
    );
}

fn challenge(domain: &str, value: &str) -> ChallengeData {
    ChallengeData {
        domain: domain.into(),
        token: format!("token{}", value.len()),
        key_authorization: "unused".into(),
        dns_value: value.into(),
    }
}

/// The solvers of the configuration `hcl` (secrets from the environment), all started.
async fn start_solvers(work: &Workdir, hcl: &str) -> Solvers {
    work.write("main.hcl", hcl);
    let desired = certform::desired::load(work.dir(), &VarInputs::default(), SecretEnv::Required)
        .unwrap_or_else(|diags| panic!("{diags:?}"));
    let all: BTreeSet<Address> = desired.solvers.keys().cloned().collect();
    Solvers::start(&desired.solvers, &all, Default::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn two_values_on_one_name_coexist_and_cleanup_removes_exactly_ours() {
    let pdns = Pdns::start("example.test");
    let name = "_acme-challenge.example.test";
    pdns.add_txt(name, "kept-by-someone-else");
    std::env::set_var("PDNS_API_KEY", API_KEY);
    let work = Workdir::new();
    let solvers = start_solvers(&work, &pdns.solver_block("example.test")).await;
    let solver = Address::new(Kind::DnsSolver, "pdns");

    // Two certificates (or one with the apex and the wildcard) use the same record name.
    let apex = challenge("example.test", "apex-value");
    let wildcard = challenge("*.example.test", "wildcard-value");
    let (a, b) = tokio::join!(
        solvers.present(&solver, &apex),
        solvers.present(&solver, &wildcard)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        pdns.txt(name),
        ["apex-value", "kept-by-someone-else", "wildcard-value"]
    );

    solvers.cleanup(&solver, &apex).await.unwrap();
    assert_eq!(pdns.txt(name), ["kept-by-someone-else", "wildcard-value"]);
    // Idempotent: a second cleanup changes nothing.
    solvers.cleanup(&solver, &apex).await.unwrap();
    solvers.cleanup(&solver, &wildcard).await.unwrap();
    assert_eq!(pdns.txt(name), ["kept-by-someone-else"]);
    solvers.shutdown().await;
}

#[tokio::test]
async fn a_wrong_api_key_names_the_solver_the_record_and_the_refusal() {
    let pdns = Pdns::start("example.test");
    // Read with file(), so this test does not race the other for PDNS_API_KEY.
    let work = Workdir::new();
    work.write("wrong.key", "not-the-key\n");
    let block = pdns.solver_block("example.test").replace(
        "  allow_insecure_transport",
        "  api_key                  = file(\"wrong.key\")\n  allow_insecure_transport",
    );
    let solvers = start_solvers(&work, &block).await;
    let solver = Address::new(Kind::DnsSolver, "pdns");
    let err = solvers
        .present(&solver, &challenge("example.test", "v"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dns_solver.pdns"), "{err}");
    assert!(err.contains("_acme-challenge.example.test"), "{err}");
    assert!(
        err.contains("401") && err.contains("check `api_key`"),
        "{err}"
    );
    assert!(!err.contains("not-the-key"), "{err}");
    assert!(!pdns.zone_records().contains("_acme-challenge"));
}
