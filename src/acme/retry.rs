//! certform's own retry around every ACME request, on top of instant-acme's three `badNonce`
//! attempts: `429` (honouring `Retry-After`), 5xx and connection errors are retried with
//! exponential backoff and jitter, at most [`MAX_ATTEMPTS`] times; a rejected nonce is
//! retried at once, at most [`MAX_NONCE_ATTEMPTS`] times; no retry starts later than
//! [`BUDGET`] after the first attempt. Then the error says what was tried and what the CA
//! answered.
//!
//! instant-acme's errors do not carry HTTP headers, so the HTTP client (see `client.rs`)
//! records the status, `Retry-After` and transport failures of each attempt into a
//! task-local [`Trace`] scoped around that attempt.

use crate::error::{AcmeProblem, AcmeRefusal, AcmeSubproblem};
use instant_acme::Problem;
use rand::Rng;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this many attempts per ACME request while the CA is busy or unreachable.
pub(super) const MAX_ATTEMPTS: u32 = 6;
/// At most this many attempts per ACME request that keep failing with `badNonce`. RFC 8555
/// §6.5 asks a client to retry a rejected nonce with the fresh one the error carries; such a
/// retry costs one round trip and says nothing about load, so it gets a bound of its own.
/// A CA may reject any share of nonces (Pebble rejects 5% by default, tests use 50%): at
/// 50%, six in a row fail one request in 64 — often enough to fail a fleet's apply —
/// sixteen one request in 65,536.
pub(super) const MAX_NONCE_ATTEMPTS: u32 = 16;
/// No retry starts later than this after the first attempt.
pub(super) const BUDGET: Duration = Duration::from_secs(60);
const BASE_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(10);

tokio::task_local! {
    static TRACE: Arc<Trace>;
}

/// What the HTTP layer saw during one attempt.
#[derive(Debug, Default)]
pub(super) struct Trace(Mutex<TraceData>);

#[derive(Debug, Default, Clone)]
pub(super) struct TraceData {
    /// Status of the last response that was not a success.
    pub(super) error_status: Option<u16>,
    /// `Retry-After` of the last response that carried one.
    pub(super) retry_after: Option<Duration>,
    /// The last transport failure (connect, TLS, reset, timeout).
    pub(super) transport: Option<String>,
}

impl Trace {
    pub(super) fn data(&self) -> std::sync::MutexGuard<'_, TraceData> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn record_response(&self, status: u16, retry_after: Option<Duration>) {
        let mut d = self.data();
        if status >= 400 {
            d.error_status = Some(status);
        }
        if retry_after.is_some() {
            d.retry_after = retry_after;
        }
    }

    pub(super) fn record_transport(&self, error: String) {
        self.data().transport = Some(error);
    }
}

/// The trace of the attempt the current task is running, if any.
pub(super) fn current_trace() -> Option<Arc<Trace>> {
    TRACE.try_with(Arc::clone).ok()
}

/// Run one attempt with a fresh trace.
pub(super) async fn attempt<T>(
    fut: impl Future<Output = Result<T, instant_acme::Error>>,
) -> (Result<T, instant_acme::Error>, TraceData) {
    let trace = Arc::new(Trace::default());
    let result = TRACE.scope(trace.clone(), fut).await;
    let data = trace.data().clone();
    (result, data)
}

