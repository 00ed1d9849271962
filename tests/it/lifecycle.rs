//! Certificate and account lifecycle, end to end: the real `certform` binary against a real
//! Pebble started by each test. Contact updates and key rollover in place, deactivation,
//! deferred and immediate revocation, import from certbot and lego, and the unattended
//! `apply --only renewals`.

use crate::support;

use std::fs;
use support::pebble::Pebble;
use support::project::{cert_block, plan_until, read, Project, CONTACT};

/// What the CA says when the given stored credentials try to use their account.
fn use_account(credentials: &certform::secret::Sensitive, p: &Project) -> certform::Result<()> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ca_bundle = p.pebble().ca_bundle_path();
        let account = certform::acme::load_account(credentials, None, Some(&ca_bundle)).await?;
        account
            .update_contacts(&["mailto:probe@e2e.test".to_string()])
            .await
    })
}

#[test]
fn contact_change_and_key_rollover_keep_the_account_and_retire_the_old_key() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["roll.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let url = p.account_url("pebble");

    p.config_with_account(
        "contact = [\"mailto:new@e2e.test\"]",
        &cert_block("www", &["roll.e2e.test"], ""),
    );
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains(&format!("# account.pebble will be updated in place: contact changed: [{CONTACT}] -> [mailto:new@e2e.test]")),
        "{plan}"
    );
    assert!(plan.contains("; 1 account to update."), "{plan}");
    assert!(!plan.contains("certificate.www"), "{plan}");
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains("account.pebble (update): done"),
        "{applied}"
    );
    assert_eq!(p.account_url("pebble"), url);
    p.expect(&["plan", "--detailed-exitcode"], 0);

    let old_credentials = p.secrets().accounts["pebble"].credentials.clone();
    let plan = p.expect(&["plan", "--replace", "account.pebble"], 0);
    assert!(
        plan.contains(
            "# account.pebble will be given a new key: key rollover requested with --replace"
        ),
        "{plan}"
    );
    assert!(plan.contains("; 1 account key to rotate."), "{plan}");
    let applied = p.expect(
        &["apply", "--auto-approve", "--replace", "account.pebble"],
        0,
    );
    assert!(
        applied.contains("account.pebble (rotate-key): done"),
        "{applied}"
    );
    assert_eq!(p.account_url("pebble"), url, "the account URL is kept");
    let new_credentials = p.secrets().accounts["pebble"].credentials.clone();
    assert_ne!(new_credentials.expose(), old_credentials.expose());

    let refused = use_account(&old_credentials, &p).expect_err("the old key must be refused");
    assert!(
        refused.to_string().contains("urn:ietf:params:acme:error:"),
        "{refused}"
    );
    use_account(&new_credentials, &p).expect("the new key works");

    // Certificates are still renewed through the rolled-over account.
    let serial = p.serial_of("certificate.www");
    p.config_with_account(
        "contact = [\"mailto:new@e2e.test\"]",
        &cert_block("www", &["roll.e2e.test"], "renew_before = \"2000d\""),
    );
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains("certificate.www (renew): done"),
        "{applied}"
    );
    assert_ne!(p.serial_of("certificate.www"), serial);
}

#[test]
fn removed_account_with_deactivate_on_destroy_is_deactivated_at_the_ca() {
    let p = Project::new(Pebble::start());
    p.config_with_account(
        &format!("contact = [\"{CONTACT}\"]\n  deactivate_on_destroy = true"),
        "",
    );
    p.expect(&["apply", "--auto-approve"], 0);
    let credentials = p.secrets().accounts["pebble"].credentials.clone();
    use_account(&credentials, &p).expect("the account works before");

    // Only the variables the test's variables file sets remain.
    let variables = ["directory", "ca_bundle", "http_listen"]
        .map(|v| format!("variable {v:?} {{ type = string }}\n"))
        .concat();
    fs::write(p.path("main.hcl"), variables).unwrap();
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("# account.pebble will be deactivated: account removed from configuration (deactivate_on_destroy = true)"),
        "{plan}"
    );
    assert!(plan.contains("1 account to deactivate"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.expect(&["state", "list"], 0).trim(), "");
    let refused = use_account(&credentials, &p).expect_err("a deactivated account is refused");
    assert!(
        refused.to_string().contains("urn:ietf:params:acme:error:"),
        "{refused}"
    );
}

