//! The ACME port against a real Pebble: accounts (with and without EAB), issuance of ECDSA
//! and RSA certificates through the built-in HTTP-01 server, chain verification against
//! Pebble's root, failed validation with cleanup, revocation, and `badNonce` storms.

use crate::support;

use certform::acme::{self, AcmeAccount, OrderRequest, RevocationReason};
use certform::address::{Address, Kind};
use certform::desired::model::{AccountSpec, ExternalAccountBinding, HttpSolverSpec, SolverSpec};
use certform::hook_env::HookEnv;
use certform::keys::{self, CertSummary};
use certform::keytype::KeyType;
use certform::secret::{ConfigSecret, Sensitive};
use certform::solver::Solvers;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::pebble::Pebble;

fn account_spec(pebble: &Pebble) -> AccountSpec {
    AccountSpec {
        name: "test".into(),
        directory: pebble.directory_url(),
        contact: vec!["mailto:ops@example.com".into()],
        terms_of_service_agreed: true,
        key_type: KeyType::EcdsaP256,
        ca_bundle: Some(pebble.ca_bundle_path()),
        external_account_binding: None,
        key_rotation_days: None,
        deactivate_on_destroy: false,
    }
}

fn http_solver(name: &str) -> Address {
    Address::new(Kind::HttpSolver, name)
}

/// A `listen` solver on the port Pebble validates HTTP-01 against.
async fn listen_solvers(pebble: &Pebble) -> Solvers {
    let specs = BTreeMap::from([(
        http_solver("standalone"),
        SolverSpec::Http(HttpSolverSpec::Listen {
            listen: format!("127.0.0.1:{}", pebble.http_port()),
        }),
    )]);
    Solvers::start(
        &specs,
        &BTreeSet::from([http_solver("standalone")]),
        HookEnv::default(),
    )
    .await
    .unwrap()
}

struct Outcome {
    summary: CertSummary,
    fullchain: String,
    key: Sensitive,
    elapsed: Duration,
}

async fn issue(
    account: &AcmeAccount,
    solvers: &Solvers,
    solver_for: &BTreeMap<String, Address>,
    domains: &[String],
    kt: KeyType,
) -> certform::Result<Outcome> {
    let key = tokio::task::spawn_blocking(move || keys::CertificateKey::generate(kt))
        .await
        .unwrap()?;
    let csr = key.csr_der(domains, false)?;
    let key = key.into_pem();
    let started = Instant::now();
    let issued = account
        .issue(
            OrderRequest {
                domains,
                solver_for,
                csr_der: csr,
                profile: None,
                replaces: None,
                preferred_chain: None,
            },
            solvers,
        )
        .await?;
    let elapsed = started.elapsed();
    assert!(issued.order_url.starts_with("https://127.0.0.1:"));
    let summary = keys::summarize_chain(&issued.fullchain_pem)?;
    assert_eq!(key_spki_matches(&key, &summary), kt);
    Ok(Outcome {
        summary,
        fullchain: issued.fullchain_pem,
        key,
        elapsed,
    })
}

/// The certificate carries our key (the CSR's), not one the client made up.
fn key_spki_matches(key: &Sensitive, summary: &CertSummary) -> KeyType {
    let kp = rcgen::KeyPair::from_pem(key.expose()).unwrap();
    use rcgen::PublicKeyData;
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(kp.subject_public_key_info())),
        summary.spki_sha256
    );
    keys::key_type_of(key).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn all_to(domains: &[String], solver: &Address) -> BTreeMap<String, Address> {
    domains
        .iter()
        .map(|d| (d.clone(), solver.clone()))
        .collect()
}

