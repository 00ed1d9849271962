//! The `route53` DNS provider, and the only user of the AWS SDK. Credentials come from the
//! standard chain (environment, shared config and credentials files with `profile`, web
//! identity, container and instance metadata). The hosted zone is the configured id or the
//! longest hosted zone whose name is a suffix of the record name.
//!
//! Route53 replaces a record set as a whole, so each change reads the TXT set, adds or
//! removes exactly one value and writes the result (UPSERT, or DELETE of the exact set when
//! the last value goes), then waits for `INSYNC` via GetChange. Values written by others stay.
//! `dns.rs` serialises the changes of one solver, so two values on one name never race.

use super::dns_provider::{
    is_url, AttrCheck, AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture,
    StartContext,
};
use crate::desired::model::ProviderSpec;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;
use std::time::{Duration, Instant};

/// TTL of new challenge record sets.
const RECORD_TTL: i64 = 60;
const INSYNC_POLL_FIRST: Duration = Duration::from_millis(100);
const INSYNC_POLL_MAX: Duration = Duration::from_secs(5);

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "route53",
    summary: "AWS Route53 (or a Route53-compatible API); credentials from the AWS SDK's standard chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, web identity, instance metadata)",
    attributes: &[
        AttrSchema::new(
            "hosted_zone_id",
            AttrKind::Text,
            "the hosted zone; looked up by the record's zone name when absent",
        ),
        AttrSchema::new(
            "region",
            AttrKind::Text,
            "the region requests are signed for",
        )
        .default("us-east-1"),
        AttrSchema::new(
            "endpoint",
            AttrKind::Text,
            "the base URL of a Route53-compatible API instead of AWS (`AWS_ENDPOINT_URL` works too)",
        ),
        AttrSchema::new(
            "profile",
            AttrKind::Text,
            "a profile of `~/.aws/config` instead of the default chain's choice",
        ),
    ],
    check,
    start,
};

fn check(attrs: &mut AttrCheck<'_>) {
    if let Some(url) = attrs.text("endpoint").filter(|url| !is_url(url)) {
        let detail = format!("{url:?} is not a URL. `endpoint` is the base URL of a Route53-compatible API, such as \"http://127.0.0.1:5000\".");
        attrs.error("endpoint", "Invalid endpoint", detail);
    }
}

fn start<'a>(
    spec: &'a ProviderSpec,
    context: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let provider: Box<dyn DnsProvider> =
            Box::new(Route53::new(spec, context.propagation_timeout).await);
        Ok(provider)
    })
}

impl DnsProvider for Route53 {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.add(name, value))
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.remove(name, value))
    }
}

struct Route53 {
    client: Client,
    configured_zone: Option<String>,
    /// How long a change may take to become INSYNC.
    insync_timeout: Duration,
    /// Hosted zones found by name, per record name.
    zones: tokio::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// Where requests go, for messages: the endpoint, or "Route53".
    endpoint: String,
}

/// One TXT record set as Route53 holds it: the values without quotes and the TTL.
struct TxtSet {
    values: Vec<String>,
    ttl: i64,
}

