//! Every configuration error case renders to exactly the text in its `expected.txt`.
//!
//! A case is a directory under `tests/fixtures/config/` with one or more `.hcl` files, an
//! optional `vars.txt` (`NAME=VALUE` lines, as `--var`), an optional `var_files.txt` (file
//! names inside the case, as `--var-file`) and `expected.txt`: the whole rendered error
//! text, colour off. `UPDATE_EXPECT=1 cargo test --test config_diagnostics` rewrites the
//! expected files; review the diff by eye.

use certform::address::Address;
use certform::config::SecretEnv;
use certform::desired::model::Desired;
use certform::desired::model::{BackendSettings, HttpSolverSpec, RenewBefore, SolverSpec};
use certform::desired::{digest, VarInputs};
use certform::diag::Diagnostics;
use certform::keytype::KeyType;
use certform::render::diagnostics::render_diagnostics;
use certform::secret::ConfigSecret;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// Loads as `apply` does: every configured secret must be known.
fn load(dir: &Path, inputs: &VarInputs) -> Result<Desired, Diagnostics> {
    certform::desired::load(dir, inputs, SecretEnv::Required)
}

fn inputs(case: &Path) -> VarInputs {
    let mut inputs = VarInputs::default();
    if let Ok(text) = std::fs::read_to_string(case.join("vars.txt")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (name, value) = line.split_once('=').expect("vars.txt lines are NAME=VALUE");
            inputs.vars.push((name.to_string(), value.to_string()));
        }
    }
    if let Ok(text) = std::fs::read_to_string(case.join("var_files.txt")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            inputs.var_files.push(case.join(line.trim()));
        }
    }
    inputs
}