/// Verify leaf → chain → Pebble's issuing root with `openssl verify` (or, without openssl,
/// check the issuer/subject links with x509-parser).
fn verify_chain(pebble: &Pebble, summary: &CertSummary, tag: &str) {
    let root = pebble.issuing_roots_pem();
    let dir = pebble.temp_dir();
    let write = |name: &str, text: &str| {
        let path = dir.join(format!("{tag}-{name}"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let root_path = write("root.pem", &root);
    let chain_path = write("chain.pem", &summary.chain_pem);
    let leaf_path = write("leaf.pem", &summary.certificate_pem);
    if which("openssl") {
        let out = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&root_path)
            .arg("-untrusted")
            .arg(&chain_path)
            .arg(&leaf_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        let subject_of = |pem: &str| {
            let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
            let cert = p.parse_x509().unwrap();
            (cert.subject().to_string(), cert.issuer().to_string())
        };
        let (_, leaf_issuer) = subject_of(&summary.certificate_pem);
        let (chain_subject, chain_issuer) = subject_of(&summary.chain_pem);
        let (root_subject, _) = subject_of(&root);
        assert_eq!(leaf_issuer, chain_subject);
        assert_eq!(chain_issuer, root_subject);
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| Path::new(&d).join(program).is_file()))
        .unwrap_or(false)
}

fn status_of(pebble: &Pebble, serial: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&pebble.cert_status(serial)).unwrap();
    json["Status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn issues_ecdsa_and_rsa_verifies_chains_and_revokes() {
    let pebble = Pebble::start();
    let created = acme::create_account(&account_spec(&pebble)).await.unwrap();
    assert!(created.account_url.starts_with("https://127.0.0.1:"));
    assert_eq!(created.account.url(), created.account_url);
    // The credentials restore the same account.
    let loaded = acme::load_account(&created.credentials, None, Some(&pebble.ca_bundle_path()))
        .await
        .unwrap();
    assert_eq!(loaded.url(), created.account_url);

    let solvers = listen_solvers(&pebble).await;
    let solver = http_solver("standalone");

    let ec_domains = names(&["ec.example.com", "www.ec.example.com"]);
    let ec = issue(
        &created.account,
        &solvers,
        &all_to(&ec_domains, &solver),
        &ec_domains,
        KeyType::EcdsaP256,
    )
    .await
    .unwrap();
    assert_eq!(ec.summary.domains, ec_domains);
    assert!(
        ec.summary.issuer.contains("Pebble"),
        "{}",
        ec.summary.issuer
    );
    assert!(ec.summary.not_after > ec.summary.not_before);
    assert!(ec.fullchain.starts_with(&ec.summary.certificate_pem));
    verify_chain(&pebble, &ec.summary, "ec");

    let rsa_domains = names(&["rsa.example.com", "www.rsa.example.com"]);
    let rsa = issue(
        &loaded,
        &solvers,
        &all_to(&rsa_domains, &solver),
        &rsa_domains,
        KeyType::Rsa2048,
    )
    .await
    .unwrap();
    assert_eq!(rsa.summary.domains, rsa_domains);
    verify_chain(&pebble, &rsa.summary, "rsa");
    eprintln!(
        "issuance against Pebble: ecdsa-p256 {:?}, rsa-2048 {:?} (key generation excluded)",
        ec.elapsed, rsa.elapsed
    );

    assert_eq!(status_of(&pebble, &ec.summary.serial_number), "Valid");
    created
        .account
        .revoke(
            &ec.summary.certificate_pem,
            Some(RevocationReason::Superseded),
        )
        .await
        .unwrap();
    assert_eq!(status_of(&pebble, &ec.summary.serial_number), "Revoked");
    assert_eq!(status_of(&pebble, &rsa.summary.serial_number), "Valid");

    // A second revocation is refused with the CA's problem document in the message.
    let err = created
        .account
        .revoke(&ec.fullchain, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ACME error: urn:ietf:params:acme:error:"),
        "{err}"
    );
    assert!(err.contains("(status 4"), "{err}");
    assert!(!err.contains(created.credentials.expose()), "{err}");

    solvers.shutdown().await;
}

#[tokio::test]
async fn failed_validation_names_the_domain_and_cleans_up() {
    let pebble = Pebble::start();
    let account = acme::create_account(&account_spec(&pebble))
        .await
        .unwrap()
        .account;

    // good.example.com is served by the listener; bad.example.com only gets a file in a
    // webroot nothing serves, so Pebble's request for it ends in a 404.
    let webroot = pebble.temp_dir().join("www");
    let specs = BTreeMap::from([
        (
            http_solver("standalone"),
            SolverSpec::Http(HttpSolverSpec::Listen {
                listen: format!("127.0.0.1:{}", pebble.http_port()),
            }),
        ),
        (
            http_solver("unserved"),
            SolverSpec::Http(HttpSolverSpec::Webroot {
                webroot: webroot.clone(),
            }),
        ),
    ]);
    let solvers = Solvers::start(
        &specs,
        &BTreeSet::from([http_solver("standalone"), http_solver("unserved")]),
        HookEnv::default(),
    )
    .await
    .unwrap();
    let domains = names(&["good.example.com", "bad.example.com"]);
    let solver_for = BTreeMap::from([
        (domains[0].clone(), http_solver("standalone")),
        (domains[1].clone(), http_solver("unserved")),
    ]);
    let err = match issue(
        &account,
        &solvers,
        &solver_for,
        &domains,
        KeyType::EcdsaP256,
    )
    .await
    {
        Ok(_) => panic!("issuance must fail when a challenge cannot be validated"),
        Err(e) => e.to_string(),
    };
    eprintln!("failed validation reads: {err}");
    assert!(err.starts_with("ACME error: "), "{err}");
    assert!(
        err.contains("authorization for bad.example.com failed"),
        "{err}"
    );
    assert!(err.contains("http-01"), "{err}");
    assert!(err.contains("urn:ietf:params:acme:error:"), "{err}");
    assert!(!err.contains("good.example.com failed"), "{err}");

    // The webroot file was written and removed again.
    let challenge_dir = webroot.join(".well-known/acme-challenge");
    assert!(challenge_dir.is_dir(), "present never ran");
    let left: Vec<_> = std::fs::read_dir(&challenge_dir).unwrap().collect();
    assert!(left.is_empty(), "challenge files left behind: {left:?}");

    // The listener still works for a later order (its token map was cleaned, not broken).
    let again = names(&["good.example.com"]);
    issue(
        &account,
        &solvers,
        &all_to(&again, &http_solver("standalone")),
        &again,
        KeyType::EcdsaP256,
    )
    .await
    .unwrap();
    solvers.shutdown().await;
}

#[tokio::test]
async fn certificate_keys_of_every_type_revoke_their_own_certificate() {
    let pebble = Pebble::start();
    let account = acme::create_account(&account_spec(&pebble))
        .await
        .unwrap()
        .account;
    let solvers = listen_solvers(&pebble).await;
    let mut issued = Vec::new();
    for (domain, kt) in [
        ("p384.example.com", KeyType::EcdsaP384),
        ("rsa.example.com", KeyType::Rsa2048),
    ] {
        let domains = names(&[domain]);
        let solver_for = all_to(&domains, &http_solver("standalone"));
        issued.push(
            issue(&account, &solvers, &solver_for, &domains, kt)
                .await
                .unwrap(),
        );
    }
    solvers.shutdown().await;
    let (directory, ca_bundle) = (pebble.directory_url(), pebble.ca_bundle_path());

    // The CA checks the key in the request against the certificate's.
    let refused = acme::revoke_with_certificate_key(
        &directory,
        Some(&ca_bundle),
        &issued[0].fullchain,
        &issued[1].key,
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        refused.starts_with("ACME error: urn:ietf:params:acme:error:"),
        "{refused}"
    );
    assert!(!refused.contains("PRIVATE KEY"), "{refused}");
    assert_eq!(
        status_of(&pebble, &issued[0].summary.serial_number),
        "Valid"
    );

    for outcome in &issued {
        acme::revoke_with_certificate_key(
            &directory,
            Some(&ca_bundle),
            &outcome.fullchain,
            &outcome.key,
            Some(RevocationReason::KeyCompromise),
        )
        .await
        .unwrap();
        assert_eq!(
            status_of(&pebble, &outcome.summary.serial_number),
            "Revoked"
        );
        let status: serde_json::Value =
            serde_json::from_str(&pebble.cert_status(&outcome.summary.serial_number)).unwrap();
        assert_eq!(status["Reason"], 1, "keyCompromise reached the CA");
    }
}

#[tokio::test]
async fn certforms_own_requests_retry_rejected_nonces_and_then_give_up() {
    // Every nonce is refused, so the request never reaches the certificate check: any
    // certificate and key will do.
    let pebble = Pebble::builder()
        .env("PEBBLE_WFE_NONCEREJECT", "100")
        .start();
    let key = keys::generate_private_key(KeyType::EcdsaP256).unwrap();
    let signing = rcgen::KeyPair::from_pem(key.expose()).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["nonce.example.com".to_string()])
        .unwrap()
        .self_signed(&signing)
        .unwrap()
        .pem();
    let err = acme::revoke_with_certificate_key(
        &pebble.directory_url(),
        Some(&pebble.ca_bundle_path()),
        &certificate,
        &key,
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("ACME error: urn:ietf:params:acme:error:badNonce"),
        "{err}"
    );
    assert!(
        err.contains(
            "(while revoking the certificate with its own key); gave up after 16 attempts"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn nonce_rejection_storm_is_retried() {
    let pebble = Pebble::builder()
        .env("PEBBLE_WFE_NONCEREJECT", "50")
        .start();
    let account = acme::create_account(&account_spec(&pebble))
        .await
        .unwrap()
        .account;
    let solvers = listen_solvers(&pebble).await;
    for i in 0..2 {
        let domains = vec![
            format!("nonce{i}.example.com"),
            format!("www.nonce{i}.example.com"),
        ];
        let out = issue(
            &account,
            &solvers,
            &all_to(&domains, &http_solver("standalone")),
            &domains,
            KeyType::EcdsaP256,
        )
        .await
        .unwrap();
        assert_eq!(out.summary.domains, domains);
    }
    solvers.shutdown().await;
}

#[tokio::test]
async fn external_account_binding_is_sent_and_required() {
    const KID: &str = "certform-kid";
    const HMAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let pebble = Pebble::builder().eab_key(KID, HMAC).start();

    let mut spec = account_spec(&pebble);
    let err = acme::create_account(&spec).await.unwrap_err().to_string();
    assert!(err.contains("externalAccountRequired"), "{err}");

    spec.external_account_binding = Some(ExternalAccountBinding {
        kid: "wrong-kid".into(),
        hmac_key: ConfigSecret::Known {
            value: Sensitive::new(HMAC),
            env: None,
        },
    });
    let err = acme::create_account(&spec).await.unwrap_err().to_string();
    assert!(
        err.starts_with("ACME error: urn:ietf:params:acme:error:"),
        "{err}"
    );
    assert!(!err.contains(HMAC), "{err}");

    spec.external_account_binding = Some(ExternalAccountBinding {
        kid: KID.into(),
        hmac_key: ConfigSecret::Known {
            value: Sensitive::new(HMAC),
            env: None,
        },
    });
    let created = acme::create_account(&spec).await.unwrap();
    assert!(!format!("{created:?}").contains(HMAC));
}

/// Without Pebble on PATH the harness panics with how to install it instead of skipping.
#[test]
fn missing_pebble_panics_with_install_hint() {
    const PROBE: &str = "CERTFORM_TEST_PEBBLE_MISSING_PROBE";
    if std::env::var_os(PROBE).is_some() {
        let _ = Pebble::start();
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "acme_pebble::missing_pebble_panics_with_install_hint",
            "--exact",
            "--nocapture",
        ])
        .env(PROBE, "1")
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the probe must fail: {stderr}");
    assert!(
        stderr.contains(
            "pebble is not installed: run 'apt-get install -y pebble' (Debian) — the tests need a real ACME CA"
        ),
        "{stderr}"
    );
}
