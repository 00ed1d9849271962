//! `dns_persist_solver` blocks (dns-persist-01): the zones a solver serves, the `dns_solver`
//! that writes its standing records (`via`, absent for records managed elsewhere), and what
//! the record says: `policy = "wildcard"`, `persist_until` and the issuer domain name.

use super::dns_solver::{server_list, zone_list};
use super::*;

/// What a `dns_persist_solver` block accepts (also read by [`super::schema`]).
pub(super) const ATTRIBUTES: &[&str] = &[
    "zones",
    "via",
    "policy",
    "persist_until",
    "issuer_domain_name",
    "resolvers",
];

pub(super) fn dns_persist_solver(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: &Address,
    diags: &mut Diagnostics,
) -> Option<DnsPersistSolverSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`dns_persist_solver \"{}\"`", address.name),
    );
    reader.check(ATTRIBUTES, &[], diags);

    let zones = reader.string_list("zones", diags);
    let zones = reader.required("zones", "[\"example.com\"]", zones, diags);
    let zones = zones.and_then(|list| zone_list(&reader, list, diags));

    let via = match reader.reference("via", &[Kind::DnsSolver], "dns_solver.bind", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((address, _)) => Some(Some(address)),
    };
    let wildcard = match reader.string_spanned("policy", diags) {
        Got::Absent => Some(false),
        Got::Invalid => None,
        Got::Value((policy, _)) if policy.eq_ignore_ascii_case("wildcard") => Some(true),
        Got::Value((policy, span)) => {
            diags.error(
                Some(span),
                "Unknown policy",
                format!("{policy:?} is not a dns-persist-01 policy. The only policy is \"wildcard\" (the record also authorizes wildcard names and subdomains); remove `policy` for the name alone."),
            );
            None
        }
    };
    let persist_until = match reader.string_spanned("persist_until", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) => {
            match time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            {
                Ok(at) => Some(Some(at.unix_timestamp())),
                Err(_) => {
                    diags.error(
                        Some(span),
                        "Invalid time",
                        format!("{text:?} is not an RFC 3339 time. Write persist_until as \"2027-06-30T00:00:00Z\"."),
                    );
                    None
                }
            }
        }
    };
    let issuer_domain_name = match optional_text(&reader, "issuer_domain_name", diags)? {
        None => Some(None),
        Some(raw) => match normalize_domain(&raw) {
            Ok(name)
                if !name.starts_with("*.") && !crate::desired::domain::is_ip_address(&name) =>
            {
                Some(Some(name))
            }
            _ => {
                diags.error(
                    Some(reader.value_span(reader.attr("issuer_domain_name")?)),
                    "Invalid issuer domain name",
                    format!("{raw:?} is not a domain name. issuer_domain_name is the name a CA uses in CAA records, such as \"letsencrypt.org\"."),
                );
                None
            }
        },
    };
    let resolvers = match reader.string_list("resolvers", diags) {
        Got::Absent => Some(Vec::new()),
        Got::Invalid => None,
        Got::Value(list) => server_list(&list, diags),
    };
    Some(DnsPersistSolverSpec {
        zones: zones?,
        via: via?,
        wildcard: wildcard?,
        persist_until: persist_until?,
        issuer_domain_name: issuer_domain_name?,
        resolvers: resolvers?,
    })
}
