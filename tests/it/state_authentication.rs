//! The state is authenticated, not only encrypted: a forger who holds the public state and
//! the recipient (both public) but not the identity seals a secret half of their own — their
//! own certificate key, their own state key and a matching MAC — and raises the serial, as a
//! newer write would. Before states were authenticated, `apply` accepted such a document and
//! went on with the forger's key. Now the key id pinned on this machine, or in the
//! configuration, refuses it, and nothing is written.

use crate::support;

use certform::keytype::KeyType;
use certform::state::auth::StateKey;
use certform::state::{encode, CertificateSecret, Secrets};
use std::fs;
use support::pebble::Pebble;
use support::project::{cert_block, Project};

/// The forger's document: the genuine public half at the next serial, with a secret half
/// the forger sealed to the state's (public) recipient. `keep_key`: whether the forged
/// secrets carry a state key of the forger's own, or none (a state that looks older).
fn forge(p: &Project, keep_key: bool) -> Vec<u8> {
    let stored = p.stored().expect("a state");
    let mut state = stored.state.clone();
    state.serial += 1;
    let recipient = p.identity().recipient().expect("an X25519 identity");
    let mut forged = Secrets {
        state_key: keep_key.then(StateKey::generate),
        ..Secrets::default()
    };
    for address in state.certificates.keys() {
        forged.certificates.insert(
            address.clone(),
            CertificateSecret {
                private_key_pem: certform::keys::generate_private_key(KeyType::EcdsaP256).unwrap(),
            },
        );
    }
    encode(&state, &forged, &[recipient]).unwrap()
}

fn issued_project() -> (Project, String) {
    let p = Project::new(Pebble::start());
    p.config(&cert_block("www", &["auth.e2e.test"], "reuse_key = true"));
    let out = p.expect(&["apply", "--auto-approve"], 0);
    let key_id = out
        .split("State key id: ")
        .nth(1)
        .and_then(|rest| rest.get(..35))
        .unwrap_or_else(|| panic!("the first apply names the state key id:\n{out}"))
        .to_string();
    assert!(key_id.starts_with("sk-"), "{out}");
    (p, key_id)
}

#[test]
fn a_forged_secret_half_is_refused_by_this_machines_pin_and_nothing_is_written() {
    let (p, key_id) = issued_project();
    for keep_key in [true, false] {
        let forged = forge(&p, keep_key);
        fs::write(p.state_path(), &forged).unwrap();
        let out = p.expect(&["apply", "--auto-approve"], 1);
        assert!(
            out.contains("this machine last used this state with key id") && out.contains(&key_id),
            "{out}"
        );
        assert!(out.contains("Nothing was changed"), "{out}");
        assert_eq!(fs::read(p.state_path()).unwrap(), forged, "state untouched");
        // Refused by the state commands that open secrets too.
        let out = p.expect(&["state", "rm", "certificate.www"], 1);
        assert!(out.contains("key id"), "{out}");
        assert_eq!(fs::read(p.state_path()).unwrap(), forged, "state untouched");
    }
}

#[test]
fn on_a_fresh_machine_the_key_id_pinned_in_the_configuration_refuses_a_forgery() {
    let (p, key_id) = issued_project();
    let pinned = format!("certform {{\n  state {{\n    key_id = \"{key_id}\"\n  }}\n}}\n");
    fs::write(p.path("pin.hcl"), &pinned).unwrap();
    // The genuine state opens under the pin.
    p.expect(&["apply", "--auto-approve"], 0);

    let forged = forge(&p, true);
    fs::write(p.state_path(), &forged).unwrap();
    // A machine that never saw the state: no record to compare with.
    fs::remove_dir_all(p.path("xdg-state")).unwrap();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(&format!("the configuration pins key_id = \"{key_id}\"")),
        "{out}"
    );
    assert_eq!(fs::read(p.state_path()).unwrap(), forged, "state untouched");

    // A pinned state that is gone is not silently started afresh.
    fs::remove_file(p.state_path()).unwrap();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("There is no state at"), "{out}");
    assert!(!p.state_path().exists());
}