/// Retry bookkeeping for one logical ACME request.
pub(super) struct Backoff {
    /// Failed attempts of every kind.
    attempts: u32,
    /// Of those, the ones with a busy or unreachable CA.
    busy_failures: u32,
    /// Of those, the ones the CA answered with `badNonce`.
    nonce_failures: u32,
    started: Instant,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff {
            attempts: 0,
            busy_failures: 0,
            nonce_failures: 0,
            started: Instant::now(),
        }
    }

    /// After a failed attempt: how long to wait before the next one, or `None` to give up.
    pub(super) fn next_delay(
        &mut self,
        error: &instant_acme::Error,
        trace: &TraceData,
    ) -> Option<Duration> {
        self.attempts += 1;
        let class = classify(error, trace)?;
        let exhausted = match class {
            Class::BadNonce => {
                self.nonce_failures += 1;
                self.nonce_failures >= MAX_NONCE_ATTEMPTS
            }
            Class::Busy => {
                self.busy_failures += 1;
                self.busy_failures >= MAX_ATTEMPTS
            }
        };
        if exhausted {
            return None;
        }
        let mut rng = rand::thread_rng();
        let delay = match class {
            // A rejected nonce says nothing about load: try again at once.
            Class::BadNonce => Duration::from_millis(rng.gen_range(0..30)),
            Class::Busy => match trace.retry_after {
                Some(after) => after,
                None => {
                    let exp = BASE_DELAY
                        .saturating_mul(1 << (self.busy_failures - 1).min(10))
                        .min(MAX_DELAY);
                    // Full jitter on the upper half: [exp/2, exp].
                    exp / 2 + exp.mul_f64(rng.gen_range(0.0..0.5))
                }
            },
        };
        if self.started.elapsed() + delay > BUDGET {
            return None;
        }
        Some(delay)
    }

    /// Says on standard error that a request is retried, and why: an unattended run's log
    /// should show a struggling CA even when the retry succeeds.
    pub(super) fn report_retry(
        &self,
        what: &str,
        error: &instant_acme::Error,
        trace: &TraceData,
        delay: Duration,
    ) {
        eprintln!(
            "Retrying {what} in {:.1}s (attempt {} failed): {}",
            delay.as_secs_f64(),
            self.attempts,
            describe(error, trace)
        );
    }

    /// Turn the final error into certform's error, with what was tried: a problem document
    /// stays whole ([`crate::Error::AcmeProblem`]), anything else becomes its text.
    pub(super) fn into_error(
        self,
        what: &str,
        error: &instant_acme::Error,
        trace: &TraceData,
    ) -> crate::Error {
        let attempts = (self.attempts > 1).then(|| {
            format!(
                "gave up after {} attempts in {:.1}s",
                self.attempts,
                self.started.elapsed().as_secs_f64()
            )
        });
        let retry_after = trace
            .retry_after
            .filter(|_| classify(error, trace).is_some());
        if let instant_acme::Error::Api(problem) = error {
            return crate::Error::AcmeProblem(Box::new(AcmeRefusal {
                problem: problem_document(problem, trace.error_status),
                during: what.to_string(),
                attempts,
                retry_after,
                retry_at: retry_after.map(|after| time::OffsetDateTime::now_utc() + after),
            }));
        }
        let mut message = describe(error, trace);
        message.push_str(&format!(" (while {what})"));
        if let Some(attempts) = attempts {
            message.push_str("; ");
            message.push_str(&attempts);
        }
        if let Some(after) = retry_after {
            message.push_str(&format!(
                "; the CA asks to retry after {}s",
                after.as_secs()
            ));
        }
        crate::Error::Acme(message)
    }
}

enum Class {
    BadNonce,
    /// 429, 5xx, connection errors.
    Busy,
}

const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
const RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";
const SERVER_INTERNAL: &str = "urn:ietf:params:acme:error:serverInternal";

fn is_busy_status(status: Option<u16>) -> bool {
    matches!(status, Some(s) if s == 429 || s >= 500)
}

fn classify(error: &instant_acme::Error, trace: &TraceData) -> Option<Class> {
    use instant_acme::Error as E;
    match error {
        E::Api(problem) => match problem.r#type.as_deref() {
            Some(BAD_NONCE) => Some(Class::BadNonce),
            Some(RATE_LIMITED) | Some(SERVER_INTERNAL) => Some(Class::Busy),
            _ if is_busy_status(problem.status.or(trace.error_status)) => Some(Class::Busy),
            _ => None,
        },
        E::Hyper(_) => Some(Class::Busy),
        E::Other(inner) if inner.is::<hyper::Error>() || trace.transport.is_some() => {
            Some(Class::Busy)
        }
        // A 5xx or 429 whose body is no problem document.
        _ if is_busy_status(trace.error_status) => Some(Class::Busy),
        _ if trace.transport.is_some() => Some(Class::Busy),
        _ => None,
    }
}

