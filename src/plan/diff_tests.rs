//! Table tests of `diff`: each case is a desired model, a state, what was observed on disk
//! and a fixed `now`, with the expected actions and reason texts.

use super::*;
use crate::desired::model::{AwsTarget, FileFormat, NamedId, OutputFileKind, OutputKind};
use crate::desired::model::{BackendSettings, ExternalAccountBinding, StateSettings};
use crate::desired::model::{RenewBefore, S3Target, SecretsManagerTarget};
use crate::keytype::KeyType;
use crate::state::model::{DeployedFile, DeployedOutput};
use std::time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);
const DIR: &str = "https://ca.test/directory";

fn account_spec() -> AccountSpec {
    AccountSpec {
        name: "le".into(),
        directory: DIR.into(),
        contact: vec!["mailto:ops@example.com".into()],
        terms_of_service_agreed: true,
        key_type: KeyType::EcdsaP256,
        ca_bundle: None,
        external_account_binding: None,
        key_rotation_days: None,
        deactivate_on_destroy: false,
    }
}

fn account_state() -> AccountState {
    AccountState {
        directory: DIR.into(),
        account_url: "https://ca.test/acct/1".into(),
        contact: vec!["mailto:ops@example.com".into()],
        key_type: KeyType::EcdsaP256,
        key_created_at: NOW,
        created_at: NOW,
        deactivate_on_destroy: false,
        ca_bundle: None,
        external_account_binding: None,
    }
}

pub(crate) fn output(dir: &str) -> OutputSpec {
    OutputSpec {
        name: "files".into(),
        kind: OutputKind::Files(FileFormat::Pem),
        combined: None,
        pkcs12: None,
        cert: Some(PathBuf::from(format!("{dir}/cert.pem"))),
        chain: None,
        fullchain: Some(PathBuf::from(format!("{dir}/fullchain.pem"))),
        key: Some(PathBuf::from(format!("{dir}/privkey.pem"))),
        key_mode: 0o600,
        mode: 0o644,
        owner: None,
        group: None,
        follow_symlinks: false,
        on_change: None,
        path_spans: Default::default(),
        on_change_timeout: None,
    }
}

pub(crate) fn cert_spec(name: &str, domains: &[&str]) -> CertificateSpec {
    CertificateSpec {
        address: Address::certificate(name),
        account: "le".into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        key_type: KeyType::EcdsaP256,
        solver_for: BTreeMap::new(),
        renew_before: RenewBefore::default(),
        reuse_key: false,
        revoke_on_destroy: false,
        revoke_replaced_after: None,
        profile: None,
        preferred_chain: None,
        must_staple: false,
        renewal_window: None,
        freezes: Vec::new(),
        outputs: vec![output("/tls")],
        check_endpoint: None,
    }
}

/// A 90-day certificate issued `age_days` before NOW, deployed to /tls.
fn cert_state(domains: &[&str], age_days: i64) -> CertificateState {
    let not_before = NOW - time::Duration::days(age_days);
    let files = [
        (OutputFileKind::Cert, "/tls/cert.pem", 0o644, "c"),
        (OutputFileKind::Fullchain, "/tls/fullchain.pem", 0o644, "f"),
        (OutputFileKind::Key, "/tls/privkey.pem", 0o600, "k"),
    ]
    .into_iter()
    .map(|(kind, path, mode, digest)| DeployedFile {
        kind,
        path: path.into(),
        sha256: digest.into(),
        mode,
    })
    .collect();
    CertificateState {
        account: "le".into(),
        directory: DIR.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        key_type: KeyType::EcdsaP256,
        must_staple: false,
        profile: None,
        preferred_chain: None,
        revoke_on_destroy: false,
        serial_number: "01ab".into(),
        not_before,
        not_after: not_before + time::Duration::days(90),
        issuer: "CN=Test CA".into(),
        spki_sha256: "00".into(),
        certificate_pem: String::new(),
        chain_pem: String::new(),
        order_url: None,
        issued_at: not_before,
        outputs: BTreeMap::from([(
            "files".to_string(),
            DeployedOutput {
                files,
                remote: None,
            },
        )]),
        ari: None,
        pending_revocation: Vec::new(),
        revoked: None,
    }
}

/// A regular file owned by root with this digest and mode.
fn regular(sha256: &str, mode: u32) -> FileSeen {
    FileSeen::Regular(FileFacts {
        sha256: sha256.into(),
        mode,
        uid: 0,
        gid: 0,
        owner: "root".into(),
        group: "root".into(),
    })
}

/// Files on disk exactly as `cert_state` recorded them.
fn observed_ok() -> Observed {
    let mut observed = Observed::default();
    for (path, digest, mode) in [
        ("/tls/cert.pem", "c", 0o644),
        ("/tls/fullchain.pem", "f", 0o644),
        ("/tls/privkey.pem", "k", 0o600),
    ] {
        observed.files.insert(path.into(), regular(digest, mode));
    }
    observed
}

pub(crate) fn desired(certs: Vec<CertificateSpec>) -> Desired {
    Desired {
        config_dir: "/cfg".into(),
        state: StateSettings {
            backend: BackendSettings::Local {
                path: "/cfg/state/default.certstate".into(),
            },
            recipients: vec![],
            key_id: None,
        },
        parallelism: 10,
        accounts: BTreeMap::from([("le".to_string(), account_spec())]),
        solvers: BTreeMap::new(),
        certificates: certs.into_iter().map(|c| (c.address.clone(), c)).collect(),
    }
}

fn state(certs: Vec<(&str, CertificateState)>) -> State {
    let mut state = State::new();
    state.accounts.insert("le".into(), account_state());
    for (name, cert) in certs {
        state.certificates.insert(Address::certificate(name), cert);
    }
    state
}

/// (address, action, reason text) of every change.
fn summarise(changes: &[Change]) -> Vec<(String, &'static str, String)> {
    changes
        .iter()
        .map(|c| (c.address.to_string(), c.action.as_str(), c.reason_text()))
        .collect()
}

fn row(address: &str, action: &'static str, reason: &str) -> (String, &'static str, String) {
    (address.to_string(), action, reason.to_string())
}

