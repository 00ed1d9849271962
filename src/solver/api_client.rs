//! The client of the DNS providers that speak JSON over HTTPS (PowerDNS, acme-dns, cloud
//! DNS APIs): hyper-util + hyper-rustls (ring) trusting the webpki roots plus an optional
//! `ca_bundle`. Plain `http://` is refused unless the endpoint is a loopback address and
//! the configuration opts in (`allow_insecure_transport`, as for the S3 state backend), so
//! an API key never crosses a network in the clear. Each request sends and expects JSON,
//! carries the provider's authentication headers (marked sensitive), is bounded in time
//! (`REQUEST_TIMEOUT`) and in answer size (`MAX_ANSWER_BYTES`); a status outside
//! 2xx is an error quoting the method, URL, status and the start of the answer's body, or,
//! through `ApiClient::send`, an answer the provider looks at (404, 412). A 429 is retried
//! after its `Retry-After`.

use super::dns_provider::{is_url, AttrCheck, AttrKind, AttrSchema};
use crate::desired::model::ProviderSpec;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// No request, answer included, may take longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// DNS API answers are small; a larger one is broken or hostile.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// How much of an error answer's body a message quotes.
const ERROR_BODY_LIMIT: usize = 500;
/// How often a rate-limited (429) request is retried, the wait when the answer names none
/// (times the retry's number), and the longest wait honoured.
const RATE_LIMIT_RETRIES: u32 = 3;
const RATE_LIMIT_WAIT_FIRST: Duration = Duration::from_secs(1);
const RATE_LIMIT_WAIT_MAX: Duration = Duration::from_secs(60);

/// The attribute naming PEM roots to trust besides the webpki roots; list it (and
/// [`ALLOW_INSECURE_TRANSPORT`]) in the attributes of a provider built on this client.
pub const CA_BUNDLE: AttrSchema = AttrSchema::new(
    "ca_bundle",
    AttrKind::Path,
    "PEM file of CA certificates trusted for the API besides the usual roots (a private CA)",
);

/// The attribute that allows plain `http://` to a loopback endpoint.
pub const ALLOW_INSECURE_TRANSPORT: AttrSchema = AttrSchema::new(
    "allow_insecure_transport",
    AttrKind::Bool,
    "allow a plain `http://` endpoint on a loopback address (127.0.0.1, ::1, localhost)",
)
.default("false");

/// A cloud provider's `endpoint` attribute, defaulting to the provider's API (tests and
/// proxies set another).
pub const fn endpoint_attribute(default: &'static str) -> AttrSchema {
    AttrSchema::new(
        "endpoint",
        AttrKind::Text,
        "the API's base URL, to use a proxy or a compatible API",
    )
    .default(default)
}

/// How an [`ApiClient`] reaches its endpoint.
#[derive(Debug, Clone, Default)]
pub struct Transport<'a> {
    /// PEM roots trusted besides the webpki roots (a private CA of an on-premises API).
    pub ca_bundle: Option<&'a Path>,
    /// Allow `http://` to a loopback endpoint (`allow_insecure_transport = true`).
    pub allow_insecure: bool,
}

impl Transport<'_> {
    /// The [`CA_BUNDLE`] and [`ALLOW_INSECURE_TRANSPORT`] of a provider's attributes.
    pub fn of(spec: &ProviderSpec) -> Transport<'_> {
        Transport {
            ca_bundle: spec.text(CA_BUNDLE.name).map(Path::new),
            allow_insecure: spec.bool(ALLOW_INSECURE_TRANSPORT.name).unwrap_or(false),
        }
    }
}

/// A provider's whole check when its only endpoint is [`endpoint_attribute`]'s `endpoint`.
pub fn check_endpoint_only(attrs: &mut AttrCheck<'_>) {
    check_endpoint(attrs, "endpoint");
}

/// For a provider's check: the endpoint in attribute `attribute` is a URL this client
/// will use with the block's `allow_insecure_transport`.
pub fn check_endpoint(attrs: &mut AttrCheck<'_>, attribute: &str) {
    let Some(endpoint) = attrs.text(attribute) else {
        return;
    };
    let allow_insecure = attrs.bool(ALLOW_INSECURE_TRANSPORT.name).unwrap_or(false);
    let why = if is_url(endpoint) {
        usable_endpoint(endpoint, allow_insecure).err()
    } else {
        Some(format!(
            "{endpoint:?} is not a URL; write it as https://HOST[:PORT]"
        ))
    };
    if let Some(why) = why {
        let detail = format!("`{attribute}` in {}: {why}.", attrs.what);
        attrs.error(attribute, "Invalid endpoint", detail);
    }
}

