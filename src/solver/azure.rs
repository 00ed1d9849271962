//! The `azure` DNS provider: Azure DNS through the Resource Manager REST API, version
//! 2018-05-01 ("Record Sets", <https://learn.microsoft.com/rest/api/dns/>), as an app
//! registration (service principal) with a client secret: the Microsoft identity platform's
//! client credentials grant gives the bearer token (the same variables as lego and the
//! Azure SDKs: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`). The zone is the
//! longest DNS zone of the resource group whose name is a suffix of the record name.
//!
//! Azure keeps the TXT values of a name as one record set with an `etag`. Each change reads
//! the set, writes it back with our value added or removed under `If-Match` (or creates it
//! under `If-None-Match: *`, or deletes it under `If-Match` when the last value goes), so a
//! write by someone else in between fails 412 instead of being overwritten, and is retried
//! on the new set. Values of others at the same name stay.

use super::api_client::{self, ApiClient, ApiReply, Payload};
use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture,
    StartContext,
};
use super::oauth::{request_token, Token, TokenCache};
use super::zone_cache::{relative_name, ZoneCache};
use crate::desired::model::ProviderSpec;
use crate::secret::Sensitive;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

const API_VERSION: &str = "2018-05-01";
/// The Resource Manager's scope for the client credentials grant.
const SCOPE: &str = "https://management.azure.com/.default";
/// TTL of new challenge record sets.
const RECORD_TTL: u64 = 60;
/// How many times a write refused because the set moved (412) is tried again.
const CONFLICT_RETRIES: u32 = 5;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "azure",
    summary: "Azure DNS through the Resource Manager API (2018-05-01), as a service principal with a client secret (role `DNS Zone Contributor` on the zones)",
    attributes: &[
        AttrSchema::new("subscription_id", AttrKind::Text, "the subscription of the zones")
            .required("\"00000000-0000-0000-0000-000000000000\"")
            .env("AZURE_SUBSCRIPTION_ID"),
        AttrSchema::new("resource_group", AttrKind::Text, "the resource group of the zones")
            .required("\"dns\"")
            .env("AZURE_RESOURCE_GROUP"),
        AttrSchema::new("tenant_id", AttrKind::Text, "the directory (tenant) of the app registration")
            .required("\"00000000-0000-0000-0000-000000000000\"")
            .env("AZURE_TENANT_ID"),
        AttrSchema::new("client_id", AttrKind::Text, "the app registration's application (client) id")
            .required("\"00000000-0000-0000-0000-000000000000\"")
            .env("AZURE_CLIENT_ID"),
        AttrSchema::new("client_secret", AttrKind::Secret, "the app registration's client secret")
            .required("env(\"AZURE_CLIENT_SECRET\")")
            .env("AZURE_CLIENT_SECRET"),
        api_client::endpoint_attribute("https://management.azure.com"),
        AttrSchema::new(
            "login_endpoint",
            AttrKind::Text,
            "the Microsoft identity platform's base URL (another cloud's, a proxy)",
        )
        .default("https://login.microsoftonline.com"),
        api_client::CA_BUNDLE,
        api_client::ALLOW_INSECURE_TRANSPORT,
    ],
    check,
    start,
};

fn check(attrs: &mut AttrCheck<'_>) {
    api_client::check_endpoint(attrs, "endpoint");
    api_client::check_endpoint(attrs, "login_endpoint");
}

fn start<'a>(
    spec: &'a ProviderSpec,
    _context: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let text = |name: &str| {
            spec.text(name)
                .map(str::to_string)
                .ok_or_else(|| format!("`{name}` is not set"))
        };
        let provider: Box<dyn DnsProvider> = Box::new(Azure {
            api: api_client::client_for(spec, "endpoint")?.credentials("`client_id` and `client_secret`"),
            login: api_client::client_for(spec, "login_endpoint")?.credentials("`client_id` and `client_secret`"),
            zones_path: format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/dnsZones",
                text("subscription_id")?,
                text("resource_group")?
            ),
            tenant: text("tenant_id")?,
            client_id: text("client_id")?,
            client_secret: spec.required_secret("client_secret")?.clone(),
            token: TokenCache::default(),
            zones: ZoneCache::default(),
        });
        Ok(provider)
    })
}

