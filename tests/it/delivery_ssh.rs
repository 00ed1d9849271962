//! The `ssh` output kind against a real OpenSSH server started by the test (see
//! `support::sshd`) and a real Pebble, through the certform binary: files arrive with their
//! modes and openssl reads them, a host whose key is unknown is refused before anything is
//! written, a deleted remote file is planned as a redeploy and restored without a new
//! order, the reload command runs once per host per apply, and no key byte is shown or
//! stored in the clear. The client module is also driven directly for a changed host key.

use crate::support;

use certform::deploy::ssh::{self, RemoteFile, RemoteSeen, SshTarget};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::pebble::Pebble;
use support::project::{cert_block, read, text, verify_deployed, Project};
use support::sshd::Sshd;

fn target(sshd: &Sshd, known_hosts: PathBuf) -> SshTarget {
    SshTarget {
        host: sshd.host().into(),
        port: Some(sshd.port()),
        user: Some(sshd.user()),
        identity_file: Some(sshd.identity_file()),
        known_hosts: Some(known_hosts),
        timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn files_arrive_with_their_modes_and_drift_is_read_back_as_digests() {
    let sshd = Sshd::start();
    let dir = sshd.remote_dir("www");
    let key = dir.join("privkey.pem").display().to_string();
    let cert = dir.join("cert.pem").display().to_string();
    let target = target(&sshd, sshd.known_hosts());
    let files = [
        RemoteFile {
            path: &key,
            bytes: b"KEY",
            mode: 0o600,
        },
        RemoteFile {
            path: &cert,
            bytes: b"CERT",
            mode: 0o644,
        },
    ];
    ssh::deliver(&target, &files, None, Some("root"))
        .await
        .unwrap();
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(std::fs::read(&key).unwrap(), b"KEY");
    assert_eq!((mode(&key), mode(&cert)), (0o600, 0o644));

    std::fs::remove_file(&cert).unwrap();
    let seen = ssh::observe(&target, &[&key, &cert]).await.unwrap();
    assert_eq!(
        seen,
        [
            RemoteSeen::Regular {
                sha256: certform::deploy::sha256_hex(b"KEY"),
                mode: 0o600,
                owner: "root".into(),
                group: "root".into(),
            },
            RemoteSeen::Missing
        ]
    );
}

#[tokio::test]
async fn an_unknown_or_changed_host_key_is_refused_before_anything_is_written() {
    let sshd = Sshd::start();
    let dir = sshd.remote_dir("www");
    let key = dir.join("privkey.pem").display().to_string();
    let files = [RemoteFile {
        path: &key,
        bytes: b"KEY",
        mode: 0o600,
    }];

    let empty = sshd.remote_dir("empty_known_hosts");
    std::fs::create_dir_all(empty.parent().unwrap()).unwrap();
    std::fs::write(&empty, "").unwrap();
    let err = ssh::deliver(&target(&sshd, empty.clone()), &files, None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("its host key is not in {}", empty.display()))
            && err.contains("certform refuses hosts it cannot verify"),
        "{err}"
    );

    let err = ssh::deliver(&target(&sshd, sshd.wrong_known_hosts()), &files, None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("certform refuses a changed host key"), "{err}");
    assert!(!dir.exists(), "nothing was written");
}

/// An `ssh` output `name` delivering to `dir` on `sshd`, with `extra` attributes.
fn ssh_output(sshd: &Sshd, name: &str, dir: &Path, extra: &str) -> String {
    format!(
        r#"
  output "{name}" {{
    kind      = "ssh"
    {}
    directory = "{}"
    {extra}
  }}
"#,
        sshd.output_attributes(),
        dir.display()
    )
}

/// A certificate on the project's account and HTTP solver with `outputs`.
fn certificate(name: &str, domain: &str, outputs: &str) -> String {
    format!(
        r#"
certificate "{name}" {{
  account = account.pebble
  domains = ["{domain}"]
  solvers = [http_solver.web]
  {outputs}
}}
"#
    )
}

/// `reload_command` appending a line to `log` on the host.
fn reload_into(log: &Path) -> String {
    format!(
        r#"reload_command = ["sh", "-c", "echo reloaded >> {}"]"#,
        log.display()
    )
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The public key of a PEM certificate or private key, as openssl prints it.
fn public_key(path: &Path, certificate: bool) -> String {
    let mut command = Command::new("openssl");
    if certificate {
        command.args(["x509", "-noout", "-pubkey", "-in"]);
    } else {
        command.args(["pkey", "-pubout", "-in"]);
    }
    let out = command.arg(path).output().expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of `text` that hold base64 of `key_pem` (its body lines, 64 characters each):
/// none may appear in anything certform shows or stores in the clear.
fn key_lines(key_pem: &str) -> Vec<String> {
    key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(String::from)
        .collect()
}

fn assert_no_key(what: &str, haystack: &str, key_pem: &str) {
    assert!(
        !haystack.contains("PRIVATE KEY"),
        "{what} shows a private key"
    );
    for line in key_lines(key_pem) {
        assert!(!haystack.contains(&line), "{what} holds a line of the key");
    }
}

#[test]
fn files_arrive_over_ssh_with_their_modes_openssl_reads_them_and_each_host_reloads_once() {
    let sshd = Sshd::start();
    let p = Project::new(Pebble::start());
    let log = sshd.remote_dir("reload.log");
    let reload = reload_into(&log);
    p.config(
        &[("a", "a.test"), ("b", "b.test")]
            .map(|(name, domain)| {
                let output = ssh_output(&sshd, "web", &sshd.remote_dir(name), &reload);
                certificate(name, domain, &output)
            })
            .concat(),
    );
    p.expect(&["apply", "--auto-approve"], 0);
    let roots = p.pebble().issuing_roots_pem();
    for name in ["a", "b"] {
        let dir = sshd.remote_dir(name);
        for (file, want) in [
            ("cert.pem", 0o644),
            ("chain.pem", 0o644),
            ("fullchain.pem", 0o644),
            ("privkey.pem", 0o600),
        ] {
            assert_eq!(mode(&dir.join(file)), want, "{name}/{file}");
        }
        verify_deployed(&sshd.remote_dir(""), name, &roots);
        assert_eq!(
            public_key(&dir.join("privkey.pem"), false),
            public_key(&dir.join("cert.pem"), true),
            "the delivered key belongs to the delivered certificate"
        );
    }
    assert_eq!(
        read(&log),
        "reloaded\n",
        "two outputs on one host with one reload command reload it once"
    );
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("No changes."), "{plan}");
}

#[test]
fn an_unknown_host_key_is_refused_nothing_is_written_and_the_next_apply_delivers_without_a_new_order(
) {
    let sshd = Sshd::start();
    let p = Project::new(Pebble::start());
    let unknown = p.path("known_hosts_without_the_host");
    fs::write(&unknown, "").unwrap();
    let remote = sshd.remote_dir("web");
    let config = |known_hosts: &Path| {
        let output = ssh_output(&sshd, "web", &remote, "").replace(
            &sshd.known_hosts().display().to_string(),
            &known_hosts.display().to_string(),
        );
        certificate("web", "web.test", &output) + &cert_block("local", &["local.test"], "")
    };
    p.config(&config(&unknown));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(
        out.contains(&format!("its host key is not in {}", unknown.display()))
            && out.contains("certform refuses hosts it cannot verify"),
        "{out}"
    );
    assert!(!remote.exists(), "nothing was written on the host");
    assert!(
        p.path("tls/local/cert.pem").exists(),
        "the other certificate went on"
    );
    let serial = p.serial_of("certificate.web");

    p.config(&config(&sshd.known_hosts()));
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("redeploy"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.serial_of("certificate.web"), serial, "no new order");
    verify_deployed(&sshd.remote_dir(""), "web", &p.pebble().issuing_roots_pem());
}

#[test]
fn a_deleted_remote_file_is_planned_as_redeploy_and_restored_without_a_new_order_or_a_key_byte_shown(
) {
    let sshd = Sshd::start();
    let p = Project::new(Pebble::start());
    let remote = sshd.remote_dir("web");
    let log = sshd.remote_dir("reload.log");
    p.config(&certificate(
        "web",
        "web.test",
        &ssh_output(&sshd, "web", &remote, &reload_into(&log)),
    ));
    let mut shown = p.expect(&["-v", "apply", "--auto-approve"], 0);
    let serial = p.serial_of("certificate.web");
    let key = read(&remote.join("privkey.pem"));

    fs::remove_file(remote.join("privkey.pem")).unwrap();
    let plan = p.expect(&["plan"], 0);
    let missing = format!(
        "remote file {}@127.0.0.1:{}:{} is missing",
        sshd.user(),
        sshd.port(),
        remote.join("privkey.pem").display()
    );
    assert!(plan.contains(&missing), "{plan}");
    assert!(
        plan.contains("0 to issue, 0 to renew, 0 to reissue, 0 to revoke, 1 to redeploy"),
        "{plan}"
    );
    shown.push_str(&plan);
    shown.push_str(&p.stdout(&["plan", "--json"], 0));
    shown.push_str(&p.expect(&["-v", "apply", "--auto-approve"], 0));
    assert_eq!(
        read(&remote.join("privkey.pem")),
        key,
        "restored from state"
    );
    assert_eq!(mode(&remote.join("privkey.pem")), 0o600);
    assert_eq!(p.serial_of("certificate.web"), serial, "no new order");
    assert_eq!(read(&log), "reloaded\nreloaded\n", "one reload per apply");

    assert_no_key("plan and -v apply output", &shown, &key);
    assert_no_key(
        "the state file",
        &String::from_utf8_lossy(&fs::read(p.state_path()).unwrap()),
        &key,
    );
}

#[test]
fn validate_refuses_key_material_for_identity_file_and_a_relative_remote_directory() {
    let p = Project::new(Pebble::start());
    p.config(&certificate(
        "web",
        "web.test",
        r#"
  output "web" {
    kind          = "ssh"
    host          = "web1.example.com"
    identity_file = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    directory     = "etc/tls"
  }
"#,
    ));
    let out = p.expect(&["validate"], 1);
    assert!(
        out.contains("`identity_file` in `output \"web\"` (kind = \"ssh\")")
            && out.contains("takes the path of a file, not its contents"),
        "{out}"
    );
    assert!(
        out.contains("must be an absolute path on the host"),
        "{out}"
    );
}