/// Whether `endpoint` is https, or http to a loopback address with `allow_insecure`.
fn usable_endpoint(endpoint: &str, allow_insecure: bool) -> Result<Uri, String> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_insecure && is_loopback(uri.host()) => Ok(uri),
        Some("http") if allow_insecure => Err(format!(
            "{endpoint} is plain http to another machine, which would send the credentials across a network in the clear; use https://"
        )),
        Some("http") => Err(format!(
            "{endpoint} is plain http, which would send the credentials in the clear; use https://, or for an API on this machine (a loopback address) set allow_insecure_transport = true"
        )),
        _ => Err(format!("{endpoint:?} is not an http(s) URL")),
    }
}

/// A JSON API at one base URL, with the headers every request carries.
pub struct ApiClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The endpoint without a trailing slash; request paths start with `/`.
    base: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The attributes holding the credentials, named when the API refuses them.
    credentials: &'static str,
}

/// An answer with a 2xx status.
pub struct ApiAnswer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl ApiAnswer {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("the answer is not the JSON expected: {e}"))
    }
}

impl ApiClient {
    /// A client of the API at `endpoint` (`https://host[:port][/path]`).
    pub fn new(endpoint: &str, transport: &Transport<'_>) -> Result<ApiClient, String> {
        let base = endpoint.trim_end_matches('/').to_string();
        usable_endpoint(&base, transport.allow_insecure)?;
        Ok(ApiClient {
            client: build(transport.ca_bundle)?,
            base,
            headers: Vec::new(),
            credentials: "the credentials",
        })
    }

    /// Sends `value` as header `name` on every request; a `sensitive` value never appears
    /// in hyper's debug output.
    pub fn header(
        mut self,
        name: &'static str,
        value: &str,
        sensitive: bool,
    ) -> Result<Self, String> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value of header {name} holds characters HTTP does not allow")
        })?;
        value.set_sensitive(sensitive);
        self.headers.push((HeaderName::from_static(name), value));
        Ok(self)
    }

    /// Names the attributes holding the credentials (`` `api_key` ``) in the message when
    /// the API answers 401 or 403.
    pub fn credentials(mut self, attributes: &'static str) -> Self {
        self.credentials = attributes;
        self
    }

    /// The base URL, for messages.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// `method` at `path` (below the endpoint) with `body` as JSON; a non-2xx status is an
    /// error naming the request, the status and the start of the answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiAnswer, String> {
        self.send(method, path, &[], body.map(Payload::Json))
            .await?
            .success()
    }

    /// `method` at `path` with `headers` besides the client's own and `body`, answered
    /// whatever its status, for providers that act on one (404: no such zone; 412: a stale
    /// etag). A 429 is retried after its `Retry-After` (at most `RATE_LIMIT_RETRIES`
    /// times, each wait at most `RATE_LIMIT_WAIT_MAX`), as every HTTP API asks of clients.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<Payload<'_>>,
    ) -> Result<ApiReply, String> {
        let mut retries = 0;
        loop {
            let reply = self.send_once(method.clone(), path, headers, body).await?;
            if reply.status != StatusCode::TOO_MANY_REQUESTS || retries == RATE_LIMIT_RETRIES {
                return Ok(reply);
            }
            retries += 1;
            let wait = reply
                .retry_after
                .unwrap_or(RATE_LIMIT_WAIT_FIRST * retries)
                .min(RATE_LIMIT_WAIT_MAX);
            tracing::info!(
                "{} {} is rate-limited (429); retrying in {}s",
                reply.method,
                reply.url,
                wait.as_secs_f32()
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<Payload<'_>>,
    ) -> Result<ApiReply, String> {
        let url = format!("{}{path}", self.base);
        let failed = |why: String| format!("{method} {url} failed: {why}");
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(USER_AGENT, concat!("certform/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        for (name, value) in headers {
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                failed(format!(
                    "the value of header {name} holds characters HTTP does not allow"
                ))
            })?;
            // Per-request headers carry tokens (OAuth 2 bearers) as often as etags.
            value.set_sensitive(true);
            request = request.header(*name, value);
        }
        let payload = match body {
            Some(Payload::Json(json)) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            Some(Payload::Form(fields)) => {
                request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(form_encode(fields))
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let chain = error_chain(&e);
                if chain.contains("UnknownIssuer") {
                    format!(
                        "{chain} (for an API with a certificate of a private CA, set ca_bundle)"
                    )
                } else {
                    chain
                }
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| failed(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(failed)?;
        Ok(ApiReply {
            status,
            retry_after,
            body,
            method,
            url,
            credentials: self.credentials,
        })
    }
}

/// A request body: JSON, or a form (an OAuth 2 token request).
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Json(&'a serde_json::Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// An answer of any status, from [`ApiClient::send`].
pub struct ApiReply {
    pub status: StatusCode,
    /// `Retry-After` in seconds, when the answer has one.
    pub retry_after: Option<Duration>,
    pub body: Bytes,
    method: Method,
    url: String,
    /// The attributes holding the credentials, named when the API refuses them.
    credentials: &'static str,
}

impl ApiReply {
    /// The body as JSON of type `T` (an error body too).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("the answer is not the JSON expected: {e}"))
    }

    /// The answer when its status is 2xx; otherwise the error quoting the request, the
    /// status and the start of the body.
    pub fn success(self) -> Result<ApiAnswer, String> {
        if self.status.is_success() {
            return Ok(ApiAnswer {
                status: self.status,
                body: self.body,
            });
        }
        Err(self.error())
    }

    /// `METHOD URL returned STATUS: message`, with the message the provider found in the
    /// error body (its API's own words), else the start of the body; a 401 or 403 names
    /// the attributes holding the credentials.
    pub fn error_saying(&self, message: Option<String>) -> String {
        let message = message.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&self.body);
            let text = text.trim();
            match text.char_indices().nth(ERROR_BODY_LIMIT) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None if text.is_empty() => "(no body)".to_string(),
                None => text.to_string(),
            }
        });
        let hint = match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                format!(" (the API refused the request: check {})", self.credentials)
            }
            _ => String::new(),
        };
        format!(
            "{} {} returned {}: {}{hint}",
            self.method,
            self.url,
            self.status,
            crate::redact::text(&message)
        )
    }

    /// `METHOD URL returned STATUS: body` for an answer the provider cannot use.
    pub fn error(&self) -> String {
        self.error_saying(None)
    }
}

