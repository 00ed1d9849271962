//! The validated settings of `dns_solver` and `tls_alpn_solver` blocks. Kept apart from
//! `model.rs` because they are many; `model::SolverSpec` wraps them. A DNS provider's
//! attributes are kept by name as its schema declares them; secrets (a TSIG secret, an API
//! key) are [`Sensitive`], so they reach digests only as `(sensitive)`.

use crate::secret::{ConfigSecret, Sensitive};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A `dns_solver`: which names it serves, how it writes TXT records and how it checks that
/// they are visible before the CA is told to look.
#[derive(Debug, Clone, Serialize)]
pub struct DnsSolverSpec {
    /// The zones whose names this solver serves (lower-case, no trailing dot).
    pub zones: Vec<String>,
    pub provider: ProviderSpec,
    /// Query the DNS until every TXT value is visible before the CA validates (default on).
    pub propagation_check: bool,
    /// How long the propagation check (and Route53's INSYNC wait) may take.
    pub propagation_timeout: Duration,
    /// Where the propagation check looks (`host:port`); empty means the zone's
    /// authoritative nameservers.
    pub resolvers: Vec<String>,
    /// Follow a CNAME at `_acme-challenge.<name>` and write the record at its target.
    pub follow_cname: bool,
}

/// A `dns_solver`'s provider and its attributes, read against the provider's schema
/// (`solver::PROVIDERS`): every attribute written, defaulted or read from its environment
/// variable, by name. The provider's constructor reads them back by name.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSpec {
    /// The name written in `provider = "..."`.
    pub name: &'static str,
    pub attributes: BTreeMap<&'static str, AttrValue>,
    /// The configuration directory: where a provider's commands run.
    pub config_dir: PathBuf,
}

/// What [`DnsSolverSpec::provider`] was called before the provider table, kept so programs
/// that build a model without a configuration (the Route53 tests against moto) still do.
pub type DnsProvider = ProviderSpec;

/// The attributes of `provider = "route53"` as a typed value, for [`ProviderSpec::Route53`].
#[derive(Debug, Clone)]
pub struct Route53Spec {
    pub hosted_zone_id: Option<String>,
    pub region: String,
    pub endpoint: Option<String>,
    pub profile: Option<String>,
}

/// One attribute's value, of the type its schema declares.
#[derive(Debug, Clone, Serialize)]
pub enum AttrValue {
    Text(String),
    List(Vec<String>),
    Bool(bool),
    Secret(ConfigSecret),
}

impl ProviderSpec {
    /// A `route53` provider, as `DnsProvider::Route53(Route53Spec { .. })` was built before
    /// providers were kept by name.
    #[allow(non_snake_case)]
    pub fn Route53(spec: Route53Spec) -> ProviderSpec {
        let texts = [
            ("hosted_zone_id", spec.hosted_zone_id),
            ("region", Some(spec.region)),
            ("endpoint", spec.endpoint),
            ("profile", spec.profile),
        ];
        ProviderSpec {
            name: "route53",
            attributes: texts
                .into_iter()
                .filter_map(|(name, value)| Some((name, AttrValue::Text(value?))))
                .collect(),
            config_dir: PathBuf::new(),
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.attributes.get(name) {
            Some(AttrValue::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// A list attribute (empty when absent).
    pub fn list(&self, name: &str) -> &[String] {
        match self.attributes.get(name) {
            Some(AttrValue::List(list)) => list,
            _ => &[],
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.attributes.get(name) {
            Some(AttrValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn secret(&self, name: &str) -> Option<&ConfigSecret> {
        match self.attributes.get(name) {
            Some(AttrValue::Secret(secret)) => Some(secret),
            _ => None,
        }
    }

    /// A secret the provider cannot work without; the error says which and why.
    pub fn required_secret(&self, name: &str) -> Result<&Sensitive, String> {
        self.secret(name)
            .ok_or_else(|| format!("`{name}` is not set"))?
            .value()
    }

    /// Every secret among the attributes that is known.
    pub fn secrets(&self) -> impl Iterator<Item = &Sensitive> {
        self.attributes.values().filter_map(|value| match value {
            AttrValue::Secret(secret) => secret.value().ok(),
            _ => None,
        })
    }
}

/// A `tls_alpn_solver`: the built-in TLS listener answering `acme-tls/1`.
#[derive(Debug, Clone, Serialize)]
pub struct TlsAlpnSolverSpec {
    /// Normalised like `http_solver.listen` (`":443"` → `0.0.0.0:443`).
    pub listen: String,
}

/// A `dns_persist_solver`: dns-persist-01 (draft-ietf-acme-dns-persist). The CA reads a
/// standing TXT record `_validation-persist.<name>` that names it and the account, so orders
/// write no DNS at all. With `via`, certform plans and writes that record through a
/// `dns_solver`; without, the record is managed elsewhere and `plan` only checks it.
#[derive(Debug, Clone, Serialize)]
pub struct DnsPersistSolverSpec {
    /// The zones whose names this solver serves (lower-case, no trailing dot).
    pub zones: Vec<String>,
    /// The `dns_solver` that writes the records (`None`: managed elsewhere).
    pub via: Option<crate::address::Address>,
    /// `policy = "wildcard"`: the record also authorizes wildcard names and subdomains.
    pub wildcard: bool,
    /// `persist_until`: the record stops authorizing issuance after this time (unix seconds).
    pub persist_until: Option<i64>,
    /// The CA's issuer domain name as the record names it; `None`: the first of the
    /// directory's `caaIdentities`.
    pub issuer_domain_name: Option<String>,
    /// Where `plan` reads a record managed elsewhere (`host:port`); empty: the zone's
    /// authoritative servers.
    pub resolvers: Vec<String>,
}
