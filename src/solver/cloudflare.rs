//! The `cloudflare` DNS provider: Cloudflare's API v4 with an API token (Bearer), as
//! <https://developers.cloudflare.com/api/> describes it. The zone is the longest zone
//! visible to the token whose name is a suffix of the record name (`GET /zones?name=`).
//!
//! Cloudflare keeps each TXT value as its own record, so `present` creates one record
//! (an identical one already there, error 81058, counts as done) and `cleanup` lists the TXT
//! records at the name, page by page, and deletes those holding exactly our value: values
//! of others at the same name stay. Rate limits (429) are retried by the client.

use super::api_client::{self, ApiClient, ApiReply};
use super::dns_provider::{
    AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use super::zone_cache::ZoneCache;
use crate::desired::model::ProviderSpec;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// TTL of the challenge records (Cloudflare's minimum outside Enterprise plans is 60).
const RECORD_TTL: u32 = 120;
/// Records per page when listing (Cloudflare's default is 100).
const PER_PAGE: u32 = 100;
/// "An identical record already exists."
const IDENTICAL_RECORD: i64 = 81058;
/// "Record does not exist."
const NO_SUCH_RECORD: i64 = 81044;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "cloudflare",
    summary: "Cloudflare DNS through its API v4, with an API token allowed `Zone:DNS:Edit` on the zones",
    attributes: &[
        AttrSchema::new(
            "api_token",
            AttrKind::Secret,
            "the API token (not the global API key)",
        )
        .required("env(\"CLOUDFLARE_DNS_API_TOKEN\")")
        .env("CLOUDFLARE_DNS_API_TOKEN"),
        api_client::endpoint_attribute("https://api.cloudflare.com/client/v4"),
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
        let provider: Box<dyn DnsProvider> = Box::new(Cloudflare {
            api,
            zones: ZoneCache::default(),
        });
        Ok(provider)
    })
}

struct Cloudflare {
    api: ApiClient,
    /// Zone ids found by name, per record name.
    zones: ZoneCache<String>,
}

/// Cloudflare's answer envelope.
#[derive(Deserialize)]
struct Envelope<T> {
    result: Option<T>,
    result_info: Option<ResultInfo>,
}

#[derive(Deserialize)]
struct ResultInfo {
    total_pages: Option<u32>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct Zone {
    id: String,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    content: String,
}

impl DnsProvider for Cloudflare {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let zone = self.zone_id(name).await?;
            let record = json!({ "type": "TXT", "name": name, "content": value, "ttl": RECORD_TTL });
            let reply = self
                .api
                .send(
                    Method::POST,
                    &format!("/zones/{zone}/dns_records"),
                    &[],
                    Some(api_client::Payload::Json(&record)),
                )
                .await?;
            if reply.status.is_success() || error_codes(&reply).contains(&IDENTICAL_RECORD) {
                return Ok(());
            }
            Err(failure(&reply))
        })
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let zone = self.zone_id(name).await?;
            for record in self.txt_records(&zone, name).await? {
                if unquote(&record.content) != value {
                    continue;
                }
                let path = format!("/zones/{zone}/dns_records/{}", record.id);
                let reply = self.api.send(Method::DELETE, &path, &[], None).await?;
                let gone = reply.status == StatusCode::NOT_FOUND
                    || error_codes(&reply).contains(&NO_SUCH_RECORD);
                if !reply.status.is_success() && !gone {
                    return Err(failure(&reply));
                }
            }
            Ok(())
        })
    }
}

impl Cloudflare {
    /// The id of the longest zone whose name is a suffix of `name`.
    async fn zone_id(&self, name: &str) -> Result<String, String> {
        let lookup = |candidate: String| async move {
            let reply = self
                .api
                .send(Method::GET, &format!("/zones?name={candidate}"), &[], None)
                .await?;
            if !reply.status.is_success() {
                return Err(failure(&reply));
            }
            let zones: Envelope<Vec<Zone>> = reply.json()?;
            Ok(zones.result.unwrap_or_default().into_iter().next().map(|z| z.id))
        };
        self.zones.find(name, self.api.endpoint(), lookup).await
    }

    /// Every TXT record at `name`, all pages.
    async fn txt_records(&self, zone: &str, name: &str) -> Result<Vec<Record>, String> {
        let mut records = Vec::new();
        let mut page = 1;
        loop {
            let path =
                format!("/zones/{zone}/dns_records?type=TXT&name={name}&per_page={PER_PAGE}&page={page}");
            let reply = self.api.send(Method::GET, &path, &[], None).await?;
            if !reply.status.is_success() {
                return Err(failure(&reply));
            }
            let listed: Envelope<Vec<Record>> = reply.json()?;
            let batch = listed.result.unwrap_or_default();
            let last = listed
                .result_info
                .and_then(|info| info.total_pages)
                .unwrap_or(page);
            let empty = batch.is_empty();
            records.extend(batch);
            if empty || page >= last {
                return Ok(records);
            }
            page += 1;
        }
    }
}

/// Cloudflare's error codes in an answer.
fn error_codes(reply: &ApiReply) -> Vec<i64> {
    reply
        .json::<Errors>()
        .map(|e| e.errors.iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

/// The error for an answer: the request, the status and Cloudflare's `code: message` list.
fn failure(reply: &ApiReply) -> String {
    let message = reply.json::<Errors>().ok().map(|e| {
        e.errors
            .iter()
            .map(|e| format!("{} (code {})", e.message, e.code))
            .collect::<Vec<_>>()
            .join("; ")
    });
    reply.error_saying(message)
}

/// Cloudflare may show TXT content quoted.
fn unquote(content: &str) -> &str {
    content
        .strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(content)
}