struct Azure {
    api: ApiClient,
    login: ApiClient,
    /// `/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/dnsZones`.
    zones_path: String,
    tenant: String,
    client_id: String,
    client_secret: Sensitive,
    token: TokenCache,
    /// Zone names, per record name.
    zones: ZoneCache<String>,
}

#[derive(Deserialize)]
struct RecordSet {
    etag: Option<String>,
    properties: Properties,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "TTL")]
    ttl: Option<u64>,
    #[serde(default, rename = "TXTRecords")]
    txt_records: Vec<TxtRecord>,
}

#[derive(Deserialize)]
struct TxtRecord {
    #[serde(default)]
    value: Vec<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: FailureDetail,
}

#[derive(Deserialize)]
struct FailureDetail {
    code: String,
    message: String,
}

impl DnsProvider for Azure {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.change(name, value, true))
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.change(name, value, false))
    }
}

impl Azure {
    /// Add (`add`) or remove `value` at `name` under the record set's etag.
    async fn change(&self, name: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = self.zone(name).await?;
        let path = format!(
            "{}/{zone}/TXT/{}?api-version={API_VERSION}",
            self.zones_path,
            relative_name(name, &zone)
        );
        let mut attempt = 0;
        loop {
            let reply = self.call(Method::GET, &path, &[], None).await?;
            let current: Option<RecordSet> = match reply.status {
                StatusCode::NOT_FOUND => None,
                _ => Some(success(&reply)?.json()?),
            };
            // A TXT record's strings make one value (values over 255 bytes are split).
            let values: Vec<String> = current
                .iter()
                .flat_map(|set| &set.properties.txt_records)
                .map(|record| record.value.concat())
                .collect();
            if values.iter().any(|v| v == value) == add {
                return Ok(());
            }
            let mut wanted: Vec<&str> = values
                .iter()
                .map(String::as_str)
                .filter(|v| *v != value)
                .collect();
            if add {
                wanted.push(value);
            }
            let etag = current.as_ref().and_then(|set| set.etag.clone());
            let condition = match &etag {
                Some(etag) => ("if-match", etag.as_str()),
                None => ("if-none-match", "*"),
            };
            let reply = if wanted.is_empty() {
                self.call(Method::DELETE, &path, &[condition], None).await?
            } else {
                let ttl = current
                    .as_ref()
                    .and_then(|set| set.properties.ttl)
                    .unwrap_or(RECORD_TTL);
                let records: Vec<Value> = wanted.iter().map(|v| json!({ "value": [v] })).collect();
                let body = json!({ "properties": { "TTL": ttl, "TXTRecords": records } });
                self.call(Method::PUT, &path, &[condition], Some(&body))
                    .await?
            };
            if reply.status == StatusCode::PRECONDITION_FAILED && attempt < CONFLICT_RETRIES {
                attempt += 1;
                continue;
            }
            success(&reply)?;
            return Ok(());
        }
    }

    /// The DNS zone of the resource group holding `name`.
    async fn zone(&self, name: &str) -> Result<String, String> {
        let lookup = |candidate: String| async move {
            let path = format!("{}/{candidate}?api-version={API_VERSION}", self.zones_path);
            let reply = self.call(Method::GET, &path, &[], None).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            success(&reply)?;
            Ok(Some(candidate))
        };
        self.zones.find(name, self.api.endpoint(), lookup).await
    }

    /// A Resource Manager request with the current access token.
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Option<&Value>,
    ) -> Result<ApiReply, String> {
        let bearer = self.token.bearer(self.new_token()).await?;
        let mut all = vec![("authorization", bearer.as_str())];
        all.extend_from_slice(headers);
        self.api
            .send(method, path, &all, body.map(Payload::Json))
            .await
    }

    /// A token by the client credentials grant.
    async fn new_token(&self) -> Result<Token, String> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose().trim()),
            ("scope", SCOPE),
            ("grant_type", "client_credentials"),
        ];
        let path = format!("/{}/oauth2/v2.0/token", self.tenant);
        request_token(&self.login, &path, &form).await
    }
}

/// The answer when it is 2xx; else the error with Azure's code and message.
fn success(reply: &ApiReply) -> Result<&ApiReply, String> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let message = reply
        .json::<Failure>()
        .ok()
        .map(|f| format!("{}: {}", f.error.code, f.error.message));
    Err(reply.error_saying(message))
}