#[test]
fn table() {
    let www = || cert_spec("www", &["example.com", "www.example.com"]);
    let www_state = |age| cert_state(&["example.com", "www.example.com"], age);
    let mut missing_key = observed_ok();
    missing_key
        .files
        .insert("/tls/privkey.pem".into(), FileSeen::Missing);
    let mut changed_chain = observed_ok();
    changed_chain
        .files
        .insert("/tls/fullchain.pem".into(), regular("other", 0o644));
    let mut loose_key = observed_ok();
    loose_key
        .files
        .insert("/tls/privkey.pem".into(), regular("k", 0o644));
    let mut fifo_chain = observed_ok();
    fifo_chain.files.insert(
        "/tls/fullchain.pem".into(),
        FileSeen::Unusable {
            why: "is not a regular file (a FIFO)".into(),
        },
    );
    let owned_by = |owner: &str, group: &str| OutputSpec {
        owner: Some(NamedId {
            name: owner.into(),
            id: 65534,
        }),
        group: Some(NamedId {
            name: group.into(),
            id: 65534,
        }),
        ..output("/tls")
    };

    struct Case {
        name: &'static str,
        desired: Desired,
        state: State,
        observed: Observed,
        options: PlanOptions,
        expect: Vec<(String, &'static str, String)>,
    }
    let cases = vec![
        Case {
            name: "empty state: account and certificate are created",
            desired: desired(vec![www()]),
            state: State::new(),
            observed: Observed::default(),
            options: PlanOptions::default(),
            expect: vec![
                row("account.le", "create", "new account at https://ca.test/directory"),
                row("certificate.www", "issue", "new certificate"),
            ],
        },
        Case {
            name: "fresh certificate, files intact: no changes",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![],
        },
        Case {
            name: "default renew_before: one third of the lifetime",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(61))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "expires in 29 days on 2026-12-27 (renew_before = 33% of a 90-day lifetime)",
            )],
        },
        Case {
            name: "renew_before as a duration",
            desired: desired(vec![CertificateSpec {
                renew_before: RenewBefore::Remaining(Duration::from_secs(30 * 86_400)),
                ..www()
            }]),
            state: state(vec![("www", www_state(78))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "expires in 12 days on 2026-12-10 (renew_before = 30d)",
            )],
        },
        Case {
            name: "expired certificate",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(95))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "expired 5 days ago on 2026-11-23 (renew_before = 33% of a 90-day lifetime)",
            )],
        },
        Case {
            name: "a domain added: reissue with the list diffed",
            desired: desired(vec![cert_spec("www", &["example.com", "www.example.com", "api.example.com"])]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row("certificate.www", "reissue", "domains changed: + api.example.com")],
        },
        Case {
            name: "key type changed",
            desired: desired(vec![CertificateSpec {
                key_type: KeyType::EcdsaP384,
                ..www()
            }]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row("certificate.www", "reissue", "key_type ecdsa-p256 -> ecdsa-p384")],
        },
        Case {
            name: "common name changed only by order",
            desired: desired(vec![cert_spec("www", &["www.example.com", "example.com"])]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "reissue",
                "common name changed: example.com -> www.example.com",
            )],
        },
        Case {
            name: "reissue wins over renewal",
            desired: desired(vec![CertificateSpec {
                key_type: KeyType::Rsa2048,
                ..www()
            }]),
            state: state(vec![("www", www_state(80))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row("certificate.www", "reissue", "key_type ecdsa-p256 -> rsa-2048")],
        },
        Case {
            name: "setting preferred_chain reissues",
            desired: desired(vec![CertificateSpec {
                preferred_chain: Some("Root X2".into()),
                ..www()
            }]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "reissue",
                "preferred_chain (none) -> \"Root X2\"",
            )],
        },
        Case {
            name: "the preferred_chain it was issued with: no changes",
            desired: desired(vec![CertificateSpec {
                preferred_chain: Some("Root X2".into()),
                ..www()
            }]),
            state: state(vec![(
                "www",
                CertificateState {
                    preferred_chain: Some("Root X2".into()),
                    ..www_state(10)
                },
            )]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![],
        },
        Case {
            name: "removing preferred_chain reissues with the default chain",
            desired: desired(vec![www()]),
            state: state(vec![(
                "www",
                CertificateState {
                    preferred_chain: Some("Root X2".into()),
                    ..www_state(10)
                },
            )]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "reissue",
                "preferred_chain \"Root X2\" -> (none)",
            )],
        },
        Case {
            name: "--replace forces a reissue",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions {
                replace: vec![Address::certificate("www")],
                ..PlanOptions::default()
            },
            expect: vec![row("certificate.www", "reissue", "replacement requested with --replace")],
        },
        Case {
            name: "a deleted key file is redeployed",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: missing_key,
            options: PlanOptions::default(),
            expect: vec![row("certificate.www", "redeploy", "/tls/privkey.pem is missing")],
        },
        Case {
            name: "an edited file is redeployed",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: changed_chain,
            options: PlanOptions::default(),
            expect: vec![row("certificate.www", "redeploy", "/tls/fullchain.pem differs from state")],
        },
        Case {
            name: "a key file with a loose mode is redeployed",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: loose_key,
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "redeploy",
                "/tls/privkey.pem has mode 0644, expected 0600",
            )],
        },
        Case {
            name: "a FIFO in place of an output file is redeployed",
            desired: desired(vec![www()]),
            state: state(vec![("www", www_state(10))]),
            observed: fifo_chain,
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "redeploy",
                "/tls/fullchain.pem is not a regular file (a FIFO)",
            )],
        },
        Case {
            name: "files owned by another user than `owner` are redeployed",
            desired: desired(vec![CertificateSpec {
                outputs: vec![owned_by("nobody", "nogroup")],
                ..www()
            }]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "redeploy",
                "/tls/cert.pem is owned by root:root, expected nobody:nogroup; \
                 /tls/fullchain.pem is owned by root:root, expected nobody:nogroup; \
                 /tls/privkey.pem is owned by root:root, expected nobody:nogroup",
            )],
        },
        Case {
            name: "a new output block is deployed",
            desired: desired(vec![CertificateSpec {
                outputs: vec![output("/tls"), OutputSpec {
                    name: "haproxy".into(),
                    ..output("/haproxy")
                }],
                ..www()
            }]),
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "redeploy",
                "output \"haproxy\" has not been written yet",
            )],
        },
        Case {
            name: "removed with revoke_on_destroy: revoke",
            desired: desired(vec![]),
            state: state(vec![(
                "old",
                CertificateState {
                    revoke_on_destroy: true,
                    ..www_state(10)
                },
            )]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.old",
                "revoke",
                "removed from configuration (revoke_on_destroy = true)",
            )],
        },
        Case {
            name: "removed without revoke_on_destroy: forget",
            desired: desired(vec![]),
            state: state(vec![("old", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.old",
                "delete",
                "removed from configuration; the certificate stays valid at the CA (revoke_on_destroy = false)",
            )],
        },
        Case {
            name: "contact changed: account update in place",
            desired: {
                let mut d = desired(vec![www()]);
                d.accounts.get_mut("le").unwrap().contact = vec!["mailto:new@example.com".into()];
                d
            },
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "account.le",
                "update",
                "contact changed: [mailto:ops@example.com] -> [mailto:new@example.com]",
            )],
        },
        Case {
            name: "directory changed: new account and reissue",
            desired: {
                let mut d = desired(vec![www()]);
                d.accounts.get_mut("le").unwrap().directory = "https://other.test/dir".into();
                d
            },
            state: state(vec![("www", www_state(10))]),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![
                row(
                    "account.le",
                    "create",
                    "directory changed: https://ca.test/directory -> https://other.test/dir",
                ),
                row(
                    "certificate.www",
                    "reissue",
                    "the account's CA changed: https://ca.test/directory -> https://other.test/dir",
                ),
            ],
        },
        Case {
            name: "--target keeps the certificate and the account it needs",
            desired: desired(vec![www(), cert_spec("api", &["api.example.com"])]),
            state: State::new(),
            observed: Observed::default(),
            options: PlanOptions {
                targets: vec![Address::certificate("api")],
                ..PlanOptions::default()
            },
            expect: vec![
                row("account.le", "create", "new account at https://ca.test/directory"),
                row("certificate.api", "issue", "new certificate"),
            ],
        },
    ];
    for case in cases {
        let changes = diff(
            &case.desired,
            &case.state,
            &case.observed,
            NOW,
            &case.options,
        );
        assert_eq!(summarise(&changes), case.expect, "case: {}", case.name);
    }
}

