//! The plan contract, as a pipeline relies on it: a saved plan is applied only when it is
//! what apply would do now (an edited plan file is refused, nothing written); `--target` and
//! `--replace` typos and solver addresses are errors, not silent no-ops; flags that would
//! change a saved plan are refused with it; `--fail-on` gates `--detailed-exitcode` by
//! change class. Each case drives the real binary.

use crate::support;

use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use support::pebble::Pebble;
use support::project::{cert_block, text, Endpoint, Project};

/// A project whose CA listens nowhere: every case here is decided before any request.
fn offline() -> Project {
    // Never read: nothing connects to the closed port. It only has to be a path.
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/valid/main.hcl");
    let p = Project::at(&Endpoint::unreachable(bundle));
    p.config(&cert_block("www", &["www.contract.test"], ""));
    p
}

/// Runs, expects exit 1 with `expected` in the output, and that no file changed.
fn refused(p: &Project, args: &[&str], expected: &str) -> String {
    let before = p.snapshot();
    let out = p.run(args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "certform {args:?}:\n{all}");
    assert!(all.contains(expected), "expected {expected:?} in:\n{all}");
    assert_eq!(
        p.snapshot(),
        before,
        "certform {args:?} wrote files:\n{all}"
    );
    all
}

#[test]
fn a_target_typo_is_an_error_naming_the_closest_address() {
    let p = offline();
    let all = refused(
        &p,
        &[
            "plan",
            "--detailed-exitcode",
            "--target",
            "certificate.wwww",
        ],
        "--target certificate.wwww matches nothing in the configuration or the state",
    );
    assert!(all.contains("Did you mean `certificate.www`?"), "{all}");
    assert!(!all.contains("No changes"), "{all}");
    let all = refused(
        &p,
        &["plan", "--replace", "certificate.ww"],
        "--replace certificate.ww matches nothing in the configuration",
    );
    assert!(all.contains("Did you mean `certificate.www`?"), "{all}");
    // The same checks on apply, before it asks for anything.
    refused(
        &p,
        &["apply", "--auto-approve", "--target", "account.pebbel"],
        "Did you mean `account.pebble`?",
    );
    // A correct address still plans.
    let plan = p.expect(
        &["plan", "--detailed-exitcode", "--target", "certificate.www"],
        2,
    );
    assert!(plan.contains("# certificate.www will be issued"), "{plan}");
}

#[test]
fn solver_addresses_are_refused_saying_what_the_flags_take() {
    let p = offline();
    for (flag, address) in [
        ("--target", "http_solver.web"),
        ("--replace", "dns_solver.bind"),
        ("--target", "tls_alpn_solver.alpn"),
    ] {
        let all = refused(&p, &["plan", flag, address], &format!("{flag} {address}: "));
        assert!(
            all.contains(&format!("{flag} takes certificate and account addresses")),
            "{all}"
        );
    }
}

#[test]
fn target_replace_and_only_are_refused_with_a_saved_plan() {
    let p = offline();
    let plan_file = p.path("tls.plan");
    p.expect(&["plan", "--out", plan_file.to_str().unwrap()], 0);
    let plan = plan_file.to_str().unwrap();
    let all = refused(
        &p,
        &[
            "apply",
            plan,
            "--target",
            "certificate.nothing",
            "--replace",
            "certificate.www",
        ],
        "--target and --replace cannot be used with a saved plan",
    );
    assert!(all.contains("certform plan --out FILE"), "{all}");
    refused(
        &p,
        &["apply", plan, "--only", "renewals"],
        "--only cannot be used with a saved plan",
    );
}

