//! An ARI-serving proxy in front of Pebble, because Debian's Pebble has no `renewalInfo`
//! (RFC 9773). It terminates TLS with Pebble's own test certificate and forwards every
//! request to Pebble with the `Host` header untouched — Pebble builds every URL it returns,
//! and checks every JWS `url`, from that header, so clients stay on the proxy. On top it
//!
//! - adds `renewalInfo` to the directory and answers `GET /renewal-info/<id>` with the
//!   window the test set ([`AriProxy::set_window`]) and its `Retry-After`;
//! - records each new-order payload ([`AriProxy::new_orders`]) and, since Pebble 2.4 does
//!   not know `replaces`, reflects it in the order as an ARI CA must (RFC 9773 §5);
//! - plays a hostile or flaky CA on request: answers every certificate download with another
//!   certificate ([`AriProxy::swap_certificates`]), or forwards the next account key change
//!   and drops its answer ([`AriProxy::drop_next_key_change_answer`]).
//!
//! Threads and blocking sockets, like the rest of the harness; one thread per connection.

use super::pebble::Pebble;
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RENEWAL_INFO_PATH: &str = "/renewal-info";
/// Where Pebble serves issued certificates (`/certZ/<id>`, alternates `/certZ/<id>/<n>`).
const CERTIFICATE_PATH: &str = "/certZ/";
/// Pebble's `keyChange` resource.
const KEY_CHANGE_PATH: &str = "/rollover-account-key";

#[derive(Debug, Default)]
struct Shared {
    /// The `renewalInfo` JSON served for every certificate.
    window: Option<serde_json::Value>,
    retry_after_secs: u64,
    renewal_info_requests: usize,
    new_orders: Vec<serde_json::Value>,
    /// Served instead of every certificate Pebble returns.
    swapped_certificate: Option<String>,
    drop_key_change_answer: bool,
}

/// Stops accepting connections on drop.
pub struct AriProxy {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stopped: Arc<AtomicBool>,
}

impl Drop for AriProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl AriProxy {
    pub fn start(pebble: &Pebble) -> AriProxy {
        let upstream_port: u16 = pebble
            .directory_url()
            .trim_start_matches("https://127.0.0.1:")
            .trim_end_matches("/dir")
            .parse()
            .expect("Pebble's directory URL names its port");
        let server = Arc::new(server_config(pebble.temp_dir()));
        let client = Arc::new(client_config(&pebble.ca_bundle_path()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            retry_after_secs: 3600,
            ..Shared::default()
        }));
        let state = shared.clone();
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (server, client, state) = (server.clone(), client.clone(), state.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, server, client, upstream_port, state);
                });
            }
        });
        AriProxy {
            port,
            shared,
            stopped,
        }
    }

    /// The directory URL clients use instead of Pebble's.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// Serve this window (RFC 3339 times) for every certificate from now on.
    pub fn set_window(&self, start: &str, end: &str, explanation_url: Option<&str>) {
        let mut window = serde_json::json!({ "suggestedWindow": { "start": start, "end": end } });
        if let Some(url) = explanation_url {
            window["explanationURL"] = url.into();
        }
        self.shared.lock().unwrap().window = Some(window);
    }

    pub fn set_retry_after(&self, secs: u64) {
        self.shared.lock().unwrap().retry_after_secs = secs;
    }

    /// How many `renewalInfo` GETs were answered.
    pub fn renewal_info_requests(&self) -> usize {
        self.shared.lock().unwrap().renewal_info_requests
    }

    /// Answer every certificate download with `fullchain_pem` instead of what Pebble issued.
    pub fn swap_certificates(&self, fullchain_pem: &str) {
        self.shared.lock().unwrap().swapped_certificate = Some(fullchain_pem.to_string());
    }

    /// Forward the next `keyChange` to Pebble, then close the connection without answering.
    pub fn drop_next_key_change_answer(&self) {
        self.shared.lock().unwrap().drop_key_change_answer = true;
    }

    /// The decoded JWS payload of every new order, in order.
    pub fn new_orders(&self) -> Vec<serde_json::Value> {
        self.shared.lock().unwrap().new_orders.clone()
    }
}

struct Request {
    method: String,
    path: String,
    head: String,
    body: Vec<u8>,
}

struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn serve(
    stream: TcpStream,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    upstream_port: u16,
    shared: Arc<Mutex<Shared>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(server).map_err(std::io::Error::other)?;
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
    while let Some(request) = read_request(&mut tls)? {
        let Some(response) = handle(&request, &client, upstream_port, &shared)? else {
            return Ok(());
        };
        let out = tls.get_mut();
        write!(out, "{}\r\n", response.status_line)?;
        for (name, value) in &response.headers {
            write!(out, "{name}: {value}\r\n")?;
        }
        write!(out, "Content-Length: {}\r\n\r\n", response.body.len())?;
        out.write_all(&response.body)?;
        out.flush()?;
    }
    Ok(())
}

fn handle(
    request: &Request,
    client: &Arc<rustls::ClientConfig>,
    upstream_port: u16,
    shared: &Arc<Mutex<Shared>>,
) -> std::io::Result<Option<Response>> {
    if request.method == "GET" && request.path.starts_with(RENEWAL_INFO_PATH) {
        let mut shared = shared.lock().unwrap();
        shared.renewal_info_requests += 1;
        let body = shared
            .window
            .as_ref()
            .map(|w| w.to_string())
            .unwrap_or_else(|| "{}".into());
        return Ok(Some(Response {
            status_line: "HTTP/1.1 200 OK".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Retry-After".into(), shared.retry_after_secs.to_string()),
            ],
            body: body.into_bytes(),
        }));
    }
    let mut response = forward(request, client, upstream_port)?;
    if request.method == "POST" && request.path == KEY_CHANGE_PATH {
        let mut shared = shared.lock().unwrap();
        if std::mem::take(&mut shared.drop_key_change_answer) {
            return Ok(None);
        }
    }
    if request.method == "POST" && request.path.starts_with(CERTIFICATE_PATH) {
        if let Some(pem) = &shared.lock().unwrap().swapped_certificate {
            response.body = pem.clone().into_bytes();
        }
    }
    let host = header(&request.head, "host").unwrap_or_default();
    if request.method == "GET" && request.path == "/dir" {
        let mut directory: serde_json::Value = serde_json::from_slice(&response.body)?;
        directory["renewalInfo"] = format!("https://{host}{RENEWAL_INFO_PATH}").into();
        response.body = directory.to_string().into_bytes();
    }
    if request.method == "POST" && request.path == "/order-plz" {
        let payload = jws_payload(&request.body);
        if let (Some(replaces), true) = (
            payload["replaces"].as_str(),
            response.status_line.contains(" 201 "),
        ) {
            let mut order: serde_json::Value = serde_json::from_slice(&response.body)?;
            order["replaces"] = replaces.into();
            response.body = order.to_string().into_bytes();
        }
        shared.lock().unwrap().new_orders.push(payload);
    }
    Ok(Some(response))
}

/// The JSON inside a flattened JWS (`{"protected","payload","signature"}`).
fn jws_payload(body: &[u8]) -> serde_json::Value {
    let jws: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let payload = jws["payload"].as_str().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// One request to Pebble over a fresh connection (HTTP/1.0, so the body ends at close).
fn forward(
    request: &Request,
    client: &Arc<rustls::ClientConfig>,
    upstream_port: u16,
) -> std::io::Result<Response> {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .unwrap()
        .to_owned();
    let conn =
        rustls::ClientConnection::new(client.clone(), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(("127.0.0.1", upstream_port))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut upstream = rustls::StreamOwned::new(conn, sock);
    let mut head = String::new();
    for line in request.head.lines().skip(1) {
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("connection:") && !lower.starts_with("keep-alive:") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    write!(
        upstream,
        "{} {} HTTP/1.0\r\n{head}Connection: close\r\n\r\n",
        request.method, request.path
    )?;
    upstream.write_all(&request.body)?;
    upstream.flush()?;
    let mut raw = Vec::new();
    match upstream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("Pebble sent no response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    let status_line = format!("HTTP/1.1 {}", status.split_once(' ').map_or("", |(_, s)| s));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .filter(|(n, _)| {
            !["content-length", "connection", "transfer-encoding"]
                .contains(&n.to_ascii_lowercase().as_str())
        })
        .collect();
    Ok(Response {
        status_line,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Reads one request; `None` when the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" && !head.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut first = head.split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        head,
        body,
    }))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

fn server_config(pebble_dir: &Path) -> rustls::ServerConfig {
    let cert_pem = std::fs::read(pebble_dir.join("cert.pem")).unwrap();
    let key_pem = std::fs::read(pebble_dir.join("key.pem")).unwrap();
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

fn client_config(ca_bundle: &Path) -> rustls::ClientConfig {
    let pem = std::fs::read(ca_bundle).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}
