//! The `acme-dns` DNS provider against a fake acme-dns server (tests/support/acme_dns.rs)
//! that publishes into a real BIND zone, where `_acme-challenge.example.test` is a CNAME to
//! the acme-dns subdomain: a wildcard issued end to end by the real binary with Pebble
//! resolving through BIND (two values at once, the most acme-dns keeps), and clear errors
//! for credentials or a subdomain the server refuses.

mod support;

use certform::address::{Address, Kind};
use certform::config::SecretEnv;
use certform::desired::VarInputs;
use certform::solver::{ChallengeData, Solvers};
use std::collections::BTreeSet;
use support::acme_dns::{AcmeDns, PASSWORD, SUBDOMAIN, USERNAME};
use support::bind::Bind;
use support::certform::{pebble_account, text, Workdir};
use support::pebble::Pebble;

const ZONE: &str = "example.test";

/// BIND serving `example.test` with the `_acme-challenge` CNAME, and the fake on it.
fn servers() -> (Bind, AcmeDns) {
    let bind = Bind::start_with(ZONE, &AcmeDns::cname_record(ZONE));
    let acme_dns = AcmeDns::start(&bind, ZONE);
    (bind, acme_dns)
}

/// A `dns_solver "acme"` on the fake; `password` is how the password is written (absent:
/// from `ACMEDNS_PASSWORD`).
fn solver_block(bind: &Bind, acme_dns: &AcmeDns, subdomain: &str, password: &str) -> String {
    format!(
        r#"
dns_solver "acme" {{
  provider                 = "acme-dns"
  zones                    = ["{ZONE}"]
  server_url               = "{url}"
  username                 = "{USERNAME}"
  subdomain                = "{subdomain}"
  {password}
  allow_insecure_transport = true
  resolvers                = ["{server}"]
  propagation_timeout      = "20s"
}}
"#,
        url = acme_dns.url(),
        server = bind.server()
    )
}

#[test]
fn acme_dns_issues_a_wildcard_through_the_cname_and_its_two_values() {
    let (bind, acme_dns) = servers();
    let pebble = Pebble::builder().dns_server(&bind.server()).start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            r#"{}{}
certificate "wild" {{
  account = account.pebble
  domains = ["{ZONE}", "*.{ZONE}"]
  solvers = [dns_solver.acme]
  output "files" {{
    directory = "tls/wild"
  }}
}}
"#,
            pebble_account(&pebble),
            solver_block(&bind, &acme_dns, SUBDOMAIN, "")
        ),
    );
    let out = work
        .command(&["apply", "--auto-approve"])
        .env("ACMEDNS_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}\n{}", bind.log());
    assert!(!all.contains(PASSWORD), "the password leaked:\n{all}");
    let names = work.subject_alt_names("tls/wild/cert.pem");
    assert!(names.contains("DNS:*.example.test"), "{names}");
    // Both authorizations' values were written to the subdomain, where the CNAME points.
    assert_eq!(acme_dns.values().len(), 2);
    assert!(acme_dns.refusals().is_empty(), "{:?}", acme_dns.refusals());
    let mut published = bind.txt(acme_dns.full_domain());
    let mut kept = acme_dns.values();
    published.sort();
    kept.sort();
    assert_eq!(published, kept);
}

fn challenge(domain: &str, value: &str) -> ChallengeData {
    ChallengeData {
        domain: domain.into(),
        token: "token".into(),
        key_authorization: "unused".into(),
        dns_value: value.into(),
    }
}

/// A 43-character base64url value, as every DNS-01 value is.
const VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

/// Presents `value` for example.test through a solver whose password is in a file holding
/// `password`, and returns the error.
async fn present_error(subdomain: &str, password: &str, value: &str) -> (String, AcmeDns) {
    let (bind, acme_dns) = servers();
    let work = Workdir::new();
    work.write("acme-dns.password", password);
    work.write(
        "main.hcl",
        &solver_block(
            &bind,
            &acme_dns,
            subdomain,
            "password = file(\"acme-dns.password\")",
        ),
    );
    let desired = certform::desired::load(work.dir(), &VarInputs::default(), SecretEnv::Required)
        .unwrap_or_else(|diags| panic!("{diags:?}"));
    let all: BTreeSet<Address> = desired.solvers.keys().cloned().collect();
    let solvers = Solvers::start(&desired.solvers, &all, Default::default())
        .await
        .unwrap();
    let solver = Address::new(Kind::DnsSolver, "acme");
    let err = solvers
        .present(&solver, &challenge(ZONE, value))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dns_solver.acme"), "{err}");
    assert!(bind.txt(acme_dns.full_domain()).is_empty());
    (err, acme_dns)
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_clear_error() {
    let (err, acme_dns) =
        present_error(SUBDOMAIN, "a-wrong-password-of-forty-characters-xyz", VALUE).await;
    assert!(
        err.contains("401") && err.contains("check `username`, `password` and `subdomain`"),
        "{err}"
    );
    assert!(!err.contains("a-wrong-password"), "{err}");
    assert_eq!(acme_dns.refusals(), [(401, "forbidden".to_string())]);
}

#[tokio::test]
async fn a_subdomain_of_another_account_is_refused() {
    let other = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf";
    let (err, acme_dns) = present_error(other, PASSWORD, VALUE).await;
    assert!(err.contains("401"), "{err}");
    assert_eq!(acme_dns.refusals(), [(401, "forbidden".to_string())]);
}

#[tokio::test]
async fn a_value_acme_dns_cannot_hold_is_refused() {
    let (err, acme_dns) = present_error(SUBDOMAIN, PASSWORD, "too-short").await;
    assert!(err.contains("400") && err.contains("bad_txt"), "{err}");
    assert_eq!(acme_dns.refusals(), [(400, "bad_txt".to_string())]);
}