#[test]
fn a_replaced_certificate_is_revoked_after_its_grace_period() {
    let p = Project::new(Pebble::start());
    let block = cert_block("www", &["grace.e2e.test"], "revoke_replaced_after = \"3s\"");
    p.config(&block);
    p.expect(&["apply", "--auto-approve"], 0);
    let first = p.serial_of("certificate.www");

    p.expect(
        &["apply", "--auto-approve", "--replace", "certificate.www"],
        0,
    );
    let second = p.serial_of("certificate.www");
    assert_ne!(first, second);
    assert_eq!(
        p.status_at_ca(&first),
        "Valid",
        "still valid right after the reissue"
    );
    let pending = &p.state_json()["certificates"]["certificate.www"]["pending_revocation"];
    assert_eq!(pending[0]["serial_number"], first.as_str(), "{pending}");

    let plan = plan_until(
        &p,
        |plan| plan.contains("will be revoked"),
        "the revocation",
    );
    assert!(
        plan.contains(&format!(
            "# certificate.www will be revoked: replaced certificate {first} is past its grace period"
        )),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to issue, 0 to renew, 0 to reissue, 1 to revoke, 0 to redeploy."),
        "{plan}"
    );
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains("1 replaced certificate(s) revoked (superseded)"),
        "{applied}"
    );
    assert_eq!(p.status_at_ca(&first), "Revoked");
    assert_eq!(p.status_at_ca(&second), "Valid");
    assert_eq!(p.serial_of("certificate.www"), second);
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn certform_revoke_revokes_at_once_and_the_next_plan_reissues() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["leak.e2e.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.www");

    let out = p.expect(
        &["revoke", "certificate.www", "--reason", "keyCompromise"],
        0,
    );
    assert!(
        out.contains(&format!(
            "certificate.www (serial {serial}) has been revoked (keyCompromise)"
        )),
        "{out}"
    );
    assert_eq!(p.status_at_ca(&serial), "Revoked");
    let again = p.expect(&["revoke", "certificate.www"], 1);
    assert!(again.contains("already revoked"), "{again}");

    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains(
            "# certificate.www will be reissued: the certificate was revoked (keyCompromise) on"
        ),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    let new_serial = p.serial_of("certificate.www");
    assert_ne!(new_serial, serial);
    assert_eq!(p.status_at_ca(&new_serial), "Valid");
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn without_the_issuing_account_a_certificate_is_revoked_with_its_own_key() {
    let p = Project::new(Pebble::start());
    let leak = cert_block("leak", &["leak-own.e2e.test"], "");
    let old = cert_block("old", &["old-own.e2e.test"], "revoke_on_destroy = true");
    p.config(&format!("{leak}{old}"));
    p.expect(&["apply", "--auto-approve"], 0);
    let serials = ["leak", "old"].map(|name| p.serial_of(&format!("certificate.{name}")));

    // `state rm` forgets an account only with the certificates that need it; importing the
    // certificates back from their files leaves the state without the account that issued
    // them.
    p.expect(
        &[
            "state",
            "rm",
            "certificate.leak",
            "certificate.old",
            "account.pebble",
        ],
        0,
    );
    for name in ["leak", "old"] {
        let file = |f: &str| p.path(&format!("tls/{name}/{f}")).display().to_string();
        p.expect(
            &[
                "import",
                &format!("certificate.{name}"),
                "--cert",
                &file("cert.pem"),
                "--key",
                &file("privkey.pem"),
                "--chain",
                &file("chain.pem"),
            ],
            0,
        );
    }
    assert!(p.state_json()["accounts"].get("pebble").is_none());

    let out = p.expect(
        &["revoke", "certificate.leak", "--reason", "keyCompromise"],
        0,
    );
    assert!(
        out.contains(&format!(
            "certificate.leak (serial {}) has been revoked (keyCompromise), signed with its own key",
            serials[0]
        )),
        "{out}"
    );
    // RFC 5280 reason codes as the CA recorded them.
    let reason_at_ca = |serial: &str| {
        let status: serde_json::Value =
            serde_json::from_str(&p.pebble().cert_status(serial)).unwrap();
        status["Reason"].clone()
    };
    assert_eq!(p.status_at_ca(&serials[0]), "Revoked");
    assert_eq!(reason_at_ca(&serials[0]), 1, "keyCompromise");
    assert_eq!(p.status_at_ca(&serials[1]), "Valid");

    // revoke_on_destroy signs with the certificate key too: the account apply creates now
    // did not issue it.
    p.config(&leak);
    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("# certificate.old will be revoked: removed from configuration (revoke_on_destroy = true)"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.status_at_ca(&serials[1]), "Revoked");
    assert_eq!(reason_at_ca(&serials[1]), 5, "cessationOfOperation");
    let reissued = p.serial_of("certificate.leak");
    assert_ne!(reissued, serials[0]);
    assert_eq!(p.status_at_ca(&reissued), "Valid");
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn only_renewals_renews_and_leaves_every_other_change_for_review() {
    let p = Project::new(Pebble::start());
    let due = cert_block("due", &["due.e2e.test"], "renew_before = \"2000d\"");
    p.config(&format!(
        "{due}{}",
        cert_block("edited", &["edited.e2e.test"], "")
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let (due_serial, edited_serial) = (
        p.serial_of("certificate.due"),
        p.serial_of("certificate.edited"),
    );

    p.config_with_account(
        "contact = [\"mailto:changed@e2e.test\"]",
        &format!(
            "{due}{}",
            cert_block("edited", &["edited.e2e.test", "more.e2e.test"], "")
        ),
    );
    let out = p.expect(&["apply", "--only", "renewals", "--auto-approve"], 0);
    assert!(
        out.contains("--only renewals: 2 change(s) left for a reviewed apply:"),
        "{out}"
    );
    assert!(
        out.contains("  - account.pebble (update): contact changed"),
        "{out}"
    );
    assert!(
        out.contains("  - certificate.edited (reissue): domains changed: + more.e2e.test"),
        "{out}"
    );
    assert!(out.contains("certificate.due (renew): done"), "{out}");
    assert!(
        !out.contains("certificate.edited (reissue): started"),
        "{out}"
    );
    assert_ne!(p.serial_of("certificate.due"), due_serial);
    assert_eq!(p.serial_of("certificate.edited"), edited_serial);
    assert_eq!(p.state_json()["accounts"]["pebble"]["contact"][0], CONTACT);

    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("# certificate.edited will be reissued"),
        "{plan}"
    );
    assert!(
        plan.contains("# account.pebble will be updated in place"),
        "{plan}"
    );
}

/// Issues a certificate with a throwaway project and lays it out as certbot does:
/// `live/NAME/{cert,chain,fullchain,privkey}.pem`.
fn certbot_live_dir(p: &Project, name: &str, domain: &str) -> std::path::PathBuf {
    let issuer = Project::new(Pebble::start());
    issuer.config(&cert_block(name, &[domain], ""));
    issuer.expect(&["apply", "--auto-approve"], 0);
    let live = p.path(&format!("letsencrypt/live/{domain}"));
    fs::create_dir_all(&live).unwrap();
    for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        fs::copy(issuer.path(&format!("tls/{name}/{file}")), live.join(file)).unwrap();
    }
    live
}

#[test]
fn a_certbot_live_directory_is_imported_without_a_new_order() {
    let p = Project::new(Pebble::start());
    p.config("");
    p.expect(&["apply", "--auto-approve"], 0);
    let live = certbot_live_dir(&p, "site", "certbot.e2e.test");
    let block = |extra: &str| {
        format!(
            r#"
certificate "site" {{
  account = account.pebble
  domains = ["certbot.e2e.test"]
  solvers = [http_solver.web]
  {extra}
  output "nginx" {{
    directory = {:?}
  }}
}}
"#,
            live.display().to_string()
        )
    };
    p.config(&block(""));
    let before = read(&live.join("fullchain.pem"));

    let out = p.expect(
        &[
            "import",
            "certificate.site",
            "--from-certbot",
            live.to_str().unwrap(),
        ],
        0,
    );
    assert!(out.contains("Imported certificate.site: serial"), "{out}");
    assert!(out.contains("1 of 1 output(s) already in place"), "{out}");
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(
        plan.contains("No changes. Certificates are up to date."),
        "{plan}"
    );
    assert_eq!(
        read(&live.join("fullchain.pem")),
        before,
        "import writes no file"
    );
    let state = read(&p.state_path());
    assert!(
        !state.contains("PRIVATE KEY"),
        "the key is only in the encrypted half"
    );

    p.config(&block("renew_before = \"2000d\""));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("# certificate.site will be renewed: expires in"),
        "{plan}"
    );
    let again = p.expect(
        &[
            "import",
            "certificate.site",
            "--from-certbot",
            live.to_str().unwrap(),
        ],
        1,
    );
    assert!(again.contains("already in the state"), "{again}");
}