#[test]
fn reissue_shows_before_and_after() {
    let d = desired(vec![cert_spec("www", &["example.com", "api.example.com"])]);
    let s = state(vec![("www", cert_state(&["example.com"], 1))]);
    let changes = diff(&d, &s, &observed_ok(), NOW, &PlanOptions::default());
    let change = &changes[0];
    assert_eq!(
        change.before.as_ref().unwrap()["domains"],
        AttrValue::List(vec!["example.com".into()])
    );
    assert_eq!(
        change.after.as_ref().unwrap()["domains"],
        AttrValue::List(vec!["example.com".into(), "api.example.com".into()])
    );
}

#[test]
fn durations_format_in_their_largest_unit() {
    for (secs, text) in [
        (90, "90s"),
        (900, "15m"),
        (43_200, "12h"),
        (2_592_000, "30d"),
        (5_400, "90m"),
    ] {
        assert_eq!(
            crate::config::duration::format_duration(Duration::from_secs(secs)),
            text
        );
    }
}

/// Lifecycle rules: account key rollover and deactivation, ARI windows, deferred and
/// out-of-plan revocations.
#[test]
fn lifecycle_table() {
    use crate::state::model::{AriState, PendingRevocation, Revoked};
    let www = || cert_spec("www", &["example.com", "www.example.com"]);
    let fresh = || cert_state(&["example.com", "www.example.com"], 10);
    let hours = time::Duration::hours;
    let ari = |start: OffsetDateTime, end: OffsetDateTime, renew_at: OffsetDateTime| AriState {
        window_start: start,
        window_end: end,
        renew_at,
        next_check_at: NOW + hours(6),
        explanation_url: None,
    };
    let with_account = |edit: &dyn Fn(&mut AccountSpec), key_age_days: i64| {
        let mut d = desired(vec![www()]);
        edit(d.accounts.get_mut("le").unwrap());
        let mut s = state(vec![("www", fresh())]);
        s.accounts.get_mut("le").unwrap().key_created_at = NOW - time::Duration::days(key_age_days);
        (d, s)
    };
    let pending = |serial: &str, revoke_after: OffsetDateTime| PendingRevocation {
        serial_number: serial.into(),
        account: "le".into(),
        certificate_pem: String::new(),
        not_after: NOW + time::Duration::days(60),
        revoke_after,
    };
    let cert_with = |edit: &dyn Fn(&mut CertificateState)| {
        let mut c = fresh();
        edit(&mut c);
        state(vec![("www", c)])
    };

    struct Case {
        name: &'static str,
        desired: Desired,
        state: State,
        observed: Observed,
        options: PlanOptions,
        expect: Vec<(String, &'static str, String)>,
    }
    let rotation = |days| with_account(&|a| a.key_rotation_days = Some(365), days);
    let (old_key_d, old_key_s) = rotation(400);
    let (young_key_d, young_key_s) = rotation(100);
    let (both_d, both_s) = with_account(
        &|a| {
            a.key_rotation_days = Some(365);
            a.contact = vec!["mailto:new@example.com".into()];
        },
        365,
    );
    let (flag_d, flag_s) = with_account(&|a| a.deactivate_on_destroy = true, 0);
    let mut removed_account = state(vec![]);
    removed_account
        .accounts
        .get_mut("le")
        .unwrap()
        .deactivate_on_destroy = true;
    let mut observed_window = observed_ok();
    observed_window.ari.insert(
        Address::certificate("www"),
        ari(NOW - hours(30), NOW + hours(10), NOW - hours(2)),
    );

    let cases = vec![
        Case {
            name: "account key older than key_rotation_days: rotate-key",
            desired: old_key_d,
            state: old_key_s,
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row("account.le", "rotate-key", "account key is 400 days old (key_rotation_days = 365)")],
        },
        Case {
            name: "account key younger than key_rotation_days: nothing",
            desired: young_key_d,
            state: young_key_s,
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![],
        },
        Case {
            name: "--replace account.le rolls the key over",
            desired: desired(vec![www()]),
            state: state(vec![("www", fresh())]),
            observed: observed_ok(),
            options: PlanOptions {
                replace: vec![Address::account("le")],
                ..PlanOptions::default()
            },
            expect: vec![row("account.le", "rotate-key", "key rollover requested with --replace")],
        },
        Case {
            name: "a rollover carries a contact change of the same account",
            desired: both_d,
            state: both_s,
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "account.le",
                "rotate-key",
                "account key is 365 days old (key_rotation_days = 365); contact changed: [mailto:ops@example.com] -> [mailto:new@example.com]",
            )],
        },
        Case {
            name: "deactivate_on_destroy set on an existing account: update",
            desired: flag_d,
            state: flag_s,
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row("account.le", "update", "deactivate_on_destroy -> true")],
        },
        Case {
            name: "removed account with deactivate_on_destroy: deactivate",
            desired: Desired {
                accounts: BTreeMap::new(),
                ..desired(vec![])
            },
            state: removed_account,
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "account.le",
                "deactivate",
                "account removed from configuration (deactivate_on_destroy = true)",
            )],
        },
        Case {
            name: "ARI renewal time still ahead: nothing",
            desired: desired(vec![www()]),
            state: cert_with(&|c| c.ari = Some(ari(NOW - hours(1), NOW + hours(48), NOW + hours(3)))),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![],
        },
        Case {
            name: "ARI renewal time passed: renew",
            desired: desired(vec![www()]),
            state: cert_with(&|c| c.ari = Some(ari(NOW - hours(30), NOW + hours(48), NOW - hours(1)))),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "ARI window opened 2026-11-27 (renewal time 2026-11-28T11:00:00Z passed)",
            )],
        },
        Case {
            name: "ARI window moved into the past: renew now",
            desired: desired(vec![www()]),
            state: cert_with(&|c| {
                c.ari = Some(AriState {
                    explanation_url: Some("https://ca.test/incident".into()),
                    ..ari(NOW - hours(48), NOW - hours(24), NOW - hours(30))
                })
            }),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "the CA moved the ARI window into the past (it ended 2026-11-27): replace now; see https://ca.test/incident",
            )],
        },
        Case {
            name: "a freshly fetched window wins over the one in state",
            desired: desired(vec![www()]),
            state: cert_with(&|c| c.ari = Some(ari(NOW + hours(1), NOW + hours(48), NOW + hours(3)))),
            observed: observed_window,
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "ARI window opened 2026-11-27 (renewal time 2026-11-28T10:00:00Z passed)",
            )],
        },
        Case {
            name: "ARI and renew_before both due: both reasons",
            desired: desired(vec![www()]),
            state: {
                let mut c = cert_state(&["example.com", "www.example.com"], 80);
                c.ari = Some(ari(NOW - hours(30), NOW + hours(48), NOW - hours(1)));
                state(vec![("www", c)])
            },
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "renew",
                "ARI window opened 2026-11-27 (renewal time 2026-11-28T11:00:00Z passed); expires in 10 days on 2026-12-08 (renew_before = 33% of a 90-day lifetime)",
            )],
        },
        Case {
            name: "replaced certificate past its grace period: revoke it, keep the current one",
            desired: desired(vec![www()]),
            state: cert_with(&|c| {
                c.pending_revocation = vec![pending("0a", NOW - hours(1)), pending("0b", NOW + hours(1))]
            }),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "revoke",
                "replaced certificate 0a is past its grace period (revoke_replaced_after ended 2026-11-28T11:00:00Z); reason superseded",
            )],
        },
        Case {
            name: "a renewal and a due revocation of the same certificate are two changes",
            desired: desired(vec![www()]),
            state: {
                let mut c = cert_state(&["example.com", "www.example.com"], 80);
                c.pending_revocation = vec![pending("0a", NOW)];
                state(vec![("www", c)])
            },
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![
                row(
                    "certificate.www",
                    "renew",
                    "expires in 10 days on 2026-12-08 (renew_before = 33% of a 90-day lifetime)",
                ),
                row(
                    "certificate.www",
                    "revoke",
                    "replaced certificate 0a is past its grace period (revoke_replaced_after ended 2026-11-28T12:00:00Z); reason superseded",
                ),
            ],
        },
        Case {
            name: "revoked with certform revoke: reissue",
            desired: desired(vec![www()]),
            state: cert_with(&|c| {
                c.revoked = Some(Revoked {
                    reason: "keyCompromise".into(),
                    at: NOW - hours(20),
                })
            }),
            observed: observed_ok(),
            options: PlanOptions::default(),
            expect: vec![row(
                "certificate.www",
                "reissue",
                "the certificate was revoked (keyCompromise) on 2026-11-27 with certform revoke",
            )],
        },
    ];
    for case in cases {
        let changes = diff(
            &case.desired,
            &case.state,
            &case.observed,
            NOW,
            &case.options,
        );
        assert_eq!(summarise(&changes), case.expect, "case: {}", case.name);
    }
}

