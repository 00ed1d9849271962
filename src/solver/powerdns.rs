//! The `powerdns` DNS provider: the PowerDNS Authoritative Server's HTTP API (v1, as
//! `pdns_server` 4.x serves it with `api=yes`), authenticated with the `X-API-Key` header.
//! The zone of a record is the longest zone of the server whose name ends the record's
//! name (`GET /api/v1/servers/{server_id}/zones`). PowerDNS replaces a record set as a
//! whole, so each change reads the TXT set, adds or removes exactly one value and writes
//! the result (`PATCH` with `changetype` `REPLACE`, or `DELETE` when the last value goes),
//! as lego's `pdns` provider does; values of others stay. A `Master` zone's secondaries
//! are then notified. `dns.rs` serialises the changes of one solver.

use super::api_client::{self, ApiClient, Transport};
use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use crate::desired::model::ProviderSpec;
use hyper::Method;
use serde::Deserialize;
use serde_json::json;

/// TTL of new challenge record sets.
const RECORD_TTL: u32 = 60;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "powerdns",
    summary: "the PowerDNS Authoritative Server's HTTP API (`api=yes`, `webserver=yes`)",
    attributes: &[
        AttrSchema::new(
            "api_url",
            AttrKind::Text,
            "the base URL of the server's API (its webserver), such as `https://pdns.example:8081`",
        )
        .required("\"https://pdns.example:8081\"")
        .env("PDNS_API_URL"),
        AttrSchema::new(
            "api_key",
            AttrKind::Secret,
            "the server's `api-key`",
        )
        .required("env(\"PDNS_API_KEY\")")
        .env("PDNS_API_KEY"),
        AttrSchema::new(
            "server_id",
            AttrKind::Text,
            "the server in the API's URLs",
        )
        .default("localhost")
        .env("PDNS_SERVER_NAME"),
        api_client::CA_BUNDLE,
        api_client::ALLOW_INSECURE_TRANSPORT,
    ],
    check,
    start,
};

fn check(attrs: &mut AttrCheck<'_>) {
    api_client::check_endpoint(attrs, "api_url");
}

fn start<'a>(
    spec: &'a ProviderSpec,
    _: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let api_url = spec.text("api_url").ok_or("`api_url` is not set")?;
        let api_key = spec.required_secret("api_key")?;
        let server_id = spec.text("server_id").unwrap_or("localhost");
        let api = ApiClient::new(api_url, &Transport::of(spec))?.header(
            "x-api-key",
            api_key.expose().trim(),
            true,
        )?
        .credentials("`api_key`");
        let provider: Box<dyn DnsProvider> = Box::new(PowerDns {
            api,
            zones_path: format!("/api/v1/servers/{}/zones", encode(server_id)),
        });
        Ok(provider)
    })
}

struct PowerDns {
    api: ApiClient,
    /// `/api/v1/servers/{server_id}/zones`
    zones_path: String,
}

/// A zone as the zone list and a zone's GET describe it.
#[derive(Deserialize)]
struct Zone {
    id: String,
    /// With a trailing dot.
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

#[derive(Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: u32,
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    content: String,
}

impl DnsProvider for PowerDns {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let (zone, current) = self.txt_set(name).await?;
            let mut values = current.as_ref().map(|(v, _)| v.clone()).unwrap_or_default();
            if values.iter().any(|v| v == value) {
                return Ok(());
            }
            values.push(value.to_string());
            let ttl = current.map_or(RECORD_TTL, |(_, ttl)| ttl);
            self.replace(&zone, name, &values, ttl).await
        })
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let (zone, current) = self.txt_set(name).await?;
            let Some((values, ttl)) = current else {
                return Ok(());
            };
            if !values.iter().any(|v| v == value) {
                return Ok(());
            }
            let rest: Vec<String> = values.into_iter().filter(|v| v != value).collect();
            self.replace(&zone, name, &rest, ttl).await
        })
    }
}

impl PowerDns {
    /// The zone holding `name`: the longest zone of the server whose name ends it.
    async fn zone_of(&self, name: &str) -> Result<Zone, String> {
        let zones: Vec<Zone> = self
            .api
            .request(Method::GET, &self.zones_path, None)
            .await?
            .json()?;
        let fqdn = format!("{}.", name.to_ascii_lowercase());
        zones
            .into_iter()
            .filter(|zone| {
                let zone = zone.name.to_ascii_lowercase();
                fqdn == zone || fqdn.ends_with(&format!(".{zone}"))
            })
            .max_by_key(|zone| zone.name.len())
            .ok_or_else(|| {
                format!(
                    "no zone at {} holds {name}; create it in PowerDNS",
                    self.api.endpoint()
                )
            })
    }

    /// The zone of `name`, and the TXT values (unquoted) and TTL at `name` if any.
    async fn txt_set(&self, name: &str) -> Result<(Zone, Option<(Vec<String>, u32)>), String> {
        let zone = self.zone_of(name).await?;
        let fqdn = format!("{name}.");
        // PowerDNS 4.8+ filters by name and type; older servers send the whole zone.
        let path = format!(
            "{}/{}?rrset_name={}&rrset_type=TXT",
            self.zones_path,
            encode(&zone.id),
            encode(&fqdn)
        );
        let detail: Zone = self.api.request(Method::GET, &path, None).await?.json()?;
        let set = detail
            .rrsets
            .into_iter()
            .find(|set| set.rtype == "TXT" && set.name.eq_ignore_ascii_case(&fqdn))
            .map(|set| {
                let values = set.records.iter().map(|r| unquote(&r.content)).collect();
                (values, set.ttl)
            });
        Ok((zone, set))
    }

    /// Make `values` the TXT values at `name` (none: delete the set), then notify the
    /// secondaries of a `Master` zone.
    async fn replace(&self, zone: &Zone, name: &str, values: &[String], ttl: u32) -> Result<(), String> {
        let fqdn = format!("{name}.");
        let rrset = if values.is_empty() {
            json!({"name": fqdn, "type": "TXT", "changetype": "DELETE"})
        } else {
            let records: Vec<_> = values
                .iter()
                .map(|v| json!({"content": format!("\"{v}\""), "disabled": false}))
                .collect();
            json!({"name": fqdn, "type": "TXT", "ttl": ttl, "changetype": "REPLACE", "records": records})
        };
        let zone_path = format!("{}/{}", self.zones_path, encode(&zone.id));
        self.api
            .request(Method::PATCH, &zone_path, Some(&json!({ "rrsets": [rrset] })))
            .await?;
        if zone.kind.eq_ignore_ascii_case("master") {
            self.api
                .request(Method::PUT, &format!("{zone_path}/notify"), None)
                .await?;
        }
        Ok(())
    }
}

/// `"abc"` → `abc`; PowerDNS returns TXT contents quoted, long ones as several strings.
fn unquote(content: &str) -> String {
    let trimmed = content.trim();
    match trimmed.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\" \"", ""),
        None => trimmed.to_string(),
    }
}

/// A zone id or name as one URL path segment or query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_contents_and_path_segments() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("\"ab\" \"c\""), "abc");
        assert_eq!(encode("example.test."), "example.test.");
        assert_eq!(encode("a=2Fb c"), "a%3D2Fb%20c");
    }
}
