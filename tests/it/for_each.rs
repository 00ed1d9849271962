//! `for_each` on certificates through the real binary: one address per key in validate,
//! plan and `--target`, in state after an apply against a real Pebble, and at scale
//! (1,000 keys) a renamed key is exactly one issue and one forget against a state that
//! holds every other key.

use crate::support;

use certform::address::Address;
use certform::keytype::KeyType;
use certform::state::{encode, generate_identity, AccountState, CertificateState, LocalStore};
use certform::state::{Secrets, State, StateStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::pebble::Pebble;
use time::OffsetDateTime;

const DIRECTORY: &str = "https://acme.example.test/directory";

fn certform(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certform"))
        .arg("--chdir")
        .arg(dir)
        .args(args)
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("NO_COLOR", "1")
        .output()
        .expect("certform runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A configuration with one account, one solver and `certificate "site"` over `keys`.
fn write_config(dir: &Path, keys: &[String]) {
    let entries: String = keys
        .iter()
        .map(|k| format!("    {k:?} = {{ team = \"web\" }}\n"))
        .collect();
    let config = format!(
        r#"certform {{
  state {{
    path = "state.certstate"
  }}
}}

account "le" {{
  directory = "{DIRECTORY}"
  contact   = ["mailto:ops@example.com"]
}}

http_solver "web" {{
  webroot = "/var/www"
}}

locals {{
  sites = {{
{entries}  }}
}}

certificate "site" {{
  for_each = local.sites
  account  = account.le
  domains  = [each.key, "www.${{each.key}}"]
  solvers  = [http_solver.web]
}}
"#
    );
    std::fs::write(dir.join("main.hcl"), config).unwrap();
}

/// A state that already holds the account and a current certificate for every key.
fn write_state(dir: &Path, keys: &[String]) {
    let now = OffsetDateTime::now_utc();
    let mut state = State::new();
    state.accounts.insert(
        "le".to_string(),
        AccountState {
            directory: DIRECTORY.to_string(),
            account_url: format!("{DIRECTORY}/acct/1"),
            contact: vec!["mailto:ops@example.com".to_string()],
            key_type: KeyType::EcdsaP256,
            key_created_at: now,
            created_at: now,
            ca_bundle: None,
            deactivate_on_destroy: false,
            external_account_binding: None,
        },
    );
    for key in keys {
        state.certificates.insert(
            Address::certificate("site").with_key(key.clone()),
            CertificateState {
                account: "le".to_string(),
                directory: DIRECTORY.to_string(),
                domains: vec![key.clone(), format!("www.{key}")],
                key_type: KeyType::EcdsaP256,
                must_staple: false,
                profile: None,
                preferred_chain: None,
                revoke_on_destroy: false,
                serial_number: "01".to_string(),
                not_before: now - time::Duration::days(1),
                not_after: now + time::Duration::days(89),
                issuer: "CN=Test CA".to_string(),
                spki_sha256: "00".repeat(32),
                certificate_pem: String::new(),
                chain_pem: String::new(),
                order_url: None,
                issued_at: now,
                outputs: BTreeMap::new(),
                ari: None,
                pending_revocation: Vec::new(),
                revoked: None,
            },
        );
    }
    let recipient = generate_identity(&dir.join("identity.txt")).unwrap();
    let bytes = encode(&state, &Secrets::default(), &[recipient]).unwrap();
    let store = LocalStore::new(dir.join("state.certstate"));
    let lock = store.lock("test", Duration::ZERO).unwrap();
    store.put(&lock, None, &bytes).unwrap();
}

/// The lines of a text plan that announce an action (`# ADDRESS will be ...`).
fn action_lines(plan: &str) -> Vec<String> {
    plan.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("# "))
        .map(str::to_string)
        .collect()
}

