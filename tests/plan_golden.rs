//! Golden tests of what a reviewer reads: the text plan and the Markdown comment for each
//! kind of plan (create, renew, reissue, redeploy, revoke, rotate-key, no change), computed by the real
//! pipeline — configuration loaded from HCL, `plan::diff` at a fixed time against a state
//! built here — and the JSON of a mixed plan validated against `schemas/plan.schema.json`.
//! Every rendering is scanned for the configuration's secret (an EAB HMAC key).

mod support;

use certform::address::Address;
use certform::config::SecretEnv;
use certform::desired::model::{Desired, OutputFileKind};
use certform::desired::VarInputs;
use certform::plan::drift::{self, EndpointFacts};
use certform::plan::saved::SavedPlan;
use certform::plan::{diff, FileFacts, FileSeen, Observed, PlanOptions};
use certform::render::{self, Style};
use certform::state::model::{AccountState, CertificateState, DeployedFile, DeployedOutput, State};
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::golden::assert_golden;
use support::schema::assert_valid;
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
const EAB_HMAC: &str = "c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0cw";
const DIRECTORY: &str = "https://acme.test/directory";

fn header(contact: &str) -> String {
    format!(
        r#"
account "le" {{
  directory               = "{DIRECTORY}"
  contact                 = ["{contact}"]
  terms_of_service_agreed = true
  external_account_binding {{
    kid      = "kid-1"
    hmac_key = "{EAB_HMAC}"
  }}
}}

http_solver "web" {{
  webroot = "/var/www/html"
}}
"#
    )
}

fn certificate(name: &str, domains: &[&str], extra: &str) -> String {
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    format!(
        r#"
certificate "{name}" {{
  account      = account.le
  domains      = [{}]
  solvers      = [http_solver.web]
  renew_before = "30d"
  {extra}
  output "nginx" {{
    directory = "/srv/tls/{name}"
  }}
}}
"#,
        domains.join(", ")
    )
}

fn load(config: &str) -> Desired {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), config).unwrap();
    certform::desired::load(dir.path(), &VarInputs::default(), SecretEnv::Required)
        .unwrap_or_else(|d| panic!("the test configuration is invalid: {d:?}"))
}

fn account_state(contact: &str) -> AccountState {
    AccountState {
        directory: DIRECTORY.into(),
        account_url: "https://acme.test/acct/1".into(),
        contact: vec![contact.into()],
        key_type: "ecdsa-p256".parse().unwrap(),
        key_created_at: datetime!(2026-01-01 00:00 UTC),
        created_at: datetime!(2026-01-01 00:00 UTC),
        ca_bundle: None,
        deactivate_on_destroy: false,
        // As apply recorded it from the configuration's binding.
        external_account_binding: Some(certform::desired::model::eab_kid_fingerprint("kid-1")),
    }
}

fn deployed(name: &str) -> DeployedOutput {
    let files = [
        (OutputFileKind::Cert, "cert.pem", 0o644),
        (OutputFileKind::Chain, "chain.pem", 0o644),
        (OutputFileKind::Fullchain, "fullchain.pem", 0o644),
        (OutputFileKind::Key, "privkey.pem", 0o600),
    ]
    .into_iter()
    .map(|(kind, file, mode)| DeployedFile {
        kind,
        path: PathBuf::from(format!("/srv/tls/{name}/{file}")),
        sha256: digest(file),
        mode,
    })
    .collect();
    DeployedOutput {
        files,
        remote: None,
    }
}

fn digest(seed: &str) -> String {
    certform::deploy::sha256_hex(seed.as_bytes())
}

fn certificate_state(name: &str, domains: &[&str], not_after: OffsetDateTime) -> CertificateState {
    CertificateState {
        account: "le".into(),
        directory: DIRECTORY.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        key_type: "ecdsa-p256".parse().unwrap(),
        must_staple: false,
        profile: None,
        preferred_chain: None,
        revoke_on_destroy: false,
        serial_number: format!("fa{:02x}", name.len()),
        not_before: not_after - time::Duration::days(90),
        not_after,
        issuer: "CN=Test Intermediate".into(),
        spki_sha256: digest(name),
        certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
            .into(),
        chain_pem: String::new(),
        order_url: None,
        issued_at: not_after - time::Duration::days(90),
        outputs: BTreeMap::from([("nginx".to_string(), deployed(name))]),
        ari: None,
        pending_revocation: Vec::new(),
        revoked: None,
    }
}

