//! Values a configuration reads with `env()` or `file()` are sensitive wherever they flow:
//! a secret in an account's contact or lower-cased into a domain never appears — as it is,
//! lower- or upper-cased — in text, Markdown or JSON plans, saved plans, diagnostics, logs
//! or apply progress; `env()` refuses certform's identity and the AWS credentials; `file()`
//! reads only regular files inside the configuration directory, and a FIFO, `/dev/zero`, a
//! path out of the directory or a symbolic link out of it is refused with a clear message;
//! `on_change` hooks inherit no variable that holds a sensitive value or is part of a secret
//! attribute; and
//! the state's views hide a sensitive contact the CA was sent.

use crate::support;

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::certform::Workdir;
use support::pebble::Pebble;
use support::project::{cert_block, expect_exit, text, Endpoint, Project};

/// An account-only configuration: `plan` proposes creating it, contact and all.
const CONTACT_CONFIG: &str = r#"
account "le" {
  directory               = "https://ca.invalid/directory"
  terms_of_service_agreed = true
  contact = ["mailto:ops@example.com", "mailto:x?${env("CONTACT_TOKEN")}"]
}
"#;

const CONTACT_TOKEN: &str = "Sk-Live-9fQ2xZ7pL0mWt4Rb";

/// Fails naming the form of `secret` (as is, lower- or upper-cased) found in `what`.
fn assert_absent(secret: &str, what: &str, content: &str) {
    for form in [
        secret.to_string(),
        secret.to_lowercase(),
        secret.to_uppercase(),
    ] {
        assert!(
            !content.contains(&form),
            "{what} shows the secret ({form}):\n{content}"
        );
    }
}

fn with_token(w: &Workdir, args: &[&str]) -> Command {
    let mut command = w.command(args);
    command.env("CONTACT_TOKEN", CONTACT_TOKEN);
    command
}

#[test]
fn a_secret_in_a_contact_is_sensitive_in_every_plan_and_in_the_saved_plan() {
    let w = Workdir::new();
    w.write("main.hcl", CONTACT_CONFIG);
    let plan_file = w.path("contact.plan").display().to_string();

    let plain = expect_exit(&mut with_token(&w, &["plan"]), 0);
    assert!(
        plain.contains(r#"["mailto:ops@example.com", (sensitive)]"#),
        "{plain}"
    );
    let markdown = expect_exit(&mut with_token(&w, &["plan", "--markdown"]), 0);
    assert!(markdown.contains("(sensitive)"), "{markdown}");
    let json = with_token(&w, &["plan", "--json"]).output().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        document["changes"][0]["after"]["contact"],
        serde_json::json!(["mailto:ops@example.com", "(sensitive)"])
    );
    let saved = expect_exit(
        &mut with_token(&w, &["-vvv", "plan", "--out", &plan_file]),
        0,
    );
    let shown = expect_exit(&mut with_token(&w, &["show", &plan_file]), 0);
    let shown_json = expect_exit(&mut with_token(&w, &["show", "--json", &plan_file]), 0);
    let saved_bytes = fs::read_to_string(&plan_file).unwrap();
    for (what, content) in [
        ("plan", plain),
        ("plan --markdown", markdown),
        ("plan --json", text(&json)),
        ("plan -vvv --out", saved),
        ("the saved plan", saved_bytes),
        ("show PLANFILE", shown),
        ("show --json PLANFILE", shown_json),
    ] {
        assert_absent(CONTACT_TOKEN, what, &content);
    }
}

#[test]
fn the_saved_plan_binds_a_sensitive_value_without_its_digest() {
    let w = Workdir::new();
    w.write("main.hcl", CONTACT_CONFIG);
    let plan_file = w.path("contact.plan");
    let digest_with = |token: &str| {
        let mut command = w.command(&["plan", "--out", plan_file.to_str().unwrap()]);
        expect_exit(command.env("CONTACT_TOKEN", token), 0);
        let saved: serde_json::Value =
            serde_json::from_slice(&fs::read(&plan_file).unwrap()).unwrap();
        saved["config_digest"].as_str().unwrap().to_string()
    };
    // The digest cannot tell two tokens apart, so it cannot confirm a guess either.
    assert_eq!(
        digest_with(CONTACT_TOKEN),
        digest_with("Another-Token-Value-77")
    );
}