/// What changing one configuration attribute does: the action `diff` plans after `edit`
/// (from a certificate in sync with state), or `Inert` when the README's attribute table
/// says why no change is planned.
enum Decision {
    Plans(&'static str, fn(&mut Desired)),
    Inert,
}

fn hmac(key: &str) -> crate::secret::ConfigSecret {
    crate::secret::ConfigSecret::Known {
        value: crate::secret::Sensitive::new(key),
        env: None,
    }
}

fn account_mut(d: &mut Desired) -> &mut AccountSpec {
    d.accounts.get_mut("le").unwrap()
}

fn cert_mut(d: &mut Desired) -> &mut CertificateSpec {
    d.certificates
        .get_mut(&Address::certificate("www"))
        .unwrap()
}

pub(crate) fn output_mut(d: &mut Desired) -> &mut OutputSpec {
    &mut cert_mut(d).outputs[0]
}

/// One decision per attribute every block accepts: `schema_attributes_all_have_a_decision`
/// fails for an attribute the parser accepts without a row here.
const DECISIONS: &[(&str, &str, Decision)] = {
    use Decision::*;
    &[
        (
            "account",
            "directory",
            Plans("create", |d| {
                account_mut(d).directory = "https://other.test/dir".into()
            }),
        ),
        (
            "account",
            "contact",
            Plans("update", |d| account_mut(d).contact = vec![]),
        ),
        ("account", "terms_of_service_agreed", Inert),
        ("account", "key_type", Inert),
        (
            "account",
            "ca_bundle",
            Plans("update", |d| {
                account_mut(d).ca_bundle = Some("/cfg/ca.pem".into())
            }),
        ),
        (
            "account",
            "key_rotation_days",
            Plans("rotate-key", |d| {
                // Read at every plan: rotation is planned once the key is that old.
                account_mut(d).key_rotation_days = Some(0);
            }),
        ),
        (
            "account",
            "deactivate_on_destroy",
            Plans("update", |d| account_mut(d).deactivate_on_destroy = true),
        ),
        (
            "external_account_binding",
            "kid",
            Plans("update", |d| {
                account_mut(d).external_account_binding = Some(ExternalAccountBinding {
                    kid: "kid-1".into(),
                    hmac_key: hmac("c2VjcmV0"),
                });
            }),
        ),
        ("external_account_binding", "hmac_key", Inert),
        (
            "certificate",
            "account",
            Plans("reissue", |d| {
                let mut other = account_spec();
                other.name = "other".into();
                d.accounts.insert("other".into(), other);
                cert_mut(d).account = "other".into();
            }),
        ),
        (
            "certificate",
            "domains",
            Plans("reissue", |d| {
                cert_mut(d).domains.push("new.example.com".into())
            }),
        ),
        (
            "certificate",
            "key_type",
            Plans("reissue", |d| cert_mut(d).key_type = KeyType::Rsa2048),
        ),
        ("certificate", "solvers", Inert),
        (
            "certificate",
            "renew_before",
            Plans("renew", |d| {
                cert_mut(d).renew_before = RenewBefore::Remaining(Duration::from_secs(89 * 86_400));
            }),
        ),
        ("certificate", "reuse_key", Inert),
        (
            "certificate",
            "revoke_on_destroy",
            Plans("update", |d| cert_mut(d).revoke_on_destroy = true),
        ),
        ("certificate", "revoke_replaced_after", Inert),
        (
            "certificate",
            "profile",
            Plans("reissue", |d| {
                cert_mut(d).profile = Some("shortlived".into())
            }),
        ),
        (
            "certificate",
            "preferred_chain",
            Plans("reissue", |d| {
                cert_mut(d).preferred_chain = Some("Root X2".into())
            }),
        ),
        (
            "certificate",
            "must_staple",
            Plans("reissue", |d| cert_mut(d).must_staple = true),
        ),
        ("certificate", "for_each", Inert),
        (
            "output",
            "directory",
            Plans("redeploy", |d| *output_mut(d) = output("/srv/tls")),
        ),
        (
            "output",
            "cert",
            Plans("redeploy", |d| output_mut(d).cert = None),
        ),
        (
            "output",
            "chain",
            Plans("redeploy", |d| {
                output_mut(d).chain = Some("/tls/chain.pem".into())
            }),
        ),
        (
            "output",
            "fullchain",
            Plans("redeploy", |d| {
                output_mut(d).fullchain = Some("/tls/full.pem".into())
            }),
        ),
        (
            "output",
            "key",
            Plans("redeploy", |d| {
                output_mut(d).key = Some("/tls/key.pem".into())
            }),
        ),
        (
            "output",
            "key_mode",
            Plans("redeploy", |d| output_mut(d).key_mode = 0o640),
        ),
        (
            "output",
            "mode",
            Plans("redeploy", |d| output_mut(d).mode = 0o600),
        ),
        (
            "output",
            "owner",
            Plans("redeploy", |d| {
                output_mut(d).owner = Some(NamedId {
                    name: "nobody".into(),
                    id: 65534,
                })
            }),
        ),
        (
            "output",
            "group",
            Plans("redeploy", |d| {
                output_mut(d).group = Some(NamedId {
                    name: "nogroup".into(),
                    id: 65534,
                })
            }),
        ),
        ("output", "follow_symlinks", Inert),
        ("output", "on_change", Inert),
        ("output", "on_change_timeout", Inert),
        (
            "output",
            "kind",
            Plans("redeploy", |d| output_mut(d).kind = acm(None, None)),
        ),
        ("output", "format", Plans("redeploy", combined)),
        ("output", "path", Plans("redeploy", combined)),
        ("output", "password", Inert),
        (
            "output",
            "region",
            Plans("redeploy", |d| {
                output_mut(d).kind = acm(Some("eu-west-1"), None)
            }),
        ),
        (
            "output",
            "endpoint",
            Plans("redeploy", |d| {
                output_mut(d).kind = acm(None, Some("https://acm.example"))
            }),
        ),
        ("output", "profile", Inert),
        ("output", "allow_insecure_transport", Inert),
        (
            "output",
            "secret_id",
            Plans("redeploy", |d| {
                output_mut(d).kind = OutputKind::AwsSecretsManager(SecretsManagerTarget {
                    aws: AwsTarget::default(),
                    secret_id: "tls/www".into(),
                    kms_key_id: None,
                })
            }),
        ),
        ("output", "kms_key_id", Inert),
        ("output", "bucket", Plans("redeploy", s3)),
        ("output", "prefix", Plans("redeploy", s3)),
        ("output", "server_side_encryption", Plans("redeploy", s3)),
        ("output", "use_path_style", Inert),
        (
            "output",
            "host",
            Plans("redeploy", |d| ssh(d, "web2", None, None)),
        ),
        (
            "output",
            "port",
            Plans("redeploy", |d| ssh(d, "web1", Some(2222), None)),
        ),
        (
            "output",
            "user",
            Plans("redeploy", |d| ssh(d, "web1", None, Some("deploy"))),
        ),
        ("output", "identity_file", Inert),
        ("output", "known_hosts", Inert),
        ("output", "reload_command", Inert),
        ("output", "timeout", Inert),
        ("check", "endpoint", Inert),
        ("renewal_window", "days", Inert),
        ("renewal_window", "hours", Inert),
        ("renewal_window", "time_zone", Inert),
        ("freeze", "start", Inert),
        ("freeze", "end", Inert),
        // Which names the solver serves: the solver choice, not a resource of its own.
        ("dns_persist_solver", "zones", Inert),
        ("dns_persist_solver", "resolvers", Inert),
        (
            "dns_persist_solver",
            "via",
            Plans("update", |d| {
                persist_mut(d).via = Some(Address::new(Kind::DnsSolver, "other"))
            }),
        ),
        (
            "dns_persist_solver",
            "policy",
            Plans("update", |d| persist_mut(d).wildcard = true),
        ),
        (
            "dns_persist_solver",
            "persist_until",
            Plans("update", |d| {
                persist_mut(d).persist_until = Some(1_900_000_000)
            }),
        ),
        (
            "dns_persist_solver",
            "issuer_domain_name",
            Plans("update", |d| {
                persist_mut(d).issuer_domain_name = Some("other-ca.test".into())
            }),
        ),
    ]
};

fn acm(region: Option<&str>, endpoint: Option<&str>) -> OutputKind {
    OutputKind::AwsAcm(AwsTarget {
        region: region.map(str::to_string),
        profile: None,
        endpoint: endpoint.map(str::to_string),
    })
}

fn combined(d: &mut Desired) {
    let output = output_mut(d);
    output.kind = OutputKind::Files(FileFormat::Combined);
    (output.cert, output.fullchain, output.key) = (None, None, None);
    output.combined = Some("/tls/combined.pem".into());
}

fn s3(d: &mut Desired) {
    output_mut(d).kind = OutputKind::S3(S3Target {
        aws: AwsTarget::default(),
        bucket: "tls".into(),
        prefix: "www/".into(),
        use_path_style: false,
        server_side_encryption: Some("AES256".into()),
        kms_key_id: None,
    })
}

pub(crate) fn ssh(d: &mut Desired, host: &str, port: Option<u16>, user: Option<&str>) {
    use crate::deploy::ssh::{SshOutput, SshTarget};
    output_mut(d).kind = OutputKind::Ssh(SshOutput {
        target: SshTarget {
            host: host.into(),
            port,
            user: user.map(str::to_string),
            identity_file: None,
            known_hosts: None,
            timeout: crate::deploy::ssh::DEFAULT_TIMEOUT,
        },
        directory: "/etc/tls".into(),
        combined: false,
        key_mode: 0o600,
        mode: 0o644,
        owner: None,
        group: None,
        reload_command: None,
    })
}

/// www.example.com validates through dns-persist-01 (`dns_persist_solver.p` via
/// `dns_solver.bind`).
fn with_persist_record(d: &mut Desired) {
    d.solvers.insert(
        persist_solver(),
        crate::desired::model::SolverSpec::DnsPersist(
            crate::desired::model::DnsPersistSolverSpec {
                zones: vec!["example.com".into()],
                via: Some(Address::new(Kind::DnsSolver, "bind")),
                wildcard: false,
                persist_until: None,
                issuer_domain_name: Some("ca.test".into()),
                resolvers: vec![],
            },
        ),
    );
    cert_mut(d)
        .solver_for
        .insert("www.example.com".into(), persist_solver());
}

/// The record `with_persist_record` asks for, as apply wrote it for account.le.
fn record_in_state(state: &mut State) {
    state.persist_records.insert(
        persist_solver().with_key("www.example.com"),
        crate::state::model::PersistRecordState {
            name: "_validation-persist.www.example.com".into(),
            value: "ca.test; accounturi=https://ca.test/acct/1".into(),
            via: Address::new(Kind::DnsSolver, "bind"),
            written_at: NOW,
        },
    );
}

#[test]
fn a_persist_record_follows_the_account_url_and_not_the_account_key() {
    let mut d = desired(vec![cert_spec("www", &["www.example.com"])]);
    with_persist_record(&mut d);
    let mut current = state(vec![("www", cert_state(&["www.example.com"], 10))]);
    record_in_state(&mut current);
    let options = PlanOptions::default();
    let record = persist_solver().with_key("www.example.com");
    let record_changes = |changes: Vec<Change>| -> Vec<(Action, String)> {
        changes
            .into_iter()
            .filter(|c| c.address == record)
            .map(|c| (c.action, c.reason_text()))
            .collect()
    };

    // A key rollover keeps the URL: the record stays.
    let rotate = PlanOptions {
        replace: vec![Address::account("le")],
        ..PlanOptions::default()
    };
    let changes = diff(&d, &current, &observed_ok(), NOW, &rotate);
    assert!(changes.iter().any(|c| c.action == Action::RotateKey));
    assert_eq!(record_changes(changes), vec![]);

    // Another registration (another URL) updates it, saying why.
    current.accounts.get_mut("le").unwrap().account_url = "https://ca.test/acct/2".into();
    assert_eq!(
        record_changes(diff(&d, &current, &observed_ok(), NOW, &options)),
        vec![(
            Action::Update,
            "accounturi changed: https://ca.test/acct/1 -> https://ca.test/acct/2".into()
        )]
    );

    // An account registered anew at another directory: known after apply.
    account_mut(&mut d).directory = "https://other-ca.test/directory".into();
    let changes = record_changes(diff(&d, &current, &observed_ok(), NOW, &options));
    assert_eq!(changes.len(), 1);
    assert!(changes[0].1.contains("known after apply"), "{changes:?}");

    // A targeted certificate brings its record along.
    let target = PlanOptions {
        targets: vec![Address::certificate("www")],
        replace: vec![Address::certificate("www")],
    };
    assert_eq!(
        record_changes(diff(&d, &current, &observed_ok(), NOW, &target)).len(),
        1
    );

    // No certificate uses it any more: it is removed.
    let d = desired(vec![cert_spec("www", &["www.example.com"])]);
    assert_eq!(
        record_changes(diff(&d, &current, &observed_ok(), NOW, &options)),
        vec![(
            Action::Delete,
            "no certificate validates through _validation-persist.www.example.com any more".into()
        )]
    );
}

fn persist_solver() -> Address {
    Address::new(Kind::DnsPersistSolver, "p")
}

fn persist_mut(d: &mut Desired) -> &mut crate::desired::model::DnsPersistSolverSpec {
    match d.solvers.get_mut(&persist_solver()) {
        Some(crate::desired::model::SolverSpec::DnsPersist(spec)) => spec,
        _ => unreachable!("the base configuration has dns_persist_solver.p"),
    }
}

/// Blocks whose attributes are all inert for planning (README: attribute table).
const INERT_BLOCKS: &[&str] = &[
    "http_solver",
    "tls_alpn_solver",
    "dns_solver",
    "certform",
    "state",
];

#[test]
fn schema_attributes_all_have_a_decision() {
    for (block, attributes) in crate::desired::resolve::schema::attributes() {
        for attribute in attributes {
            let decided = DECISIONS
                .iter()
                .any(|(b, a, _)| *b == block && *a == attribute)
                || INERT_BLOCKS.contains(&block);
            assert!(
                decided,
                "`{attribute}` in `{block}` has no planning decision: add it to DECISIONS (and the README's attribute table)"
            );
        }
    }
    for (block, attribute, _) in DECISIONS {
        let accepted = crate::desired::resolve::schema::attributes()
            .into_iter()
            .any(|(b, attrs)| b == *block && attrs.contains(attribute));
        assert!(
            accepted,
            "DECISIONS names `{attribute}` in `{block}`, which the parser does not accept"
        );
    }
}

#[test]
fn changing_each_attribute_plans_its_change() {
    let base = || {
        let mut d = desired(vec![cert_spec("www", &["www.example.com"])]);
        d.certificates
            .get_mut(&Address::certificate("www"))
            .unwrap()
            .check_endpoint = None;
        with_persist_record(&mut d);
        d
    };
    let mut current = state(vec![("www", cert_state(&["www.example.com"], 10))]);
    record_in_state(&mut current);
    let options = PlanOptions::default();
    assert_eq!(
        diff(&base(), &current, &observed_ok(), NOW, &options),
        vec![]
    );
    for (block, attribute, decision) in DECISIONS {
        let Decision::Plans(action, edit) = decision else {
            continue;
        };
        let mut changed = base();
        edit(&mut changed);
        let changes = diff(&changed, &current, &observed_ok(), NOW, &options);
        let actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
        assert!(
            actions.contains(action),
            "changing `{attribute}` in `{block}` planned {actions:?}, not {action}"
        );
    }
}

#[test]
fn readme_documents_every_attribute_decision() {
    let readme = include_str!("../../README.md");
    for (block, attribute, decision) in DECISIONS {
        let what = match decision {
            Decision::Plans(action, _) => action,
            Decision::Inert => "inert",
        };
        let row = format!("| `{block}` | `{attribute}` | {what} |");
        assert!(readme.contains(&row), "README lacks the row {row:?}");
    }
    for block in INERT_BLOCKS {
        let row = format!("| `{block}` | every attribute | inert |");
        assert!(readme.contains(&row), "README lacks the row {row:?}");
    }
}

#[test]
fn revoke_on_destroy_on_an_issued_certificate_is_an_update() {
    let mut spec = cert_spec("www", &["www.example.com"]);
    spec.revoke_on_destroy = true;
    let current = state(vec![("www", cert_state(&["www.example.com"], 10))]);
    let changes = diff(
        &desired(vec![spec]),
        &current,
        &observed_ok(),
        NOW,
        &PlanOptions::default(),
    );
    assert_eq!(
        summarise(&changes),
        vec![row(
            "certificate.www",
            "update",
            "revoke_on_destroy -> true (recorded: removing the block later revokes the certificate)"
        )]
    );
}

#[test]
fn a_changed_eab_kid_registers_the_account_again_and_never_shows_the_hmac_key() {
    let binding = |kid: &str| ExternalAccountBinding {
        kid: kid.into(),
        hmac_key: hmac("aG1hYy1zZWNyZXQ"),
    };
    let mut wanted = desired(vec![]);
    wanted
        .accounts
        .get_mut("le")
        .unwrap()
        .external_account_binding = Some(binding("kid-2"));
    let mut current = state(vec![]);
    current
        .accounts
        .get_mut("le")
        .unwrap()
        .external_account_binding = Some(binding("kid-1").kid_fingerprint());
    let changes = diff(
        &wanted,
        &current,
        &observed_ok(),
        NOW,
        &PlanOptions::default(),
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].action, Action::Create);
    let text = changes[0].reason_text();
    assert!(
        text.starts_with("external_account_binding kid changed (sha256:"),
        "{text}"
    );
    let json = serde_json::to_string(&changes).unwrap();
    assert!(
        !json.contains("aG1hYy1zZWNyZXQ") && !json.contains("kid-2"),
        "{json}"
    );

