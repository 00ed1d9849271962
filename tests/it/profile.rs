//! `profile` is passed through to the CA: the new-order request carries it (RFC draft
//! "ACME profiles"), and changing it reissues. The current Pebble offers the profiles
//! `default` (90 days) and `shortlived` (6 days), so the certificate's lifetime shows which
//! profile the CA applied.

use crate::support;

use support::pebble::Pebble;
use support::project::{cert_block, Project};

/// Days between notBefore and notAfter of the deployed leaf.
fn lifetime_days(p: &Project) -> i64 {
    let pem = std::fs::read(p.path("tls/www/fullchain.pem")).expect("the deployed certificate");
    let (_, der) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = der.parse_x509().unwrap();
    let validity = cert.validity();
    (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400
}

#[test]
fn the_profile_is_sent_with_the_order_and_a_change_reissues() {
    let p = Project::new(Pebble::builder().current().start());
    p.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"default\"",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(lifetime_days(&p) >= 89, "a 90-day certificate");

    p.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"shortlived\"",
    ));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.www will be reissued: profile default -> shortlived"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        lifetime_days(&p) <= 6,
        "a 6-day certificate from the shortlived profile"
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
