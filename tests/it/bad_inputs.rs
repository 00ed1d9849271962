//! The bad-input corpus: every input certform must refuse, with the message a user sees.
//! Each case runs the real binary (`apply --auto-approve` where it can do the most harm)
//! and checks exit code 1, the expected message exactly once, and that no file changed.
//!
//! None of these reach a CA: the configuration points at a closed port, so a case that got
//! as far as the network would fail with a different message. Hostile data from a CA is
//! covered with the fault-injecting proxy in `tests/faults.rs`.

use crate::support;

use certform::keytype::KeyType;
use certform::secret::Sensitive;
use certform::state::model::{AccountSecret, AccountState, Secrets, State};
use certform::state::{encode, generate_identity};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::project::{text, Endpoint, Project, CONTACT};

/// A project whose configuration is valid and whose state (serial 2, one account) was
/// written by certform's own encoder, with the serial-1 version as its backup.
struct Fixture {
    project: Project,
    /// The serial-1 document (what `.backup` holds).
    older: Vec<u8>,
    /// The serial-2 document (the current state).
    current: Vec<u8>,
    /// Another serial-2 document of the same lineage: a copy that went its own way.
    fork: Vec<u8>,
}

fn ca_bundle() -> PathBuf {
    // Never read: nothing connects to the closed port. It only has to be a path.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid/main.hcl")
}

impl Fixture {
    fn new() -> Fixture {
        let project = Project::at(&Endpoint::unreachable(ca_bundle()));
        let recipient = project.identity().recipient().unwrap();
        let (mut state, mut secrets) = (State::new(), Secrets::default());
        let at = time::macros::datetime!(2026-11-28 12:00:00 UTC);
        state.accounts.insert(
            "pebble".into(),
            AccountState {
                directory: Endpoint::unreachable(ca_bundle()).directory,
                account_url: "https://127.0.0.1:9/acct/1".into(),
                contact: vec![CONTACT.into()],
                key_type: KeyType::EcdsaP256,
                key_created_at: at,
                created_at: at,
                ca_bundle: None,
                deactivate_on_destroy: false,
                external_account_binding: None,
            },
        );
        secrets.accounts.insert(
            "pebble".into(),
            AccountSecret {
                credentials: Sensitive::new("{\"not\":\"a real key\"}"),
            },
        );
        state.serial = 1;
        let older = encode(&state, &secrets, std::slice::from_ref(&recipient)).unwrap();
        state.serial = 2;
        let account_url = |state: &mut State, url: &str| {
            state.accounts.get_mut("pebble").unwrap().account_url = url.into();
        };
        account_url(&mut state, "https://127.0.0.1:9/acct/2");
        let current = encode(&state, &secrets, std::slice::from_ref(&recipient)).unwrap();
        account_url(&mut state, "https://127.0.0.1:9/acct/fork");
        let fork = encode(&state, &secrets, &[recipient]).unwrap();
        let fixture = Fixture {
            project,
            older,
            current,
            fork,
        };
        fixture.write_state(&fixture.current.clone());
        fs::write(
            fixture.project.path("state/default.certstate.backup"),
            &fixture.older,
        )
        .unwrap();
        fixture
    }

