//! Challenge solvers: the runtime side of `http_solver`, `dns_solver` and `tls_alpn_solver`
//! blocks. [`Solvers::start`] binds every built-in listener an apply needs once, so all
//! orders of that apply share them; `present`/`cleanup` publish and withdraw one challenge
//! response; `shutdown` stops the listeners. HTTP-01 (`listen`, `webroot`), DNS-01 (see
//! `dns.rs`, through the providers of [`PROVIDERS`]) and TLS-ALPN-01 (built-in listener).

#[cfg(feature = "dns-api")]
pub mod api_client;
mod dns;
pub mod dns_provider;
mod dns_query;
mod http;
#[cfg(any(feature = "google", feature = "azure"))]
mod oauth;
mod tls_alpn;
#[cfg(feature = "dns-api")]
mod zone_cache;

pub use dns_query::authoritative_servers_via;

/// The TXT values at `name`, as the first of `resolvers` (`host:port`) answers, or the
/// zone's authoritative servers when `resolvers` is empty (for `plan`'s look at a record
/// managed elsewhere).
pub async fn txt_values(
    name: &str,
    resolvers: &[String],
) -> std::result::Result<Vec<String>, String> {
    let servers = if resolvers.is_empty() {
        dns_query::authoritative_servers(name).await?
    } else {
        resolvers.to_vec()
    };
    let mut failures = Vec::new();
    for server in &servers {
        match dns_query::query_txt(name, server).await {
            Ok(values) => return Ok(values),
            Err(e) => failures.push(format!("{server}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// Declares each DNS provider's module and lists its [`dns_provider::ProviderEntry`] (the
/// module's `PROVIDER`) in [`PROVIDERS`], in this order. One line per provider; a
/// `#[cfg(...)]` before a name leaves the provider out of the build.
macro_rules! dns_providers {
    ($($(#[$attr:meta])* $module:ident,)*) => {
        $($(#[$attr])* mod $module;)*
        /// Every DNS provider: the one table `validate`, the README and `dns_solver` use.
        pub const PROVIDERS: &[&dns_provider::ProviderEntry] = &[$($(#[$attr])* &$module::PROVIDER,)*];
    };
}

dns_providers! {
    #[cfg(feature = "route53")]
    route53,
    rfc2136,
    exec,
    #[cfg(feature = "powerdns")]
    powerdns,
    #[cfg(feature = "acme-dns")]
    acme_dns,
    #[cfg(feature = "cloudflare")]
    cloudflare,
    #[cfg(feature = "digitalocean")]
    digitalocean,
    #[cfg(feature = "hetzner")]
    hetzner,
    #[cfg(feature = "google")]
    google,
    #[cfg(feature = "azure")]
    azure,
}

use crate::address::Address;
use crate::desired::model::{HttpSolverSpec, SolverSpec, TlsAlpnSolverSpec};
use crate::hook_env::HookEnv;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the CA asks for, and what a solver needs to answer one challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeData {
    /// The identifier being validated (`*.example.com` for a wildcard).
    pub domain: String,
    /// The challenge token (base64url).
    pub token: String,
    /// `token.thumbprint`: the HTTP-01 response body.
    pub key_authorization: String,
    /// base64url(SHA-256(key_authorization)): the DNS-01 TXT value.
    pub dns_value: String,
}

/// The ACME challenge type a solver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    Http01,
    Dns01,
    TlsAlpn01,
    /// dns-persist-01 (draft-ietf-acme-dns-persist): the CA reads a standing record, so an
    /// order presents nothing.
    DnsPersist01,
}

impl ChallengeKind {
    /// The RFC 8555 name, e.g. `http-01`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::Dns01 => "dns-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
            ChallengeKind::DnsPersist01 => "dns-persist-01",
        }
    }
}

impl std::fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

enum Entry {
    /// Served by the built-in HTTP server at this index of `Inner::servers`.
    HttpListen(usize),
    HttpWebroot(http::Webroot),
    Dns(Box<dns::DnsSolver>),
    /// Served by the TLS-ALPN-01 listener at this index of `Inner::alpn_servers`.
    TlsAlpn(usize),
    /// dns-persist-01: the standing record is a planned resource, not a challenge response.
    DnsPersist,
}

struct Inner {
    entries: BTreeMap<Address, Entry>,
    servers: Vec<http::ChallengeServer>,
    alpn_servers: Vec<tls_alpn::AlpnServer>,
    hook_env: HookEnv,
}

/// The started solvers of one apply. Cheap to clone; clones share the listeners.
#[derive(Clone)]
pub struct Solvers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Solvers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Solvers")
            .field("solvers", &self.inner.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Solvers {
    /// Prepare every solver in `needed`: bind each distinct `listen` address once (solvers
    /// naming the same address share one server) and remember webroots. `hook_env` is what
    /// the commands this apply starts (exec DNS hooks, `on_change`) do not inherit.
    pub async fn start(
        specs: &BTreeMap<Address, SolverSpec>,
        needed: &BTreeSet<Address>,
        hook_env: HookEnv,
    ) -> Result<Solvers> {
        let mut entries = BTreeMap::new();
        let mut servers: Vec<http::ChallengeServer> = Vec::new();
        let mut by_listen: BTreeMap<String, usize> = BTreeMap::new();
        let mut alpn_servers: Vec<tls_alpn::AlpnServer> = Vec::new();
        let mut alpn_by_listen: BTreeMap<String, usize> = BTreeMap::new();
        for address in needed {
            let spec = specs.get(address).ok_or_else(|| {
                Error::Bug(format!("solver {address} is needed but not configured"))
            })?;
            let entry = match spec {
                SolverSpec::Http(HttpSolverSpec::Listen { listen }) => {
                    let index = match by_listen.get(listen) {
                        Some(&i) => i,
                        None => {
                            let server = http::ChallengeServer::bind(address, listen).await?;
                            servers.push(server);
                            by_listen.insert(listen.clone(), servers.len() - 1);
                            servers.len() - 1
                        }
                    };
                    Entry::HttpListen(index)
                }
                SolverSpec::Http(HttpSolverSpec::Webroot { webroot }) => {
                    Entry::HttpWebroot(http::Webroot::new(webroot.clone()))
                }
                SolverSpec::Dns(spec) => Entry::Dns(Box::new(
                    dns::DnsSolver::start(address, spec, &hook_env).await?,
                )),
                SolverSpec::TlsAlpn(TlsAlpnSolverSpec { listen }) => {
                    let index = match alpn_by_listen.get(listen) {
                        Some(&i) => i,
                        None => {
                            alpn_servers.push(tls_alpn::AlpnServer::bind(address, listen).await?);
                            alpn_by_listen.insert(listen.clone(), alpn_servers.len() - 1);
                            alpn_servers.len() - 1
                        }
                    };
                    Entry::TlsAlpn(index)
                }
                SolverSpec::DnsPersist(_) => Entry::DnsPersist,
            };
            entries.insert(address.clone(), entry);
        }
        Ok(Solvers {
            inner: Arc::new(Inner {
                entries,
                servers,
                alpn_servers,
                hook_env,
            }),
        })
    }

    /// What the commands this apply starts do not inherit.
    pub fn hook_env(&self) -> &HookEnv {
        &self.inner.hook_env
    }

    fn entry(&self, solver: &Address) -> Result<&Entry> {
        self.inner.entries.get(solver).ok_or_else(|| {
            Error::Bug(format!(
                "solver {solver} was used but not started for this apply"
            ))
        })
    }

    /// The challenge type `solver` answers.
    pub fn kind(&self, solver: &Address) -> Result<ChallengeKind> {
        Ok(match self.entry(solver)? {
            Entry::HttpListen(_) | Entry::HttpWebroot(_) => ChallengeKind::Http01,
            Entry::Dns(_) => ChallengeKind::Dns01,
            Entry::TlsAlpn(_) => ChallengeKind::TlsAlpn01,
            Entry::DnsPersist => ChallengeKind::DnsPersist01,
        })
    }

    /// Publish the response to one challenge.
    pub async fn present(&self, solver: &Address, ch: &ChallengeData) -> Result<()> {
        if let Entry::DnsPersist = self.entry(solver)? {
            return Ok(());
        }
        http::validate_token(ch)?;
        tracing::info!(
            "{solver}: presenting the challenge response for {}",
            ch.domain
        );
        match self.entry(solver)? {
            Entry::HttpListen(i) => {
                self.inner.servers[*i].insert(&ch.token, &ch.key_authorization);
                Ok(())
            }
            Entry::HttpWebroot(webroot) => webroot
                .present(ch)
                .await
                .map_err(|e| Error::Solver(format!("{solver}: {e}"))),
            Entry::Dns(dns) => dns.present(ch).await,
            Entry::TlsAlpn(i) => self.inner.alpn_servers[*i]
                .insert(&ch.domain, &ch.key_authorization)
                .map_err(|e| Error::Solver(format!("{solver}: {e}"))),
            Entry::DnsPersist => Ok(()),
        }
    }

    /// Withdraw the response to one challenge (idempotent).
    pub async fn cleanup(&self, solver: &Address, ch: &ChallengeData) -> Result<()> {
        if let Entry::DnsPersist = self.entry(solver)? {
            return Ok(());
        }
        http::validate_token(ch)?;
        tracing::info!(
            "{solver}: withdrawing the challenge response for {}",
            ch.domain
        );
        match self.entry(solver)? {
            Entry::HttpListen(i) => {
                self.inner.servers[*i].remove(&ch.token);
                Ok(())
            }
            Entry::HttpWebroot(webroot) => webroot
                .cleanup(ch)
                .await
                .map_err(|e| Error::Solver(format!("{solver}: {e}"))),
            Entry::Dns(dns) => dns.cleanup(ch).await,
            Entry::TlsAlpn(i) => {
                self.inner.alpn_servers[*i].remove(&ch.domain);
                Ok(())
            }
            Entry::DnsPersist => Ok(()),
        }
    }

    /// Write the standing dns-persist-01 record `name` = `value` through the DNS solver
    /// `via` (replacing the value `replaced`), and wait until it is visible.
    pub async fn put_standing_record(
        &self,
        via: &Address,
        name: &str,
        value: &str,
        replaced: Option<&str>,
    ) -> Result<()> {
        tracing::info!("{via}: writing the standing record {name}");
        self.dns(via)?.put_standing(name, value, replaced).await
    }

    /// Remove the standing dns-persist-01 record `name` = `value` through `via`.
    pub async fn remove_standing_record(
        &self,
        via: &Address,
        name: &str,
        value: &str,
    ) -> Result<()> {
        tracing::info!("{via}: removing the standing record {name}");
        self.dns(via)?.remove_standing(name, value).await
    }

    fn dns(&self, via: &Address) -> Result<&dns::DnsSolver> {
        match self.entry(via)? {
            Entry::Dns(dns) => Ok(dns),
            _ => Err(Error::Bug(format!("{via} is not a DNS solver"))),
        }
    }

    /// Remove every DNS record still presented, for an apply that was interrupted while
    /// orders were in flight; returns one message per record that could not be removed.
    pub async fn withdraw_all(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for entry in self.inner.entries.values() {
            if let Entry::Dns(dns) = entry {
                failures.extend(dns.withdraw_all().await);
            }
        }
        failures
    }

    /// Stop every listener (for every clone: call it once all orders are done). Dropping the
    /// last clone stops them too.
    pub async fn shutdown(self) {
        for server in &self.inner.servers {
            server.stop().await;
        }
        for server in &self.inner.alpn_servers {
            server.stop().await;
        }
    }
}
