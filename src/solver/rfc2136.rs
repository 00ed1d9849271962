//! The `rfc2136` DNS provider: dynamic updates (RFC 2136) signed with TSIG, adding and
//! deleting one exact TXT value, so values of others at the same name stay. The queries
//! it needs (the zone of a name) and the client are `dns_query.rs`'s. Errors are sentence
//! fragments; `dns.rs` adds the solver and the record.

use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use super::dns_query::{client, fqdn, resolve, zone_of};
use crate::desired::model::ProviderSpec;
use crate::desired::resolve::dns_server;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::{Name, RData, Record, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::NetError;
use std::net::SocketAddr;

/// TTL of the challenge records: short, so a stale value does not linger in caches.
const RECORD_TTL: u32 = 60;
/// Allowed clock difference for TSIG (seconds), BIND's default.
const TSIG_FUDGE: u16 = 300;
/// The TSIG algorithms accepted, as `tsig_algorithm` names them.
const ALGORITHMS: [(&str, TsigAlgorithm); 3] = [
    ("hmac-sha256", TsigAlgorithm::HmacSha256),
    ("hmac-sha384", TsigAlgorithm::HmacSha384),
    ("hmac-sha512", TsigAlgorithm::HmacSha512),
];

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "rfc2136",
    summary: "any server that accepts RFC 2136 dynamic updates (BIND, Knot, PowerDNS), signed with TSIG or unsigned",
    attributes: &[
        AttrSchema::new(
            "nameserver",
            AttrKind::Text,
            "`host:port` of the primary server that accepts updates (port 53 by default)",
        )
        .required("\"10.0.0.53:53\""),
        AttrSchema::new(
            "tsig_key_name",
            AttrKind::Text,
            "the TSIG key's name; absent for servers that accept unsigned updates",
        ),
        AttrSchema::new(
            "tsig_algorithm",
            AttrKind::Text,
            "`hmac-sha256`, `hmac-sha384` or `hmac-sha512`",
        )
        .default("hmac-sha256"),
        AttrSchema::new(
            "tsig_secret",
            AttrKind::Secret,
            "the key's secret, base64 as `tsig-keygen` prints it",
        )
        .literal_allowed(),
    ],
    check,
    start,
};

/// `hmac-sha256.` and `HMAC-SHA256` are the same algorithm.
fn algorithm(text: &str) -> Option<TsigAlgorithm> {
    let text = text.to_ascii_lowercase();
    let text = text.trim_end_matches('.');
    ALGORITHMS
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, algorithm)| algorithm.clone())
}

fn check(attrs: &mut AttrCheck<'_>) {
    if let Some(Err(why)) = attrs.text("nameserver").map(dns_server) {
        attrs.error("nameserver", "Invalid DNS server", why);
    }
    if let Some(text) = attrs.text("tsig_algorithm").filter(|t| algorithm(t).is_none()) {
        let detail = format!("{text:?} is not a supported TSIG algorithm. Use \"hmac-sha256\", \"hmac-sha384\" or \"hmac-sha512\".");
        attrs.error("tsig_algorithm", "Unsupported TSIG algorithm", detail);
    }
    // The secret's value never appears in a message: only whether it is well-formed.
    if let Some(Ok(secret)) = attrs.secret("tsig_secret").map(|s| s.value()) {
        if decode_secret(secret.expose()).is_none() {
            let detail = format!(
                "`tsig_secret` in {} is not base64. Use the `secret` of the key as `tsig-keygen` prints it.",
                attrs.what
            );
            attrs.error("tsig_secret", "Invalid TSIG secret", detail);
        }
    }
    match (attrs.has("tsig_key_name"), attrs.has("tsig_secret")) {
        (true, false) | (false, true) => {
            let missing = if attrs.has("tsig_key_name") {
                "tsig_secret"
            } else {
                "tsig_key_name"
            };
            let detail = format!(
                "{} sets only one of `tsig_key_name` and `tsig_secret`; set `{missing}` too, or neither for a server that accepts unsigned updates.",
                attrs.what
            );
            attrs.block_error("Missing required attribute", detail);
        }
        _ => {}
    }
}