    fn write_state(&self, bytes: &[u8]) {
        let path = self.project.state_path();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The current document with `edit` applied to its JSON.
    fn edited(&self, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut value: serde_json::Value = serde_json::from_slice(&self.current).unwrap();
        edit(&mut value);
        serde_json::to_vec_pretty(&value).unwrap()
    }
}

/// Runs certform and checks: exit 1, `expected` exactly once, no file changed.
fn refused(project: &Project, args: &[&str], expected: &str) -> String {
    let before = project.snapshot();
    let out = project.run(args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "certform {args:?}:\n{all}");
    assert_eq!(
        all.matches(expected).count(),
        1,
        "certform {args:?}: expected {expected:?} once in:\n{all}"
    );
    assert_eq!(
        project.snapshot(),
        before,
        "certform {args:?} wrote files:\n{all}"
    );
    all
}

const APPLY: &[&str] = &["apply", "--auto-approve"];

#[test]
fn broken_hcl_is_reported_at_its_location() {
    let f = Fixture::new();
    fs::write(
        f.project.path("broken.hcl"),
        "certificate \"x\" {\n  domains = [\n",
    )
    .unwrap();
    let all = refused(&f.project, APPLY, "Syntax error");
    assert!(all.contains("broken.hcl:2:14"), "{all}");
    assert!(all.contains("expected `]`"), "{all}");
}

/// Every validation error fixture of `tests/config_diagnostics.rs`, through the binary:
/// exit 1 with exactly the rendered diagnostics, and nothing written.
#[test]
fn every_validation_error_fixture_is_refused_by_apply() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let mut cases: Vec<PathBuf> = fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("valid"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{cases:?}");
    for case in cases {
        let project = Project::empty();
        for entry in fs::read_dir(&case).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(
                &path,
                project.path(&path.file_name().unwrap().to_string_lossy()),
            )
            .unwrap();
        }
        fs::write(project.vars_path(), "").unwrap();
        let mut args: Vec<String> = vec!["apply".into(), "--auto-approve".into()];
        if let Ok(vars) = fs::read_to_string(case.join("vars.txt")) {
            for line in vars.lines().filter(|l| !l.trim().is_empty()) {
                args.extend(["--var".into(), line.to_string()]);
            }
        }
        if let Ok(files) = fs::read_to_string(case.join("var_files.txt")) {
            for line in files.lines().filter(|l| !l.trim().is_empty()) {
                args.extend([
                    "--var-file".into(),
                    project.path(line.trim()).display().to_string(),
                ]);
            }
        }
        let expected = fs::read_to_string(case.join("expected.txt")).unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = project.snapshot();
        let out = project.run(&args);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let missing = support::features::missing(&case);
        for feature in &missing {
            let said = support::features::refusal(feature);
            assert!(stderr.contains(&said), "{name}: {stderr}");
        }
        if missing.is_empty() {
            assert_eq!(stderr, expected, "{name}");
        }
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out));
        assert_eq!(project.snapshot(), before, "{name} wrote files");
    }
}

#[test]
fn truncated_state_is_refused() {
    let f = Fixture::new();
    f.write_state(&f.current[..f.current.len() / 2]);
    refused(
        &f.project,
        APPLY,
        "The state document is truncated or incomplete",
    );
    refused(
        &f.project,
        &["plan"],
        "The state document is truncated or incomplete",
    );
}

#[test]
fn corrupt_state_is_refused() {
    let f = Fixture::new();
    f.write_state(b"\x00\x01 this is not json");
    refused(&f.project, APPLY, "The state document is not valid JSON");
    f.write_state(b"[1, 2, 3]\n");
    refused(
        &f.project,
        APPLY,
        "is not a JSON object, so it is not a certform state",
    );
}

#[test]
fn tampered_state_is_refused_with_the_backup_hint() {
    let f = Fixture::new();
    f.write_state(&f.edited(|v| {
        v["accounts"]["pebble"]["account_url"] = "https://evil.invalid/acct/1".into();
    }));
    let all = refused(&f.project, APPLY, "modified outside certform");
    assert!(
        all.contains("public half does not match the digest sealed"),
        "{all}"
    );
    assert!(all.contains(".backup"), "{all}");
}

#[test]
fn secrets_spliced_from_an_older_version_are_refused() {
    let f = Fixture::new();
    let older: serde_json::Value = serde_json::from_slice(&f.older).unwrap();
    f.write_state(&f.edited(|v| v["secrets"] = older["secrets"].clone()));
    let all = refused(&f.project, APPLY, "modified outside certform");
    assert!(all.contains("come from different versions"), "{all}");
}

#[test]
fn secrets_from_another_state_are_refused() {
    let f = Fixture::new();
    let other = Fixture::new();
    let foreign: serde_json::Value = serde_json::from_slice(&other.current).unwrap();
    f.write_state(&f.edited(|v| v["secrets"] = foreign["secrets"].clone()));
    // Encrypted to another identity, so it does not even decrypt.
    refused(&f.project, APPLY, "Failed to decrypt the state's secrets");
}

/// A saved plan is checked before the rollback record: it names the serial it was made for.
#[test]
fn a_saved_plan_is_refused_against_a_rolled_back_state() {
    let f = Fixture::new();
    let plan = f.project.path("tls.plan");
    f.project
        .expect(&["plan", "--out", plan.to_str().unwrap()], 0);
    f.write_state(&f.older);
    refused(
        &f.project,
        &["apply", plan.to_str().unwrap()],
        "Saved plan is stale: the state changed since the plan was made (serial 2 then, 1 now)",
    );
}

