//! Route53 against moto's API: the solver's record bookkeeping (two values on one name,
//! others' values kept, exactly ours removed), its wait for INSYNC, and an issuance by the
//! real binary. Pebble cannot see moto's records, so the end-to-end test runs Pebble with
//! `PEBBLE_VA_ALWAYS_VALID=1` and checks the records in moto instead.

use crate::support;

use certform::address::{Address, Kind};
use certform::desired::model::{DnsProvider, DnsSolverSpec, Route53Spec, SolverSpec};
use certform::hook_env::HookEnv;
use certform::solver::{ChallengeData, Solvers};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::certform::{pebble_account, text, Workdir};
use support::moto::{Moto, PendingProxy};
use support::pebble::Pebble;

fn challenge(domain: &str, value: &str) -> ChallengeData {
    ChallengeData {
        domain: domain.into(),
        token: format!("token{}", value.len()),
        key_authorization: "unused".into(),
        dns_value: value.into(),
    }
}

async fn route53_solvers(endpoint: String) -> (Solvers, Address) {
    let address = Address::new(Kind::DnsSolver, "r53");
    let spec = DnsSolverSpec {
        zones: vec!["example.org".into()],
        provider: DnsProvider::Route53(Route53Spec {
            hosted_zone_id: None,
            region: "us-east-1".into(),
            endpoint: Some(endpoint),
            profile: None,
        }),
        // moto is no DNS server: INSYNC is the only signal.
        propagation_check: false,
        propagation_timeout: Duration::from_secs(20),
        resolvers: Vec::new(),
        follow_cname: false,
    };
    let specs = BTreeMap::from([(address.clone(), SolverSpec::Dns(spec))]);
    let solvers = Solvers::start(
        &specs,
        &BTreeSet::from([address.clone()]),
        HookEnv::default(),
    )
    .await
    .unwrap();
    (solvers, address)
}

#[tokio::test]
async fn two_values_on_one_name_coexist_and_cleanup_removes_exactly_ours() {
    let moto = Moto::start();
    let zone = moto.create_zone("example.org");
    let name = "_acme-challenge.example.org";
    // Someone else's value at the same name must survive.
    moto.upsert_txt(&zone, name, &["kept-by-someone-else"]);
    // Every change is reported PENDING until polled twice.
    let proxy = PendingProxy::start(moto.port(), 2);
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let (solvers, r53) = route53_solvers(proxy.url()).await;

    let apex = challenge("example.org", "apex-value");
    let wildcard = challenge("*.example.org", "wildcard-value");
    let (a, b) = tokio::join!(
        solvers.present(&r53, &apex),
        solvers.present(&r53, &wildcard)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        moto.txt(&zone, name),
        ["apex-value", "kept-by-someone-else", "wildcard-value"]
    );
    // Each change was polled until it was INSYNC before present returned.
    let changes = proxy.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().all(|c| c.polls == 3), "{changes:?}");

    solvers.cleanup(&r53, &apex).await.unwrap();
    assert_eq!(
        moto.txt(&zone, name),
        ["kept-by-someone-else", "wildcard-value"]
    );
    // Idempotent: a second cleanup changes nothing.
    solvers.cleanup(&r53, &apex).await.unwrap();
    solvers.cleanup(&r53, &wildcard).await.unwrap();
    assert_eq!(moto.txt(&zone, name), ["kept-by-someone-else"]);
    let changes = proxy.changes();
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert!(
        changes.iter().all(|c| c.polls == 3),
        "the removals waited too: {changes:?}"
    );
    solvers.shutdown().await;
}

#[tokio::test]
async fn a_name_outside_every_hosted_zone_is_a_clear_error() {
    let moto = Moto::start();
    moto.create_zone("example.org");
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let (solvers, r53) = route53_solvers(moto.url()).await;
    let err = solvers
        .present(&r53, &challenge("example.net", "v"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dns_solver.r53"), "{err}");
    assert!(err.contains("_acme-challenge.example.net"), "{err}");
    assert!(err.contains("no hosted zone"), "{err}");
}

#[test]
fn route53_issues_through_pebble_and_removes_its_records() {
    let moto = Moto::start();
    let zone = moto.create_zone("example.org");
    let pebble = Pebble::builder().env("PEBBLE_VA_ALWAYS_VALID", "1").start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            r#"{}
dns_solver "r53" {{
  provider          = "route53"
  zones             = ["example.org"]
  endpoint          = "{}"
  propagation_check = false
}}

certificate "site" {{
  account = account.pebble
  domains = ["example.org", "*.example.org"]
  solvers = [dns_solver.r53]
  output "files" {{
    directory = "tls/site"
  }}
}}
"#,
            pebble_account(&pebble),
            moto.url()
        ),
    );
    let secret = "moto-secret-key-do-not-print";
    let out = work
        .command(&["apply", "--auto-approve"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}\n{}", moto.log());
    assert!(!all.contains(secret), "{all}");
    let names = work.subject_alt_names("tls/site/cert.pem");
    assert!(names.contains("DNS:*.example.org"), "{names}");

    // moto's log shows the record being written (UPSERT) and removed (DELETE)...
    let log = moto.log();
    let changes = log
        .matches(&format!("POST /2013-04-01/hostedzone/{zone}/rrset"))
        .count();
    assert_eq!(changes, 4, "two values added, two removed:\n{log}");
    // ...and nothing of it is left.
    assert!(
        !moto
            .record_names(&zone)
            .iter()
            .any(|n| n.contains("_acme-challenge")),
        "{:?}",
        moto.record_names(&zone)
    );
}
