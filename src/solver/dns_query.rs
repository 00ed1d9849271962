//! The plain DNS queries behind the propagation check, which every provider's records go
//! through: TXT values, CNAME chains, a name's zone and its authoritative nameservers. Also
//! the client RFC 2136 updates are sent with, and the only other user of hickory besides
//! `rfc2136.rs`. Errors are sentence fragments; `dns.rs` adds the solver and the record.

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one query or update may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// A longer CNAME chain is a loop or a misconfiguration.
const MAX_CNAME_HOPS: usize = 8;

pub(super) fn client(server: SocketAddr, signer: Option<TSigner>) -> Client<TokioRuntimeProvider> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(QUERY_TIMEOUT))
        .with_signer(signer)
        .build();
    let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(background);
    client
}

pub(super) fn fqdn(name: &str) -> Result<Name, String> {
    let mut parsed =
        Name::from_ascii(name).map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// `host:port` → the first address it resolves to.
pub(super) async fn resolve(server: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(server)
        .await
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("{server} resolves to no address"))
}

/// One query. Recursion is requested; authoritative servers answer their own zones anyway.
async fn query(
    server: SocketAddr,
    signer: Option<TSigner>,
    name: Name,
    record_type: RecordType,
) -> Result<hickory_net::proto::op::DnsResponse, String> {
    client(server, signer)
        .query(name, DNSClass::IN, record_type)
        .await
        .map_err(|e| format!("no answer from {server}: {e}"))
}

/// The zone `name` belongs to: the owner of the SOA in the answer or authority section.
pub(super) async fn zone_of(
    name: &Name,
    server: SocketAddr,
    signer: Option<TSigner>,
) -> Result<Name, String> {
    let response = query(server, signer, name.clone(), RecordType::SOA).await?;
    match response.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        other => {
            return Err(format!(
                "{server} answered the SOA query for {name} with {other}"
            ))
        }
    }
    response
        .answers
        .iter()
        .chain(response.authorities.iter())
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.clone())
        .ok_or_else(|| format!("{server} is not authoritative for a zone holding {name}"))
}

/// The TXT values at `name` as `server` answers them.
pub(super) async fn query_txt(name: &str, server: &str) -> Result<Vec<String>, String> {
    let address = resolve(server).await?;
    let response = query(address, None, fqdn(name)?, RecordType::TXT).await?;
    match response.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        other => return Err(format!("answered {other}")),
    }
    Ok(response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

/// Where the CNAME chain starting at `name` ends (`name` itself without a CNAME), as the
/// first of `servers` that answers sees it.
pub(super) async fn follow_cname(name: &str, servers: &[String]) -> Result<String, String> {
    let mut last_error = "no server to ask".to_string();
    for server in servers {
        match follow_cname_at(name, server).await {
            Ok(target) => return Ok(target),
            Err(e) => last_error = format!("{server}: {e}"),
        }
    }
    Err(last_error)
}

async fn follow_cname_at(name: &str, server: &str) -> Result<String, String> {
    let address = resolve(server).await?;
    let mut current = fqdn(name)?;
    for _ in 0..MAX_CNAME_HOPS {
        let response = query(address, None, current.clone(), RecordType::CNAME).await?;
        let target = response.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(cname) if r.name == current => Some(cname.0.clone()),
            _ => None,
        });
        match target {
            Some(next) => current = next,
            None => return Ok(current.to_ascii().trim_end_matches('.').to_string()),
        }
    }
    Err(format!("more than {MAX_CNAME_HOPS} CNAMEs in a row"))
}

/// Where the system's resolvers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The authoritative nameservers (`ip:53`) of the zone holding `name`, found through the
/// system's resolvers ([`RESOLV_CONF`]).
pub(super) async fn authoritative_servers(name: &str) -> Result<Vec<String>, String> {
    let resolv = std::fs::read_to_string(RESOLV_CONF)
        .map_err(|e| format!("cannot read {RESOLV_CONF}: {e}"))?;
    let system = nameservers_of_resolv_conf(&resolv);
    if system.is_empty() {
        return Err(format!("{RESOLV_CONF} lists no nameserver"));
    }
    authoritative_servers_via(name, &system).await
}

/// The `nameserver` lines of a resolv.conf, as `ip:53`.
fn nameservers_of_resolv_conf(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|ip| match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]:53"),
            _ => format!("{ip}:53"),
        })
        .collect()
}

/// The authoritative nameservers (`ip:53`) of the zone holding `name`, as the first of
/// `resolvers` that knows them answers: the zone is the owner of the SOA its answer names,
/// the servers are the addresses (A and AAAA, asked of the same resolver) of the zone's NS
/// hosts.
pub async fn authoritative_servers_via(
    name: &str,
    resolvers: &[String],
) -> Result<Vec<String>, String> {
    let mut last_error = "no resolver to ask".to_string();
    for resolver in resolvers {
        match authoritative_via(name, resolver).await {
            Ok(servers) if !servers.is_empty() => return Ok(servers),
            Ok(_) => last_error = format!("{resolver} knows no nameserver for it"),
            Err(e) => last_error = format!("{resolver}: {e}"),
        }
    }
    Err(last_error)
}

async fn authoritative_via(name: &str, resolver: &str) -> Result<Vec<String>, String> {
    let address = resolve(resolver).await?;
    let zone = zone_of(&fqdn(name)?, address, None).await?;
    let response = query(address, None, zone, RecordType::NS).await?;
    let mut servers = Vec::new();
    for host in response.answers.iter().filter_map(|r| match &r.data {
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    }) {
        for record_type in [RecordType::A, RecordType::AAAA] {
            let Ok(response) = query(address, None, host.clone(), record_type).await else {
                continue;
            };
            servers.extend(response.answers.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(format!("{}:53", a.0)),
                RData::AAAA(aaaa) => Some(format!("[{}]:53", aaaa.0)),
                _ => None,
            }));
        }
    }
    servers.sort();
    servers.dedup();
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_nameservers_of_a_resolv_conf() {
        let text = "# generated\nsearch example.org\nnameserver 10.0.0.2\n  nameserver ::1  # v6\noptions edns0\nnameserver\nnameservers 10.9.9.9\n";
        assert_eq!(
            nameservers_of_resolv_conf(text),
            vec!["10.0.0.2:53".to_string(), "[::1]:53".to_string()]
        );
        assert!(nameservers_of_resolv_conf("search example.org\n").is_empty());
    }
}