/// Two writes by certform (`state mv` there and back: serial 3, then 4, whose `.backup` is
/// serial 3), then the backup copied over the state: self-consistent, so only this
/// machine's record of serial 4 can tell. Refused until accepted on purpose.
#[test]
fn a_rolled_back_state_is_refused_until_accepted() {
    let f = Fixture::new();
    f.project
        .expect(&["state", "mv", "account.pebble", "account.old"], 0);
    f.project
        .expect(&["state", "mv", "account.old", "account.pebble"], 0);
    let backup = fs::read(f.project.path("state/default.certstate.backup")).unwrap();
    f.write_state(&backup);
    let rolled_back = "is older than the one this machine last used: it is at serial 3, but \
                       serial 4 was read or written here on ";
    for args in [&["plan"][..], APPLY, &["state", "list"]] {
        let all = refused(&f.project, args, rolled_back);
        assert!(
            all.contains("certform would forget them and order them again"),
            "{all}"
        );
        assert!(all.contains("`certform state accept-rollback`"), "{all}");
    }

    let accepted = f.project.expect(&["state", "accept-rollback"], 0);
    assert!(
        accepted
            .contains("at serial 3 as the current version; this machine had last used serial 4"),
        "{accepted}"
    );
    f.project.expect(&["plan"], 0);
    let again = f.project.expect(&["state", "accept-rollback"], 0);
    assert!(again.contains("there was no rollback to accept"), "{again}");
}

/// The same serial with other contents: a copy that went its own way, or a hand edit.
#[test]
fn a_forked_state_is_refused_until_accepted() {
    let f = Fixture::new();
    // Only a verified open or a write records a document (`plan` reads without the
    // identity and never raises the record): a write records serial 2 here.
    f.project.expect(&["state", "accept-rollback"], 0);
    f.write_state(&f.fork);
    let forked = "at serial 2 is not the document this machine read or wrote at serial 2";
    refused(&f.project, &["plan"], forked);
    refused(&f.project, APPLY, forked);
    f.project.expect(&["state", "accept-rollback"], 0);
    f.project.expect(&["plan"], 0);
}

/// The record only ever lags the state: a garbled one is only a warning at `-v`, and the
/// next command that opens the secrets and writes replaces it.
#[test]
fn a_garbled_rollback_record_is_replaced_not_fatal() {
    let f = Fixture::new();
    f.project.expect(&["state", "accept-rollback"], 0);
    let lineage = f.project.stored().unwrap().state.lineage;
    let record = f
        .project
        .path(&format!("xdg-state/certform/seen/{lineage}.json"));
    let serial = || {
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
        json["serial"].clone()
    };
    assert_eq!(serial(), 2);

    fs::write(&record, "{\"serial\": 9").unwrap();
    let quiet = f.project.expect(&["plan"], 0);
    assert!(!quiet.contains("rollback record"), "{quiet}");
    let verbose = f.project.expect(&["-v", "plan"], 0);
    let warning = format!(
        "This machine's rollback record {} could not be read",
        record.display()
    );
    assert_eq!(verbose.matches(&warning).count(), 1, "{verbose}");
    f.project
        .expect(&["state", "mv", "account.pebble", "account.old"], 0);
    assert_eq!(serial(), 3);
}

#[test]
fn state_from_a_newer_certform_is_refused() {
    let f = Fixture::new();
    f.write_state(&f.edited(|v| v["format_version"] = 99.into()));
    refused(
        &f.project,
        APPLY,
        "The state was written by a newer certform (format version 99",
    );
    refused(
        &f.project,
        &["plan"],
        "Upgrade certform to work with this state.",
    );
}

#[test]
fn wrong_identity_is_refused() {
    let f = Fixture::new();
    let other = tempfile::tempdir().unwrap();
    let wrong = other.path().join("identity.txt");
    generate_identity(&wrong).unwrap();
    refused(
        &f.project,
        &[
            "--identity",
            wrong.to_str().unwrap(),
            "apply",
            "--auto-approve",
        ],
        "Failed to decrypt the state's secrets",
    );
}

#[test]
fn missing_identity_is_refused() {
    let f = Fixture::new();
    let before = f.project.snapshot();
    let out = f
        .project
        .command(APPLY)
        .env_remove("CERTFORM_IDENTITY")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(
        all.matches("needs the age identity that decrypts the state's secrets, and none was given")
            .count(),
        1,
        "{all}"
    );
    assert_eq!(f.project.snapshot(), before);

    let gone = f.project.path("no-such-identity.txt");
    refused(
        &f.project,
        &[
            "--identity",
            gone.to_str().unwrap(),
            "apply",
            "--auto-approve",
        ],
        "does not exist. Create one with `certform init`",
    );
}

