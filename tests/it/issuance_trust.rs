//! Trusting what certform talks to no further than needed, end to end with the real
//! binary: a certificate the CA (Pebble behind the test proxy, `support::ari_proxy`)
//! returns for other names or another key is never deployed nor recorded; a hung
//! `on_change` hook is killed; state backends are reached over TLS unless plaintext is
//! opted into.

use crate::support;

use std::fs;
use support::ari_proxy::AriProxy;
use support::pebble::Pebble;
use support::project::{cert_block, Endpoint, Project};

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

#[test]
fn a_lost_key_change_answer_does_not_lose_the_account() {
    let pebble = Pebble::start();
    let proxy = AriProxy::start(&pebble);
    let p = Project::with_directory(pebble, proxy.directory_url());
    p.config(&cert_block("www", &["roll.trust.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let old = p.secrets().accounts["pebble"].credentials.clone();

    // Pebble changes the key; its answer never arrives.
    proxy.drop_next_key_change_answer();
    let out = p.expect(
        &["apply", "--auto-approve", "--replace", "account.pebble"],
        0,
    );
    assert!(out.contains("account.pebble (rotate-key): done"), "{out}");
    let secrets = p.secrets();
    assert_ne!(
        secrets.accounts["pebble"].credentials.expose(),
        old.expose()
    );
    assert!(secrets.pending_account_keys.is_empty());

    // The stored key is the one the CA holds: the account still orders.
    let out = p.expect(
        &["apply", "--auto-approve", "--replace", "certificate.www"],
        0,
    );
    assert!(
        out.contains("certificate.www (reissue): done")
            || out.contains("certificate.www (renew): done"),
        "{out}"
    );
}

/// A CA certificate of no server here: a system store holding only it trusts no CA.
fn unrelated_ca_pem() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

/// `ca_bundle = "system"` trusts the machine's trust store, here a scratch one as
/// rustls-native-certs reads it (`SSL_CERT_FILE`, `SSL_CERT_DIR`): with Pebble's root installed there the
/// apply succeeds; with only another CA there the CA is refused; an empty store is named.
#[test]
fn ca_bundle_system_trusts_the_system_store_and_nothing_else() {
    let pebble = Pebble::start();
    let store = tempfile::tempdir().unwrap();
    let roots = store.path().join("ca-certificates.crt");
    fs::copy(pebble.ca_bundle_path(), &roots).unwrap();
    let endpoint = Endpoint {
        ca_bundle: "system".into(),
        ..Endpoint::of(&pebble)
    };
    // The scratch store's hashed-certificate directory: empty, so no root comes from the
    // machine's own store (`SSL_CERT_DIR` may be set in the test's environment).
    let hashed = store.path().join("certs");
    fs::create_dir(&hashed).unwrap();
    let env = [
        ("SSL_CERT_FILE", roots.to_str().unwrap()),
        ("SSL_CERT_DIR", hashed.to_str().unwrap()),
    ];
    let p = Project::with_setup(pebble, &env, &[]);
    p.set_endpoint(&endpoint);
    p.config(&cert_block("www", &["www.system.test"], ""));
    let out = p.expect(&["apply", "--auto-approve"], 0);
    assert!(p.path("tls/www/fullchain.pem").exists(), "{out}");
    assert_eq!(
        p.state_json()["accounts"]["pebble"]["ca_bundle"],
        "system",
        "{out}"
    );

    fs::write(&roots, unrelated_ca_pem()).unwrap();
    p.config(&cert_block("api", &["api.system.test"], ""));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("invalid peer certificate"), "{out}");
    assert!(!p.path("tls/api").exists(), "{out}");

    fs::write(&roots, "").unwrap();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains("the system trust store holds no usable root")
            && out.contains("SSL_CERT_FILE"),
        "{out}"
    );
}

/// The state backends' transport rules (a build without them refuses their blocks instead:
/// `config_diagnostics`).
#[cfg(feature = "postgres")]
mod backend_transport {
    use super::support::backend_servers::Postgres;
    use super::support::project::{certform_in, text};
    use std::fs;

    /// `certform plan` in a directory whose configuration is only `certform { state { BODY } }`:
    /// its output, after asserting the exit code.
    fn plan_with_backend(body: &str, code: i32) -> String {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("main.hcl"),
            format!("certform {{\n  state {{\n{body}\n  }}\n}}\n"),
        )
        .unwrap();
        let out = certform_in(dir.path()).arg("plan").output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{all}");
        all
    }

    #[test]
    fn a_postgres_conn_str_without_sslmode_requires_tls() {
        // A cluster without TLS: libpq's default `prefer` would fall back to plaintext.
        let pg = Postgres::start();
        let out = plan_with_backend(
            &format!("    backend  = \"postgres\"\n    conn_str = {:?}", pg.url()),
            1,
        );
        assert!(
            out.contains("Cannot connect to the postgres state backend")
                && out.contains("server does not support TLS"),
            "{out}"
        );
    }

    #[cfg(feature = "s3")]
    #[test]
    fn plaintext_backend_transport_is_a_configuration_error_unless_opted_into() {
        for sslmode in ["prefer", "disable"] {
            let out = plan_with_backend(
                &format!(
                    "    backend  = \"postgres\"\n    conn_str = \"postgres://u:pw@db.example/x?sslmode={sslmode}\""
                ),
                1,
            );
            assert!(
                out.contains("Insecure transport")
                    && out.contains(&format!("sets sslmode={sslmode}"))
                    && out.contains("set allow_insecure_transport = true in the state block"),
                "{out}"
            );
            assert!(!out.contains("u:pw"), "{out}");
        }
        let out = plan_with_backend(
            "    backend  = \"s3\"\n    bucket   = \"b\"\n    key      = \"k\"\n    endpoint = \"http://minio.internal:9000\"",
            1,
        );
        assert!(
            out.contains("The s3 backend's endpoint is http://")
                && out.contains("allow_insecure_transport = true"),
            "{out}"
        );
    }
}
