//! The `hetzner` DNS provider: the Hetzner DNS Public API (<https://dns.hetzner.com/api-docs>)
//! with an API token in the `Auth-API-Token` header. The zone is the longest zone of the
//! account whose name is a suffix of the record name (`GET /api/v1/zones?name=`); records
//! are named relative to it.
//!
//! Each TXT value is a record of its own: `present` creates one unless the value is there
//! already, `cleanup` deletes the TXT records at the name holding exactly our value, so
//! values of others at the same name stay.

use super::api_client::{self, ApiClient, ApiReply, Payload};
use super::dns_provider::{
    AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use super::zone_cache::{relative_name, ZoneCache};
use crate::desired::model::ProviderSpec;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// TTL of the challenge records.
const RECORD_TTL: u32 = 60;
/// Records per page when listing.
const PER_PAGE: u32 = 100;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "hetzner",
    summary: "Hetzner DNS (dns.hetzner.com) through its public API, with an API token",
    attributes: &[
        AttrSchema::new("api_token", AttrKind::Secret, "the DNS console's API token")
            .required("env(\"HETZNER_API_KEY\")")
            .env("HETZNER_API_KEY"),
        api_client::endpoint_attribute("https://dns.hetzner.com"),
        api_client::CA_BUNDLE,
        api_client::ALLOW_INSECURE_TRANSPORT,
    ],
    check: api_client::check_endpoint_only,
    start,
};

fn start<'a>(
    spec: &'a ProviderSpec,
    _context: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let api = api_client::token_client(spec, "auth-api-token", str::to_string)?;
        let provider: Box<dyn DnsProvider> = Box::new(Hetzner {
            api,
            zones: ZoneCache::default(),
        });
        Ok(provider)
    })
}

struct Hetzner {
    api: ApiClient,
    /// (zone id, zone name), per record name.
    zones: ZoneCache<(String, String)>,
}

#[derive(Deserialize)]
struct Zones {
    #[serde(default)]
    zones: Vec<Zone>,
}

#[derive(Deserialize)]
struct Zone {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Records {
    #[serde(default)]
    records: Option<Vec<Record>>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    last_page: Option<u32>,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    value: String,
}

/// Hetzner's error bodies: `{"message"}` or `{"error":{"message"}}`.
#[derive(Deserialize)]
struct ApiError {
    message: Option<String>,
    error: Option<Box<ApiError>>,
}

impl DnsProvider for Hetzner {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let (zone_id, zone) = self.zone(name).await?;
            let relative = relative_name(name, &zone);
            if !self.ours(&zone_id, &relative, value).await?.is_empty() {
                return Ok(());
            }
            let record = json!({ "zone_id": zone_id, "type": "TXT", "name": relative,
                                 "value": value, "ttl": RECORD_TTL });
            let reply = self
                .api
                .send(Method::POST, "/api/v1/records", &[], Some(Payload::Json(&record)))
                .await?;
            ok_or_failure(&reply)
        })
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let (zone_id, zone) = self.zone(name).await?;
            for id in self.ours(&zone_id, &relative_name(name, &zone), value).await? {
                let path = format!("/api/v1/records/{id}");
                let reply = self.api.send(Method::DELETE, &path, &[], None).await?;
                if reply.status != StatusCode::NOT_FOUND {
                    ok_or_failure(&reply)?;
                }
            }
            Ok(())
        })
    }
}

impl Hetzner {
    async fn zone(&self, name: &str) -> Result<(String, String), String> {
        let lookup = |candidate: String| async move {
            let path = format!("/api/v1/zones?name={candidate}");
            let reply = self.api.send(Method::GET, &path, &[], None).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            ok_or_failure(&reply)?;
            let zones: Zones = reply.json()?;
            Ok(zones
                .zones
                .into_iter()
                .find(|z| z.name.eq_ignore_ascii_case(&candidate))
                .map(|z| (z.id, z.name)))
        };
        self.zones.find(name, self.api.endpoint(), lookup).await
    }

    /// The ids of the TXT records named `relative` holding `value` (every page).
    async fn ours(&self, zone_id: &str, relative: &str, value: &str) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for page in 1.. {
            let path = format!("/api/v1/records?zone_id={zone_id}&per_page={PER_PAGE}&page={page}");
            let reply = self.api.send(Method::GET, &path, &[], None).await?;
            ok_or_failure(&reply)?;
            let listed: Records = reply.json()?;
            let records = listed.records.unwrap_or_default();
            let last = listed
                .meta
                .and_then(|m| m.pagination)
                .and_then(|p| p.last_page)
                .unwrap_or(page);
            let empty = records.is_empty();
            ids.extend(
                records
                    .into_iter()
                    .filter(|r| r.kind == "TXT" && r.name == relative && unquote(&r.value) == value)
                    .map(|r| r.id),
            );
            if empty || page >= last {
                break;
            }
        }
        Ok(ids)
    }
}

/// Hetzner may show TXT values quoted.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Nothing for a 2xx answer; else the error with Hetzner's message.
fn ok_or_failure(reply: &ApiReply) -> Result<(), String> {
    if reply.status.is_success() {
        return Ok(());
    }
    let message = reply
        .json::<ApiError>()
        .ok()
        .and_then(|e| e.message.or_else(|| e.error.and_then(|inner| inner.message)));
    Err(reply.error_saying(message))
}
