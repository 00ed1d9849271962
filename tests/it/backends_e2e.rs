//! End-to-end tests of the shared state backends, workspaces and state commands: the real
//! `certform` binary against a real Pebble, PostgreSQL and moto S3, each started by the
//! test on free loopback ports. They assert what a user sees: output, exit codes, state.

use crate::support;

use certform::desired::model::PostgresSettings;
use certform::secret::Sensitive;
use certform::state::postgres::PostgresStore;
use certform::state::StateStore;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::backend_servers::{MotoS3, Postgres};
use support::pebble::Pebble;
use support::project::{certform_in, text, Project};

/// A [`Project`] (its own identity and Pebble) whose state lives in the backend that
/// `backend` (the body of `certform { state { ... } }`) names, with moto's credentials.
fn project(backend: &str) -> Project {
    let p = Project::with_setup(
        Pebble::start(),
        &MotoS3::aws_env(),
        &[("backend.hcl", &backend_hcl(backend))],
    );
    p.certificates(&["www"], "");
    p
}

fn backend_hcl(body: &str) -> String {
    format!("certform {{\n  state {{\n{body}\n  }}\n}}\n")
}

/// What these tests do with a project beyond the shared helpers.
trait InBackend {
    /// Replaces the backend.
    fn backend(&self, body: &str);
    /// main.hcl: the account, the solver and one certificate per name with `output_extra`.
    fn certificates(&self, names: &[&str], output_extra: &str);
    /// `state pull` as JSON.
    fn pulled(&self) -> serde_json::Value;
}

impl InBackend for Project {
    fn backend(&self, body: &str) {
        fs::write(self.path("backend.hcl"), backend_hcl(body)).unwrap();
    }

    fn certificates(&self, names: &[&str], output_extra: &str) {
        let blocks: String = names
            .iter()
            .map(|name| {
                format!(
                    r#"
certificate "{name}" {{
  account = account.pebble
  domains = ["{name}.backends.test"]
  solvers = [http_solver.web]
  output "files" {{
    directory = "tls/{name}"
    {output_extra}
  }}
}}
"#
                )
            })
            .collect();
        self.config(&blocks);
    }