/// `type: detail (status N); subproblems: ...` — the problem document, or the error chain.
pub(super) fn describe(error: &instant_acme::Error, trace: &TraceData) -> String {
    match error {
        instant_acme::Error::Api(problem) => describe_problem(problem, trace.error_status),
        // An error status whose body was no problem document: the status is the news, the
        // failure to parse the body only a consequence.
        other => match trace.error_status {
            Some(status) => format!(
                "the CA answered HTTP status {status} ({})",
                error_chain(other)
            ),
            None => error_chain(other),
        },
    }
}

/// Render an ACME problem document (RFC 8555 §6.7) on one line.
pub(super) fn describe_problem(problem: &Problem, status: Option<u16>) -> String {
    problem_document(problem, status).to_string()
}

/// instant-acme's problem document as certform keeps it in its errors; `status` is the
/// response's, for a document without one.
pub(super) fn problem_document(problem: &Problem, status: Option<u16>) -> AcmeProblem {
    AcmeProblem {
        kind: problem.r#type.clone(),
        detail: problem.detail.clone(),
        status: problem.status.or(status),
        subproblems: problem
            .subproblems
            .iter()
            .map(|s| AcmeSubproblem {
                identifier: s
                    .identifier
                    .as_ref()
                    .map(|i| i.authorized(false).to_string()),
                kind: s.r#type.clone(),
                detail: s.detail.clone(),
            })
            .collect(),
    }
}

pub(super) use crate::error::error_chain;

/// Run `$body` (an expression yielding `Result<T, instant_acme::Error>`, evaluated afresh on
/// every attempt) with certform's retry policy; yields `crate::Result<(T, TraceData)>`.
macro_rules! acme_call_traced {
    ($what:expr, $body:expr) => {{
        let mut backoff = $crate::acme::retry::Backoff::new();
        loop {
            let (result, trace) = $crate::acme::retry::attempt(async { $body }).await;
            match result {
                Ok(value) => break Ok((value, trace)),
                Err(error) => match backoff.next_delay(&error, &trace) {
                    Some(delay) => {
                        backoff.report_retry(&$what, &error, &trace, delay);
                        tokio::time::sleep(delay).await
                    }
                    None => break Err(backoff.into_error(&$what, &error, &trace)),
                },
            }
        }
    }};
}

/// Like [`acme_call_traced!`], yielding `crate::Result<T>`.
macro_rules! acme_call {
    ($what:expr, $body:expr) => {
        acme_call_traced!($what, $body).map(|(value, _)| value)
    };
}

