//! certform against the current Pebble (see tests/support/pebble.rs for where it is found):
//! what Debian's Pebble 2.4 cannot serve, such as ARI (RFC 9773) from the CA itself.

use crate::support;

use support::pebble::Pebble;
use support::project::{cert_block, Project};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn parse(value: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).unwrap()
}

#[test]
fn the_ari_window_comes_from_pebble_itself_and_fits_a_short_lived_certificate() {
    let p = Project::new(Pebble::builder().current().start());
    p.config(&cert_block(
        "www",
        &["ari.modern.test"],
        "profile = \"shortlived\"",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    // The next plan fetches Pebble's renewalInfo; apply keeps it in this machine's ARI
    // cache (outside the state, so refreshing it changes no serial).
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);

    let lineage = p.state_json()["lineage"].as_str().unwrap().to_string();
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.path(&format!("xdg-state/certform/ari/{lineage}.json"))).unwrap(),
    )
    .unwrap();
    let ari = cache["certificate.www"]["ari"].clone();
    let (start, end, renew_at) = (
        parse(&ari["window_start"]),
        parse(&ari["window_end"]),
        parse(&ari["renew_at"]),
    );
    let now = OffsetDateTime::now_utc();
    assert!(start <= renew_at && renew_at <= end, "{ari}");
    assert!(now < start, "a fresh certificate's window is ahead: {ari}");
    assert!(
        end <= now + time::Duration::days(6),
        "the window of a 6-day certificate ends within its life: {ari}"
    );
}

#[test]
fn an_ip_address_certificate_is_issued_over_http_01_with_an_ip_san_and_no_common_name() {
    let p = Project::new(Pebble::builder().current().start());
    p.config(&cert_block("ip", &["127.0.0.1"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    let leaf = p.path("tls/ip/fullchain.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(&leaf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(
        !text.contains("CN"),
        "an IP-only certificate has no common name: {text}"
    );
    p.verify("tls/ip");
}
