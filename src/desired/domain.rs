//! Domain names (RFC 1123 host names, optionally `*.` wildcards) and the choice of a
//! challenge solver for each of a certificate's names.

use crate::address::Address;

/// What names a solver can validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolverCaps {
    /// http-01: any name that is not a wildcard.
    Http,
    /// tls-alpn-01: any name that is not a wildcard.
    TlsAlpn,
    /// dns-01: names inside one of these zones (wildcards included).
    Dns { zones: Vec<String> },
    /// dns-persist-01: names inside one of these zones; wildcards only with
    /// `policy = "wildcard"`.
    DnsPersist { zones: Vec<String>, wildcard: bool },
}

impl SolverCaps {
    /// The length of the longest zone serving `domain` for DNS solvers, `Some(0)` for a
    /// solver that serves it without zones, `None` when it cannot serve it.
    fn serves(&self, domain: &str) -> Option<usize> {
        let wildcard = domain.starts_with("*.");
        match self {
            SolverCaps::Http | SolverCaps::TlsAlpn => (!wildcard).then_some(0),
            // RFC 8738: an IP address is validated by HTTP-01 or TLS-ALPN-01, never DNS.
            SolverCaps::Dns { .. } | SolverCaps::DnsPersist { .. } if is_ip_address(domain) => None,
            SolverCaps::DnsPersist {
                wildcard: false, ..
            } if wildcard => None,
            SolverCaps::Dns { zones } | SolverCaps::DnsPersist { zones, .. } => {
                longest_zone(domain, zones)
            }
        }
    }

    pub fn is_dns(&self) -> bool {
        matches!(self, SolverCaps::Dns { .. } | SolverCaps::DnsPersist { .. })
    }

    /// A dns-persist-01 solver that serves the zone of the wildcard `domain` but whose record
    /// does not allow wildcards (`policy = "wildcard"` is missing).
    pub fn persist_without_wildcard_policy(&self, domain: &str) -> bool {
        match self {
            SolverCaps::DnsPersist {
                zones,
                wildcard: false,
            } => domain.starts_with("*.") && longest_zone(domain, zones).is_some(),
            _ => false,
        }
    }
}

/// The length of the longest of `zones` that holds `domain` (a wildcard's base name).
fn longest_zone(domain: &str, zones: &[String]) -> Option<usize> {
    let name = domain.strip_prefix("*.").unwrap_or(domain);
    zones
        .iter()
        .filter(|zone| in_zone(name, zone))
        .map(|zone| zone.len())
        .max()
}

/// Whether `name` is `zone` or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    let zone = zone.trim_end_matches('.');
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

/// The solver for `domain`: the first solver in `solvers` that can serve it; when that is
/// a DNS solver, the DNS solver in the list with the longest matching zone (the earliest of
/// equals) is chosen instead.
pub fn choose_solver<'a>(
    domain: &str,
    solvers: &'a [(Address, SolverCaps)],
) -> Option<&'a Address> {
    let (first, caps) = solvers
        .iter()
        .find(|(_, caps)| caps.serves(domain).is_some())?;
    if !caps.is_dns() {
        return Some(first);
    }
    let mut best: Option<(&Address, usize)> = None;
    for (address, caps) in solvers.iter().filter(|(_, caps)| caps.is_dns()) {
        if let Some(len) = caps.serves(domain) {
            if best.is_none_or(|(_, best_len)| len > best_len) {
                best = Some((address, len));
            }
        }
    }
    best.map(|(address, _)| address)
}

/// Whether a (normalized) name in `domains` is an IP address, ordered as an `ip` identifier
/// (RFC 8738) rather than a `dns` one.
pub fn is_ip_address(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
}

