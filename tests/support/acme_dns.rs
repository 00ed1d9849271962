//! A fake acme-dns server following the API of the acme-dns README (github.com/joohoi/acme-dns,
//! "Update endpoint", as of v1.0): `POST /update` with the `X-Api-User` and `X-Api-Key`
//! headers and the JSON body `{"subdomain": ..., "txt": ...}`, answered `200` with
//! `{"txt": ...}`. Like the real server it answers `401 {"error": "forbidden"}` to an
//! unknown user, a wrong key or a subdomain that is not the user's (a body that is not JSON
//! names no subdomain, so it is refused the same way), `400 {"error": "bad_txt"}` to a
//! `txt` that is not 43 characters of base64url, and `404` to any other path or method;
//! and it keeps only the last two TXT values of the subdomain. Where real acme-dns answers
//! DNS itself, the fake writes those two values into a BIND zone (RFC 2136 with `nsupdate`),
//! at `<subdomain>.auth.<zone>`; point `_acme-challenge` names there with a CNAME.
//!
//! Threads and blocking sockets, like the rest of the harness; one request per connection.

use super::bind::{Bind, TSIG_KEY_NAME, TSIG_SECRET};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The account the fake knows (as `/register` would have returned it).
pub const USERNAME: &str = "c36f50e8-4632-44f0-83fe-e070fef28a10";
/// A test password, 40 characters as acme-dns makes them; not a secret.
pub const PASSWORD: &str = "htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW3F7Z";
pub const SUBDOMAIN: &str = "8e5700ea-a4bf-41c7-8a77-e990661dcc6a";

#[derive(Default)]
struct Shared {
    /// The last two values, oldest first.
    values: Vec<String>,
    /// (status, error) of every refused request.
    refusals: Vec<(u16, String)>,
}

/// Stops accepting on drop.
pub struct AcmeDns {
    port: u16,
    /// `<SUBDOMAIN>.auth.<zone>`, where the values are published.
    full_domain: String,
    shared: Arc<Mutex<Shared>>,
    stopped: Arc<AtomicBool>,
}

impl AcmeDns {
    /// A fake publishing into `bind`'s zone `zone`.
    pub fn start(bind: &Bind, zone: &str) -> AcmeDns {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let full_domain = format!("{SUBDOMAIN}.auth.{zone}");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stopped = Arc::new(AtomicBool::new(false));
        let publisher = Publisher {
            server: bind.server(),
            name: full_domain.clone(),
        };
        let (thread_shared, thread_stopped) = (shared.clone(), stopped.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve(stream, &thread_shared, &publisher);
                }
            }
        });
        AcmeDns {
            port,
            full_domain,
            shared,
            stopped,
        }
    }

    /// The line of `zone`'s zone file that delegates `_acme-challenge.<zone>` to the
    /// subdomain of a fake started on that zone (for [`Bind::start_with`]).
    pub fn cname_record(zone: &str) -> String {
        format!("_acme-challenge IN CNAME {SUBDOMAIN}.auth.{zone}.")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn full_domain(&self) -> &str {
        &self.full_domain
    }

    /// The values kept (at most two), oldest first.
    pub fn values(&self) -> Vec<String> {
        self.shared.lock().unwrap().values.clone()
    }

    /// (status, error) of each refused request.
    pub fn refusals(&self) -> Vec<(u16, String)> {
        self.shared.lock().unwrap().refusals.clone()
    }
}

impl Drop for AcmeDns {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Writes the kept values into BIND.
struct Publisher {
    server: String,
    name: String,
}

impl Publisher {
    fn publish(&self, values: &[String]) {
        let (host, port) = self.server.split_once(':').unwrap();
        let mut script = format!("server {host} {port}\nupdate delete {} TXT\n", self.name);
        for value in values {
            script.push_str(&format!("update add {} 1 TXT \"{value}\"\n", self.name));
        }
        script.push_str("send\n");
        let mut child = Command::new("nsupdate")
            .args(["-y", &format!("hmac-sha256:{TSIG_KEY_NAME}:{TSIG_SECRET}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsupdate (bind9-dnsutils) runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nsupdate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>, publisher: &Publisher) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (status, answer) = update(&head, &body, shared, publisher);
    if status != 200 {
        shared.lock().unwrap().refusals.push((
            status,
            answer["error"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let answer = answer.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    out.flush()
}

/// The status and JSON answer to one request.
fn update(
    head: &str,
    body: &[u8],
    shared: &Mutex<Shared>,
    publisher: &Publisher,
) -> (u16, serde_json::Value) {
    let error = |status, what: &str| (status, serde_json::json!({ "error": what }));
    let request_line = head.lines().next().unwrap_or_default();
    if !request_line.starts_with("POST /update ") {
        return error(404, "not_found");
    }
    let authenticated = header(head, "x-api-user").as_deref() == Some(USERNAME)
        && header(head, "x-api-key").as_deref() == Some(PASSWORD);
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if !authenticated || payload["subdomain"].as_str() != Some(SUBDOMAIN) {
        return error(401, "forbidden");
    }
    let txt = payload["txt"].as_str().unwrap_or_default();
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if txt.len() != 43 || !txt.chars().all(base64url) {
        return error(400, "bad_txt");
    }
    let mut shared = shared.lock().unwrap();
    shared.values.push(txt.to_string());
    let excess = shared.values.len().saturating_sub(2);
    shared.values.drain(..excess);
    publisher.publish(&shared.values);
    (200, serde_json::json!({ "txt": txt }))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}