impl Route53 {
    async fn new(spec: &ProviderSpec, insync_timeout: Duration) -> Route53 {
        let region = spec.text("region").unwrap_or("us-east-1").to_string();
        let endpoint = spec.text("endpoint").map(str::to_string);
        let shared = crate::aws::sdk_config(Some(&region), spec.text("profile")).await;
        let mut config = aws_sdk_route53::config::Builder::from(&shared);
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint);
        }
        let endpoint = endpoint
            .or_else(|| shared.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| "Route53".to_string());
        Route53 {
            client: Client::from_conf(config.build()),
            // The API returns ids as "/hostedzone/Z123"; accept them as users copy them.
            configured_zone: spec
                .text("hosted_zone_id")
                .map(|id| id.trim_start_matches("/hostedzone/").to_string()),
            insync_timeout,
            zones: Default::default(),
            endpoint,
        }
    }

    async fn add(&self, name: &str, value: &str) -> Result<(), String> {
        let zone = self.hosted_zone(name).await?;
        let current = self.txt_set(&zone, name).await?;
        let mut values = current
            .as_ref()
            .map(|s| s.values.clone())
            .unwrap_or_default();
        if values.iter().any(|v| v == value) {
            return Ok(());
        }
        values.push(value.to_string());
        let ttl = current.map_or(RECORD_TTL, |s| s.ttl);
        self.change(&zone, name, ChangeAction::Upsert, &values, ttl)
            .await
    }

    async fn remove(&self, name: &str, value: &str) -> Result<(), String> {
        let zone = self.hosted_zone(name).await?;
        let Some(current) = self.txt_set(&zone, name).await? else {
            return Ok(());
        };
        if !current.values.iter().any(|v| v == value) {
            return Ok(());
        }
        let rest: Vec<String> = current
            .values
            .iter()
            .filter(|v| *v != value)
            .cloned()
            .collect();
        if rest.is_empty() {
            // DELETE must name the set exactly as it is.
            self.change(
                &zone,
                name,
                ChangeAction::Delete,
                &current.values,
                current.ttl,
            )
            .await
        } else {
            self.change(&zone, name, ChangeAction::Upsert, &rest, current.ttl)
                .await
        }
    }

    fn api_error(&self, what: &str, e: impl std::error::Error) -> String {
        // The SDK's Display says only "service error"; the source chain has the reason.
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        format!("{} {what} failed: {text}", self.endpoint)
    }

    /// The configured hosted zone, or the one with the longest name that is a suffix of
    /// `name`.
    async fn hosted_zone(&self, name: &str) -> Result<String, String> {
        if let Some(id) = &self.configured_zone {
            return Ok(id.clone());
        }
        let mut cache = self.zones.lock().await;
        if let Some(id) = cache.get(name) {
            return Ok(id.clone());
        }
        let labels: Vec<&str> = name.split('.').collect();
        for start in 1..labels.len() {
            let candidate = format!("{}.", labels[start..].join("."));
            let found = self
                .client
                .list_hosted_zones_by_name()
                .dns_name(&candidate)
                .max_items(1)
                .send()
                .await
                .map_err(|e| self.api_error("ListHostedZonesByName", e))?;
            let zone = found
                .hosted_zones()
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(&candidate));
            if let Some(zone) = zone {
                let id = zone.id().trim_start_matches("/hostedzone/").to_string();
                cache.insert(name.to_string(), id.clone());
                return Ok(id);
            }
        }
        Err(format!(
            "no hosted zone at {} holds {name}; create one or set hosted_zone_id",
            self.endpoint
        ))
    }

    async fn txt_set(&self, zone: &str, name: &str) -> Result<Option<TxtSet>, String> {
        let listed = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| self.api_error("ListResourceRecordSets", e))?;
        let wanted = format!("{name}.");
        Ok(listed
            .resource_record_sets()
            .iter()
            .find(|set| set.r#type() == &RrType::Txt && set.name().eq_ignore_ascii_case(&wanted))
            .map(|set| TxtSet {
                values: set
                    .resource_records()
                    .iter()
                    .map(|r| unquote(r.value()))
                    .collect(),
                ttl: set.ttl().unwrap_or(RECORD_TTL),
            }))
    }

    async fn change(
        &self,
        zone: &str,
        name: &str,
        action: ChangeAction,
        values: &[String],
        ttl: i64,
    ) -> Result<(), String> {
        let bug = |e: aws_sdk_route53::error::BuildError| format!("This is a bug in certform: {e}");
        let mut records = Vec::new();
        for value in values {
            records.push(
                ResourceRecord::builder()
                    .value(format!("\"{value}\""))
                    .build()
                    .map_err(bug)?,
            );
        }
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Txt)
            .ttl(ttl)
            .set_resource_records(Some(records))
            .build()
            .map_err(bug)?;
        let change = Change::builder()
            .action(action.clone())
            .resource_record_set(set)
            .build()
            .map_err(bug)?;
        let batch = ChangeBatch::builder()
            .comment("certform ACME DNS-01 challenge")
            .changes(change)
            .build()
            .map_err(bug)?;
        let output = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| self.api_error(&format!("ChangeResourceRecordSets ({action})"), e))?;
        let Some(info) = output.change_info() else {
            return Err(format!("{} sent no change id", self.endpoint));
        };
        self.wait_insync(info.id(), info.status().clone()).await
    }

    /// Poll GetChange until the change is INSYNC, for at most the propagation timeout.
    async fn wait_insync(&self, id: &str, mut status: ChangeStatus) -> Result<(), String> {
        let started = Instant::now();
        let mut pause = INSYNC_POLL_FIRST;
        while status != ChangeStatus::Insync {
            if started.elapsed() + pause > self.insync_timeout {
                return Err(format!(
                    "change {id} was still {status} after {}s (propagation_timeout)",
                    self.insync_timeout.as_secs()
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(INSYNC_POLL_MAX);
            let change = self
                .client
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| self.api_error("GetChange", e))?;
            status = change
                .change_info()
                .map(|i| i.status().clone())
                .unwrap_or(ChangeStatus::Pending);
        }
        Ok(())
    }
}

/// `"abc"` → `abc`; Route53 returns TXT values quoted, long ones split into several strings.
fn unquote(value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.starts_with('"') && trimmed.ends_with('"') && trimmed.len() >= 2 {
        trimmed[1..trimmed.len() - 1].replace("\" \"", "")
    } else {
        trimmed.to_string()
    }
}