/// Checks a domain name and lower-cases it; an IPv4 or IPv6 address is accepted in its
/// canonical form (RFC 8738 IP identifiers). The error is a sentence fragment that follows
/// the quoted name ("\"a..b\" has an empty label").
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("is empty".to_string());
    }
    if !raw.is_ascii() {
        return Err("contains non-ASCII characters; write internationalised names in their punycode form (xn--...)".to_string());
    }
    if let Ok(ip) = raw.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = raw.to_ascii_lowercase();
    if name.ends_with('.') {
        return Err("ends with a dot; write names without the trailing dot".to_string());
    }
    let base = match name.strip_prefix("*.") {
        Some(rest) => rest,
        None => &name,
    };
    if base.contains('*') {
        return Err("contains `*` in the wrong place; a wildcard may only be the whole leftmost label, as in *.example.com".to_string());
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters".to_string());
    }
    let labels: Vec<&str> = base.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err("has an empty label (two dots in a row, or a leading dot)".to_string());
        }
        if label.len() > 63 {
            return Err(format!("has a label longer than 63 characters ({label})"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "contains {c:?}; names may contain only letters, digits, `-` and `.`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "has a label that starts or ends with `-` ({label})"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(
            "ends with an all-digit label, which is neither a DNS name nor an IP address"
                .to_string(),
        );
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Kind;

    #[test]
    fn normalizes_and_validates() {
        assert_eq!(
            normalize_domain("WWW.Example.COM"),
            Ok("www.example.com".to_string())
        );
        assert_eq!(
            normalize_domain("*.example.com"),
            Ok("*.example.com".to_string())
        );
        assert_eq!(
            normalize_domain("xn--bcher-kva.example"),
            Ok("xn--bcher-kva.example".to_string())
        );
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "*",
            "a.*.b",
            "w*.example.com",
            "-a.com",
            "a-.com",
            "a_b.com",
            "10.0.0.256",
            "bücher.de",
            "**.a.com",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(normalize_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn zones() {
        assert!(in_zone("example.com", "example.com"));
        assert!(in_zone("a.example.com", "example.com"));
        assert!(!in_zone("badexample.com", "example.com"));
        assert!(!in_zone("com", "example.com"));
    }

    #[test]
    fn ip_addresses_are_accepted_in_canonical_form_and_never_solved_by_dns() {
        assert_eq!(normalize_domain("127.0.0.1"), Ok("127.0.0.1".to_string()));
        assert_eq!(
            normalize_domain("2001:DB8::0:1"),
            Ok("2001:db8::1".to_string())
        );
        assert!(normalize_domain("10.0.0.256").is_err());
        assert!(is_ip_address("::1") && !is_ip_address("www.example.com"));
        let dns = Address::new(Kind::DnsSolver, "all");
        let http = Address::new(Kind::HttpSolver, "web");
        let only_dns = vec![(
            dns.clone(),
            SolverCaps::Dns {
                zones: vec!["1".into()],
            },
        )];
        assert_eq!(choose_solver("127.0.0.1", &only_dns), None);
        let both = vec![only_dns[0].clone(), (http.clone(), SolverCaps::Http)];
        assert_eq!(choose_solver("127.0.0.1", &both), Some(&http));
    }

    #[test]
    fn first_capable_solver_wins_and_longest_zone_between_dns() {
        let http = Address::new(Kind::HttpSolver, "web");
        let outer = Address::new(Kind::DnsSolver, "outer");
        let inner = Address::new(Kind::DnsSolver, "inner");
        let solvers = vec![
            (
                outer.clone(),
                SolverCaps::Dns {
                    zones: vec!["example.com".into()],
                },
            ),
            (http.clone(), SolverCaps::Http),
            (
                inner.clone(),
                SolverCaps::Dns {
                    zones: vec!["dev.example.com".into()],
                },
            ),
        ];
        assert_eq!(choose_solver("www.example.com", &solvers), Some(&outer));
        assert_eq!(choose_solver("a.dev.example.com", &solvers), Some(&inner));
        assert_eq!(choose_solver("*.dev.example.com", &solvers), Some(&inner));
        assert_eq!(choose_solver("example.org", &solvers), Some(&http));
        assert_eq!(choose_solver("*.example.org", &solvers), None);
        let only_http = vec![(http.clone(), SolverCaps::Http)];
        assert_eq!(choose_solver("*.example.com", &only_http), None);
        assert_eq!(choose_solver("example.com", &only_http), Some(&http));
    }
}
