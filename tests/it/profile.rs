//! `profile` is passed through to the CA: the new-order request carries it (RFC draft
//! "ACME profiles"), and changing it reissues. The current Pebble offers the profiles
//! `default` (90 days) and `shortlived` (6 days), so the certificate's lifetime shows which
//! profile the CA applied. A profile the directory does not list fails the plan; a 6-day
//! certificate's renewal time is listed in the text and JSON plans.

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

#[test]
fn a_profile_the_ca_does_not_offer_fails_the_plan_naming_the_offered_ones() {
    let p = Project::new(Pebble::builder().current().start());
    p.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"longlived\"",
    ));
    let out = p.expect(&["plan"], 1);
    assert!(
        out.contains("certificate.www asks for the profile \"longlived\", which the CA at ")
            && out.contains("does not offer; it offers \"default\", \"shortlived\""),
        "{out}"
    );
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains("it offers \"default\", \"shortlived\""),
        "{out}"
    );
    assert!(p.stored().is_none(), "nothing was applied");

    // Debian's Pebble 2.4 lists no profiles at all.
    let old = Project::new(Pebble::start());
    old.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"shortlived\"",
    ));
    let out = old.expect(&["plan"], 1);
    assert!(out.contains("offers no profiles"), "{out}");
}

#[test]
fn a_short_lived_certificate_shows_its_renewal_time_within_its_six_days() {
    let p = Project::new(Pebble::builder().current().start());
    p.config(&cert_block(
        "www",
        &["short.e2e.test"],
        "profile = \"shortlived\"",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(lifetime_days(&p) <= 6);
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    let line = plan
        .lines()
        .find(|l| l.starts_with("  certificate.www: renews at "))
        .unwrap_or_else(|| panic!("no renewal time listed: {plan}"));
    let at = line
        .trim_start_matches("  certificate.www: renews at ")
        .split(' ')
        .next()
        .unwrap();
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    let now = time::OffsetDateTime::now_utc();
    assert!(
        now < at && at < now + time::Duration::days(6),
        "the renewal falls inside the 6-day life: {line}"
    );
    // The JSON plan carries the same time, for bots.
    let json: serde_json::Value = serde_json::from_str(&p.stdout(&["plan", "--json"], 0)).unwrap();
    support::schema::assert_valid("plan.schema.json", &json);
    let renewal = &json["renewals"][0];
    assert_eq!(renewal["address"], "certificate.www", "{json}");
    assert_eq!(renewal["waiting_for_window"], false, "{json}");
    assert!(
        line.contains(renewal["renew_at"].as_str().unwrap()),
        "{json}"
    );
}
