//! The HTTP client instant-acme talks through: hyper-util + hyper-rustls (ring) with
//! `TCP_NODELAY`, trusting the webpki roots plus an account's `ca_bundle` (`crate::trust`). One client per
//! distinct `ca_bundle` is built and shared by every account and order of the process, so
//! connections are pooled. Each response's status, `Retry-After` and any transport failure
//! are recorded into the current retry attempt's trace (see `retry.rs`). Every answer is
//! bounded in size and in time: head and body must both arrive within [`REQUEST_TIMEOUT`].

use super::retry;
use crate::{Error, Result};
use bytes::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// No single HTTP exchange with the CA, head and body, may take longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer certform reads from a CA. ACME documents and certificate chains are a
/// few KiB; anything near this is hostile or broken, and reading it could exhaust memory.
pub(super) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

type Hyper = Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// A cheaply clonable handle on a pooled client.
#[derive(Clone)]
pub(super) struct AcmeHttp {
    inner: Hyper,
}

static CLIENTS: OnceLock<Mutex<HashMap<Option<PathBuf>, AcmeHttp>>> = OnceLock::new();

/// The shared client for `ca_bundle` (built on first use).
pub(super) fn client_for(ca_bundle: Option<&Path>) -> Result<AcmeHttp> {
    let key = ca_bundle.map(Path::to_path_buf);
    let cache = CLIENTS.get_or_init(Mutex::default);
    if let Some(client) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(client.clone());
    }
    let client = build(ca_bundle)?;
    Ok(cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert(client)
        .clone())
}

fn build(ca_bundle: Option<&Path>) -> Result<AcmeHttp> {
    let tls = crate::trust::client_config(ca_bundle, "the ca_bundle")?;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let inner = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https);
    Ok(AcmeHttp { inner })
}