#[test]
fn a_lego_directory_with_an_ec_private_key_is_imported() {
    let p = Project::new(Pebble::start());
    p.config("");
    p.expect(&["apply", "--auto-approve"], 0);
    let live = certbot_live_dir(&p, "api", "lego.e2e.test");
    let lego = p.path(".lego/certificates");
    fs::create_dir_all(&lego).unwrap();
    fs::copy(live.join("fullchain.pem"), lego.join("lego.e2e.test.crt")).unwrap();
    let sec1 = std::process::Command::new("openssl")
        .args(["ec", "-in"])
        .arg(live.join("privkey.pem"))
        .arg("-out")
        .arg(lego.join("lego.e2e.test.key"))
        .output()
        .expect("openssl is needed: apt-get install -y openssl");
    assert!(
        sec1.status.success(),
        "{}",
        String::from_utf8_lossy(&sec1.stderr)
    );
    assert!(read(&lego.join("lego.e2e.test.key")).contains("BEGIN EC PRIVATE KEY"));
    p.config(
        r#"
certificate "api" {
  account = account.pebble
  domains = ["lego.e2e.test"]
  solvers = [http_solver.web]
}
"#,
    );
    p.expect(
        &[
            "import",
            "certificate.api",
            "--from-lego",
            p.path(".lego").to_str().unwrap(),
        ],
        0,
    );
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");

    // A key that does not belong to the certificate is refused.
    let other = p.path("other.pem");
    fs::write(&other, read(&live.join("privkey.pem"))).unwrap();
    p.config(&format!(
        "{}{}",
        r#"
certificate "api" {
  account = account.pebble
  domains = ["lego.e2e.test"]
  solvers = [http_solver.web]
}
"#,
        cert_block("wrong", &["wrong.e2e.test"], "")
    ));
    let issuer = Project::new(Pebble::start());
    issuer.config(&cert_block("x", &["x.e2e.test"], ""));
    issuer.expect(&["apply", "--auto-approve"], 0);
    let refused = p.expect(
        &[
            "import",
            "certificate.wrong",
            "--cert",
            issuer.path("tls/x/fullchain.pem").to_str().unwrap(),
            "--key",
            other.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        refused.contains("does not belong to the certificate"),
        "{refused}"
    );
}

#[test]
fn an_eab_account_is_created_against_a_ca_that_requires_it() {
    let hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let p = Project::new(Pebble::builder().eab_key("kid-1", hmac).start());
    p.config("");
    let refused = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        refused.contains("externalAccountRequired") || refused.contains("external account"),
        "{refused}"
    );
    p.config_with_account(
        &format!("contact = [\"{CONTACT}\"]\n  external_account_binding {{\n    kid = \"kid-1\"\n    hmac_key = env(\"TEST_EAB_HMAC\")\n  }}"),
        &cert_block("www", &["eab.e2e.test"], ""),
    );
    let mut apply = p.command(&["apply", "--auto-approve"]);
    let out = apply.env("TEST_EAB_HMAC", hmac).output().unwrap();
    let all = support::project::text(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(hmac), "the HMAC key is never printed");
    assert!(
        !read(&p.state_path()).contains(hmac),
        "nor kept in the public half"
    );
}
