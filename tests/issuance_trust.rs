//! Trusting the CA no further than needed, end to end against Pebble behind the test proxy
//! (`support::ari_proxy`): a certificate the CA returns for other names or another key is
//! never deployed nor recorded.

mod support;

use support::ari_proxy::AriProxy;
use support::pebble::Pebble;
use support::project::{cert_block, Project};

#[test]
fn a_certificate_for_other_names_than_ordered_is_neither_deployed_nor_recorded() {
    let pebble = Pebble::start();
    let proxy = AriProxy::start(&pebble);
    let p = Project::with_directory(pebble, proxy.directory_url());
    p.config(&cert_block("other", &["other.trust.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let other = &p.state_json()["certificates"]["certificate.other"];
    let other_fullchain = format!(
        "{}{}",
        other["certificate_pem"].as_str().unwrap(),
        other["chain_pem"].as_str().unwrap()
    );
    let before = p.state_json();

    // The CA now answers every download with that other certificate.
    proxy.swap_certificates(&other_fullchain);
    p.config(&format!(
        "{}{}",
        cert_block("other", &["other.trust.test"], ""),
        cert_block("www", &["www.trust.test"], "")
    ));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(
            "The CA returned a certificate for other names than ordered: ordered \
             www.trust.test, got other.trust.test"
        ),
        "{out}"
    );
    assert!(!p.path("tls/www").exists(), "nothing was deployed: {out}");
    let after = p.state_json();
    assert!(
        after["certificates"].get("certificate.www").is_none(),
        "{after}"
    );
    assert_eq!(
        after["certificates"]["certificate.other"], before["certificates"]["certificate.other"],
        "the other certificate is untouched"
    );
}

#[test]
fn a_hung_on_change_hook_is_killed_after_its_timeout_and_apply_finishes() {
    let p = Project::new(Pebble::start());
    p.config(
        r#"
certificate "www" {
  account = account.pebble
  domains = ["hook.trust.test"]
  solvers = [http_solver.web]
  output "files" {
    directory         = "tls/www"
    on_change         = ["sleep", "600"]
    on_change_timeout = "1s"
  }
}
"#,
    );
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(
            r#"on_change command ["sleep", "600"] did not finish within 1s; it was killed with its process group"#
        ),
        "{out}"
    );
    assert!(out.contains("2 succeeded, 1 failed"), "{out}");
    assert!(p.path("tls/www/fullchain.pem").exists(), "{out}");
    // The lock was released: the next command gets it at once.
    p.expect(&["plan"], 0);
}
