//! Real servers for the state backends, started on free loopback ports and stopped on
//! drop: a private PostgreSQL cluster (`initdb` + `postgres`, run as the `postgres` user
//! when the tests run as root, since PostgreSQL refuses root) and moto's S3
//! (`moto_server`). A missing binary fails the test with the command that installs it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_POSTGRES: &str = "PostgreSQL server binaries (initdb, postgres, pg_isready) are \
     needed: install them with `apt-get install -y postgresql`, or run `bash scripts/test`, \
     which does";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn find_program(program: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A private PostgreSQL cluster with trust authentication for the user `certform`.
pub struct Postgres {
    server: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// A cluster that accepts TCP connections over TLS only (`hostssl` in `pg_hba.conf`),
    /// with a server certificate for `127.0.0.1` from a throwaway CA: see [`Postgres::ca_path`].
    pub fn start_tls_only() -> Postgres {
        Postgres::start_with(true)
    }

    /// The CA that signed a TLS-only cluster's certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(tls_only: bool) -> Postgres {
        let bin_dirs: Vec<PathBuf> = {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path().join("bin"))
                        .collect()
                })
                .unwrap_or_default();
            dirs.sort();
            dirs.reverse(); // the newest version first
            dirs
        };
        let find = |program: &str| {
            find_program(program, &bin_dirs).unwrap_or_else(|| panic!("{INSTALL_POSTGRES}."))
        };
        let (initdb, postgres, isready) = (find("initdb"), find("postgres"), find("pg_isready"));
        let dir = tempfile::Builder::new()
            .prefix("certform-pg-")
            .tempdir()
            .unwrap();
        let owner = as_postgres_user_when_root(dir.path());
        let data = dir.path().join("data");
        let run = |program: &Path| {
            let mut command = Command::new(program);
            if let Some((uid, gid)) = owner {
                command.uid(uid).gid(gid);
            }
            command
        };
        let out = run(&initdb)
            .arg("-D")
            .arg(&data)
            .args(["-U", "certform", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut tls_settings = Vec::new();
        if tls_only {
            let (ca, leaf, key) = super::pebble::make_certificates();
            std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
            for (name, pem) in [("server.crt", leaf), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
                }
            }
            // Local socket for pg_isready; over TCP, TLS or nothing.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            tls_settings = vec!["-c", "ssl=on"];
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let server = run(&postgres)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(&tls_settings)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let socket_dir = dir.path().display().to_string();
        let pg = Postgres { server, port, dir };
        wait_until("PostgreSQL", Duration::from_secs(20), || {
            Command::new(&isready)
                .args(["-q", "-h", &socket_dir, "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        });
        pg
    }

    /// A connection string for the cluster (no password: trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://certform@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown": it ends sessions and exits at once.
        unsafe { libc::kill(self.server.id() as i32, libc::SIGINT) };
        let _ = self.server.wait();
    }
}

/// When running as root, hands `dir` to the `postgres` user and returns its uid and gid.
fn as_postgres_user_when_root(dir: &Path) -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !entry.is_null(),
        "running as root needs the `postgres` user to start PostgreSQL; {INSTALL_POSTGRES}."
    );
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    Some((uid, gid))
}

/// moto's S3 (the moto server of `support::moto`), with one bucket.
pub struct MotoS3 {
    moto: super::moto::Moto,
    pub bucket: String,
}

impl MotoS3 {
    pub fn start() -> MotoS3 {
        let moto = MotoS3 {
            moto: super::moto::Moto::start(),
            bucket: "certform-state".to_string(),
        };
        let (status, _) = moto.request("PUT", &format!("/{}", moto.bucket));
        assert_eq!(status, 200, "creating the bucket");
        moto
    }

    pub fn endpoint(&self) -> String {
        self.moto.url()
    }

    /// The environment the AWS SDK reads: dummy credentials moto accepts.
    pub fn aws_env() -> [(&'static str, &'static str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
    }

    /// `HeadObject` with the AWS SDK (moto refuses anonymous reads of objects): the
    /// object's server-side encryption, or `None` when there is no such object.
    #[cfg(feature = "s3")]
    pub fn head(&self, key: &str) -> Option<Option<String>> {
        use aws_smithy_http_client::tls;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let head = runtime.block_on(client.head_object().bucket(&self.bucket).key(key).send());
        match head {
            Ok(head) => Some(
                head.server_side_encryption()
                    .map(|s| s.as_str().to_string()),
            ),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => None,
            Err(e) => panic!(
                "HeadObject {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ),
        }
    }

    /// An unsigned request (moto does not check signatures): status and raw response.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let port = self.moto.port();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, response)
    }
}
