//! Benchmark fixtures: a configuration directory with N certificate blocks and a matching
//! state of N real certificates and keys issued by a local CA (rcgen, not Pebble), encrypted
//! to a fresh age identity. `due_percent` of the certificates are 80 days into a 90-day
//! lifetime, so a plan renews exactly those. Fixtures are cached under
//! `target/bench-fixtures/` because generating 50,000 certificates takes a while.

use certform::address::Address;
use certform::keytype::KeyType;
use certform::secret::Sensitive;
use certform::state::model::{
    AccountSecret, AccountState, CertificateSecret, CertificateState, Secrets, State,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

pub struct Fixture {
    pub dir: PathBuf,
    pub identity: PathBuf,
}

impl Fixture {
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state/default.certstate")
    }
}

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`) rather than the
/// smoke run `cargo test` makes of every bench target.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The fixture for `certificates` certificates, generated once and then reused.
pub fn fixture(certificates: usize, due_percent: usize) -> Fixture {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-fixtures")
        .join(format!("n{certificates}-due{due_percent}"));
    let fixture = Fixture {
        identity: dir.join("identity.txt"),
        dir: dir.clone(),
    };
    if fixture.state_path().exists() {
        return fixture;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let recipient = certform::state::generate_identity(&fixture.identity).unwrap();
    let now = OffsetDateTime::now_utc();
    // Every (100 / due_percent)th certificate is due; none when due_percent is 0.
    let due_every = 100usize.checked_div(due_percent);

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "certform bench CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut state = State::new();
    let mut secrets = Secrets::default();
    state.accounts.insert("bench".into(), account(now));
    secrets.accounts.insert(
        "bench".into(),
        AccountSecret {
            credentials: Sensitive::new("{\"bench\": \"not a real account\"}"),
        },
    );
    let mut config = header(&recipient);
    for i in 0..certificates {
        let name = format!("site{i}");
        let domains = vec![
            format!("{name}.bench.test"),
            format!("www.{name}.bench.test"),
        ];
        let due = due_every.is_some_and(|every| i % every == 0);
        let age_days = if due { 80 } else { 5 };
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(domains.clone()).unwrap();
        params.not_before = now - Duration::days(age_days);
        params.not_after = params.not_before + Duration::days(90);
        let leaf = params.signed_by(&key, &issuer).unwrap();
        let summary =
            certform::keys::summarize_chain(&format!("{}{}", leaf.pem(), ca_pem)).unwrap();
        let address = Address::certificate(&name);
        state.certificates.insert(
            address.clone(),
            CertificateState {
                account: "bench".into(),
                directory: DIRECTORY.into(),
                domains: domains.clone(),
                key_type: KeyType::EcdsaP256,
                must_staple: false,
                profile: None,
                preferred_chain: None,
                revoke_on_destroy: false,
                serial_number: summary.serial_number,
                not_before: summary.not_before,
                not_after: summary.not_after,
                issuer: summary.issuer,
                spki_sha256: summary.spki_sha256,
                certificate_pem: summary.certificate_pem,
                chain_pem: summary.chain_pem,
                order_url: None,
                issued_at: summary.not_before,
                outputs: BTreeMap::new(),
                ari: None,
                pending_revocation: Vec::new(),
                revoked: None,
            },
        );
        secrets.certificates.insert(
            address,
            CertificateSecret {
                private_key_pem: Sensitive::new(key.serialize_pem()),
            },
        );
        let _ = write!(
            config,
            "\ncertificate \"{name}\" {{\n  account = account.bench\n  domains = [\"{}\", \"{}\"]\n  solvers = [http_solver.web]\n}}\n",
            domains[0], domains[1]
        );
    }
    std::fs::write(dir.join("main.hcl"), config).unwrap();
    let bytes = certform::state::encode(&state, &secrets, &[recipient]).unwrap();
    std::fs::write(fixture.state_path(), bytes).unwrap();
    fixture
}

const DIRECTORY: &str = "https://acme.bench.test/directory";

fn account(now: OffsetDateTime) -> AccountState {
    AccountState {
        directory: DIRECTORY.into(),
        account_url: "https://acme.bench.test/acct/1".into(),
        contact: vec!["mailto:ops@bench.test".into()],
        key_type: KeyType::EcdsaP256,
        key_created_at: now,
        created_at: now,
        ca_bundle: None,
        deactivate_on_destroy: false,
        external_account_binding: None,
    }
}

fn header(recipient: &str) -> String {
    format!(
        r#"certform {{
  state {{
    recipients = ["{recipient}"]
  }}
}}

account "bench" {{
  directory               = "{DIRECTORY}"
  contact                 = ["mailto:ops@bench.test"]
  terms_of_service_agreed = true
}}

http_solver "web" {{
  listen = "127.0.0.1:5002"
}}
"#
    )
}
