//! A fault-injecting HTTPS proxy between certform and Pebble. It terminates TLS with its own
//! throwaway CA (its [`FaultProxy::endpoint`] names that CA as the `ca_bundle`), forwards
//! each request to Pebble with the `Host` header unchanged (Pebble builds its URLs and checks
//! JWS `url`s from `Host`, so no rewriting is needed), and injects faults by a fixed
//! schedule: a request whose number (from 1) is a multiple of `every` gets the next fault
//! of `cycle` (for a number of `rounds` through it, or for ever); the others pass.
//! [`FaultProxy::injected`] counts what it did.

use super::pebble::{make_certificates, tls_config, Pebble};
use super::project::Endpoint;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Answer 503 without asking Pebble.
    Unavailable,
    /// Answer 429 with `Retry-After: 1` without asking Pebble.
    RateLimited,
    /// Forward, but only after a pause.
    Delay(Duration),
    /// Answer 200 with a 4 MiB body, as a hostile or broken server might.
    Oversized,
    /// Forward, but rewrite every challenge `token` in the answer to a path traversal.
    HostileToken,
    /// Answer a new-order request with a `rejectedIdentifier` problem that has one
    /// subproblem per identifier of the order; forward everything else.
    RejectOrders,
    /// Answer a new-order request as [`Fault::RateLimited`] does; forward everything else.
    RateLimitOrders,
}

pub struct FaultProxy {
    port: u16,
    ca_bundle: PathBuf,
    http_port: u16,
    injected: Arc<Mutex<BTreeMap<Fault, usize>>>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

struct Schedule {
    every: usize,
    cycle: Vec<Fault>,
    /// How many times through `cycle` (`None`: for ever).
    rounds: Option<usize>,
    requests: AtomicUsize,
}

impl Schedule {
    fn fault_for_next(&self) -> Option<Fault> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if self.cycle.is_empty() || n % self.every != 0 {
            return None;
        }
        let index = n / self.every - 1;
        if self
            .rounds
            .is_some_and(|rounds| index >= rounds * self.cycle.len())
        {
            return None;
        }
        Some(self.cycle[index % self.cycle.len()])
    }
}

impl FaultProxy {
    /// A proxy in front of `pebble` that injects for ever (a CA that stays down, a hostile
    /// one); `every == 0` or an empty `cycle` injects nothing.
    pub fn start(pebble: &Pebble, every: usize, cycle: Vec<Fault>) -> FaultProxy {
        FaultProxy::start_with(pebble, every, cycle, None)
    }

    /// A proxy that goes through `cycle` `rounds` times, then passes everything: transient
    /// faults that a bounded retry is sure to outlast, whatever order requests come in.
    pub fn start_rounds(
        pebble: &Pebble,
        every: usize,
        cycle: Vec<Fault>,
        rounds: usize,
    ) -> FaultProxy {
        FaultProxy::start_with(pebble, every, cycle, Some(rounds))
    }

    fn start_with(
        pebble: &Pebble,
        every: usize,
        cycle: Vec<Fault>,
        rounds: Option<usize>,
    ) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, leaf_pem, leaf_key_pem) = make_certificates();
        let ca_bundle = dir.path().join("proxy-ca.pem");
        std::fs::write(&ca_bundle, &ca_pem).unwrap();
        let server_tls = server_config(&leaf_pem, &leaf_key_pem);
        let upstream_tls = tls_config(&std::fs::read_to_string(pebble.ca_bundle_path()).unwrap());
        let upstream_port: u16 = pebble
            .directory_url()
            .trim_start_matches("https://127.0.0.1:")
            .trim_end_matches("/dir")
            .parse()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let injected: Arc<Mutex<BTreeMap<Fault, usize>>> = Arc::default();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*upstream_tls).clone())
            .https_only()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let shared = Arc::new(Shared {
            schedule: Schedule {
                every: every.max(1),
                cycle: if every == 0 { Vec::new() } else { cycle },
                rounds,
                requests: AtomicUsize::new(0),
            },
            injected: injected.clone(),
            client,
            upstream: format!("https://127.0.0.1:{upstream_port}"),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { shared.handle(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FaultProxy {
            port,
            ca_bundle,
            http_port: pebble.http_port(),
            injected,
            _dir: dir,
            _runtime: runtime,
        }
    }

    /// The proxy as certform's CA: its directory URL and its own CA as the `ca_bundle`.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            directory: format!("https://127.0.0.1:{}/dir", self.port),
            ca_bundle: self.ca_bundle.clone(),
            http_port: self.http_port,
        }
    }

    /// How many times each fault was injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.injected.lock().unwrap().clone()
    }
}