    fn pulled(&self) -> serde_json::Value {
        let out = self.run(&["state", "pull"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn postgres_backend(pg: &Postgres) -> String {
    // The test cluster speaks plaintext over loopback: opted into.
    format!(
        "    backend  = \"postgres\"\n    conn_str = {:?}\n    allow_insecure_transport = true",
        pg.url()
    )
}

fn s3_backend(moto: &MotoS3) -> String {
    format!(
        "    backend        = \"s3\"\n    bucket         = {:?}\n    key            = \"tls/certform.certstate\"\n    endpoint       = {:?}\n    use_path_style = true\n    allow_insecure_transport = true",
        moto.bucket,
        moto.endpoint()
    )
}

/// Polls until `held` says the lock is taken (a background apply got it).
fn wait_for_lock(mut held: impl FnMut() -> bool) {
    for _ in 0..300 {
        if held() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the background apply never took the lock");
}

fn pg_store(pg: &Postgres) -> PostgresStore {
    let settings = PostgresSettings {
        conn_str: Sensitive::new(pg.url()),
        schema: "certform".into(),
        ca_bundle: None,
        allow_insecure_transport: true,
    };
    PostgresStore::connect(&settings, "default").unwrap()
}

#[test]
fn postgres_over_tls_trusts_the_ca_bundle_and_refuses_anything_else() {
    let pg = Postgres::start_tls_only();
    let tls_backend = |sslmode: &str, ca_bundle: Option<&Path>| {
        let mut body = format!(
            "    backend   = \"postgres\"\n    conn_str  = {:?}",
            format!("{}?sslmode={sslmode}", pg.url())
        );
        if let Some(ca) = ca_bundle {
            body += &format!("\n    ca_bundle = {:?}", ca.display().to_string());
        }
        body
    };
    // `init` checks the backend: it connects, verifying the server against ca_bundle.
    let p = project(&tls_backend("require", Some(&pg.ca_path())));
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(p.pulled()["serial"].as_u64().unwrap() > 0);

    // Without the CA, the server's certificate is not trusted (web PKI roots only).
    p.backend(&tls_backend("require", None));
    let refused = p.expect(&["plan"], 1);
    assert!(
        refused.contains("Cannot connect to the postgres state backend")
            && refused.contains("invalid peer certificate"),
        "{refused}"
    );
    // Plaintext is refused by certform unless opted into...
    p.backend(&tls_backend("disable", Some(&pg.ca_path())));
    let refused = p.expect(&["plan"], 1);
    assert!(
        refused.contains("sets sslmode=disable") && refused.contains("allow_insecure_transport"),
        "{refused}"
    );
    // ...and then by this server, which accepts no connection without TLS: TLS was really
    // in use above.
    p.backend(&format!(
        "{}\n    allow_insecure_transport = true",
        tls_backend("disable", Some(&pg.ca_path()))
    ));
    let refused = p.expect(&["plan"], 1);
    assert!(refused.contains("no encryption"), "{refused}");
}

/// `ca_bundle = "system"`: the server is verified against the system trust store, here a
/// scratch one (`SSL_CERT_FILE` holding the server's CA, `SSL_CERT_DIR` empty); with
/// another CA there instead, the server is refused.
#[test]
fn postgres_trusts_the_system_store_with_ca_bundle_system() {
    let pg = Postgres::start_tls_only();
    let store = tempfile::tempdir().unwrap();
    let roots = store.path().join("ca-certificates.crt");
    std::fs::copy(pg.ca_path(), &roots).unwrap();
    let hashed = store.path().join("certs");
    std::fs::create_dir(&hashed).unwrap();
    let mut env = MotoS3::aws_env().to_vec();
    env.push(("SSL_CERT_FILE", roots.to_str().unwrap()));
    env.push(("SSL_CERT_DIR", hashed.to_str().unwrap()));
    let backend = format!(
        "    backend   = \"postgres\"\n    conn_str  = {:?}\n    ca_bundle = \"system\"",
        format!("{}?sslmode=require", pg.url())
    );
    // `init` connects, verifying the server against the system store.
    let p = Project::with_setup(
        Pebble::start(),
        &env,
        &[("backend.hcl", &backend_hcl(&backend))],
    );
    p.certificates(&["www"], "");
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(p.pulled()["serial"].as_u64().unwrap() > 0);

    let other = Postgres::start_tls_only();
    std::fs::copy(other.ca_path(), &roots).unwrap();
    let refused = p.expect(&["plan"], 1);
    assert!(
        refused.contains("Cannot connect to the postgres state backend")
            && refused.contains("invalid peer certificate"),
        "{refused}"
    );
}

#[test]
fn two_applies_on_one_postgres_workspace_never_interleave() {
    let pg = Postgres::start();
    let p = project(&postgres_backend(&pg));
    // The hook keeps the first apply (and its lock) busy for a while.
    p.certificates(&["www"], r#"on_change = ["sleep", "3"]"#);
    let mut first = p.spawn(&["apply", "--auto-approve"]);
    let observer = pg_store(&pg);
    wait_for_lock(|| observer.lock_info().unwrap().is_some());

    let mut patient = p.spawn(&["apply", "--auto-approve", "--lock-timeout", "60s"]);
    let impatient = p.expect(&["apply", "--auto-approve", "--lock-timeout", "1s"], 1);
    assert!(
        impatient.contains("Error acquiring the state lock: the state is locked by ID"),
        "{impatient}"
    );
    assert!(impatient.contains("operation apply"), "{impatient}");
    assert!(
        impatient.contains(&format!("pid {}", first.id())),
        "{impatient}"
    );

    assert!(first.wait().unwrap().success());
    assert!(patient.wait().unwrap().success());
    // The first apply wrote the account, then the certificate with its outputs; the waiting
    // one read that state after the lock was released, found nothing to do and wrote nothing.
    assert_eq!(p.pulled()["serial"], 2);
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
}

#[test]
fn killing_an_apply_releases_its_postgres_lock() {
    let pg = Postgres::start();
    let p = project(&postgres_backend(&pg));
    p.certificates(&["www"], r#"on_change = ["sleep", "30"]"#);
    let mut holder = p.spawn(&["apply", "--auto-approve"]);
    let observer = pg_store(&pg);
    wait_for_lock(|| observer.lock_info().unwrap().is_some());
    holder.kill().unwrap(); // SIGKILL: no chance to unlock
    holder.wait().unwrap();

    // The session ended with the process, and with it the lock.
    p.certificates(&["www"], "");
    p.expect(&["apply", "--auto-approve", "--lock-timeout", "5s"], 0);
    assert!(observer.lock_info().unwrap().is_none());
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn an_s3_lock_left_behind_is_reported_and_force_unlocked() {
    let moto = MotoS3::start();
    let p = project(&s3_backend(&moto));
    p.certificates(&["www"], r#"on_change = ["sleep", "30"]"#);
    let mut holder = p.spawn(&["apply", "--auto-approve"]);
    let lock_object = "tls/certform.certstate.lock";
    wait_for_lock(|| moto.head(lock_object).is_some());
    holder.kill().unwrap();
    holder.wait().unwrap();

    p.certificates(&["www"], "");
    let refused = p.expect(&["apply", "--auto-approve", "--lock-timeout", "1s"], 1);
    assert!(refused.contains("operation apply"), "{refused}");
    assert!(
        refused.contains(&format!("pid {}", holder.id())),
        "{refused}"
    );
    let id = refused
        .split("locked by ID ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the lock ID is shown")
        .to_string();

    let wrong = p.expect(&["force-unlock", "--force", "not-the-id"], 1);
    assert!(wrong.contains("does not match"), "{wrong}");
    let unlocked = p.expect(&["force-unlock", "--force", &id], 0);
    assert!(unlocked.contains(&id), "{unlocked}");
    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(moto.head(lock_object), None, "apply unlocked");
}

/// A directory whose only configuration names a backend, for `state migrate --to`.
fn backend_dir(parent: &Path, name: &str, body: &str) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("backend.hcl"),
        format!("certform {{\n  state {{\n{body}\n  }}\n}}\n"),
    )
    .unwrap();
    dir
}

#[test]
fn state_migrated_local_to_postgres_to_s3_to_local_is_identical() {
    let pg = Postgres::start();
    let moto = MotoS3::start();
    let p = project("    backend = \"local\"\n    path = \"state/first.certstate\"");
    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["workspace", "new", "staging"], 0);
    p.expect(&["apply", "--auto-approve"], 0);
    p.expect(&["workspace", "select", "default"], 0);
    // Both workspaces deploy to the same files: put default's back.
    p.expect(&["apply", "--auto-approve"], 0);
    let original = fs::read(p.path("state/first.certstate")).unwrap();
    let original_staging =
        fs::read(p.path("state/first.certstate.d/staging/first.certstate")).unwrap();

    let targets = tempfile::tempdir().unwrap();
    let hops = [
        postgres_backend(&pg),
        s3_backend(&moto),
        "    backend = \"local\"\n    path = \"state/last.certstate\"".to_string(),
    ];
    for (i, hop) in hops.iter().enumerate() {
        let to = backend_dir(targets.path(), &format!("hop{i}"), hop);
        let out = p.expect(&["state", "migrate", "--to", to.to_str().unwrap()], 0);
        assert!(out.contains("default: copied lineage"), "{out}");
        assert!(out.contains("staging: copied lineage"), "{out}");
        assert!(out.contains("and verified it"), "{out}");
        // Switch the project to the new backend, as a user would after migrating.
        if i < 2 {
            p.backend(hop);
        }
        let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
        assert!(plan.contains("No changes."), "{plan}");
    }
    let last = targets.path().join("hop2/state/last.certstate");
    assert_eq!(
        fs::read(&last).unwrap(),
        original,
        "lineage, serial, contents"
    );
    let last_staging = targets
        .path()
        .join("hop2/state/last.certstate.d/staging/last.certstate");
    assert_eq!(fs::read(last_staging).unwrap(), original_staging);
}

#[test]
fn workspaces_hold_separate_states() {
    let p = project("");
    p.expect(&["apply", "--auto-approve"], 0);
    let created = p.expect(&["workspace", "new", "staging"], 0);
    assert!(
        created.contains("Created and switched to workspace \"staging\""),
        "{created}"
    );
    assert_eq!(
        p.expect(&["workspace", "list"], 0),
        "  default\n* staging\n"
    );
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("certificate.www will be issued"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);

    // --workspace and CERTFORM_WORKSPACE override the selection.
    let listed = p.expect(&["--workspace", "default", "workspace", "show"], 0);
    assert_eq!(listed, "default\n");
    let env = p
        .command(&["workspace", "show"])
        .env("CERTFORM_WORKSPACE", "default")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&env.stdout), "default\n");
    let missing = p.expect(&["--workspace", "nope", "plan"], 1);
    assert!(
        missing.contains("The workspace \"nope\" does not exist"),
        "{missing}"
    );

    let current = p.expect(&["workspace", "delete", "staging"], 1);
    assert!(current.contains("is the current one"), "{current}");
    p.expect(&["workspace", "select", "default"], 0);
    let tracked = p.expect(&["workspace", "delete", "staging"], 1);
    assert!(tracked.contains("still tracks 2 resource(s)"), "{tracked}");
    p.expect(&["workspace", "delete", "staging", "--force"], 0);
    assert_eq!(p.expect(&["workspace", "list"], 0), "* default\n");
    let bad = p.expect(&["workspace", "new", "../x"], 1);
    assert!(bad.contains("is not a valid workspace name"), "{bad}");
}

#[test]
fn state_push_refuses_older_or_foreign_states() {
    let p = project("");
    p.expect(&["apply", "--auto-approve"], 0);
    let old = p.path("old.certstate");
    fs::write(&old, p.run(&["state", "pull"]).stdout).unwrap();
    p.expect(
        &["apply", "--auto-approve", "--replace", "certificate.www"],
        0,
    );
    let serial = p.pulled()["serial"].clone();

    let older = p.expect(&["state", "push", old.to_str().unwrap()], 1);
    assert!(
        older.contains("is lower than the stored state's"),
        "{older}"
    );
    assert_eq!(
        p.pulled()["serial"],
        serial,
        "a refused push changes nothing"
    );

    let other = project("");
    other.expect(&["apply", "--auto-approve"], 0);
    let foreign = p.path("foreign.certstate");
    fs::write(&foreign, other.run(&["state", "pull"]).stdout).unwrap();
    let refused = p.expect(&["state", "push", foreign.to_str().unwrap()], 1);
    assert!(
        refused.contains("differs from the stored state's"),
        "{refused}"
    );

    let forced = p.expect(&["state", "push", "--force", old.to_str().unwrap()], 0);
    assert!(forced.contains("Pushed the state"), "{forced}");
    assert_eq!(
        fs::read(p.path("state/default.certstate")).unwrap(),
        fs::read(&old).unwrap()
    );
    // A forced push of an older state is a deliberate restore: this machine accepts it.
    p.expect(&["plan"], 0);
    let garbage = p.path("garbage");
    fs::write(&garbage, "{}").unwrap();
    let bad = p.expect(&["state", "push", garbage.to_str().unwrap()], 1);
    assert!(bad.contains("is not a certform state"), "{bad}");
}

/// Someone on another machine (another `XDG_STATE_HOME`) puts an older version back in
/// the shared backend: this machine, which wrote the newer one, refuses it until accepted.
#[test]
fn an_older_state_restored_from_another_machine_is_refused_on_postgres_and_s3() {
    let (pg, moto) = (Postgres::start(), MotoS3::start());
    for backend in [postgres_backend(&pg), s3_backend(&moto)] {
        let p = project(&backend);
        p.expect(&["apply", "--auto-approve"], 0);
        let old = p.path("old.certstate");
        fs::write(&old, p.run(&["state", "pull"]).stdout).unwrap();
        let older = p.pulled()["serial"].clone();
        p.expect(
            &["apply", "--auto-approve", "--replace", "certificate.www"],
            0,
        );
        let newer = p.pulled()["serial"].clone();
        let on_another_machine = |args: &[&str]| {
            let out = p
                .command(args)
                .env("XDG_STATE_HOME", p.path("another-machine"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
            out.stdout
        };
        on_another_machine(&["state", "push", "--force", old.to_str().unwrap()]);

        let refused = p.expect(&["plan"], 1);
        assert!(
            refused.contains(&format!(
                "is older than the one this machine last used: it is at serial {older}, but \
                 serial {newer} was read or written here"
            )),
            "{backend}: {refused}"
        );
        p.expect(&["apply", "--auto-approve"], 1);
        p.expect(&["state", "pull"], 1);
        assert_eq!(
            on_another_machine(&["state", "pull"]),
            fs::read(&old).unwrap(),
            "the refused apply wrote nothing"
        );
        p.expect(&["state", "accept-rollback"], 0);
        p.expect(&["plan"], 0);
    }
}

#[test]
fn state_mv_follows_a_renamed_block_and_rm_forgets() {
    let p = project("");
    p.expect(&["apply", "--auto-approve"], 0);
    let main = fs::read_to_string(p.path("main.hcl")).unwrap();
    fs::write(
        p.path("main.hcl"),
        main.replace("certificate \"www\"", "certificate \"web\""),
    )
    .unwrap();
    let moved = p.expect(&["state", "mv", "certificate.www", "certificate.web"], 0);
    assert_eq!(moved, "Moved certificate.www to certificate.web.\n");
    let plan = p.expect(&["plan", "--detailed-exitcode"], 0);
    assert!(plan.contains("No changes."), "{plan}");
    // apply opens the moved secrets: the seal still holds.
    p.expect(&["apply", "--auto-approve"], 0);

    let orphan = p.expect(&["state", "rm", "account.pebble"], 1);
    assert!(orphan.contains("still needs it"), "{orphan}");
    let removed = p.expect(&["state", "rm", "certificate.web"], 0);
    assert!(
        removed.contains("Removed certificate.web from the state."),
        "{removed}"
    );
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("certificate.web will be issued"), "{plan}");
    let missing = p.expect(&["state", "rm", "certificate.web"], 1);
    assert!(missing.contains("is not in the state"), "{missing}");
}

#[test]
fn a_postgres_backend_without_conn_str_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("main.hcl"),
        "certform {\n  state {\n    backend = \"postgres\"\n  }\n}\n",
    )
    .unwrap();
    let out = certform_in(dir.path()).arg("plan").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(all.contains("conn_str"), "{all}");
    assert!(all.contains("Error: 1 error in configuration."), "{all}");
}