/// `application/x-www-form-urlencoded`: unreserved characters as they are, the rest `%XX`.
fn form_encode(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The client of the API at `spec`'s attribute `attribute` (an endpoint with a default),
/// reached as its [`CA_BUNDLE`] and [`ALLOW_INSECURE_TRANSPORT`] say.
pub fn client_for(spec: &ProviderSpec, attribute: &str) -> Result<ApiClient, String> {
    let endpoint = spec
        .text(attribute)
        .ok_or_else(|| format!("`{attribute}` is not set"))?;
    ApiClient::new(endpoint, &Transport::of(spec))
}

/// The client of a provider that authenticates every request with its `api_token`
/// attribute in the header `header`, written as `value` makes it from the token (such as
/// `Bearer TOKEN`); errors that look like a refused credential name `api_token`.
pub fn token_client(
    spec: &ProviderSpec,
    header: &'static str,
    value: impl FnOnce(&str) -> String,
) -> Result<ApiClient, String> {
    let token = spec.required_secret("api_token")?;
    Ok(client_for(spec, "endpoint")?
        .header(header, &value(token.expose().trim()), true)?
        .credentials("`api_token`"))
}

/// `localhost` or a loopback IP address (`127.0.0.1`, `[::1]`).
fn is_loopback(host: Option<&str>) -> bool {
    match host {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// An error and its causes, as hyper's Display says only "client error (Connect)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn build(
    ca_bundle: Option<&Path>,
) -> Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String> {
    // One root store for every client (`crate::trust`): web PKI roots plus `ca_bundle`,
    // which may also be "system".
    let tls = crate::trust::client_config(ca_bundle, "the ca_bundle").map_err(|e| e.to_string())?;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_and_only_when_allowed() {
        let allowed = Transport {
            ca_bundle: None,
            allow_insecure: true,
        };
        let refused = |endpoint: &str, transport: &Transport| {
            ApiClient::new(endpoint, transport)
                .err()
                .unwrap_or_default()
        };
        assert!(ApiClient::new("https://dns.example/api", &Transport::default()).is_ok());
        assert!(ApiClient::new("http://127.0.0.1:8081", &allowed).is_ok());
        assert!(ApiClient::new("http://[::1]:8081", &allowed).is_ok());
        assert!(ApiClient::new("http://localhost:8081", &allowed).is_ok());
        assert!(refused("http://127.0.0.1:8081", &Transport::default())
            .contains("allow_insecure_transport = true"));
        assert!(refused("http://dns.example:8081", &allowed).contains("another machine"));
        assert!(refused("ftp://dns.example", &allowed).contains("not an http(s) URL"));
    }

    #[test]
    fn forms_escape_everything_but_unreserved_characters() {
        assert_eq!(
            form_encode(&[("scope", "https://x/.default"), ("secret", "a b+c~")]),
            "scope=https%3A%2F%2Fx%2F.default&secret=a%20b%2Bc~"
        );
    }
}