#[test]
fn fail_on_gates_the_detailed_exit_code_by_change_class() {
    let p = offline();
    // Nothing issued yet: the plan creates an account and issues a certificate.
    let json: Value = serde_json::from_str(&p.stdout(&["plan", "--json"], 0)).unwrap();
    assert_eq!(json["change_classes"], json!(["create"]));

    let passed = p.expect(
        &[
            "plan",
            "--detailed-exitcode",
            "--fail-on",
            "replace,destroy",
        ],
        0,
    );
    assert!(
        passed.contains(
            "--fail-on: exit 0: the plan has none of replace, destroy (classes present: create)."
        ),
        "{passed}"
    );
    let stopped = p.expect(
        &[
            "plan",
            "--detailed-exitcode",
            "--fail-on",
            "destroy",
            "--fail-on",
            "create",
        ],
        2,
    );
    assert!(
        stopped.contains("--fail-on: exit 2: the plan has create (classes present: create)."),
        "{stopped}"
    );
    // JSON stays JSON on standard output: the verdict goes to standard error.
    let out = p.run(&[
        "plan",
        "--json",
        "--detailed-exitcode",
        "--fail-on",
        "create",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout).expect("stdout is the JSON plan");

    let all = refused(
        &p,
        &[
            "plan",
            "--detailed-exitcode",
            "--fail-on",
            "replace,destory",
        ],
        "\"destory\" is not a change class",
    );
    assert!(
        all.contains("renewal, create, update, replace, destroy, drift"),
        "{all}"
    );
    refused(&p, &["plan", "--fail-on", "destroy"], "--detailed-exitcode");
}

/// The saved plan as JSON, edited by `edit`, written to `path`.
fn tampered(original: &Value, path: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut plan = original.clone();
    edit(&mut plan);
    fs::write(path, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    path.to_path_buf()
}

/// An edit of a saved plan file.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn push_change(plan: &mut Value, change: Value) {
    plan["changes"].as_array_mut().unwrap().push(change);
}

/// Each edit of a saved plan is refused before anything happens; the plan as saved still
/// applies, and what apply carries out is the plan made again.
#[test]
fn an_edited_saved_plan_is_refused_and_the_honest_one_applies() {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["www.contract.test"], ""));
    p.expect(&["apply", "--auto-approve"], 0);
    let www_serial = p.serial_of("certificate.www");
    p.config(&format!(
        "{}{}",
        cert_block("www", &["www.contract.test"], ""),
        cert_block("api", &["api.contract.test"], "")
    ));
    let honest = p.path("honest.plan");
    p.expect(&["plan", "--out", honest.to_str().unwrap()], 0);
    let original: Value = serde_json::from_slice(&fs::read(&honest).unwrap()).unwrap();
    assert_eq!(
        original["options"],
        json!({"targets": [], "replace": [], "check_endpoints": false})
    );
    let forged = p.path("forged.plan");

    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "an injected delete",
            Box::new(|plan| {
                push_change(
                    plan,
                    json!({"address": "certificate.www", "action": "delete",
                           "reasons": [{"code": "removed_from_config", "revoke_on_destroy": false}],
                           "before": null, "after": null}),
                )
            }),
            "certificate.www delete is not planned now",
        ),
        (
            "an injected deactivate",
            Box::new(|plan| {
                push_change(
                    plan,
                    json!({"address": "account.pebble", "action": "deactivate",
                           "reasons": [{"code": "account_removed_deactivate"}],
                           "before": null, "after": null}),
                )
            }),
            "account.pebble deactivate is not planned now",
        ),
        (
            "an extra renewal",
            Box::new(|plan| {
                let mut renew = plan["changes"][0].clone();
                renew["address"] = json!("certificate.www");
                renew["action"] = json!("renew");
                push_change(plan, renew);
            }),
            "certificate.www renew is not planned now",
        ),
        (
            "a changed attribute",
            Box::new(|plan| {
                plan["changes"][0]["after"]["domains"] = json!(["evil.contract.test"]);
            }),
            "certificate.api issue: its attributes or reasons were changed",
        ),
        (
            "a dropped change",
            Box::new(|plan| plan["changes"] = json!([])),
            "certificate.api issue is planned now but not in the saved plan",
        ),
        (
            "an injected --replace",
            Box::new(|plan| plan["options"]["replace"] = json!(["certificate.www"])),
            "certificate.www reissue is planned now but not in the saved plan",
        ),
    ];
    for (what, edit, expected) in cases {
        let path = tampered(&original, &forged, edit);
        let state = fs::read(p.state_path()).unwrap();
        let all = refused(&p, &["apply", path.to_str().unwrap()], expected);
        assert!(
            all.contains(
                "Saved plan is stale: the saved plan's changes differ from what apply would do now"
            ),
            "{what}: {all}"
        );
        assert_eq!(fs::read(p.state_path()).unwrap(), state, "{what}");
    }

    let applied = p.expect(&["apply", honest.to_str().unwrap()], 0);
    assert!(applied.contains("certificate.api (issue)"), "{applied}");
    assert_eq!(p.serial_of("certificate.www"), www_serial);
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