#[test]
fn identity_readable_by_others_is_refused_with_a_chmod_hint() {
    let f = Fixture::new();
    let identity = f.project.identity_path();
    fs::set_permissions(&identity, fs::Permissions::from_mode(0o644)).unwrap();
    let all = refused(
        &f.project,
        APPLY,
        "is accessible by group or others (mode 0644)",
    );
    assert!(
        all.contains(&format!("chmod 600 {}", identity.display())),
        "{all}"
    );
}

/// The plan was made against this project's state; the state now in its place is another
/// one (another lineage), as when a plan file is carried to the wrong machine.
#[test]
fn a_saved_plan_from_another_state_is_refused() {
    let f = Fixture::new();
    let plan = f.project.path("tls.plan");
    f.project
        .expect(&["plan", "--out", plan.to_str().unwrap()], 0);
    f.write_state(&Fixture::new().current);
    refused(
        &f.project,
        &["apply", plan.to_str().unwrap()],
        "Saved plan is stale: it was made for a different state (lineage differs)",
    );
}

#[test]
fn a_file_that_is_no_saved_plan_is_refused() {
    let f = Fixture::new();
    let plan = f.project.path("garbage.plan");
    fs::write(&plan, "{\"format_version\": 1, \"changes\": 7}").unwrap();
    refused(
        &f.project,
        &["apply", plan.to_str().unwrap()],
        "is not a saved certform plan",
    );
    fs::write(&plan, "{\"format_version\": 42}").unwrap();
    refused(
        &f.project,
        &["apply", plan.to_str().unwrap()],
        "is a saved plan of format 42",
    );
    refused(
        &f.project,
        &["show", plan.to_str().unwrap()],
        "is a saved plan of format 42",
    );
}

/// What `certform import` is handed: a certificate with its key and an issuer chain, as
/// PEM, written into the fixture's project. The configuration has `certificate.www`.
struct ImportFiles {
    cert: String,
    key: String,
    chain: String,
}

impl ImportFiles {
    fn new(f: &Fixture) -> ImportFiles {
        f.project.config(&support::project::cert_block(
            "www",
            &["www.hardening.test"],
            "",
        ));
        let leaf = rcgen::generate_simple_self_signed(vec!["www.hardening.test".into()]).unwrap();
        let issuer =
            rcgen::generate_simple_self_signed(vec!["issuer.hardening.test".into()]).unwrap();
        ImportFiles {
            cert: leaf.cert.pem(),
            key: leaf.signing_key.serialize_pem(),
            chain: issuer.cert.pem(),
        }
    }
}

/// Writes `cert.pem`, `key.pem` and `chain.pem` (the chain as `chain` bytes) and returns
/// `import certificate.www --cert cert.pem --key key.pem --chain chain.pem`.
fn import_args(f: &Fixture, files: &ImportFiles, chain: &[u8]) -> Vec<String> {
    fs::write(f.project.path("cert.pem"), &files.cert).unwrap();
    fs::write(f.project.path("key.pem"), &files.key).unwrap();
    fs::write(f.project.path("chain.pem"), chain).unwrap();
    let mut args = vec!["import".to_string(), "certificate.www".to_string()];
    for (flag, name) in [
        ("--cert", "cert.pem"),
        ("--key", "key.pem"),
        ("--chain", "chain.pem"),
    ] {
        args.extend([flag.to_string(), f.project.path(name).display().to_string()]);
    }
    args
}