#[test]
fn a_key_id_that_is_not_one_is_a_configuration_error() {
    let p = Project::empty();
    fs::write(
        p.path("main.hcl"),
        "certform {\n  state {\n    key_id = \"sk-XYZ\"\n  }\n}\n",
    )
    .unwrap();
    let out = p.expect(&["validate"], 1);
    assert!(out.contains("main.hcl:3:"), "{out}");
    assert!(out.contains("Invalid state key id"), "{out}");
}

#[test]
fn plan_without_the_identity_never_raises_this_machines_rollback_record() {
    let (p, _) = issued_project();
    let genuine = fs::read(p.state_path()).unwrap();
    // A writer without the identity claims serial 1000000 (the public half is plain JSON).
    let mut doc: serde_json::Value = serde_json::from_slice(&genuine).unwrap();
    doc["serial"] = 1_000_000.into();
    fs::write(p.state_path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    p.expect_without_identity(&["plan"], 0);
    // The genuine state is put back: it still works, no `accept-rollback` needed.
    fs::write(p.state_path(), &genuine).unwrap();
    p.expect(&["plan", "--detailed-exitcode"], 0);
    p.expect(&["apply", "--auto-approve"], 0);
}

#[test]
fn show_names_the_state_key_id_to_pin() {
    let (p, key_id) = issued_project();
    let shown = p.stdout(&["show"], 0);
    assert!(shown.contains(&format!("key_id = \"{key_id}\"")), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&p.stdout(&["show", "--json"], 0)).unwrap();
    assert_eq!(json["key_id"], key_id.as_str());
}

#[test]
fn stored_credentials_never_choose_another_ca_than_the_configuration() {
    let (p, _) = issued_project();
    // Even an identity holder's edit of the secret half (the state verifies) does not move
    // an account to another CA: the directory comes from the configuration.
    let stored = p.stored().unwrap();
    let mut state = stored.state.clone();
    state.serial += 1;
    let mut secrets = p.secrets();
    let account = secrets.accounts.get_mut("pebble").unwrap();
    let mut credentials: serde_json::Value =
        serde_json::from_str(account.credentials.expose()).unwrap();
    credentials["directory"] = "https://ca.invalid/directory".into();
    account.credentials = certform::secret::Sensitive::new(credentials.to_string());
    let recipient = p.identity().recipient().unwrap();
    fs::write(
        p.state_path(),
        encode(&state, &secrets, &[recipient]).unwrap(),
    )
    .unwrap();

    p.config(&format!(
        "{}\n{}",
        cert_block("www", &["auth.e2e.test"], "reuse_key = true"),
        cert_block("api", &["api.auth.e2e.test"], "")
    ));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(
            "belong to the directory https://ca.invalid/directory, but the configuration names"
        ),
        "{out}"
    );
    assert!(!out.contains("certificate.api: issued"), "{out}");
}

#[test]
fn a_whole_new_state_put_in_place_of_the_genuine_one_is_refused() {
    let (p, _) = issued_project();
    // A new lineage has no record and no pin of its own on this machine.
    let stored = p.stored().unwrap();
    let mut state = stored.state.clone();
    state.lineage = uuid::Uuid::new_v4();
    let forged = Secrets {
        state_key: Some(StateKey::generate()),
        ..Secrets::default()
    };
    let recipient = p.identity().recipient().unwrap();
    let bytes = encode(&state, &forged, &[recipient]).unwrap();
    fs::write(p.state_path(), &bytes).unwrap();
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("but this machine last used lineage"), "{out}");
    assert_eq!(fs::read(p.state_path()).unwrap(), bytes, "state untouched");
    // Deliberately adopted, it is used.
    p.expect(&["state", "accept-rollback"], 0);
    p.expect(&["plan"], 0);
}