pub(super) use {acme_call, acme_call_traced};

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(t: &str, status: Option<u16>) -> instant_acme::Error {
        let json = serde_json::json!({ "type": t, "detail": "d", "status": status });
        instant_acme::Error::Api(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn classifies_retryable_errors() {
        let none = TraceData::default();
        assert!(matches!(
            classify(&problem(BAD_NONCE, Some(400)), &none),
            Some(Class::BadNonce)
        ));
        assert!(classify(&problem(RATE_LIMITED, Some(429)), &none).is_some());
        assert!(classify(&problem("urn:x:other", Some(503)), &none).is_some());
        assert!(classify(
            &problem("urn:ietf:params:acme:error:unauthorized", Some(403)),
            &none
        )
        .is_none());
        let transport = TraceData {
            transport: Some("connection refused".into()),
            ..TraceData::default()
        };
        assert!(classify(&instant_acme::Error::Str("x"), &transport).is_some());
        assert!(classify(&instant_acme::Error::Str("x"), &none).is_none());
    }

    #[test]
    fn gives_up_after_max_attempts_and_honours_retry_after() {
        let mut b = Backoff::new();
        let trace = TraceData {
            retry_after: Some(Duration::from_millis(1234)),
            error_status: Some(429),
            ..TraceData::default()
        };
        let err = problem(RATE_LIMITED, Some(429));
        for _ in 1..MAX_ATTEMPTS {
            assert_eq!(
                b.next_delay(&err, &trace),
                Some(Duration::from_millis(1234))
            );
        }
        assert_eq!(b.next_delay(&err, &trace), None);
        let text = b.into_error("creating the order", &err, &trace).to_string();
        assert!(
            text.starts_with(&format!("ACME error: {RATE_LIMITED}: d (status 429)")),
            "{text}"
        );
        assert!(text.contains("gave up after 6 attempts"), "{text}");
        assert!(text.contains("retry after 1s"), "{text}");

        // A Retry-After beyond the budget is not waited for.
        let mut b = Backoff::new();
        let far = TraceData {
            retry_after: Some(Duration::from_secs(3600)),
            ..trace
        };
        assert_eq!(b.next_delay(&err, &far), None);
    }

    #[test]
    fn rejected_nonces_have_a_bound_of_their_own() {
        let none = TraceData::default();
        let nonce = problem(BAD_NONCE, Some(400));
        let busy = problem("urn:x:other", Some(503));
        let mut b = Backoff::new();
        // Busy failures in between count against their own bound, not the nonces'.
        for _ in 1..MAX_ATTEMPTS {
            assert!(b.next_delay(&busy, &none).is_some());
        }
        for _ in 1..MAX_NONCE_ATTEMPTS {
            let delay = b.next_delay(&nonce, &none).expect("a nonce retry");
            assert!(delay < Duration::from_millis(30), "{delay:?}");
        }
        assert_eq!(b.next_delay(&nonce, &none), None);
        let text = b.into_error("downloading", &nonce, &none).to_string();
        let total = MAX_ATTEMPTS - 1 + MAX_NONCE_ATTEMPTS;
        assert!(
            text.contains(&format!("gave up after {total} attempts")),
            "{text}"
        );

        // And the last busy attempt still ends a request that also saw rejected nonces.
        let mut b = Backoff::new();
        assert!(b.next_delay(&nonce, &none).is_some());
        for _ in 1..MAX_ATTEMPTS {
            assert!(b.next_delay(&busy, &none).is_some());
        }
        assert_eq!(b.next_delay(&busy, &none), None);
    }

    #[test]
    fn a_problem_document_stays_whole_in_the_error() {
        let trace = TraceData {
            retry_after: Some(Duration::from_secs(60)),
            error_status: Some(429),
            ..TraceData::default()
        };
        let error =
            Backoff::new().into_error("creating the order", &problem(RATE_LIMITED, None), &trace);
        let crate::Error::AcmeProblem(refusal) = &error else {
            panic!("{error:?}")
        };
        assert!(refusal.problem.is("rateLimited"));
        assert_eq!(
            refusal.problem.status,
            Some(429),
            "the response's status fills in"
        );
        assert_eq!(refusal.retry_after, Some(Duration::from_secs(60)));
        assert!(refusal.retry_at.is_some());
        let unauthorized = Backoff::new().into_error(
            "creating the order",
            &problem("urn:ietf:params:acme:error:unauthorized", Some(403)),
            &TraceData::default(),
        );
        assert!(
            matches!(&unauthorized, crate::Error::AcmeProblem(r) if r.problem.is("unauthorized") && r.retry_at.is_none())
        );
    }

    #[test]
    fn describes_subproblems() {
        let json = serde_json::json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "bad names",
            "status": 400,
            "subproblems": [{
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "detail": "blocked",
                "identifier": { "type": "dns", "value": "blocked.example" }
            }]
        });
        let p: Problem = serde_json::from_value(json).unwrap();
        let text = describe_problem(&p, None);
        assert_eq!(
            text,
            "urn:ietf:params:acme:error:rejectedIdentifier: bad names (status 400); subproblems: \
             blocked.example: urn:ietf:params:acme:error:rejectedIdentifier: blocked"
        );
    }
}
