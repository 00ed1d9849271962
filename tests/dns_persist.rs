//! dns-persist-01 (draft-ietf-acme-dns-persist) end to end: the real `certform` binary, the
//! current Pebble (which offers the challenge and reads `_validation-persist.<name>`) and a
//! real BIND 9 that Pebble resolves through. The standing record is either planned and
//! written by certform through a `dns_solver` (`via`), or managed elsewhere (set here with
//! nsupdate, as another tool would).

mod support;

use support::bind::Bind;
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
  zones = ["example.test"]
}}
{}"#,
            pebble_account(&pebble),
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
}
