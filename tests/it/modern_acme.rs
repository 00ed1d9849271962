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

/// Pebble answers a finalize with `Retry-After` (1 s here, as seconds or as an HTTP date):
/// certform waits that long before polling for the certificate, and `-v` says so.
#[test]
fn polling_honours_the_cas_retry_after_and_says_so_with_v() {
    let p = Project::new(Pebble::builder().retry_after(1, 1).start());
    p.config(&cert_block("www", &["wait.modern.test"], ""));
    let out = p.expect(&["apply", "--auto-approve", "-v"], 0);
    assert!(out.contains("certificate.www (issue): done"), "{out}");
    // As an HTTP date (whole seconds) the same hint reads as a little under 1 s.
    let wait = out
        .lines()
        .find(|l| l.contains("issuance of the order for wait.modern.test: waiting "))
        .unwrap_or_else(|| panic!("no wait logged: {out}"));
    assert!(
        wait.contains("before polling again (the CA's Retry-After asks for "),
        "{wait}"
    );
    let quiet = p.expect(&["plan"], 0);
    assert!(
        !quiet.contains("Retry-After"),
        "only -v shows the waits: {quiet}"
    );
}

/// RFC 8738 §6: the CA asks for an IP address by its reverse-DNS name
/// (`1.0.0.127.in-addr.arpa`) and expects a certificate whose only SAN is the address.
#[test]
fn an_ip_address_certificate_is_issued_over_tls_alpn_01() {
    let p = Project::new(Pebble::builder().current().start());
    let solver = format!(
        "tls_alpn_solver \"edge\" {{\n  listen = \"127.0.0.1:{}\"\n}}\n",
        p.pebble().tls_port()
    );
    let cert = cert_block("ip", &["127.0.0.1"], "").replace(
        "solvers = [http_solver.web]",
        "solvers = [tls_alpn_solver.edge]",
    );
    p.config(&format!("{solver}{cert}"));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(san_text(&p, "tls/ip/fullchain.pem").contains("IP Address:127.0.0.1"));
    p.verify("tls/ip");
}

/// IPv6 end to end: Pebble connects to [::1] for HTTP-01, so the solver listens there.
#[test]
fn an_ipv6_certificate_is_issued_over_http_01() {
    let p = Project::new(Pebble::builder().current().start());
    let solver = format!(
        "http_solver \"v6\" {{\n  listen = \"[::1]:{}\"\n}}\n",
        p.pebble().http_port()
    );
    let cert = cert_block("v6", &["::1"], "")
        .replace("solvers = [http_solver.web]", "solvers = [http_solver.v6]");
    p.config(&format!("{solver}{cert}"));
    // Plans and `show` name the identifier type: `ip:` (RFC 8738), `dns:` for names.
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("domains     = [\"::1\"]"), "{plan}");
    assert!(plan.contains("identifiers = [\"ip:::1\"]"), "{plan}");
    let json: serde_json::Value = serde_json::from_str(&p.stdout(&["plan", "--json"], 0)).unwrap();
    let issue = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "certificate.v6")
        .unwrap();
    assert_eq!(issue["after"]["identifiers"], serde_json::json!(["ip:::1"]));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(san_text(&p, "tls/v6/fullchain.pem").contains("IP Address:0:0:0:0:0:0:0:1"));
    p.verify("tls/v6");
    let show = p.expect(&["show"], 0);
    assert!(show.contains("identifiers       = [\"ip:::1\"]"), "{show}");
}

/// `openssl x509 -ext subjectAltName` of a deployed file.
fn san_text(p: &Project, file: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(p.path(file))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_ip_address_with_only_a_dns_solver_is_a_validate_error() {
    let p = Project::new(Pebble::start());
    let solver = "dns_solver \"hook\" {\n  provider = \"exec\"\n  zones    = [\"in-addr.arpa\"]\n  command  = [\"./dns.sh\"]\n}\n";
    let cert = cert_block("ip", &["127.0.0.1"], "")
        .replace("solvers = [http_solver.web]", "solvers = [dns_solver.hook]");
    p.config(&format!("{solver}{cert}"));
    let out = p.expect(&["validate"], 1);
    assert!(
        out.contains("IP address needs an HTTP-01 or TLS-ALPN-01 solver")
            && out.contains("127.0.0.1 is an IP address, which CAs validate only with HTTP-01 or TLS-ALPN-01 (RFC 8738), never DNS"),
        "{out}"
    );
}