fn state_with(certificates: Vec<(&str, CertificateState)>) -> State {
    let mut state = State::new();
    state.lineage = uuid::Uuid::from_u128(0x1234);
    state.serial = 7;
    state
        .accounts
        .insert("le".into(), account_state("mailto:ops@example.com"));
    for (name, cert) in certificates {
        state.certificates.insert(Address::certificate(name), cert);
    }
    state
}

/// Observed files that match `deployed(name)`, with `edit` applied.
fn files_on_disk(name: &str, edit: impl Fn(&str, &mut FileSeen)) -> Observed {
    let mut observed = Observed::default();
    for file in deployed(name).files {
        let mut facts = FileSeen::Regular(FileFacts {
            sha256: file.sha256.clone(),
            mode: file.mode,
            uid: 0,
            gid: 0,
            owner: "root".into(),
            group: "root".into(),
        });
        let file_name = file.path.file_name().unwrap().to_string_lossy().to_string();
        edit(&file_name, &mut facts);
        observed.files.insert(file.path, facts);
    }
    observed
}

/// Plans, renders text (plain and coloured), Markdown and JSON; checks the goldens, the
/// schema and that the secret appears nowhere. Returns the JSON document.
fn check(case: &str, config: &str, state: &State, observed: &Observed) -> serde_json::Value {
    let desired = load(config);
    let changes = diff(&desired, state, observed, NOW, &PlanOptions::default());
    let found = drift::detect(&desired, state, observed, &changes);
    let plan = SavedPlan::new(
        Some(state),
        certform::desired::digest(&desired),
        changes,
        NOW,
    )
    .with_drift(found);

    let text = render::plan::text(&plan.changes, Style::PLAIN)
        + &render::drift::warning(&plan.drift, &plan.changes, Style::PLAIN);
    assert_golden(&format!("plan/{case}.txt"), &text);
    let markdown = render::markdown::markdown(&plan, false);
    assert_golden(&format!("plan/{case}.md"), &markdown);
    let coloured = render::plan::text(&plan.changes, Style { color: true });
    let json = render::plan::json(&plan);
    let saved = String::from_utf8(plan.to_bytes()).unwrap();

    assert!(!markdown.contains('\x1b'), "Markdown holds ANSI codes");
    for (format, output) in [
        ("text", &text),
        ("colour text", &coloured),
        ("Markdown", &markdown),
        ("JSON", &json),
        ("saved plan", &saved),
    ] {
        assert!(
            !output.contains(EAB_HMAC),
            "the {format} plan shows the EAB HMAC key:\n{output}"
        );
    }
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_valid("plan.schema.json", &document);
    document
}

#[test]
fn create() {
    let config = header("mailto:ops@example.com")
        + &certificate("www", &["example.com", "www.example.com"], "");
    let document = check("create", &config, &State::new(), &Observed::default());
    assert_eq!(document["change_classes"], serde_json::json!(["create"]));
    // Booleans are booleans, not the string "false".
    assert_eq!(document["changes"][1]["after"]["must_staple"], false);
}

#[test]
fn renew() {
    let config = header("mailto:ops@example.com") + &certificate("www", &["example.com"], "");
    let state = state_with(vec![(
        "www",
        certificate_state("www", &["example.com"], NOW + time::Duration::days(12)),
    )]);
    let document = check("renew", &config, &state, &Observed::default());
    assert_eq!(document["change_classes"], serde_json::json!(["renewal"]));
    assert_eq!(document["drift"][0]["kind"], "renewal_due");
}

#[test]
fn reissue() {
    let config = header("mailto:ops@example.com")
        + &certificate(
            "www",
            &["example.com", "api.example.com"],
            "key_type = \"ecdsa-p384\"",
        );
    let state = state_with(vec![(
        "www",
        certificate_state(
            "www",
            &["example.com", "www.example.com"],
            NOW + time::Duration::days(60),
        ),
    )]);
    let document = check("reissue", &config, &state, &Observed::default());
    assert_eq!(document["change_classes"], serde_json::json!(["replace"]));
}