#[test]
fn instances_are_addressed_by_key_in_validate_plan_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let keys = vec!["a.example.org".to_string(), "b.example.org".to_string()];
    write_config(dir.path(), &keys);

    let out = certform(dir.path(), &["validate"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("2 certificate(s)"), "{}", both(&out));

    let out = certform(dir.path(), &["plan"]);
    assert!(out.status.success(), "{}", both(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains("# certificate.site[\"a.example.org\"] will be issued: new certificate"),
        "{plan}"
    );
    assert!(
        plan.contains(r#"+ domains     = ["b.example.org", "www.b.example.org"]"#),
        "{plan}"
    );

    let out = certform(
        dir.path(),
        &["plan", "--target", "certificate.site[\"b.example.org\"]"],
    );
    let plan = stdout(&out);
    assert!(out.status.success(), "{}", both(&out));
    let certificates: Vec<String> = action_lines(&plan)
        .into_iter()
        .filter(|l| l.starts_with("# certificate."))
        .collect();
    assert_eq!(
        certificates,
        vec!["# certificate.site[\"b.example.org\"] will be issued: new certificate"],
        "{plan}"
    );

    let out = certform(dir.path(), &["plan", "--target", "certificate.site"]);
    let plan = stdout(&out);
    assert!(plan.contains("Plan: 2 to issue"), "{plan}");
}

#[test]
fn a_set_gives_each_value_equal_to_each_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        r#"account "le" {
  directory = "letsencrypt"
}

http_solver "web" {
  webroot = "/var/www"
}

certificate "site" {
  for_each = toset(split(",", "b.example.net,a.example.net,b.example.net"))
  account  = account.le
  domains  = [each.value]
  solvers  = [http_solver.web]
}
"#,
    )
    .unwrap();
    let out = certform(dir.path(), &["plan"]);
    assert!(out.status.success(), "{}", both(&out));
    let lines: Vec<String> = action_lines(&stdout(&out))
        .into_iter()
        .filter(|l| l.starts_with("# certificate."))
        .collect();
    assert_eq!(
        lines,
        vec![
            "# certificate.site[\"a.example.net\"] will be issued: new certificate",
            "# certificate.site[\"b.example.net\"] will be issued: new certificate",
        ]
    );
}