    // Removing the binding only records it: the account keeps its registration.
    wanted
        .accounts
        .get_mut("le")
        .unwrap()
        .external_account_binding = None;
    let changes = diff(
        &wanted,
        &current,
        &observed_ok(),
        NOW,
        &PlanOptions::default(),
    );
    assert_eq!(changes[0].action, Action::Update);
}

/// Renewal windows, freezes and the short-lived default: what `diff` plans (nothing for a
/// renewal that waits) and what `renewal::upcoming` lists, at a fixed `now` (NOW is a
/// Saturday).
#[test]
fn renewal_window_table() {
    use super::super::renewal::upcoming;
    use crate::plan::window::{parse_days, Freeze, RenewalWindow};
    use crate::state::model::AriState;
    let hours = time::Duration::hours;
    let weekdays = |offset: time::UtcOffset| RenewalWindow {
        days: parse_days(["mon", "tue", "wed", "thu", "fri"]).unwrap(),
        opens: 9 * 60,
        minutes: 8 * 60,
        offset,
    };
    let with = |edit: &dyn Fn(&mut CertificateSpec)| {
        let mut spec = cert_spec("www", &["example.com"]);
        edit(&mut spec);
        desired(vec![spec])
    };
    // 90 days, 29 left: due under the default renew_before.
    let due = || cert_state(&["example.com"], 61);
    let ari = |renew_at: OffsetDateTime, end: OffsetDateTime| AriState {
        window_start: renew_at - hours(1),
        window_end: end,
        renew_at,
        next_check_at: NOW + hours(6),
        explanation_url: None,
    };
    let short_lived = |age_hours: i64| {
        let mut c = cert_state(&["example.com"], 0);
        c.not_before = NOW - hours(age_hours);
        c.not_after = c.not_before + time::Duration::days(6);
        c
    };

    struct Case {
        name: &'static str,
        desired: Desired,
        cert: CertificateState,
        /// The plan's changes as (action, reason).
        expect: Vec<(&'static str, &'static str)>,
        /// What `upcoming` lists: (renew_at, waiting, policy).
        upcoming: Option<(&'static str, bool, &'static str)>,
    }
    let cases = vec![
        Case {
            name: "due on a Saturday, window on weekdays: waits for Monday 09:00",
            desired: with(&|c| c.renewal_window = Some(weekdays(time::UtcOffset::UTC))),
            cert: due(),
            expect: vec![],
            upcoming: Some(("2026-11-30T09:00:00Z", true, "renew_before = 33% of a 90-day lifetime")),
        },
        Case {
            name: "the opening is shown in the window's offset",
            desired: with(&|c| c.renewal_window = Some(weekdays(time::macros::offset!(+01:00)))),
            cert: due(),
            expect: vec![],
            upcoming: Some(("2026-11-30T09:00:00+01:00", true, "renew_before = 33% of a 90-day lifetime")),
        },
        Case {
            name: "due inside the window: renews now",
            desired: with(&|c| {
                c.renewal_window = Some(RenewalWindow {
                    days: parse_days(["sat"]).unwrap(),
                    ..weekdays(time::UtcOffset::UTC)
                })
            }),
            cert: due(),
            expect: vec![("renew", "expires in 29 days on 2026-12-27 (renew_before = 33% of a 90-day lifetime)")],
            upcoming: None,
        },
        Case {
            name: "a freeze past the expiry: renews now and says why",
            desired: with(&|c| {
                c.freezes = vec![Freeze {
                    start: NOW - hours(1),
                    end: NOW + time::Duration::days(40),
                }]
            }),
            cert: due(),
            expect: vec![("renew", "expires in 29 days on 2026-12-27 (renew_before = 33% of a 90-day lifetime); renewing outside the renewal window: the certificate expires 2026-12-27T12:00:00Z, before the window opens 2027-01-07T12:00:00Z")],
            upcoming: None,
        },
        Case {
            name: "a freeze ending before the expiry: waits for its end",
            desired: with(&|c| {
                c.freezes = vec![Freeze {
                    start: NOW - hours(1),
                    end: NOW + time::Duration::days(3),
                }]
            }),
            cert: due(),
            expect: vec![],
            upcoming: Some(("2026-12-01T12:00:00Z", true, "renew_before = 33% of a 90-day lifetime")),
        },
        Case {
            name: "the CA moved its ARI window into the past: no waiting",
            desired: with(&|c| c.renewal_window = Some(weekdays(time::UtcOffset::UTC))),
            cert: {
                let mut c = cert_state(&["example.com"], 10);
                c.ari = Some(ari(NOW - hours(30), NOW - hours(2)));
                c
            },
            expect: vec![("renew", "the CA moved the ARI window into the past (it ended 2026-11-28): replace now")],
            upcoming: None,
        },
        Case {
            name: "ARI's time inside the window is kept as it is",
            desired: with(&|c| c.renewal_window = Some(weekdays(time::UtcOffset::UTC))),
            cert: {
                let mut c = cert_state(&["example.com"], 10);
                c.ari = Some(ari(datetime!(2026-12-01 10:17 UTC), NOW + time::Duration::days(5)));
                c
            },
            expect: vec![],
            upcoming: Some(("2026-12-01T10:17:00Z", false, "the CA's ARI window opening 2026-12-01")),
        },
        Case {
            name: "ARI's time on a Sunday moves to the window's Monday opening",
            desired: with(&|c| c.renewal_window = Some(weekdays(time::UtcOffset::UTC))),
            cert: {
                let mut c = cert_state(&["example.com"], 10);
                c.ari = Some(ari(datetime!(2026-11-29 03:00 UTC), NOW + time::Duration::days(5)));
                c
            },
            expect: vec![],
            upcoming: Some(("2026-11-30T09:00:00Z", false, "the CA's ARI window opening 2026-11-29")),
        },
        Case {
            name: "a 6-day certificate renews at half its lifetime by default",
            desired: with(&|_| {}),
            cert: short_lived(73),
            expect: vec![("renew", "expires in 2 days on 2026-12-01 (half of a 6-day lifetime, the default for a short-lived certificate)")],
            upcoming: None,
        },
        Case {
            name: "a young 6-day certificate lists its renewal time",
            desired: with(&|_| {}),
            cert: short_lived(24),
            expect: vec![],
            upcoming: Some(("2026-11-30T12:00:00Z", false, "half of a 6-day lifetime, the default for a short-lived certificate")),
        },
        Case {
            name: "a written renew_before applies to a 6-day certificate as written",
            desired: with(&|c| c.renew_before = RenewBefore::Remaining(Duration::from_secs(86_400))),
            cert: short_lived(73),
            expect: vec![],
            upcoming: None,
        },
        Case {
            name: "with an ARI window a 6-day certificate follows ARI (33% stays the safety net)",
            desired: with(&|_| {}),
            cert: {
                let mut c = short_lived(73);
                c.ari = Some(ari(NOW + hours(12), NOW + hours(30)));
                c
            },
            expect: vec![],
            upcoming: None,
        },
    ];
    for case in cases {
        let state = state(vec![("www", case.cert)]);
        let changes = diff(
            &case.desired,
            &state,
            &observed_ok(),
            NOW,
            &PlanOptions::default(),
        );
        let got: Vec<(String, String)> = changes
            .iter()
            .map(|c| (c.action.as_str().to_string(), c.reason_text()))
            .collect();
        let want: Vec<(String, String)> = case
            .expect
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect();
        assert_eq!(got, want, "case: {}", case.name);
        let listed = upcoming(&case.desired, &state, &observed_ok(), &changes, NOW);
        if let Some((renew_at, waiting, policy)) = case.upcoming {
            assert_eq!(listed.len(), 1, "case: {}", case.name);
            let u = &listed[0];
            assert_eq!(
                (
                    u.renew_at.as_str(),
                    !u.waiting.is_empty(),
                    u.policy.as_str()
                ),
                (renew_at, waiting, policy),
                "case: {}",
                case.name
            );
        }
    }
}