#[test]
fn redeploy() {
    let config = header("mailto:ops@example.com") + &certificate("www", &["example.com"], "");
    let state = state_with(vec![(
        "www",
        certificate_state("www", &["example.com"], NOW + time::Duration::days(60)),
    )]);
    let observed = files_on_disk("www", |file, seen| match (file, seen) {
        ("fullchain.pem", seen) => *seen = FileSeen::Missing,
        ("cert.pem", FileSeen::Regular(facts)) => facts.sha256 = digest("edited by hand"),
        ("privkey.pem", FileSeen::Regular(facts)) => facts.mode = 0o644,
        _ => {}
    });
    let document = check("redeploy", &config, &state, &observed);
    assert_eq!(document["change_classes"], serde_json::json!(["renewal"]));
    let kinds: Vec<&str> = document["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["file_missing", "file_changed", "file_mode"]);
}

#[test]
fn revoke() {
    let config = header("mailto:ops@example.com");
    let mut old = certificate_state("old", &["old.example.com"], NOW + time::Duration::days(60));
    old.revoke_on_destroy = true;
    let state = state_with(vec![("old", old)]);
    let document = check("revoke", &config, &state, &Observed::default());
    assert_eq!(document["change_classes"], serde_json::json!(["destroy"]));
    assert_eq!(document["drift"][0]["kind"], "not_in_config");
}

/// The account key is older than `key_rotation_days`: an in-place rollover, nothing else.
#[test]
fn rotate_key() {
    let config = header("mailto:ops@example.com").replace(
        "terms_of_service_agreed = true",
        "terms_of_service_agreed = true\n  key_rotation_days       = 90",
    ) + &certificate("www", &["example.com"], "");
    let state = state_with(vec![(
        "www",
        certificate_state("www", &["example.com"], NOW + time::Duration::days(60)),
    )]);
    let observed = files_on_disk("www", |_, _| {});
    let document = check("rotate_key", &config, &state, &observed);
    assert_eq!(document["changes"][0]["action"], "rotate-key");
    assert_eq!(document["changes"].as_array().unwrap().len(), 1);
}

#[test]
fn no_changes() {
    let config = header("mailto:ops@example.com") + &certificate("www", &["example.com"], "");
    let state = state_with(vec![(
        "www",
        certificate_state("www", &["example.com"], NOW + time::Duration::days(60)),
    )]);
    let observed = files_on_disk("www", |_, _| {});
    let document = check("no_changes", &config, &state, &observed);
    assert_eq!(document["change_classes"], serde_json::json!([]));
    assert_eq!(document["changes"], serde_json::json!([]));
}

/// Endpoint drift on a certificate the plan does not otherwise touch: a warning in text.
#[test]
fn unreachable_endpoint_is_a_warning() {
    let config = header("mailto:ops@example.com")
        + &certificate(
            "www",
            &["example.com"],
            "check {\n    endpoint = \"example.com:443\"\n  }",
        );
    let state = state_with(vec![(
        "www",
        certificate_state("www", &["example.com"], NOW + time::Duration::days(60)),
    )]);
    let mut observed = files_on_disk("www", |_, _| {});
    observed.endpoints.insert(
        Address::certificate("www"),
        EndpointFacts::Unreachable {
            error: "Connection refused (os error 111)".into(),
        },
    );
    let document = check("endpoint_unreachable", &config, &state, &observed);
    assert_eq!(document["drift"][0]["kind"], "endpoint_unreachable");
    // Drift-only: a gate can tell it from a change.
    assert_eq!(document["change_classes"], serde_json::json!(["drift"]));
}

/// A plan with every class of change: the JSON says so, and validates.
#[test]
fn mixed_plan_has_every_change_class() {
    let config = header("mailto:security@example.com")
        + &certificate("due", &["due.example.com"], "")
        + &certificate("grown", &["grown.example.com", "more.example.com"], "")
        + &certificate("files", &["files.example.com"], "")
        + &certificate("fresh", &["fresh.example.com"], "");
    let later = NOW + time::Duration::days(60);
    let mut gone = certificate_state("gone", &["gone.example.com"], later);
    gone.revoke_on_destroy = true;
    let state = state_with(vec![
        (
            "due",
            certificate_state("due", &["due.example.com"], NOW + time::Duration::days(3)),
        ),
        (
            "grown",
            certificate_state("grown", &["grown.example.com"], later),
        ),
        (
            "files",
            certificate_state("files", &["files.example.com"], later),
        ),
        ("gone", gone),
    ]);
    let observed = files_on_disk("files", |file, facts| {
        if file == "chain.pem" {
            *facts = FileSeen::Missing;
        }
    });
    let document = check("mixed", &config, &state, &observed);
    assert_eq!(
        document["change_classes"],
        serde_json::json!(["renewal", "create", "update", "replace", "destroy"])
    );
    let actions: Vec<(&str, &str)> = document["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("account.le", "update"),
            ("certificate.due", "renew"),
            ("certificate.files", "redeploy"),
            ("certificate.fresh", "issue"),
            ("certificate.grown", "reissue"),
            ("certificate.gone", "revoke"),
        ]
    );
    let summary = &document["summary"];
    assert_eq!(
        (summary["renew"].clone(), summary["revoke"].clone()),
        (1.into(), 1.into())
    );
}
