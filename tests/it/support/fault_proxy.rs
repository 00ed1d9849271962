//! A fault-injecting proxy between certform and Pebble (a [`TlsProxy`] with hooks). It
//! injects faults by a fixed schedule: a request whose number (from 1) is a multiple of
//! `every` gets the next fault of `cycle` (for a number of `rounds` through it, or for
//! ever); the others pass. [`FaultProxy::injected`] counts what it did.

use super::pebble::Pebble;
use super::project::Endpoint;
use super::tls_proxy::{json_response, jws_payload, Before, Exchange, Hooks, TlsProxy};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
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
    proxy: TlsProxy,
    ca_bundle: PathBuf,
    http_port: u16,
    injected: Arc<Mutex<BTreeMap<Fault, usize>>>,
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
        let injected: Arc<Mutex<BTreeMap<Fault, usize>>> = Arc::default();
        let hooks = FaultHooks {
            schedule: Schedule {
                every: every.max(1),
                cycle: if every == 0 { Vec::new() } else { cycle },
                rounds,
                requests: AtomicUsize::new(0),
            },
            injected: injected.clone(),
        };
        FaultProxy {
            proxy: TlsProxy::start(pebble, Arc::new(hooks)),
            ca_bundle: pebble.ca_bundle_path(),
            http_port: pebble.http_port(),
            injected,
        }
    }

    /// The proxy as certform's CA: its directory URL and Pebble's `ca_bundle`.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            directory: self.proxy.directory_url(),
            ca_bundle: self.ca_bundle.clone(),
            http_port: self.http_port,
        }
    }

    /// How many times each fault was injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.injected.lock().unwrap().clone()
    }
}

struct FaultHooks {
    schedule: Schedule,
    injected: Arc<Mutex<BTreeMap<Fault, usize>>>,
}

impl Hooks for FaultHooks {
    fn before(&self, exchange: &Exchange) -> Before {
        let fault = self.schedule.fault_for_next();
        if let Some(fault) = fault {
            *self.injected.lock().unwrap().entry(fault).or_default() += 1;
        }
        match fault {
            Some(Fault::Drop) => Before::Drop,
            Some(Fault::Unavailable) => Before::Answer(canned(503, None)),
            Some(Fault::RateLimited) => Before::Answer(canned(429, Some(1))),
            Some(Fault::Delay(pause)) => Before::ForwardAfter(pause),
            Some(Fault::Oversized) => {
                Before::Answer(Response::new(Full::new(Bytes::from(vec![b' '; 4 << 20]))))
            }
            Some(Fault::RejectOrders) if exchange.path.contains("order-plz") => {
                Before::Answer(rejected_order(exchange.body))
            }
            Some(Fault::RateLimitOrders) if exchange.path.contains("order-plz") => {
                Before::Answer(canned(429, Some(1)))
            }
            Some(Fault::HostileToken) => Before::ForwardRewriting(|body| {
                *body = Bytes::from(hostile_tokens(&String::from_utf8_lossy(body)));
            }),
            Some(Fault::RejectOrders | Fault::RateLimitOrders) | None => Before::Forward,
        }
    }
}

/// A `rejectedIdentifier` problem naming each identifier of the new-order JWS `body`.
fn rejected_order(body: &[u8]) -> Response<Full<Bytes>> {
    let order = jws_payload(body);
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
    json_response(400, "application/problem+json", &[], problem.to_string())
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
    let retry_after: Vec<(&str, String)> = retry_after
        .map(|seconds| ("Retry-After", seconds.to_string()))
        .into_iter()
        .collect();
    json_response(status, "application/problem+json", &retry_after, body)
}