#[test]
fn error_cases_render_as_expected() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("valid"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let diags = match load(case, &inputs(case)) {
            Ok(_) => {
                failures.push(format!("{name}: loaded without errors"));
                continue;
            }
            Err(diags) => diags,
        };
        let rendered = render_diagnostics(&diags, false);
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if rendered != expected {
            failures.push(format!(
                "{name}: rendered output differs from expected.txt\n--- expected\n{expected}\n--- actual\n{rendered}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_located_error_has_file_line_col() {
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let case = entry.unwrap().path();
        if !case.is_dir() || case.ends_with("valid") {
            continue;
        }
        let Err(diags) = load(&case, &inputs(&case)) else {
            continue;
        };
        for diag in &diags {
            if let Some(span) = &diag.span {
                assert!(
                    diags.line_col(&span.file, span.range.start).is_some(),
                    "{}: {} points into unknown file {}",
                    case.display(),
                    diag.summary,
                    span.file
                );
            }
        }
        let rendered = render_diagnostics(&diags, false);
        let count = diags.error_count();
        let last = rendered.lines().last().unwrap();
        let noun = if count == 1 { "error" } else { "errors" };
        assert_eq!(last, format!("Error: {count} {noun} in configuration."));
    }
}

#[test]
fn colour_adds_escape_codes_only() {
    let case = fixtures().join("references");
    let diags = load(&case, &inputs(&case)).unwrap_err();
    let colored = render_diagnostics(&diags, true);
    assert!(colored.contains("\u{1b}["));
    assert!(!render_diagnostics(&diags, false).contains('\u{1b}'));
}

#[test]
fn valid_configuration_loads() {
    let case = fixtures().join("valid");
    let desired = match load(&case, &inputs(&case)) {
        Ok(desired) => desired,
        Err(diags) => panic!("{}", render_diagnostics(&diags, false)),
    };
    let dir = std::path::absolute(&case).unwrap();
    assert_eq!(desired.config_dir, dir);
    assert_eq!(desired.parallelism, 4);
    let BackendSettings::Local { path } = &desired.state.backend else {
        panic!("expected the local backend");
    };
    assert_eq!(path, &dir.join("state/prod.certstate"));
    assert_eq!(
        desired.state.recipients,
        vec![
            "age1qqqqtestrecipientfromfile".to_string(),
            "age1inline".to_string()
        ]
    );

    let le = &desired.accounts["le"];
    assert_eq!(
        le.directory,
        "https://acme-staging-v02.api.letsencrypt.org/directory"
    );
    assert_eq!(le.contact, vec!["mailto:ops@example.org".to_string()]);
    assert!(le.terms_of_service_agreed);
    assert_eq!(le.key_type, KeyType::EcdsaP256);
    assert_eq!(
        le.ca_bundle.as_deref(),
        Some(dir.join("pebble-ca.pem").as_path())
    );
    assert_eq!(le.key_rotation_days, Some(365));
    let eab = le.external_account_binding.as_ref().unwrap();
    assert_eq!(eab.kid, "kid-default");
    assert_eq!(eab.hmac_key.value().unwrap().expose(), "hmac-default");
    let pebble = &desired.accounts["pebble"];
    assert_eq!(pebble.directory, "https://localhost:14000/dir");
    assert!(pebble.external_account_binding.is_none());

    let web = Address::new(certform::address::Kind::HttpSolver, "web");
    let standalone = Address::new(certform::address::Kind::HttpSolver, "standalone");
    match &desired.solvers[&web] {
        SolverSpec::Http(HttpSolverSpec::Webroot { webroot }) => {
            assert_eq!(webroot, &dir.join("www"))
        }
        other => panic!("{other:?}"),
    }
    match &desired.solvers[&standalone] {
        SolverSpec::Http(HttpSolverSpec::Listen { listen }) => assert_eq!(listen, "0.0.0.0:5002"),
        other => panic!("{other:?}"),
    }

    let www = &desired.certificates[&Address::certificate("www")];
    assert_eq!(www.account, "le");
    assert_eq!(
        www.domains,
        vec!["example.org", "www.example.org", "api.example.org"]
    );
    assert_eq!(www.key_type, KeyType::EcdsaP384);
    assert!(www.solver_for.values().all(|s| *s == web));
    assert_eq!(www.solver_for.len(), 3);
    assert_eq!(
        www.renew_before,
        RenewBefore::Remaining(Duration::from_secs(30 * 86400))
    );
    assert!(www.revoke_on_destroy);
    assert_eq!(
        www.revoke_replaced_after,
        Some(Duration::from_secs(24 * 3600))
    );
    assert_eq!(www.profile.as_deref(), Some("tlsserver"));
    assert_eq!(www.check_endpoint.as_deref(), Some("example.org:443"));
    assert_eq!(www.outputs.len(), 2);
    let nginx = &www.outputs[0];
    assert_eq!(nginx.name, "nginx");
    assert_eq!(
        nginx.fullchain.as_deref(),
        Some(Path::new("/etc/nginx/tls/www/fullchain.pem"))
    );
    assert_eq!(
        nginx.key.as_deref(),
        Some(Path::new("/etc/nginx/tls/www/privkey.pem"))
    );
    assert_eq!(nginx.key_mode, 0o600);
    assert_eq!(nginx.mode, 0o644);
    assert_eq!(
        nginx.on_change,
        Some(vec![
            "systemctl".to_string(),
            "reload".to_string(),
            "nginx".to_string()
        ])
    );
    let haproxy = &www.outputs[1];
    assert_eq!(
        haproxy.fullchain.as_deref(),
        Some(dir.join("out/haproxy.pem").as_path())
    );
    assert_eq!(haproxy.cert, None);
    assert_eq!(haproxy.key_mode, 0o640);

    let api = &desired.certificates[&Address::certificate("internal")];
    assert_eq!(api.account, "pebble");
    assert_eq!(api.domains, vec!["internal.example.org"]);
    assert_eq!(api.key_type, KeyType::EcdsaP256);
    assert_eq!(api.solver_for["internal.example.org"], standalone);
    assert_eq!(api.renew_before, RenewBefore::PercentOfLifetime(33));
    assert!(!api.reuse_key && !api.revoke_on_destroy && !api.must_staple);
    assert!(api.outputs.is_empty());

    // The digest is stable for the same input and changes with it.
    let again = load(&case, &inputs(&case)).unwrap();
    assert_eq!(digest(&desired), digest(&again));
    assert_eq!(digest(&desired).len(), 64);
    let mut changed = inputs(&case);
    changed
        .vars
        .push(("email".to_string(), "other@example.org".to_string()));
    let other = load(&case, &changed).unwrap();
    assert_ne!(digest(&desired), digest(&other));
    // Secrets appear only as fingerprints.
    let json = serde_json::to_string(&desired).unwrap();
    assert!(!json.contains("hmac-default"));
}

#[test]
fn secrets_from_unset_variables_are_unknown_except_for_apply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        r#"account "ca" {
  directory = "https://ca.example/dir"
  external_account_binding {
    kid      = "kid-1"
    hmac_key = env("CERTFORM_TEST_UNSET_EAB_HMAC")
  }
}
dns_solver "bind" {
  provider      = "rfc2136"
  zones         = ["example.test"]
  nameserver    = "127.0.0.1:53"
  tsig_key_name = "certform"
  tsig_secret   = env("CERTFORM_TEST_UNSET_TSIG")
}
"#,
    )
    .unwrap();
    let inputs = VarInputs::default();

    let desired = certform::desired::load(dir.path(), &inputs, SecretEnv::MayBeUnset)
        .unwrap_or_else(|diags| panic!("{}", render_diagnostics(&diags, false)));
    let eab = desired.accounts["ca"]
        .external_account_binding
        .as_ref()
        .unwrap();
    assert!(
        matches!(&eab.hmac_key, ConfigSecret::Unset { env } if env == "CERTFORM_TEST_UNSET_EAB_HMAC")
    );
    let bind = Address::new(certform::address::Kind::DnsSolver, "bind");
    let SolverSpec::Dns(spec) = &desired.solvers[&bind] else {
        panic!("expected a DNS solver");
    };
    assert_eq!(spec.provider.name, "rfc2136");
    let secret = spec.provider.secret("tsig_secret").unwrap();
    assert!(secret
        .value()
        .unwrap_err()
        .contains("CERTFORM_TEST_UNSET_TSIG is not set"));

    // apply needs both, and says where each comes from.
    let diags = load(dir.path(), &inputs).unwrap_err();
    let rendered = render_diagnostics(&diags, false);
    assert!(rendered.contains("main.hcl:5:"), "{rendered}");
    assert!(
        rendered.contains("CERTFORM_TEST_UNSET_EAB_HMAC is not set"),
        "{rendered}"
    );
    assert!(rendered.contains("main.hcl:13:"), "{rendered}");
    assert!(
        rendered.contains("CERTFORM_TEST_UNSET_TSIG is not set"),
        "{rendered}"
    );
}
