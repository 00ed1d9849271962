//! An ARI-serving proxy in front of Pebble, because Debian's Pebble has no `renewalInfo`
//! (RFC 9773). On top of forwarding every request to Pebble it
//!
//! - adds `renewalInfo` to the directory and answers `GET /renewal-info/<id>` with the
//!   window the test set ([`AriProxy::set_window`]) and its `Retry-After`;
//! - records each new-order payload ([`AriProxy::new_orders`]) and, since Pebble 2.4 does
//!   not know `replaces`, reflects it in the order as an ARI CA must (RFC 9773 §5);
//! - plays a hostile or flaky CA on request: answers every certificate download with another
//!   certificate ([`AriProxy::swap_certificates`]), or forwards the next account key change
//!   and drops its answer ([`AriProxy::drop_next_key_change_answer`]).
//!
//! A [`TlsProxy`] with hooks; it presents Pebble's own certificate, so Pebble's `ca_bundle`
//! trusts it.

use super::pebble::Pebble;
use super::tls_proxy::{json_response, jws_payload, Before, Dropped, Exchange, Hooks, TlsProxy};
use bytes::Bytes;
use hyper::http::response::Parts;
use hyper::Method;
use std::sync::{Arc, Mutex};

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

/// Stops serving on drop.
pub struct AriProxy {
    proxy: TlsProxy,
    shared: Arc<Mutex<Shared>>,
}

impl AriProxy {
    pub fn start(pebble: &Pebble) -> AriProxy {
        let shared = Arc::new(Mutex::new(Shared {
            retry_after_secs: 3600,
            ..Shared::default()
        }));
        let hooks = AriHooks {
            shared: shared.clone(),
        };
        AriProxy {
            proxy: TlsProxy::start(pebble, Arc::new(hooks)),
            shared,
        }
    }

    /// The directory URL clients use instead of Pebble's.
    pub fn directory_url(&self) -> String {
        self.proxy.directory_url()
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

struct AriHooks {
    shared: Arc<Mutex<Shared>>,
}

impl Hooks for AriHooks {
    fn before(&self, exchange: &Exchange) -> Before {
        if exchange.method != Method::GET || !exchange.path.starts_with(RENEWAL_INFO_PATH) {
            return Before::Forward;
        }
        let mut shared = self.shared.lock().unwrap();
        shared.renewal_info_requests += 1;
        let body = shared
            .window
            .as_ref()
            .map(|w| w.to_string())
            .unwrap_or_else(|| "{}".into());
        let retry_after = [("Retry-After", shared.retry_after_secs.to_string())];
        Before::Answer(json_response(200, "application/json", &retry_after, body))
    }

    fn after(
        &self,
        exchange: &Exchange,
        parts: &mut Parts,
        body: &mut Bytes,
    ) -> Result<(), Dropped> {
        let (get, post) = (
            exchange.method == Method::GET,
            exchange.method == Method::POST,
        );
        let mut shared = self.shared.lock().unwrap();
        if post
            && exchange.path == KEY_CHANGE_PATH
            && std::mem::take(&mut shared.drop_key_change_answer)
        {
            return Err(Dropped);
        }
        if post && exchange.path.starts_with(CERTIFICATE_PATH) {
            if let Some(pem) = &shared.swapped_certificate {
                *body = Bytes::from(pem.clone());
            }
        }
        if get && exchange.path == "/dir" {
            let mut directory: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| Dropped)?;
            directory["renewalInfo"] =
                format!("https://{}{RENEWAL_INFO_PATH}", exchange.host).into();
            *body = Bytes::from(directory.to_string());
        }
        if post && exchange.path == "/order-plz" {
            let payload = jws_payload(exchange.body);
            if let (Some(replaces), true) = (payload["replaces"].as_str(), parts.status == 201) {
                let mut order: serde_json::Value =
                    serde_json::from_slice(body).map_err(|_| Dropped)?;
                order["replaces"] = replaces.into();
                *body = Bytes::from(order.to_string());
            }
            shared.new_orders.push(payload);
        }
        Ok(())
    }
}
