//! `profile` is passed through to the CA: the new-order request carries it (RFC draft
//! "ACME profiles"), and changing it reissues. Debian's Pebble ignores profiles, so the
//! request is observed through the proxy in front of it.

mod support;

use support::ari_proxy::AriProxy;
use support::pebble::Pebble;
use support::project::{cert_block, Project};

#[test]
fn the_profile_is_sent_with_the_order_and_a_change_reissues() {
    let pebble = Pebble::start();
    let proxy = AriProxy::start(&pebble);
    let p = Project::with_directory(pebble, proxy.directory_url());
    p.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"tlsserver\"",
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(proxy.new_orders()[0]["profile"], "tlsserver");

    p.config(&cert_block(
        "www",
        &["profile.e2e.test"],
        "profile = \"shortlived\"",
    ));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.www will be reissued: profile tlsserver -> shortlived"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(proxy.new_orders()[1]["profile"], "shortlived");
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
