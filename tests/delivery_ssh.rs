//! The `ssh` output kind against a real OpenSSH server started by the test (see
//! `support::sshd`): files arrive atomically with their modes, drift is read back as
//! digests, and a host whose key is unknown or changed is refused before anything is
//! written.

mod support;

use certform::deploy::ssh::{self, RemoteFile, RemoteSeen, SshTarget};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;
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
