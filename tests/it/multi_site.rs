//! `examples/multi-site` (50 sites from one map, two accounts, two kinds of HTTP-01 solver)
//! validates and plans with no identity anywhere and no state yet, as in pull-request review.

use std::path::Path;
use std::process::{Command, Output};

fn certform(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-site");
    Command::new(env!("CARGO_BIN_EXE_certform"))
        .arg("--chdir")
        .arg(example)
        .args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("CERTFORM_IDENTITY")
        .env_remove("CERTFORM_IDENTITY_KEY")
        .output()
        .expect("certform runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_multi_site_example_validates_and_plans() {
    let out = certform(&["validate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "Success! The configuration is valid: 2 account(s), 50 certificate(s), 2 solver(s).\n"
    );

    let out = certform(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = stdout(&out);
    assert!(plan.ends_with(
        "Plan: 50 to issue, 0 to renew, 0 to reissue, 0 to revoke, 0 to redeploy; 2 accounts to create.\n"
    ), "{plan}");
    assert_eq!(plan.matches("will be issued: new certificate").count(), 50);
    // Defaults from local.site_defaults, overrides from sites.hcl.
    let site = |name: &str| {
        let start = plan
            .find(&format!("# certificate.site[\"{name}\"]"))
            .unwrap();
        let end = plan[start..].find("\n    }\n").unwrap();
        plan[start..start + end].to_string()
    };
    let alpha = site("alpha.example.com");
    assert!(
        alpha.contains(r#"domains     = ["alpha.example.com", "www.alpha.example.com"]"#),
        "{alpha}"
    );
    assert!(
        alpha.contains(r#"account     = "account.production""#),
        "{alpha}"
    );
    let zinc = site("zinc.example.com");
    assert!(
        zinc.contains(r#"account     = "account.staging""#),
        "{zinc}"
    );
    assert!(zinc.contains("api.zinc.example.com"), "{zinc}");
    assert!(site("delta.example.com").contains(r#"key_type    = "rsa-2048""#));

    let out = certform(&["plan", "--target", "certificate.site[\"echo.example.com\"]"]);
    let plan = stdout(&out);
    assert!(plan.contains("Plan: 1 to issue"), "{plan}");
    assert!(
        plan.contains(r#"domains     = ["echo.example.com"]"#),
        "{plan}"
    );
}
