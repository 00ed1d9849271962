//! Refresh steps that look at the world before a plan, so `plan::diff` stays pure: here the
//! `--check-endpoints` probe, which asks each certificate's `check.endpoint` for the
//! certificate it serves. (Output files are observed by `deploy::observe`.)

pub mod persist;
mod tls;

use crate::address::Address;
use crate::desired::model::{CertificateSpec, Desired};
use crate::plan::drift::EndpointFacts;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long one endpoint may take to connect and finish the handshake.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes every configured `check.endpoint` at once (a task each, on the process's runtime)
/// and reports what it served.
pub fn endpoints(desired: &Desired) -> BTreeMap<Address, EndpointFacts> {
    let checks: Vec<(&CertificateSpec, &String)> = desired
        .certificates
        .values()
        .filter_map(|spec| spec.check_endpoint.as_ref().map(|e| (spec, e)))
        .collect();
    if checks.is_empty() {
        return BTreeMap::new();
    }
    crate::runtime::block_on(async {
        let probes: Vec<_> = checks
            .into_iter()
            .map(|(spec, endpoint)| {
                let name = server_name(endpoint, &spec.domains);
                let endpoint = endpoint.clone();
                let probe = tokio::spawn(async move { probe(&endpoint, &name).await });
                (spec.address.clone(), probe)
            })
            .collect();
        let mut found = BTreeMap::new();
        for (address, probe) in probes {
            let facts = probe.await.unwrap_or_else(|_| EndpointFacts::Unreachable {
                error: "the probe panicked (this is a bug in certform)".into(),
            });
            found.insert(address, facts);
        }
        found
    })
}

async fn probe(endpoint: &str, server_name: &str) -> EndpointFacts {
    let served = tls::served_leaf(endpoint, server_name, ENDPOINT_TIMEOUT)
        .await
        .and_then(|der| crate::keys::serial_of_der(&der).map_err(|e| e.to_string()));
    match served {
        Ok(serial) => EndpointFacts::Served { serial },
        Err(error) => EndpointFacts::Unreachable { error },
    }
}

/// The name sent as SNI: the endpoint's host when it is a DNS name, else (an IP address)
/// the certificate's first domain, a wildcard's base name for `*.example.com`.
fn server_name(endpoint: &str, domains: &[String]) -> String {
    let host = endpoint
        .rsplit_once(':')
        .map_or(endpoint, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_err() {
        return host.to_string();
    }
    let first = domains.first().map_or(host, String::as_str);
    first.strip_prefix("*.").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::server_name;

    #[test]
    fn sni_is_the_endpoint_host_or_the_first_domain() {
        let domains = vec!["*.example.com".to_string(), "example.com".to_string()];
        assert_eq!(
            server_name("www.example.com:443", &domains),
            "www.example.com"
        );
        assert_eq!(server_name("10.0.0.5:8443", &domains), "example.com");
        assert_eq!(server_name("[::1]:443", &["a.test".into()]), "a.test");
    }
}
