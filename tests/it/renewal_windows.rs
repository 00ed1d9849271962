//! `renewal_window` and `freeze` on a certificate: a due renewal outside the window is not
//! planned (`plan` says it waits for the window's next opening, and `--detailed-exitcode`
//! sees no change) unless the certificate would expire before that opening.

use crate::support;

use support::pebble::Pebble;
use support::project::{cert_block, Project};
use time::OffsetDateTime;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Every day but today and tomorrow (UTC), so the window is closed now even if the date
/// changes while the test runs.
fn days_closed_now() -> String {
    let today = OffsetDateTime::now_utc()
        .weekday()
        .number_days_from_monday() as usize;
    let open: Vec<String> = (2..7)
        .map(|i| format!("{:?}", DAYS[(today + i) % 7]))
        .collect();
    open.join(", ")
}

#[test]
fn a_window_defers_a_due_renewal_in_plan_and_a_freeze_past_expiry_does_not() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["window.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);

    // Due (renew_before is longer than the lifetime), but the window is closed.
    let window = format!(
        "renew_before = \"3650d\"\n  renewal_window {{\n    days = [{}]\n    hours = \"02:00-04:00\"\n    time_zone = \"+01:00\"\n  }}",
        days_closed_now()
    );
    p.config(&cert_block("www", &["window.e2e.test"], &window));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
    let line = plan
        .lines()
        .find(|l| l.contains("certificate.www: due, waiting for the window opening "))
        .unwrap_or_else(|| panic!("no waiting renewal listed: {plan}"));
    assert!(line.contains("T02:00:00+01:00 (expires in "), "{line}");
    assert!(line.contains("(renew_before = 3650d)"), "{line}");
    let serial = p.serial_of("certificate.www");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.serial_of("certificate.www"), serial, "apply waits too");

    // A freeze that lasts past the expiry: renewing now beats an expired certificate.
    let frozen = "renew_before = \"3650d\"\n  freeze {\n    start = \"2020-01-01T00:00:00Z\"\n    end   = \"2099-01-01T00:00:00Z\"\n  }";
    p.config(&cert_block("www", &["window.e2e.test"], frozen));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("renewing outside the renewal window: the certificate expires ")
            && plan.contains(", before the window opens 2099-01-01T00:00:00Z"),
        "{plan}"
    );
}

#[test]
fn a_window_that_cannot_be_read_is_a_validate_error() {
    let p = Project::new(Pebble::start());
    for (block, message) in [
        (
            "renewal_window {\n    hours = \"9-17\"\n  }",
            "is not a span of hours",
        ),
        (
            "renewal_window {\n    days = [\"funday\"]\n  }",
            "\"funday\" is not a day of the week",
        ),
        (
            "renewal_window {\n    time_zone = \"Europe/Paris\"\n  }",
            "IANA names such as \"Europe/Paris\" are not supported",
        ),
        (
            "freeze {\n    start = \"2026-12-20T00:00:00Z\"\n    end = \"2026-12-01T00:00:00Z\"\n  }",
            "must be after its `start`",
        ),
    ] {
        p.config(&cert_block("www", &["window.e2e.test"], block));
        let out = p.expect(&["validate"], 1);
        assert!(out.contains(message), "{block}: {out}");
    }
}