fn retry_after(headers: &hyper::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // HTTP-date, e.g. `Fri, 31 Dec 1999 23:59:59 GMT`.
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// A plain (unsigned) GET's answer: status, `Retry-After` and body.
pub(super) struct GetResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl AcmeHttp {
    /// An unauthenticated GET, as the directory and ARI's `renewalInfo` are fetched.
    pub(super) async fn get(&self, url: &str) -> Result<GetResponse> {
        use http_body_util::BodyExt;
        let failed = |why: String| Error::Acme(format!("GET {url} failed: {why}"));
        let request = hyper::Request::get(url)
            .header(hyper::header::USER_AGENT, "certform")
            .body(BodyWrapper::default())
            .map_err(|e| failed(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let response = tokio::time::timeout_at(deadline, self.inner.request(request))
            .await
            .map_err(|_| failed(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(|e| failed(retry::error_chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = bounded(response.into_body(), deadline, None)
            .collect()
            .await
            .map_err(|e| failed(retry::error_chain(&*e)))?
            .to_bytes();
        Ok(GetResponse {
            status,
            retry_after,
            body,
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `body` with the bounds every answer from a CA gets: refused with a clear error once it
/// grows past [`MAX_RESPONSE_BYTES`], or when it is not complete by `deadline` (a CA that
/// sends its head and then stalls would otherwise hold an action for ever). A stall is
/// recorded in `trace` as a transport failure, which the retry policy retries.
fn bounded<B>(
    body: B,
    deadline: tokio::time::Instant,
    trace: Option<Arc<retry::Trace>>,
) -> impl hyper::body::Body<Data = Bytes, Error = BoxError> + Unpin
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES).map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            format!(
                "the CA's answer is larger than {} KiB; certform refuses answers that large",
                MAX_RESPONSE_BYTES / 1024
            )
            .into()
        } else {
            e
        }
    });
    Deadline {
        body: limited,
        sleep: Box::pin(tokio::time::sleep_until(deadline)),
        trace,
    }
}

/// A body that fails once its deadline passes before its last frame.
struct Deadline<B> {
    body: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
    trace: Option<Arc<retry::Trace>>,
}

impl<B> hyper::body::Body for Deadline<B>
where
    B: hyper::body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let text = format!(
                    "the ACME server's answer did not arrive completely within {}s",
                    REQUEST_TIMEOUT.as_secs()
                );
                if let Some(trace) = &this.trace {
                    trace.record_transport(text.clone());
                }
                Poll::Ready(Some(Err(text.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: hyper::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let trace = retry::current_trace();
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let started = tokio::time::Instant::now();
        let deadline = started + REQUEST_TIMEOUT;
        let fut = self.inner.request(req);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, fut).await {
                Ok(Ok(rsp)) => {
                    tracing::debug!(
                        "{method} {uri} -> {} in {} ms",
                        rsp.status().as_u16(),
                        started.elapsed().as_millis()
                    );
                    if let Some(trace) = &trace {
                        trace.record_response(rsp.status().as_u16(), retry_after(rsp.headers()));
                    }
                    let (parts, body) = rsp.into_parts();
                    Ok(BytesResponse::from(hyper::Response::from_parts(
                        parts,
                        bounded(body, deadline, trace),
                    )))
                }
                Ok(Err(e)) => {
                    if let Some(trace) = &trace {
                        trace.record_transport(retry::error_chain(&e));
                    }
                    Err(instant_acme::Error::Other(Box::new(e)))
                }
                Err(_) => {
                    let text = format!(
                        "no answer from the ACME server within {}s",
                        REQUEST_TIMEOUT.as_secs()
                    );
                    if let Some(trace) = &trace {
                        trace.record_transport(text.clone());
                    }
                    Err(instant_acme::Error::Other(text.into()))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        h.insert(hyper::header::RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("120")), Some(Duration::from_secs(120)));
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let date = soon
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap();
        let parsed = retry_after(&headers(&date)).unwrap();
        assert!(
            parsed > Duration::from_secs(80) && parsed <= Duration::from_secs(90),
            "{parsed:?}"
        );
        assert_eq!(
            retry_after(&headers("Fri, 31 Dec 1999 23:59:59 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
    }

    #[tokio::test]
    async fn a_stalled_answer_fails_at_its_deadline_and_is_traced_for_a_retry() {
        use http_body_util::BodyExt;
        // A CA stalled after its head: a body that never yields a frame.
        struct Stalled;
        impl hyper::body::Body for Stalled {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, Self::Error>>>
            {
                std::task::Poll::Pending
            }
        }
        let trace = Arc::new(retry::Trace::default());
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        let err = bounded(Stalled, deadline, Some(trace.clone()))
            .collect()
            .await
            .expect_err("a stalled body must fail");
        let expected = "the ACME server's answer did not arrive completely within 30s";
        assert_eq!(err.to_string(), expected);
        assert!(tokio::time::Instant::now() >= deadline);
        assert_eq!(trace.data().transport.as_deref(), Some(expected));
    }

    #[tokio::test]
    async fn an_answer_in_time_and_in_size_is_read_whole_and_a_large_one_refused() {
        use http_body_util::BodyExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let small = http_body_util::Full::new(Bytes::from_static(b"{}"));
        let read = bounded(small, deadline, None).collect().await.unwrap();
        assert_eq!(read.to_bytes(), Bytes::from_static(b"{}"));
        let large = http_body_util::Full::new(Bytes::from(vec![b'x'; MAX_RESPONSE_BYTES + 1]));
        let err = bounded(large, deadline, None)
            .collect()
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
    }

    #[test]
    fn one_client_per_ca_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here").unwrap();
        let err = client_for(Some(&empty)).err().unwrap().to_string();
        assert!(err.contains("holds no PEM CERTIFICATE"), "{err}");
        let missing = client_for(Some(&dir.path().join("missing.pem")))
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("Cannot read the ca_bundle"), "{missing}");
        assert!(client_for(None).is_ok());
    }
}
