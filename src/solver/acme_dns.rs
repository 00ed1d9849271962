//! The `acme-dns` DNS provider: CNAME delegation to an acme-dns server
//! (github.com/joohoi/acme-dns). The user registers once with the server, which hands out
//! a `subdomain` of its own zone and credentials for it, and points
//! `_acme-challenge.<name>` at `<subdomain>.<its zone>` with a CNAME. certform then writes
//! a challenge value with `POST /update` (`X-Api-User` / `X-Api-Key` headers, JSON
//! `subdomain` and `txt`), and the propagation check follows the CNAME to the acme-dns zone.
//!
//! acme-dns keeps only the last two TXT values of a subdomain, enough for a name and its
//! wildcard, and has no way to remove one: cleanup leaves the values, which the next
//! updates push out. So one `dns_solver` of this provider can have at most two challenges
//! presented at a time; certificates whose names share the subdomain must not be issued
//! in parallel beyond that.

use super::api_client::{self, ApiClient, Transport};
use super::dns_provider::{
    AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, ReadBack,
    StartContext,
};
use crate::desired::model::ProviderSpec;
use hyper::Method;
use serde_json::json;

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "acme-dns",
    summary: "an [acme-dns](https://github.com/joohoi/acme-dns) server that `_acme-challenge.<name>` is delegated to by a CNAME; it keeps only the last two values (a name and its wildcard) and cannot remove one",
    attributes: &[
        AttrSchema::new(
            "server_url",
            AttrKind::Text,
            "the base URL of the acme-dns API",
        )
        .required("\"https://auth.acme-dns.io\"")
        .env("ACMEDNS_BASE_URL"),
        AttrSchema::new(
            "username",
            AttrKind::Text,
            "the `username` the registration returned (`X-Api-User`)",
        )
        .required("\"c36f50e8-4632-44f0-83fe-e070fef28a10\"")
        .env("ACMEDNS_USERNAME"),
        AttrSchema::new(
            "password",
            AttrKind::Secret,
            "the `password` the registration returned (`X-Api-Key`)",
        )
        .required("env(\"ACMEDNS_PASSWORD\")")
        .env("ACMEDNS_PASSWORD"),
        AttrSchema::new(
            "subdomain",
            AttrKind::Text,
            "the `subdomain` the registration returned, which `_acme-challenge` CNAMEs point into",
        )
        .required("\"8e5700ea-a4bf-41c7-8a77-e990661dcc6a\"")
        .env("ACMEDNS_SUBDOMAIN"),
        api_client::CA_BUNDLE,
        api_client::ALLOW_INSECURE_TRANSPORT,
    ],
    check,
    start,
};

fn check(attrs: &mut AttrCheck<'_>) {
    api_client::check_endpoint(attrs, "server_url");
}

fn start<'a>(
    spec: &'a ProviderSpec,
    _: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let server_url = spec.text("server_url").ok_or("`server_url` is not set")?;
        let username = spec.text("username").ok_or("`username` is not set")?;
        let subdomain = spec.text("subdomain").ok_or("`subdomain` is not set")?;
        let password = spec.required_secret("password")?;
        let api = ApiClient::new(server_url, &Transport::of(spec))?
            .header("x-api-user", username, false)?
            .header("x-api-key", password.expose().trim(), true)?
            .credentials("`username`, `password` and `subdomain`");
        let provider: Box<dyn DnsProvider> = Box::new(AcmeDns {
            api,
            subdomain: subdomain.to_string(),
        });
        Ok(provider)
    })
}

struct AcmeDns {
    api: ApiClient,
    subdomain: String,
}

impl DnsProvider for AcmeDns {
    /// `name` is where the CNAME starts; the value goes to the subdomain it points to.
    fn present<'a>(&'a self, _name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({ "subdomain": self.subdomain, "txt": value });
            self.api.request(Method::POST, "/update", Some(&body)).await?;
            Ok(())
        })
    }

    /// acme-dns cannot remove a value: the next two updates replace it.
    fn cleanup<'a>(&'a self, _name: &'a str, _value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn read_back(&self) -> ReadBack {
        ReadBack::FollowCname
    }
}
