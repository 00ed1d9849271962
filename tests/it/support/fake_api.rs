//! What the DNS API fakes (`fake_cloudflare.rs`, `fake_digitalocean.rs`, ...) share: a small
//! HTTP/1.1 server on a free loopback port that hands each parsed request to the fake's
//! handler, and [`Records`], the records a fake holds. Every change to a TXT record is
//! mirrored into `pebble-challtestsrv` (when the fake is given one), so Pebble validates
//! DNS-01 against exactly what the fake's API says the zone holds.
//!
//! Threads and blocking sockets, like the rest of the harness; one thread per connection,
//! keep-alive honoured (certform's client pools connections).

use super::pebble::Pebble;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request as the handler sees it: the path without its query, the query decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path's segments: `/v2/domains/x` is `["v2", "domains", "x"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// Whether the body is declared as JSON (`application/json`, parameters allowed).
    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `GET /path?query` as the request log shows it.
    pub fn line(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(n, v)| format!("{n}={v}")).collect();
        if query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, query.join("&"))
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Stops accepting connections on drop.
pub struct FakeServer {
    port: u16,
    stopped: Arc<AtomicBool>,
    /// `METHOD /path?query -> status` for every request answered, in order.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FakeServer {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake API");
        let port = listener.local_addr().unwrap().port();
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        let log = Arc::new(Mutex::new(Vec::new()));
        let requests = log.clone();
        let handler = Arc::new(move |request: &Request| {
            let response = handler(request);
            requests
                .lock()
                .unwrap()
                .push(format!("{} -> {}", request.line(), response.status));
            response
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &*handler);
                });
            }
        });
        FakeServer { port, stopped, log }
    }

    /// `METHOD /path?query -> status` for every request answered so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(stream: TcpStream, handler: &dyn Fn(&Request) -> Response) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let response = handler(&request);
        write!(
            out,
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason(response.status)
        )?;
        for (name, value) in &response.headers {
            write!(out, "{name}: {value}\r\n")?;
        }
        write!(out, "Content-Length: {}\r\n\r\n", response.body.len())?;
        out.write_all(&response.body)?;
        out.flush()?;
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Status",
    }
}

/// Reads one request; `None` when the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut first = lines[0].split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path: percent_decode(path),
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(n), percent_decode(&v.replace('+', " ")))
            })
            .collect(),
        headers,
        body,
    }))
}

/// `%XX` escapes decoded (`+` is left alone: only forms mean a space by it).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One record a fake holds. `name` is the fully qualified name without the final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub zone: String,
    pub name: String,
    pub kind: String,
    pub value: String,
    pub ttl: u64,
}

/// The records of every zone a fake serves, in the order they were created. TXT changes are
/// mirrored into challtestsrv, the DNS server Pebble resolves through.
#[derive(Debug, Default)]
pub struct Records {
    next_id: u64,
    records: Vec<Record>,
    /// The most TXT values each name ever held at once.
    peaks: std::collections::BTreeMap<String, usize>,
    /// challtestsrv's management port.
    mirror: Option<u16>,
}

impl Records {
    pub fn new(pebble: Option<&Pebble>) -> Records {
        Records {
            next_id: 1,
            records: Vec::new(),
            peaks: Default::default(),
            mirror: pebble.map(|p| {
                p.challtestsrv_url()
                    .rsplit(':')
                    .next()
                    .and_then(|port| port.parse().ok())
                    .expect("challtestsrv's URL names its port")
            }),
        }
    }

    pub fn add(&mut self, zone: &str, name: &str, kind: &str, value: &str, ttl: u64) -> Record {
        let record = Record {
            id: self.next_id,
            zone: zone.to_string(),
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            kind: kind.to_string(),
            value: value.to_string(),
            ttl,
        };
        self.next_id += 1;
        self.records.push(record.clone());
        let held = self.txt(&record.name).len();
        let peak = self.peaks.entry(record.name.clone()).or_default();
        *peak = (*peak).max(held);
        if record.kind == "TXT" {
            self.mirror("/set-txt", &record.name, Some(&record.value));
        }
        record
    }

    /// The most TXT values `name` ever held at once.
    pub fn peak(&self, name: &str) -> usize {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.peaks.get(&name).copied().unwrap_or(0)
    }

    pub fn remove(&mut self, id: u64) -> Option<Record> {
        let index = self.records.iter().position(|r| r.id == id)?;
        let record = self.records.remove(index);
        if self.txt(&record.name).is_empty() {
            self.mirror("/clear-txt", &record.name, None);
        }
        Some(record)
    }

