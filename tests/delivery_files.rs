//! `files` outputs in the `combined` and `pkcs12` formats, read back by the real openssl,
//! and the configuration errors of output kinds, each with its position.

mod support;

use std::process::Command;
use support::pebble::Pebble;
use support::project::{Project, CONTACT};

const PASSWORD: &str = "correct horse battery staple";

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .env("P12_PASSWORD", PASSWORD)
        .output()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn combined_and_pkcs12_files_are_read_by_openssl() {
    let p = Project::with_setup(Pebble::start(), &[("P12_PASSWORD", PASSWORD)], &[]);
    p.config(
        r#"
certificate "www" {
  account = account.pebble
  domains = ["www.example.org"]
  solvers = [http_solver.web]
  output "haproxy" {
    format = "combined"
    path   = "tls/haproxy/www.pem"
  }
  output "java" {
    format    = "pkcs12"
    directory = "tls/java"
    password  = env("P12_PASSWORD")
  }
}
"#,
    );
    p.expect(&["apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.www");

    // combined: key, leaf and chain in one file, readable only by its owner.
    let combined = p.path("tls/haproxy/www.pem");
    let mode = std::fs::metadata(&combined).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let combined = combined.to_str().unwrap();
    let leaf = openssl(&["x509", "-in", combined, "-noout", "-serial"]);
    assert_eq!(
        leaf.trim()
            .trim_start_matches("serial=")
            .to_lowercase()
            .trim_start_matches('0'),
        serial
    );
    openssl(&["pkey", "-in", combined, "-noout"]);
    let text = std::fs::read_to_string(combined).unwrap();
    assert_eq!(
        text.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and issuer"
    );

    // pkcs12: openssl opens it with the password and finds the same key and leaf.
    let archive = p.path("tls/java/certificate.p12");
    let archive = archive.to_str().unwrap();
    let pem = p.path("from-p12.pem");
    openssl(&[
        "pkcs12",
        "-in",
        archive,
        "-passin",
        "env:P12_PASSWORD",
        "-nodes",
        "-out",
        pem.to_str().unwrap(),
    ]);
    let pem = pem.to_str().unwrap();
    let from_archive = openssl(&["x509", "-in", pem, "-noout", "-serial"]);
    assert_eq!(from_archive, leaf);
    let key_of = |file: &str| openssl(&["pkey", "-in", file, "-pubout"]);
    assert_eq!(key_of(pem), key_of(combined));
    // A wrong password is refused.
    let wrong = Command::new("openssl")
        .args(["pkcs12", "-in", archive, "-passin", "pass:wrong", "-nodes"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());

    // In place: no drift; a deleted archive is redeployed without a new order.
    p.expect(&["plan", "--detailed-exitcode"], 0);
    std::fs::remove_file(archive).unwrap();
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(plan.contains("certificate.p12 is missing"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.serial_of("certificate.www"), serial);
    // The password appears nowhere in the plan or the state.
    let shown = p.expect(&["show", "--json"], 0);
    assert!(!shown.contains(PASSWORD) && !plan.contains(PASSWORD));
}

#[test]
fn output_kind_errors_name_their_position() {
    let p = Project::empty();
    std::fs::write(p.vars_path(), "").unwrap();
    std::fs::write(
        p.path("main.hcl"),
        format!(
            r#"account "le" {{
  directory               = "https://acme.invalid/dir"
  terms_of_service_agreed = true
  contact                 = ["{CONTACT}"]
}}

http_solver "web" {{
  listen = ":8080"
}}

certificate "www" {{
  account = account.le
  domains = ["www.example.org"]
  solvers = [http_solver.web]
  output "a" {{
    kind = "azure_keyvault"
  }}
  output "b" {{
    kind      = "aws_acm"
    directory = "tls"
  }}
  output "c" {{
    kind = "s3"
  }}
  output "d" {{
    format = "pkcs12"
    path   = "tls/www.p12"
  }}
  output "e" {{
    format = "pem"
    path   = "tls/www.pem"
  }}
  output "f" {{
    kind     = "aws_acm"
    endpoint = "http://127.0.0.1:1"
  }}
}}
"#
        ),
    )
    .unwrap();
    let out = p.expect(&["validate"], 1);
    for expected in [
        "main.hcl:16:12",
        "\"azure_keyvault\" is not an output kind",
        "main.hcl:20:5",
        "An attribute named `directory` is not expected in `output \"b\"` (kind = \"aws_acm\")",
        "must set `bucket`",
        "must set `password`",
        "main.hcl:31:14",
        "`path` does not apply to format = \"pem\"",
        "main.hcl:35:16",
        "sends the private key and the request signatures unencrypted",
        "allow_insecure_transport = true in the output block",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
}

#[test]
fn the_ci_example_configuration_validates() {
    let p = Project::empty();
    std::fs::write(p.vars_path(), "").unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ci/tls/main.hcl"),
        p.path("main.hcl"),
    )
    .unwrap();
    let out = p.expect(&["validate"], 0);
    assert!(out.contains("valid"), "{out}");
}