#[test]
fn a_thousand_keys_plan_and_a_renamed_key_is_one_issue_and_one_forget() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("site{i:04}.example.com"))
        .collect();
    write_config(dir.path(), &keys);

    let out = certform(dir.path(), &["validate"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        stdout(&out).contains("1000 certificate(s)"),
        "{}",
        both(&out)
    );

    let out = certform(dir.path(), &["plan"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        stdout(&out).contains("Plan: 1000 to issue, 0 to renew, 0 to reissue, 0 to revoke, 0 to redeploy; 1 account to create."),
        "{}",
        both(&out)
    );

    write_state(dir.path(), &keys);
    let out = certform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(stdout(&out), "No changes. Certificates are up to date.\n");

    let mut renamed = keys.clone();
    renamed[500] = "renamed.example.com".to_string();
    write_config(dir.path(), &renamed);
    let out = certform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let plan = stdout(&out);
    assert_eq!(
        action_lines(&plan),
        vec![
            "# certificate.site[\"renamed.example.com\"] will be issued: new certificate",
            "# certificate.site[\"site0500.example.com\"] will be forgotten: removed from configuration; the certificate stays valid at the CA (revoke_on_destroy = false)",
        ],
        "{plan}"
    );
    assert!(
        plan.contains(
            "Plan: 1 to issue, 0 to renew, 0 to reissue, 0 to revoke, 0 to redeploy; 1 to forget."
        ),
        "{plan}"
    );
}

#[test]
fn instances_are_issued_and_kept_in_state_by_key() {
    let pebble = Pebble::start();
    let dir = tempfile::tempdir().unwrap();
    let vars = dir.path().join("pebble.vars");
    std::fs::write(
        &vars,
        format!(
            "directory = {:?}\nca_bundle = {:?}\nhttp_listen = \"127.0.0.1:{}\"\n",
            pebble.directory_url(),
            pebble.ca_bundle_path().display().to_string(),
            pebble.http_port()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        r#"variable "directory" { type = string }
variable "ca_bundle" { type = string }
variable "http_listen" { type = string }

account "pebble" {
  directory               = var.directory
  terms_of_service_agreed = true
  ca_bundle               = var.ca_bundle
}

http_solver "web" {
  listen = var.http_listen
}

certificate "site" {
  for_each = toset(["a.for-each.test", "b.for-each.test"])
  account  = account.pebble
  domains  = [each.key]
  solvers  = [http_solver.web]

  output "files" {
    directory = "out/${each.key}"
  }
}
"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_certform"))
            .arg("--chdir")
            .arg(dir.path())
            .arg("--var-file")
            .arg(&vars)
            .args(args)
            .env("CERTFORM_IDENTITY", dir.path().join("identity.txt"))
            .env_remove("CERTFORM_IDENTITY_KEY")
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("XDG_STATE_HOME", dir.path().join("xdg-state"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let expect = |args: &[&str], code: i32| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", both(&out));
        stdout(&out)
    };
    expect(&["init"], 0);

    expect(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "certificate.site[\"a.for-each.test\"]",
        ],
        0,
    );
    assert_eq!(
        expect(&["state", "list"], 0),
        "account.pebble\ncertificate.site[\"a.for-each.test\"]\n"
    );

    expect(&["apply", "--auto-approve"], 0);
    assert_eq!(
        expect(&["state", "list"], 0),
        "account.pebble\ncertificate.site[\"a.for-each.test\"]\ncertificate.site[\"b.for-each.test\"]\n"
    );
    let shown = expect(
        &["state", "show", "certificate.site[\"b.for-each.test\"]"],
        0,
    );
    assert!(shown.contains("b.for-each.test"), "{shown}");
    assert!(dir
        .path()
        .join("out/b.for-each.test/fullchain.pem")
        .exists());
    assert_eq!(
        expect(&["plan", "--detailed-exitcode"], 0),
        "No changes. Certificates are up to date.\n"
    );
}

/// Moving between a single block and a `for_each` instance is `state mv`, in either
/// direction, with no new order.
#[test]
fn a_single_block_moves_into_for_each_with_state_mv() {
    let dir = tempfile::tempdir().unwrap();
    let key = "example.org".to_string();
    write_state(dir.path(), std::slice::from_ref(&key));
    let identity = dir.path().join("identity.txt");
    let mv = |from: &str, to: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_certform"))
            .arg("--chdir")
            .arg(dir.path())
            .args(["state", "mv", from, to])
            .env("CERTFORM_IDENTITY", &identity)
            .env("XDG_STATE_HOME", dir.path().join("xdg-state"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "state mv {from} {to}: {}", both(&out));
    };
    // Start from a single block, as a configuration written before for_each would be.
    write_config(dir.path(), std::slice::from_ref(&key));
    let single = std::fs::read_to_string(dir.path().join("main.hcl"))
        .unwrap()
        .replace(
            "certificate \"site\" {\n  for_each = local.sites\n  account  = account.le\n  domains  = [each.key, \"www.${each.key}\"]",
            "certificate \"legacy\" {\n  account  = account.le\n  domains  = [\"example.org\", \"www.example.org\"]",
        );
    std::fs::write(dir.path().join("main.hcl"), &single).unwrap();
    mv("certificate.site[\"example.org\"]", "certificate.legacy");
    let out = certform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    // The block becomes a for_each: without a move, the plan would issue and forget.
    write_config(dir.path(), std::slice::from_ref(&key));
    let out = certform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert_eq!(
        action_lines(&stdout(&out)),
        vec![
            "# certificate.site[\"example.org\"] will be issued: new certificate",
            "# certificate.legacy will be forgotten: removed from configuration; the certificate stays valid at the CA (revoke_on_destroy = false)",
        ],
        "{}",
        both(&out)
    );
    mv("certificate.legacy", "certificate.site[\"example.org\"]");
    let out = certform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(stdout(&out), "No changes. Certificates are up to date.\n");
}
