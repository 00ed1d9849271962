//! The validated settings of `dns_solver` and `tls_alpn_solver` blocks. Kept apart from
//! `model.rs` because they are many; `model::SolverSpec` wraps them. Secrets (the TSIG
//! secret) are [`Sensitive`], so they reach digests only as `(sensitive)`.

use crate::secret::ConfigSecret;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// A `dns_solver`: which names it serves, how it writes TXT records and how it checks that
/// they are visible before the CA is told to look.
#[derive(Debug, Clone, Serialize)]
pub struct DnsSolverSpec {
    /// The zones whose names this solver serves (lower-case, no trailing dot).
    pub zones: Vec<String>,
    pub provider: DnsProvider,
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

/// How a DNS solver writes records.
#[derive(Debug, Clone, Serialize)]
pub enum DnsProvider {
    Route53(Route53Spec),
    Rfc2136(Rfc2136Spec),
    Exec(ExecSpec),
}

impl DnsProvider {
    /// The name written in `provider = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            DnsProvider::Route53(_) => "route53",
            DnsProvider::Rfc2136(_) => "rfc2136",
            DnsProvider::Exec(_) => "exec",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Route53Spec {
    /// Looked up by the record's zone name when absent.
    pub hosted_zone_id: Option<String>,
    /// Route53 is global, but the SDK signs for a region (default `us-east-1`).
    pub region: String,
    /// A Route53-compatible API instead of AWS (`AWS_ENDPOINT_URL` works too).
    pub endpoint: Option<String>,
    /// A profile of `~/.aws/config` instead of the default chain's choice.
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rfc2136Spec {
    /// `host:port` of the primary server that accepts updates.
    pub nameserver: String,
    /// Absent for servers that accept unsigned updates (by address).
    pub tsig: Option<TsigKey>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: TsigAlgorithm,
    /// base64, as `tsig-keygen` prints it.
    pub secret: ConfigSecret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    pub const ALL: [TsigAlgorithm; 3] = [
        TsigAlgorithm::HmacSha256,
        TsigAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecSpec {
    /// argv; certform appends `present|cleanup FQDN VALUE`.
    pub command: Vec<String>,
    /// Where it runs: the configuration directory, as for `on_change`.
    pub working_dir: PathBuf,
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
}
