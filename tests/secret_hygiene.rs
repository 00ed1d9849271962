//! Secret hygiene over a whole lifecycle (issue, forced renewal, removal with revocation):
//! no private key byte, account key or age identity appears in the state's public half, its
//! backup, saved plans, JSON and text outputs, output at the most verbose level, or the
//! environment of `on_change` hooks — with the identity passed the CI way, as
//! `CERTFORM_IDENTITY_KEY` in certform's own environment.

mod support;

use base64::Engine;
use std::collections::BTreeSet;
use std::fs;
use support::hardened::{cert_block, text, Endpoint, Project};
use support::pebble::Pebble;

/// Long enough that a match is no coincidence, short enough to catch a partial leak.
const NEEDLE_LEN: usize = 24;

/// Every secret seen so far, and every artifact a user or a log could see.
#[derive(Default)]
struct Scan {
    secrets: BTreeSet<String>,
    artifacts: Vec<(String, String)>,
}

impl Scan {
    /// Runs certform at the most verbose level and keeps its output as an artifact.
    fn run(&mut self, p: &Project, identity_key: &str, args: &[&str]) -> String {
        let mut all_args = vec!["-vvv"];
        all_args.extend_from_slice(args);
        let out = p
            .command(&all_args)
            .env_remove("CERTFORM_IDENTITY")
            .env("CERTFORM_IDENTITY_KEY", identity_key)
            .output()
            .unwrap();
        let output = text(&out);
        assert_eq!(out.status.code(), Some(0), "certform {args:?}:\n{output}");
        self.artifacts
            .push((format!("output of {args:?}"), output.clone()));
        output
    }

    fn file(&mut self, p: &Project, relative: &str) {
        let content =
            fs::read_to_string(p.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        self.artifacts.push((relative.to_string(), content));
    }

    /// The keys in the state's secret half: certificate keys (PEM bodies) and account keys
    /// (the PKCS#8 inside instant-acme's credentials).
    fn collect_state_secrets(&mut self, p: &Project) {
        let secrets = p.secrets();
        for certificate in secrets.certificates.values() {
            let pem = certificate.private_key_pem.expose();
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            self.secrets.insert(body);
        }
        for account in secrets.accounts.values() {
            let credentials: serde_json::Value =
                serde_json::from_str(account.credentials.expose()).unwrap();
            let pkcs8 = credentials["key_pkcs8"].as_str().unwrap().to_string();
            // The same bytes in standard base64, as a PEM dump of the key would show them.
            let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&pkcs8)
                .unwrap();
            self.secrets
                .insert(base64::engine::general_purpose::STANDARD.encode(der));
            self.secrets.insert(pkcs8);
        }
    }

    fn assert_clean(&self) {
        assert!(self.secrets.len() >= 3, "too few secrets collected");
        for (name, content) in &self.artifacts {
            for marker in ["PRIVATE KEY", "AGE-SECRET-KEY", "key_pkcs8"] {
                assert!(!content.contains(marker), "{name} contains {marker}");
            }
            for secret in &self.secrets {
                let chars: Vec<char> = secret.chars().collect();
                for needle in chars.chunks(NEEDLE_LEN).filter(|c| c.len() == NEEDLE_LEN) {
                    let needle: String = needle.iter().collect();
                    assert!(
                        !content.contains(&needle),
                        "{name} contains private key material ({needle})"
                    );
                }
            }
        }
    }
}

#[test]
fn no_secret_leaks_through_state_plans_outputs_logs_or_hook_environments() {
    let pebble = Pebble::start();
    let p = Project::new(&Endpoint::of(&pebble));
    let identity_key = fs::read_to_string(p.identity_path()).unwrap();
    let age_key = identity_key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let hook = r#"output "hooked" {
    cert      = "tls/hooked/cert.pem"
    key       = "tls/hooked/key.pem"
    on_change = ["sh", "-c", "env > hook-env.txt"]
  }"#;
    p.config(&cert_block(
        "www",
        &["secrets.hardening.test"],
        &format!("revoke_on_destroy = true\n  {hook}"),
    ));
    let mut scan = Scan::default();
    scan.secrets.insert(age_key);

    let issue_plan = p.path("issue.plan").display().to_string();
    let renew_plan = p.path("renew.plan").display().to_string();
    // Issue from a saved plan.
    scan.run(&p, &identity_key, &["plan", "--out", &issue_plan]);
    scan.file(&p, "issue.plan");
    scan.run(&p, &identity_key, &["plan", "--json"]);
    scan.run(&p, &identity_key, &["show", &issue_plan]);
    scan.run(&p, &identity_key, &["apply", &issue_plan]);
    scan.collect_state_secrets(&p);
    scan.file(&p, "hook-env.txt");
    assert!(
        !fs::read_to_string(p.path("hook-env.txt"))
            .unwrap()
            .contains("CERTFORM_IDENTITY_KEY"),
        "the hook inherited the identity"
    );

    // A forced renewal: a new key, the old one still counts as a secret.
    scan.run(
        &p,
        &identity_key,
        &["plan", "--replace", "certificate.www", "--out", &renew_plan],
    );
    scan.file(&p, "renew.plan");
    scan.run(&p, &identity_key, &["apply", &renew_plan]);
    scan.collect_state_secrets(&p);
    scan.run(&p, &identity_key, &["show"]);
    scan.run(&p, &identity_key, &["show", "--json"]);
    scan.run(&p, &identity_key, &["state", "list"]);
    scan.run(&p, &identity_key, &["state", "show", "certificate.www"]);
    scan.run(&p, &identity_key, &["graph"]);

    // Removal with revocation.
    p.config("");
    scan.run(&p, &identity_key, &["apply", "--auto-approve"]);
    scan.file(&p, "state/default.certstate");
    scan.file(&p, "state/default.certstate.backup");
    scan.artifacts.push((
        "the public half of the state".into(),
        serde_json::to_string(&p.stored().unwrap().state).unwrap(),
    ));
    scan.assert_clean();
}