/// A renewal due now that `--target` left out of the plan is not listed as waiting.
#[test]
fn a_due_renewal_left_out_by_target_is_not_listed_as_waiting() {
    let desired = desired(vec![
        cert_spec("www", &["example.com"]),
        cert_spec("api", &["api.example.com"]),
    ]);
    let state = state(vec![
        ("www", cert_state(&["example.com"], 61)),
        ("api", cert_state(&["api.example.com"], 10)),
    ]);
    let options = PlanOptions {
        targets: vec![Address::certificate("api")],
        ..PlanOptions::default()
    };
    let changes = diff(&desired, &state, &observed_ok(), NOW, &options);
    assert!(changes.is_empty(), "{changes:?}");
    let listed = super::super::renewal::upcoming(&desired, &state, &observed_ok(), &changes, NOW);
    let addresses: Vec<String> = listed.iter().map(|u| u.address.to_string()).collect();
    assert_eq!(addresses, ["certificate.api"]);
}

/// `certificate.www` delivering to ACM, delivered as state records it (serial `01ab`).
fn acm_delivered() -> (Desired, State) {
    let mut d = desired(vec![cert_spec("www", &["www.example.com"])]);
    d.certificates
        .get_mut(&Address::certificate("www"))
        .unwrap()
        .check_endpoint = None;
    output_mut(&mut d).kind = acm(Some("eu-west-1"), None);
    let mut current = cert_state(&["www.example.com"], 10);
    current.outputs = BTreeMap::from([(
        "files".to_string(),
        DeployedOutput {
            files: Vec::new(),
            remote: Some(crate::state::model::RemoteDelivery {
                target: "acm in eu-west-1".into(),
                location: "arn:aws:acm:eu-west-1:1:certificate/x".into(),
                serial_number: "01ab".into(),
                items: BTreeMap::from([("serial".into(), "01:ab".into())]),
            }),
        },
    )]);
    (d, state(vec![("www", current)]))
}

