//! TLS-ALPN-01 end to end: the real `certform` binary answers Pebble's validation on
//! Pebble's `tlsPort` with its built-in listener; no HTTP solver is configured.

use crate::support;

use support::certform::{pebble_account, Workdir};
use support::pebble::Pebble;

#[test]
fn tls_alpn_solver_issues_with_only_the_tls_port() {
    let pebble = Pebble::start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            r#"{}
tls_alpn_solver "edge" {{
  listen = "127.0.0.1:{}"
}}

certificate "edge" {{
  account = account.pebble
  domains = ["alpn.test", "www.alpn.test"]
  solvers = [tls_alpn_solver.edge]
  output "files" {{
    directory = "tls/edge"
  }}
}}
"#,
            pebble_account(&pebble),
            pebble.tls_port()
        ),
    );
    let plan = work.expect(&["plan"], 0);
    assert!(plan.contains("certificate.edge will be issued"), "{plan}");
    work.expect(&["apply", "--auto-approve"], 0);
    let names = work.subject_alt_names("tls/edge/cert.pem");
    assert!(names.contains("DNS:alpn.test"), "{names}");
    assert!(names.contains("DNS:www.alpn.test"), "{names}");
    // The listener is gone once apply ends.
    assert!(std::net::TcpStream::connect(("127.0.0.1", pebble.tls_port())).is_err());
}

#[test]
fn a_wildcard_cannot_use_tls_alpn() {
    let pebble = Pebble::start();
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &format!(
            r#"{}
tls_alpn_solver "edge" {{
  listen = ":443"
}}

certificate "wild" {{
  account = account.pebble
  domains = ["*.alpn.test"]
  solvers = [tls_alpn_solver.edge]
}}
"#,
            pebble_account(&pebble)
        ),
    );
    let all = work.expect(&["validate"], 1);
    assert!(all.contains("Wildcard needs a DNS solver"), "{all}");
    assert!(all.contains("main.hcl:"), "{all}");
}