#[test]
fn a_lower_cased_secret_in_a_domain_is_hidden_in_the_error() {
    let w = Workdir::new();
    w.write(
        "main.hcl",
        r#"
account "le" {
  directory               = "https://ca.invalid/directory"
  terms_of_service_agreed = true
}
http_solver "web" {
  listen = ":80"
}
certificate "www" {
  account = account.le
  domains = [lower(env("DEPLOY_KEY"))]
  solvers = [http_solver.web]
}
"#,
    );
    // Shaped like an age identity: one label longer than 63 characters.
    let secret = "SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";
    for args in [&["plan"][..], &["validate"], &["validate", "--json"]] {
        let mut command = w.command(args);
        let out = expect_exit(command.env("DEPLOY_KEY", secret), 1);
        assert!(out.contains("Invalid domain name"), "{out}");
        assert!(out.contains("(sensitive)"), "{out}");
        assert_absent(secret, &format!("{args:?}"), &out);
    }
    let out = expect_exit(w.command(&["plan"]).env("DEPLOY_KEY", secret), 1);
    assert!(out.contains("main.hcl:11:"), "{out}");
}

#[test]
fn env_refuses_the_identity_and_aws_credentials_at_the_call() {
    let w = Workdir::new();
    let identity = fs::read_to_string(w.path("identity.txt")).unwrap();
    let age_key = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    w.write(
        "main.hcl",
        r#"
account "le" {
  directory               = "https://ca.invalid/directory"
  terms_of_service_agreed = true
  contact                 = ["mailto:${env("CERTFORM_IDENTITY_KEY")}"]
}
"#,
    );
    let mut command = w.command(&["plan"]);
    let out = expect_exit(command.env("CERTFORM_IDENTITY_KEY", &age_key), 1);
    assert!(out.contains("Environment variable not allowed"), "{out}");
    assert!(out.contains("main.hcl:5:40"), "{out}");
    assert!(
        out.contains(r#"env("CERTFORM_IDENTITY_KEY") is refused: it holds certform's identity"#),
        "{out}"
    );
    assert_absent(&age_key, "plan", &out);

    w.write(
        "main.hcl",
        r#"
account "le" {
  directory = "https://ca.invalid/directory"
  contact   = ["mailto:x?${env("AWS_SECRET_ACCESS_KEY")}"]
}
"#,
    );
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let out = expect_exit(w.command(&["plan"]).env("AWS_SECRET_ACCESS_KEY", secret), 1);
    assert!(out.contains("it holds AWS credentials"), "{out}");
    assert_absent(secret, "plan", &out);
}

/// Runs `plan` in `w` and returns its output once it exits, killing it after a minute (a
/// hang is the bug this guards against) and capping its memory (so is `/dev/zero`).
fn plan_bounded(w: &Workdir) -> (Option<i32>, String) {
    let mut command = w.command(&["plan"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn file_refuses_fifos_devices_and_paths_out_of_the_configuration_directory() {
    let w = Workdir::new();
    let config = |path: &str| {
        format!(
            r#"
account "le" {{
  directory               = "https://ca.invalid/directory"
  terms_of_service_agreed = true
  contact                 = [file("{path}")]
}}
"#
        )
    };
    let outside = w.dir().parent().unwrap().join(format!(
        "outside-{}.txt",
        w.dir().file_name().unwrap().to_string_lossy()
    ));
    fs::write(&outside, "ops@example.com").unwrap();
    std::os::unix::fs::symlink(&outside, w.path("link.txt")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", w.path("zero")).unwrap();
    let fifo = std::ffi::CString::new(w.path("fifo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let up = format!("../{}", outside.file_name().unwrap().to_string_lossy());
    let cases = [
        ("fifo", "it is not a regular file"),
        ("/dev/zero", "it is outside the configuration directory"),
        ("zero", "it is outside the configuration directory"),
        (up.as_str(), "it is outside the configuration directory"),
        (
            outside.to_str().unwrap(),
            "it is outside the configuration directory",
        ),
        ("link.txt", "it is outside the configuration directory"),
    ];
    for (path, why) in cases {
        w.write("main.hcl", &config(path));
        let (code, out) = plan_bounded(&w);
        assert_eq!(code, Some(1), "file({path:?}):\n{out}");
        assert!(out.contains("Cannot read file"), "file({path:?}):\n{out}");
        assert!(
            out.contains(&format!("file(\"{path}\") cannot read the file: {why}")),
            "file({path:?}):\n{out}"
        );
    }
    fs::remove_file(outside).unwrap();
}

#[test]
fn hooks_show_no_sensitive_argv_and_inherit_no_part_of_a_secret() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    let hook_token = "Hook-Token-4kQ9zW2xV7mN";
    // The TSIG secret is `c2VjcmV0LXRzaWcta2V5` ("secret-tsig-key"); only its tail comes
    // from the environment. The solver is declared, not used.
    let tsig_tail = "LXRzaWcta2V5";
    p.config_with_account(
        r#"contact = ["mailto:ops+${env("CONTACT_TOKEN")}@example.com"]"#,
        &format!(
            r#"
dns_solver "bind" {{
  provider      = "rfc2136"
  zones         = ["rfc2136.hardening.test"]
  nameserver    = "127.0.0.1:53"
  tsig_key_name = "certform"
  tsig_secret   = "c2VjcmV0${{env("TSIG_TAIL")}}"
}}
{}"#,
            cert_block(
                "www",
                &["sensitive.hardening.test"],
                r#"output "hooked" {
    cert      = "tls/hooked/cert.pem"
    key       = "tls/hooked/key.pem"
    on_change = ["sh", "-c", "env > hook-env.txt # ${env("HOOK_TOKEN")}"]
  }"#,
            )
        ),
    );
    let run = |args: &[&str]| {
        let mut command = p.command(args);
        command
            .env("HOOK_TOKEN", hook_token)
            .env("TSIG_TAIL", tsig_tail)
            .env("CONTACT_TOKEN", CONTACT_TOKEN);
        expect_exit(&mut command, 0)
    };
    let plan = run(&["plan"]);
    let graph = run(&["graph"]);
    assert!(
        graph.contains("on_change: sh -c env > hook-env.txt # (sensitive)"),
        "{graph}"
    );
    let applied = run(&["-v", "apply", "--auto-approve"]);
    assert!(
        applied.contains("on_change sh -c env > hook-env.txt # (sensitive)"),
        "{applied}"
    );
    // The state holds the contact as the CA was sent it; its views hide it as plans do.
    let shown = run(&["show"]);
    assert!(
        shown.contains(r#"contact        = ["mailto:ops+(sensitive)@example.com"]"#),
        "{shown}"
    );
    let views = [
        ("plan", plan),
        ("graph", graph),
        ("apply -v", applied),
        ("show", shown),
        ("show --json", run(&["show", "--json"])),
        ("state show", run(&["state", "show", "account.pebble"])),
    ];
    for (what, content) in &views {
        assert_absent(hook_token, what, content);
        assert_absent(CONTACT_TOKEN, what, content);
    }
    let hook_env = fs::read_to_string(p.path("hook-env.txt")).unwrap();
    assert!(!hook_env.contains("HOOK_TOKEN="), "{hook_env}");
    assert!(!hook_env.contains("TSIG_TAIL="), "{hook_env}");
    assert!(hook_env.contains("PATH="), "{hook_env}");
}
