//! ARI (RFC 9773) end to end: the real `certform` binary against Pebble behind a small
//! ARI-serving proxy, because these tests move the window at will, which no Pebble does
//! (ARI from the current Pebble itself is tested in tests/modern_acme.rs). The window is
//! fetched before each plan, kept in this machine's ARI cache by apply, honoured with its
//! `Retry-After`, and decides renewal;
//! renewal orders name the replaced certificate in `replaces`.

use crate::support;

use certform::plan::ari::choose_renewal_time;
use support::ari_proxy::AriProxy;
use support::pebble::Pebble;
use support::project::{cert_block, read, Project};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn parse(value: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).unwrap()
}

/// A window around now whose chosen renewal time for `serial` is already behind us (the
/// choice is a pure function of the serial and the window, so the test can find one).
fn window_already_open(serial: &str) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (0..1000)
        .map(|i| {
            (
                now - Duration::hours(2),
                now + Duration::hours(2) + Duration::seconds(i),
            )
        })
        .find(|(start, end)| {
            choose_renewal_time(serial, *start, *end) < now - Duration::minutes(10)
        })
        .expect("some window puts the renewal time in the past")
}

#[test]
fn the_ari_window_decides_renewal_and_orders_name_the_replaced_certificate() {
    let pebble = Pebble::start();
    let proxy = AriProxy::start(&pebble);
    let now = OffsetDateTime::now_utc();
    let (far_start, far_end) = (now + Duration::days(30), now + Duration::days(32));
    proxy.set_window(&rfc3339(far_start), &rfc3339(far_end), None);
    proxy.set_retry_after(3600);
    let p = Project::with_directory(pebble, proxy.directory_url());
    p.config(&cert_block("www", &["ari.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        proxy.new_orders()[0].get("replaces").is_none(),
        "a first issuance replaces nothing"
    );

    // A window in the future: nothing to do, and apply keeps the window and its time in
    // this machine's ARI cache, not in state (whose serial stays).
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
    assert_eq!(proxy.renewal_info_requests(), 1);
    let serial = p.state_json()["serial"].clone();
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.state_json()["serial"], serial);
    let lineage = p.state_json()["lineage"].as_str().unwrap().to_string();
    let cache = read(&p.path(&format!("xdg-state/certform/ari/{lineage}.json")));
    let cache: serde_json::Value = serde_json::from_str(&cache).unwrap();
    let ari = cache["certificate.www"]["ari"].clone();
    let renew_at = parse(&ari["renew_at"]);
    assert!(
        parse(&ari["window_start"]) <= renew_at && renew_at <= parse(&ari["window_end"]),
        "{ari}"
    );
    assert_eq!(parse(&ari["window_start"]), far_start);

    // Retry-After (an hour) has not passed: the kept window stands, nothing is fetched.
    let fetched = proxy.renewal_info_requests();
    p.expect(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(
        proxy.renewal_info_requests(),
        fetched,
        "Retry-After is honoured"
    );

    // --replace reissues; the order names the certificate it replaces.
    let first = p.serial_of("certificate.www");
    p.expect(
        &["apply", "--auto-approve", "--replace", "certificate.www"],
        0,
    );
    let replaces = proxy.new_orders()[1]["replaces"]
        .as_str()
        .expect("the reissue names what it replaces")
        .to_string();
    let serial_b64 = base64_serial(&first);
    assert!(
        replaces.ends_with(&format!(".{serial_b64}")),
        "{replaces} names serial {first}"
    );

    // The chosen time inside an open window has passed: renew.
    let second = p.serial_of("certificate.www");
    let (start, end) = window_already_open(&second);
    proxy.set_window(&rfc3339(start), &rfc3339(end), None);
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains(&format!(
            "# certificate.www will be renewed: ARI window opened {} (renewal time",
            start.date()
        )),
        "{plan}"
    );
    assert!(plan.contains("Plan: 0 to issue, 1 to renew"), "{plan}");

    // The CA moved the window into the past (it plans to revoke): renew now, and say why.
    let past = now - Duration::days(2);
    proxy.set_window(
        &rfc3339(past),
        &rfc3339(past + Duration::days(1)),
        Some("https://ca.example/incident"),
    );
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.www will be renewed: the CA moved the ARI window into the past (it ended")
            && plan.contains("replace now; see https://ca.example/incident"),
        "{plan}"
    );
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains("certificate.www (renew): done"),
        "{applied}"
    );
    let orders = proxy.new_orders();
    let renewal = orders.last().unwrap();
    assert!(
        renewal["replaces"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!(".{}", base64_serial(&second)))),
        "{renewal}"
    );

    // The renewed certificate gets its own window.
    proxy.set_window(&rfc3339(far_start), &rfc3339(far_end), None);
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
}

/// RFC 9773's serial part: base64url of the DER INTEGER content (a leading zero byte when
/// the high bit is set).
fn base64_serial(hex_serial: &str) -> String {
    use base64::Engine;
    let padded = if hex_serial.len() % 2 == 1 {
        format!("0{hex_serial}")
    } else {
        hex_serial.to_string()
    };
    let mut bytes = hex::decode(padded).unwrap();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