type Upstream = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

struct Shared {
    schedule: Schedule,
    injected: Arc<Mutex<BTreeMap<Fault, usize>>>,
    client: Upstream,
    upstream: String,
}

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
        let fault = self.schedule.fault_for_next();
        if let Some(fault) = fault {
            *self.injected.lock().unwrap().entry(fault).or_default() += 1;
        }
        match fault {
            Some(Fault::Drop) => return Err(Dropped),
            Some(Fault::Unavailable) => return Ok(canned(503, None)),
            Some(Fault::RateLimited) => return Ok(canned(429, Some(1))),
            Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
            Some(Fault::Oversized) => {
                return Ok(Response::new(Full::new(Bytes::from(vec![b' '; 4 << 20]))))
            }
            // Rewritten on the way back.
            Some(Fault::HostileToken | Fault::RejectOrders | Fault::RateLimitOrders) | None => {}
        }
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        if parts.uri.path().contains("order-plz") {
            match fault {
                Some(Fault::RejectOrders) => return Ok(rejected_order(&body)),
                Some(Fault::RateLimitOrders) => return Ok(canned(429, Some(1))),
                _ => {}
            }
        }
        let mut forward = Request::builder().method(parts.method).uri(format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        ));
        for (name, value) in &parts.headers {
            forward = forward.header(name, value);
        }
        let response = self
            .client
            .request(forward.body(Full::new(body)).unwrap())
            .await
            .map_err(|_| Dropped)?;
        let (mut parts, body) = response.into_parts();
        let mut body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        if fault == Some(Fault::HostileToken) {
            body = Bytes::from(hostile_tokens(&String::from_utf8_lossy(&body)));
            parts.headers.remove("content-length");
        }
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// A `rejectedIdentifier` problem naming each identifier of the new-order JWS `body`.
fn rejected_order(body: &[u8]) -> Response<Full<Bytes>> {
    use base64::Engine;
    let jws: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws["payload"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let order: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
    let subproblems: Vec<serde_json::Value> = order["identifiers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|identifier| {
            serde_json::json!({
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "detail": format!("{} is refused by the fault proxy", identifier["value"].as_str().unwrap_or("?")),
                "identifier": identifier,
            })
        })
        .collect();
    let problem = serde_json::json!({
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "the order names refused identifiers",
        "status": 400,
        "subproblems": subproblems,
    });
    Response::builder()
        .status(400)
        .header("Content-Type", "application/problem+json")
        .body(Full::new(Bytes::from(problem.to_string())))
        .unwrap()
}

/// `json` with the value of every `"token"` replaced by a path that escapes a webroot.
fn hostile_tokens(json: &str) -> String {
    let mut out = String::new();
    let mut rest = json;
    while let Some(at) = rest.find("\"token\"") {
        let (head, tail) = rest.split_at(at + "\"token\"".len());
        out.push_str(head);
        // Skip `: "` and the old value up to its closing quote.
        let open = tail.find('"').map_or(tail.len(), |i| i + 1);
        let close = tail[open..].find('"').map_or(tail.len(), |i| open + i);
        out.push_str(&tail[..open]);
        out.push_str("../../../../tmp/certform-escaped");
        rest = &tail[close..];
    }
    out.push_str(rest);
    out
}

/// An ACME problem document with `status`, as a busy CA would answer.
fn canned(status: u16, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let kind = if status == 429 {
        "rateLimited"
    } else {
        "serverInternal"
    };
    let body = format!(
        "{{\"type\":\"urn:ietf:params:acme:error:{kind}\",\"detail\":\"injected by the fault proxy\",\"status\":{status}}}"
    );
    let mut response = Response::builder()
        .status(status)
        .header("Content-Type", "application/problem+json");
    if let Some(seconds) = retry_after {
        response = response.header("Retry-After", seconds.to_string());
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}

pub fn server_config(leaf_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut leaf_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}
