//! The `digitalocean` DNS provider: DigitalOcean's API v2 ("Domains" and "Domain Records",
//! <https://docs.digitalocean.com/reference/api/digitalocean/>) with a personal access token
//! (Bearer). The zone is the longest domain of the account whose name is a suffix of the
//! record name (`GET /v2/domains/{name}`).
//!
//! Each TXT value is a record of its own: `present` creates one unless the value is there
//! already, `cleanup` lists the TXT records at the name (every page) and deletes those
//! holding exactly our value, so values of others at the same name stay.

use super::api_client::{self, ApiClient, ApiReply, Payload};
use super::dns_provider::{
    AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use super::zone_cache::{relative_name, ZoneCache};
use crate::desired::model::ProviderSpec;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// TTL of the challenge records: DigitalOcean's minimum.
const RECORD_TTL: u32 = 30;
/// Records per page when listing (DigitalOcean's largest page).
const PER_PAGE: u32 = 200;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "digitalocean",
    summary: "DigitalOcean DNS through its API v2, with a personal access token allowed to write domains",
    attributes: &[
        AttrSchema::new("api_token", AttrKind::Secret, "the personal access token")
            .required("env(\"DO_AUTH_TOKEN\")")
            .env("DO_AUTH_TOKEN"),
        api_client::endpoint_attribute("https://api.digitalocean.com"),
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
        let api = api_client::token_client(spec, "authorization", |token| {
            format!("Bearer {token}")
        })?;
        let provider: Box<dyn DnsProvider> = Box::new(DigitalOcean {
            api,
            zones: ZoneCache::default(),
        });
        Ok(provider)
    })
}

struct DigitalOcean {
    api: ApiClient,
    /// Domain names, per record name.
    zones: ZoneCache<String>,
}

#[derive(Deserialize)]
struct RecordPage {
    #[serde(default)]
    domain_records: Vec<Record>,
    #[serde(default)]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Links {
    #[serde(default)]
    pages: Pages,
}

#[derive(Deserialize, Default)]
struct Pages {
    next: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    id: u64,
    data: String,
}

/// DigitalOcean's error body.
#[derive(Deserialize)]
struct ApiError {
    message: String,
}

impl DnsProvider for DigitalOcean {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let zone = self.zone(name).await?;
            if self.txt_records(&zone, name).await?.iter().any(|r| r.data == value) {
                return Ok(());
            }
            let record = json!({ "type": "TXT", "name": relative_name(name, &zone),
                                 "data": value, "ttl": RECORD_TTL });
            let path = format!("/v2/domains/{zone}/records");
            let reply = self
                .api
                .send(Method::POST, &path, &[], Some(Payload::Json(&record)))
                .await?;
            ok_or_failure(&reply)
        })
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let zone = self.zone(name).await?;
            for record in self.txt_records(&zone, name).await? {
                if record.data != value {
                    continue;
                }
                let path = format!("/v2/domains/{zone}/records/{}", record.id);
                let reply = self.api.send(Method::DELETE, &path, &[], None).await?;
                if reply.status != StatusCode::NOT_FOUND {
                    ok_or_failure(&reply)?;
                }
            }
            Ok(())
        })
    }
}

impl DigitalOcean {
    async fn zone(&self, name: &str) -> Result<String, String> {
        let lookup = |candidate: String| async move {
            let path = format!("/v2/domains/{candidate}");
            let reply = self.api.send(Method::GET, &path, &[], None).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            ok_or_failure(&reply)?;
            Ok(Some(candidate))
        };
        self.zones.find(name, self.api.endpoint(), lookup).await
    }

    /// Every TXT record at `name`, all pages.
    async fn txt_records(&self, zone: &str, name: &str) -> Result<Vec<Record>, String> {
        let mut records = Vec::new();
        for page in 1.. {
            let path = format!(
                "/v2/domains/{zone}/records?type=TXT&name={name}&per_page={PER_PAGE}&page={page}"
            );
            let reply = self.api.send(Method::GET, &path, &[], None).await?;
            ok_or_failure(&reply)?;
            let listed: RecordPage = reply.json()?;
            let last = listed.links.pages.next.is_none() || listed.domain_records.is_empty();
            records.extend(listed.domain_records);
            if last {
                break;
            }
        }
        Ok(records)
    }
}

/// Nothing for a 2xx answer; else the error with DigitalOcean's message.
fn ok_or_failure(reply: &ApiReply) -> Result<(), String> {
    if reply.status.is_success() {
        return Ok(());
    }
    let message = reply.json::<ApiError>().ok().map(|e| e.message);
    Err(reply.error_saying(message))
}