/// The import of `files` (the chain as `chain` bytes) is refused with `Cannot import
/// <the blamed file>: <why>`.
fn import_refused(f: &Fixture, files: &ImportFiles, chain: &[u8], blamed: &str, why: &str) {
    let args = import_args(f, files, chain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let blamed = f.project.path(blamed);
    refused(
        &f.project,
        &args,
        &format!("Error: Cannot import {}: {why}", blamed.display()),
    );
}

#[test]
fn malformed_pem_on_import_is_refused_naming_the_file() {
    let f = Fixture::new();
    let good = ImportFiles::new(&f);
    let with = |edit: &dyn Fn(&mut ImportFiles)| {
        let mut files = ImportFiles::new(&f);
        edit(&mut files);
        files
    };
    // One line of the body loses a character: the base64 no longer decodes.
    let damaged_body = |pem: &str| {
        let mut lines: Vec<String> = pem.lines().map(str::to_string).collect();
        lines[1].pop();
        lines.join("\n") + "\n"
    };
    let cut_short = good.cert[..good.cert.len() / 2].to_string();
    let not_a_key = "-----BEGIN PRIVATE KEY-----\nTWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu\n-----END PRIVATE KEY-----\n";
    let stray = format!(
        "{}MIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBBQUAMBExDzANBgNV\n{}",
        good.chain, good.chain
    );
    let stray_line = 1 + good.chain.lines().count();
    let cases: Vec<(ImportFiles, &str, String)> = vec![
        (
            with(&|f| f.cert = cut_short.clone()),
            "cert.pem",
            "it ends inside the CERTIFICATE block begun on line 1: the file is cut short".into(),
        ),
        (
            with(&|f| f.cert = damaged_body(&f.cert)),
            "cert.pem",
            "the base64 body of the CERTIFICATE block begun on line 1 does not decode".into(),
        ),
        (
            with(&|f| f.key = damaged_body(&f.key)),
            "key.pem",
            "the base64 body of the PRIVATE KEY block begun on line 1 does not decode".into(),
        ),
        (
            with(&|f| f.key = not_a_key.into()),
            "key.pem",
            "the PRIVATE KEY block begun on line 1: the certificate private key is not a PKCS#8 \
             PEM key of a supported type"
                .into(),
        ),
        (
            with(&|f| f.key = f.cert.clone()),
            "key.pem",
            "it holds a CERTIFICATE block but no private key: it looks like the certificate file"
                .into(),
        ),
        (
            with(&|f| f.cert = f.key.clone()),
            "cert.pem",
            "it holds a PRIVATE KEY block but no CERTIFICATE block: it looks like the key file"
                .into(),
        ),
        (
            with(&|f| f.cert = String::new()),
            "cert.pem",
            "it is empty, where a certificate in PEM was expected".into(),
        ),
        (
            with(&|f| f.key = String::new()),
            "key.pem",
            "it is empty, where a private key in PEM was expected".into(),
        ),
        (
            with(&|f| f.chain = stray.clone()),
            "chain.pem",
            format!("line {stray_line} holds base64 data outside any BEGIN/END block"),
        ),
        (
            with(&|f| f.key = "this is not a key\n".into()),
            "key.pem",
            "it holds no PEM block (a PRIVATE KEY begins with `-----BEGIN PRIVATE KEY-----`)"
                .into(),
        ),
    ];
    for (files, blamed, why) in &cases {
        import_refused(&f, files, files.chain.as_bytes(), blamed, why);
    }
    // Bytes that are not text between two blocks.
    let mut binary = good.chain.clone().into_bytes();
    binary.extend_from_slice(b"\x00\xff\xfe garbage\n");
    binary.extend_from_slice(good.chain.as_bytes());
    import_refused(
        &f,
        &good,
        &binary,
        "chain.pem",
        &format!("line {stray_line} holds bytes that are not text"),
    );
    // The same files undamaged import, so each refusal above was about its one fault.
    let args = import_args(&f, &good, good.chain.as_bytes());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    f.project.expect(&args, 0);
}

/// Each optional part named in a configuration: a build with its feature validates it; a
/// build without refuses it at the attribute that names it, saying which feature it lacks.
/// (Both halves run: the default build and `.ci/run`'s `--no-default-features` build.)
#[test]
fn a_part_left_out_of_the_build_is_named_at_its_attribute() {
    let cases = [
        (
            "postgres",
            "certform {\n  state {\n    backend  = \"postgres\"\n    conn_str = \"postgres://db.example/certs?sslmode=verify-full\"\n  }\n}\n",
            "main.hcl:3:16",
        ),
        (
            "s3",
            "certform {\n  state {\n    backend = \"s3\"\n    bucket  = \"b\"\n    key     = \"k\"\n  }\n}\n",
            "main.hcl:3:15",
        ),
        (
            "route53",
            "dns_solver \"aws\" {\n  provider = \"route53\"\n  zones    = [\"example.com\"]\n}\n",
            "main.hcl:2:14",
        ),
    ];
    for (feature, config, at) in cases {
        let project = Project::empty();
        fs::write(project.path("main.hcl"), config).unwrap();
        fs::write(project.vars_path(), "").unwrap();
        let out = project.run(&["validate"]);
        let said = text(&out);
        if certform::features::ALL.contains(&(feature, true)) {
            assert_eq!(out.status.code(), Some(0), "{feature}: {said}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{feature}: {said}");
            assert!(said.contains(at), "{feature}: {said}");
            let refusal = support::features::refusal(feature);
            assert_eq!(said.matches(&refusal).count(), 1, "{feature}: {said}");
        }
    }
}
