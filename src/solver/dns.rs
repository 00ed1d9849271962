//! DNS-01 (RFC 8555 §8.4): one [`DnsSolver`] per `dns_solver` block. It turns a challenge
//! into a TXT record at `_acme-challenge.<name>` (or the target of its CNAME, with
//! `follow_cname`), asks the provider to add or remove exactly that value, and waits until
//! every value it added to that name is visible before `present` returns.
//!
//! Two authorizations may share one record name (`example.com` and `*.example.com` both use
//! `_acme-challenge.example.com`). Changes to the records of one solver are serialised and
//! the solver keeps its own book of the values it added per name, so the providers that
//! replace a whole record set (Route53) write every value, and cleanup removes only ours.
//! The provider is whichever [`DnsProvider`] the provider table starts for the block.

use super::dns_provider::{self, DnsProvider, ReadBack, StartContext};
use super::dns_query;
use super::ChallengeData;
use crate::address::Address;
use crate::desired::model::DnsSolverSpec;
use crate::hook_env::HookEnv;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// First pause between two propagation queries; it doubles up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_secs(5);

/// A started `dns_solver`.
pub(super) struct DnsSolver {
    address: Address,
    spec: DnsSolverSpec,
    provider: Box<dyn DnsProvider>,
    /// The values this solver added and has not removed yet, per record name. The lock is
    /// held across each provider call so changes to one name never interleave.
    added: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl DnsSolver {
    pub(super) async fn start(
        address: &Address,
        spec: &DnsSolverSpec,
        hook_env: &HookEnv,
    ) -> Result<DnsSolver> {
        let entry = dns_provider::entry(spec.provider.name).ok_or_else(|| {
            Error::Bug(format!(
                "{address}: DNS provider {:?} is not in the provider table",
                spec.provider.name
            ))
        })?;
        let context = StartContext {
            solver: address.clone(),
            propagation_timeout: spec.propagation_timeout,
            hook_env: hook_env.clone(),
        };
        let provider = (entry.start)(&spec.provider, &context)
            .await
            .map_err(|e| Error::Solver(format!("{address}: {e}")))?;
        Ok(DnsSolver {
            address: address.clone(),
            spec: spec.clone(),
            provider,
            added: Mutex::default(),
        })
    }

    /// Add the TXT value for `ch` and wait until it is visible.
    pub(super) async fn present(&self, ch: &ChallengeData) -> Result<()> {
        let name = self.record_name(&ch.domain).await?;
        let value = &ch.dns_value;
        {
            let mut added = self.added.lock().await;
            if self.provider.atomic() {
                self.provider_add(&name, value).await?;
                added.entry(name.clone()).or_default().insert(value.clone());
            } else {
                // A hook that fails may have done part of its work: clean it up all the same.
                added.entry(name.clone()).or_default().insert(value.clone());
                self.provider_add(&name, value).await?;
            }
        }
        if self.spec.propagation_check {
            let visible_at = match self.provider.read_back() {
                ReadBack::AtName => name,
                ReadBack::FollowCname => self.cname_target(&name).await?,
            };
            self.wait_until_visible(&visible_at, value).await?;
        }
        Ok(())
    }

    /// Remove the TXT value of `ch` if this solver added it (idempotent).
    pub(super) async fn cleanup(&self, ch: &ChallengeData) -> Result<()> {
        let mut added = self.added.lock().await;
        let Some(name) = added
            .iter()
            .find(|(_, values)| values.contains(&ch.dns_value))
            .map(|(name, _)| name.clone())
        else {
            return Ok(());
        };
        self.provider_remove(&name, &ch.dns_value).await?;
        if let Some(values) = added.get_mut(&name) {
            values.remove(&ch.dns_value);
            if values.is_empty() {
                added.remove(&name);
            }
        }
        Ok(())
    }

    /// Write a standing dns-persist-01 record: add `value` at `name`, wait until it is
    /// visible, then remove the `replaced` value. It is kept out of the book of challenge
    /// values: no cleanup and no interrupt withdraws it.
    pub(super) async fn put_standing(
        &self,
        name: &str,
        value: &str,
        replaced: Option<&str>,
    ) -> Result<()> {
        {
            let _serialised = self.added.lock().await;
            self.provider_add(name, value).await?;
        }
        if self.spec.propagation_check {
            self.wait_until_visible(name, value).await?;
        }
        match replaced {
            Some(old) if old != value => self.remove_standing(name, old).await,
            _ => Ok(()),
        }
    }

    /// Remove a standing record's value.
    pub(super) async fn remove_standing(&self, name: &str, value: &str) -> Result<()> {
        let _serialised = self.added.lock().await;
        self.provider_remove(name, value).await
    }

    /// Remove every value still recorded (after an interrupt); reports each failure.
    pub(super) async fn withdraw_all(&self) -> Vec<String> {
        let mut added = self.added.lock().await;
        let mut failures = Vec::new();
        for (name, values) in std::mem::take(&mut *added) {
            for value in values {
                if let Err(e) = self.provider_remove(&name, &value).await {
                    failures.push(e.to_string());
                }
            }
        }
        failures
    }

    async fn provider_add(&self, name: &str, value: &str) -> Result<()> {
        self.provider.present(name, value).await.map_err(|e| {
            Error::Solver(format!(
                "{}: cannot add TXT record {name} {value:?}: {e}",
                self.address
            ))
        })
    }

    async fn provider_remove(&self, name: &str, value: &str) -> Result<()> {
        self.provider.cleanup(name, value).await.map_err(|e| {
            Error::Solver(format!(
                "{}: cannot remove TXT record {name} {value:?}: {e}",
                self.address
            ))
        })
    }

    /// `_acme-challenge.<name>` (without `*.`), or where its CNAME chain ends.
    async fn record_name(&self, domain: &str) -> Result<String> {
        let base = domain.strip_prefix("*.").unwrap_or(domain);
        let name = format!("_acme-challenge.{base}");
        if !self.spec.follow_cname {
            return Ok(name);
        }
        self.cname_target(&name).await
    }

    /// Where the CNAME chain starting at `name` ends (`name` without a CNAME).
    async fn cname_target(&self, name: &str) -> Result<String> {
        let servers = self.query_servers(name).await?;
        dns_query::follow_cname(name, &servers).await.map_err(|e| {
            Error::Solver(format!(
                "{}: following the CNAME of {name}: {e}",
                self.address
            ))
        })
    }

    /// The `resolvers`, or the authoritative nameservers of the zone holding `name`.
    async fn query_servers(&self, name: &str) -> Result<Vec<String>> {
        if !self.spec.resolvers.is_empty() {
            return Ok(self.spec.resolvers.clone());
        }
        dns_query::authoritative_servers(name).await.map_err(|e| {
            Error::Solver(format!(
                "{}: cannot find the authoritative nameservers of {name} for the propagation check: {e}; set `resolvers` to check elsewhere",
                self.address
            ))
        })
    }

    /// Query every server until each shows `value` at `name`, for at most
    /// `propagation_timeout`; the error names the record and the servers that lack it.
    async fn wait_until_visible(&self, name: &str, value: &str) -> Result<()> {
        let mut lacking = self.query_servers(name).await?;
        let deadline = Instant::now() + self.spec.propagation_timeout;
        let mut pause = POLL_FIRST;
        loop {
            // (server, what it answered) for each server that does not show the value yet.
            let mut still: Vec<(String, String)> = Vec::new();
            for server in lacking {
                match dns_query::query_txt(name, &server).await {
                    Ok(values) if values.iter().any(|v| v == value) => {}
                    Ok(values) if values.is_empty() => still.push((server, "no TXT record".into())),
                    Ok(values) => still.push((server, format!("only {values:?}"))),
                    Err(e) => still.push((server, e)),
                }
            }
            if still.is_empty() {
                tracing::info!("{}: TXT record {name} is visible", self.address);
                return Ok(());
            }
            for (server, answer) in &still {
                tracing::debug!(
                    "{}: {name} not visible yet at {server}: {answer}",
                    self.address
                );
            }
            if Instant::now() + pause > deadline {
                let lacking: Vec<String> = still
                    .iter()
                    .map(|(server, answer)| format!("{server} ({answer})"))
                    .collect();
                return Err(Error::Solver(format!(
                    "{}: TXT record {name} {value:?} was not visible after {}s (propagation_timeout) at {}",
                    self.address,
                    self.spec.propagation_timeout.as_secs(),
                    lacking.join(", ")
                )));
            }
            lacking = still.into_iter().map(|(server, _)| server).collect();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}