#[test]
fn a_remote_output_redeploys_for_what_a_refresh_read_back_without_a_new_order() {
    let (d, current) = acm_delivered();
    let plan = |seen: Option<RemoteSeen>| {
        let mut observed = observed_ok();
        if let Some(seen) = seen {
            observed
                .remote
                .insert((Address::certificate("www"), "files".into()), seen);
        }
        summarise(&diff(&d, &current, &observed, NOW, &PlanOptions::default()))
    };
    // In place, or not read (the service did not answer): nothing to do.
    let same = BTreeMap::from([("serial".to_string(), "01:ab".to_string())]);
    assert_eq!(plan(Some(RemoteSeen::Found(same))), vec![]);
    assert_eq!(plan(None), vec![]);
    let other = BTreeMap::from([("serial".to_string(), "02:cd".to_string())]);
    assert_eq!(
        plan(Some(RemoteSeen::Found(other))),
        vec![row(
            "certificate.www",
            "redeploy",
            "acm certificate arn:aws:acm:eu-west-1:1:certificate/x differs from state"
        )]
    );
    assert_eq!(
        plan(Some(RemoteSeen::Missing)),
        vec![row(
            "certificate.www",
            "redeploy",
            "acm certificate arn:aws:acm:eu-west-1:1:certificate/x is missing"
        )]
    );
}

#[test]
fn a_remote_output_still_holding_the_previous_certificate_or_moved_is_redeployed() {
    let (d, mut current) = acm_delivered();
    let www = Address::certificate("www");
    current.certificates.get_mut(&www).unwrap().serial_number = "03ef".into();
    assert_eq!(
        summarise(&diff(&d, &current, &observed_ok(), NOW, &PlanOptions::default())),
        vec![row(
            "certificate.www",
            "redeploy",
            "output \"files\": arn:aws:acm:eu-west-1:1:certificate/x holds an earlier certificate than state's"
        )]
    );
    let (mut d, current) = acm_delivered();
    output_mut(&mut d).kind = acm(Some("us-east-1"), None);
    assert_eq!(
        summarise(&diff(
            &d,
            &current,
            &observed_ok(),
            NOW,
            &PlanOptions::default()
        )),
        vec![row(
            "certificate.www",
            "redeploy",
            "output \"files\" now delivers to acm in us-east-1, not acm in eu-west-1"
        )]
    );
}