    pub fn get(&self, id: u64) -> Option<&Record> {
        self.records.iter().find(|r| r.id == id)
    }

    pub fn in_zone(&self, zone: &str) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| r.zone == zone)
            .cloned()
            .collect()
    }

    /// The TXT values at `name` (fully qualified, final dot optional), oldest first.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.records
            .iter()
            .filter(|r| r.kind == "TXT" && r.name == name)
            .map(|r| r.value.clone())
            .collect()
    }

    /// Tell challtestsrv of a TXT change at `name`. Its API can only append one value
    /// (`/set-txt`) or drop them all (`/clear-txt`), and a drop-then-re-add leaves a moment
    /// with no values, in which Pebble may be validating another order's value at the same
    /// name. So an added value is appended, and a name is cleared only once its last value
    /// is gone: a removed value lingers in DNS while others remain, which validation never
    /// minds; tests assert on the fake's records, which are exact.
    fn mirror(&self, path: &str, name: &str, value: Option<&str>) {
        let Some(port) = self.mirror else { return };
        let body = serde_json::json!({ "host": format!("{name}."), "value": value });
        let (status, text) = super::pebble::http_post(port, path, &body.to_string())
            .unwrap_or_else(|e| panic!("challtestsrv POST {path}: {e}"));
        assert_eq!(status, 200, "challtestsrv POST {path}: {text}");
    }
}

/// The zone of `names` that `name` (fully qualified, final dot optional) falls in: the
/// longest one that is `name` itself or a suffix at a label boundary.
pub fn zone_of<'a>(names: &'a [String], name: &str) -> Option<&'a String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    names
        .iter()
        .filter(|zone| name == **zone || name.ends_with(&format!(".{zone}")))
        .max_by_key(|zone| zone.len())
}

/// `name` as a fully qualified name in `zone`: `@` is the apex, a name already ending in the
/// zone stays, anything else is relative to it.
pub fn absolute(name: &str, zone: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "@" {
        zone.to_string()
    } else if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// `name` (fully qualified) relative to `zone`, `@` for the apex, as DigitalOcean and
/// Hetzner show record names.
pub fn relative(name: &str, zone: &str) -> String {
    name.strip_suffix(&format!(".{zone}"))
        .map_or_else(|| "@".to_string(), str::to_string)
}

/// What a fake DNS API knows: its zones, their records, the one credential it accepts, and
/// the provider's own extra state `S`.
pub struct FakeState<S> {
    pub zones: Vec<String>,
    pub records: Records,
    pub credential: String,
    pub extra: S,
}

/// A running fake DNS API: the server plus its state, shared with the handler.
pub struct DnsFake<S> {
    server: FakeServer,
    state: Arc<Mutex<FakeState<S>>>,
}

impl<S: Send + 'static> DnsFake<S> {
    /// Serve `zones` to clients presenting `credential`; TXT changes are mirrored into
    /// `pebble`'s challtestsrv when given.
    pub fn serve(
        zones: &[&str],
        credential: &str,
        pebble: Option<&Pebble>,
        extra: S,
        handler: fn(&mut FakeState<S>, &Request) -> Response,
    ) -> DnsFake<S> {
        let state = Arc::new(Mutex::new(FakeState {
            zones: zones.iter().map(|z| z.to_string()).collect(),
            records: Records::new(pebble),
            credential: credential.to_string(),
            extra,
        }));
        let shared = state.clone();
        let server =
            FakeServer::start(move |request| handler(&mut shared.lock().unwrap(), request));
        DnsFake { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// `METHOD /path?query -> status` for every request answered so far.
    pub fn requests(&self) -> Vec<String> {
        self.server.requests()
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut FakeState<S>) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Add a TXT record as someone else would (through the provider's web console, say).
    pub fn add_txt(&self, name: &str, value: &str) {
        self.with_state(|state| {
            let zone = zone_of(&state.zones, name)
                .expect("a name in a served zone")
                .clone();
            state.records.add(&zone, name, "TXT", value, 120);
        })
    }

    /// The TXT values at `name`, oldest first.
    pub fn txt(&self, name: &str) -> Vec<String> {
        self.with_state(|state| state.records.txt(name))
    }

    /// The most TXT values `name` ever held at once.
    pub fn peak_txt(&self, name: &str) -> usize {
        self.with_state(|state| state.records.peak(name))
    }

    /// `name TYPE value` of every record in `zone`.
    pub fn zone_records(&self, zone: &str) -> Vec<String> {
        self.with_state(|state| {
            state
                .records
                .in_zone(zone)
                .iter()
                .map(|r| format!("{} {} {}", r.name, r.kind, r.value))
                .collect()
        })
    }
}