fn decode_secret(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .filter(|bytes| !bytes.is_empty())
}

fn start<'a>(
    spec: &'a ProviderSpec,
    _: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let provider: Box<dyn DnsProvider> = Box::new(Rfc2136::new(spec).await?);
        Ok(provider)
    })
}

impl DnsProvider for Rfc2136 {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.add(name, value))
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.remove(name, value))
    }
}

/// The update client of one `rfc2136` solver.
struct Rfc2136 {
    server: SocketAddr,
    signer: Option<TSigner>,
}

impl Rfc2136 {
    async fn new(spec: &ProviderSpec) -> Result<Rfc2136, String> {
        let nameserver = spec
            .text("nameserver")
            .ok_or("`nameserver` is not set")?;
        let server = resolve(&dns_server(nameserver)?).await?;
        let signer = match (spec.text("tsig_key_name"), spec.secret("tsig_secret")) {
            (Some(key_name), Some(secret)) => {
                // Validated as base64 when the configuration was read.
                let secret = decode_secret(secret.value()?.expose())
                    .ok_or("the TSIG secret is not base64")?;
                let algorithm = algorithm(spec.text("tsig_algorithm").unwrap_or("hmac-sha256"))
                    .ok_or("the TSIG algorithm is not supported")?;
                let key_name = key_name.trim_end_matches('.');
                let name = Name::from_ascii(key_name)
                    .map_err(|e| format!("tsig_key_name {key_name:?} is not a DNS name: {e}"))?;
                Some(
                    TSigner::new(secret, algorithm, name, TSIG_FUDGE)
                        .map_err(|e| format!("cannot use the TSIG key: {e}"))?,
                )
            }
            _ => None,
        };
        Ok(Rfc2136 { server, signer })
    }

    fn client(&self) -> Client<TokioRuntimeProvider> {
        client(self.server, self.signer.clone())
    }

    async fn add(&self, name: &str, value: &str) -> Result<(), String> {
        let (record, zone) = self.txt_record(name, value).await?;
        let response = self
            .client()
            .append(record, zone, false)
            .await
            .map_err(|e| self.update_error(e))?;
        self.check(response.metadata.response_code, "update")
    }

    async fn remove(&self, name: &str, value: &str) -> Result<(), String> {
        let (mut record, zone) = self.txt_record(name, value).await?;
        record.ttl = 0;
        let response = self
            .client()
            .delete_by_rdata(record, zone)
            .await
            .map_err(|e| self.update_error(e))?;
        self.check(response.metadata.response_code, "update")
    }

    fn update_error(&self, error: NetError) -> String {
        match error {
            // A server that rejects our signature (BADSIG, BADKEY) answers unsigned, which
            // the client refuses to trust, so the rejection arrives as a protocol error.
            NetError::Proto(_) if self.signer.is_some() => format!(
                "{} rejected the update's TSIG signature ({error}): check tsig_key_name, tsig_algorithm and tsig_secret against the server's key",
                self.server
            ),
            other => format!("no answer from {}: {other}", self.server),
        }
    }

    fn check(&self, code: ResponseCode, what: &str) -> Result<(), String> {
        match code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::NotAuth if self.signer.is_some() => Err(format!(
                "{} refused the {what} (NOTAUTH): check tsig_key_name, tsig_algorithm and tsig_secret against the server's key",
                self.server
            )),
            ResponseCode::NotAuth | ResponseCode::Refused => Err(format!(
                "{} refused the {what} ({code}): the server allows updates only with a key (set tsig_key_name and tsig_secret) or from other addresses",
                self.server
            )),
            other => Err(format!("{} answered the {what} with {other}", self.server)),
        }
    }

    /// The record and the zone it belongs to, as the nameserver sees it.
    async fn txt_record(&self, name: &str, value: &str) -> Result<(Record, Name), String> {
        let fqdn = fqdn(name)?;
        let zone = zone_of(&fqdn, self.server, self.signer.clone()).await?;
        let record = Record::from_rdata(
            fqdn,
            RECORD_TTL,
            RData::TXT(TXT::new(vec![value.to_string()])),
        );
        Ok((record, zone))
    }
}

