//! An HTTPS proxy between certform and Pebble with hooks, the ground under the ARI proxy
//! ([`super::ari_proxy`]) and the fault proxy ([`super::fault_proxy`]). It terminates TLS
//! with Pebble's own test certificate (so Pebble's `ca_bundle` trusts it), forwards each
//! request to Pebble with the `Host` header unchanged (Pebble builds its URLs and checks JWS
//! `url`s from `Host`, so clients stay on the proxy without any rewriting), and lets its
//! [`Hooks`] answer, delay or drop a request before Pebble sees it and rewrite or drop
//! Pebble's answer after.

use super::pebble::{tls_config, Pebble};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::response::Parts;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::time::Duration;

/// One request as the hooks see it.
pub struct Exchange<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    /// The `Host` the client sent (the proxy's address).
    pub host: &'a str,
    pub body: &'a Bytes,
}

/// What to do with a request before Pebble sees it.
pub enum Before {
    Forward,
    /// Forward, but only after a pause.
    ForwardAfter(Duration),
    /// Forward, and rewrite the body of Pebble's answer with this function.
    ForwardRewriting(fn(&mut Bytes)),
    /// Answer this without asking Pebble.
    Answer(Response<Full<Bytes>>),
    /// Close the connection without answering.
    Drop,
}

pub trait Hooks: Send + Sync + 'static {
    fn before(&self, _exchange: &Exchange) -> Before {
        Before::Forward
    }

    /// May rewrite Pebble's answer; `Err(Dropped)` closes the connection instead.
    fn after(
        &self,
        _exchange: &Exchange,
        _parts: &mut Parts,
        _body: &mut Bytes,
    ) -> Result<(), Dropped> {
        Ok(())
    }
}

/// Stops serving on drop.
pub struct TlsProxy {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    pub fn start(pebble: &Pebble, hooks: Arc<dyn Hooks>) -> TlsProxy {
        let read = |name: &str| std::fs::read_to_string(pebble.temp_dir().join(name)).unwrap();
        // Pebble's own HTTPS certificate, which Pebble's `ca_bundle` trusts.
        let server_tls = server_config(&read("cert.pem"), &read("key.pem"));
        let upstream_tls = tls_config(&std::fs::read_to_string(pebble.ca_bundle_path()).unwrap());
        let upstream_port: u16 = pebble
            .directory_url()
            .trim_start_matches("https://127.0.0.1:")
            .trim_end_matches("/dir")
            .parse()
            .expect("Pebble's directory URL names its port");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*upstream_tls).clone())
            .https_only()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let shared = Arc::new(Shared {
            hooks,
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
        TlsProxy {
            port,
            _runtime: runtime,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory URL clients use instead of Pebble's.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }
}

type Upstream = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

struct Shared {
    hooks: Arc<dyn Hooks>,
    client: Upstream,
    upstream: String,
}

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the proxy")
    }
}

impl std::error::Error for Dropped {}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let exchange = Exchange {
            method: &parts.method,
            path: parts.uri.path(),
            host,
            body: &body,
        };
        let mut rewrite = None;
        match self.hooks.before(&exchange) {
            Before::Forward => {}
            Before::ForwardAfter(pause) => tokio::time::sleep(pause).await,
            Before::ForwardRewriting(function) => rewrite = Some(function),
            Before::Answer(response) => return Ok(response),
            Before::Drop => return Err(Dropped),
        }
        let mut forward = Request::builder().method(parts.method.clone()).uri(format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        ));
        for (name, value) in &parts.headers {
            forward = forward.header(name, value);
        }
        let response = self
            .client
            .request(forward.body(Full::new(body.clone())).unwrap())
            .await
            .map_err(|_| Dropped)?;
        let (mut answer, answer_body) = response.into_parts();
        let mut answer_body = answer_body.collect().await.map_err(|_| Dropped)?.to_bytes();
        if let Some(rewrite) = rewrite {
            rewrite(&mut answer_body);
        }
        self.hooks.after(&exchange, &mut answer, &mut answer_body)?;
        // The hooks may have changed the body; hyper sets the length of what is sent.
        answer.headers.remove("content-length");
        Ok(Response::from_parts(answer, Full::new(answer_body)))
    }
}

/// The JSON inside a flattened JWS (`{"protected","payload","signature"}`).
pub fn jws_payload(body: &[u8]) -> serde_json::Value {
    use base64::Engine;
    let jws: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let payload = jws["payload"].as_str().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// A JSON answer with `status` and extra headers.
pub fn json_response(
    status: u16,
    content_type: &str,
    headers: &[(&str, String)],
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("Content-Type", content_type);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}

/// A rustls server presenting `leaf_pem` (the chain, leaf first) with `key_pem`.
pub fn server_config(leaf_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    let certs = certform::pem::certificates(leaf_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = certform::pem::private_key(key_pem.as_bytes()).unwrap();
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
