//! `dns_solver` blocks: the zones a solver serves, its provider (`route53`, `rfc2136` or
//! `exec`) with that provider's attributes, and the propagation check settings.

use super::*;

/// Attributes every provider takes.
const COMMON: [&str; 6] = [
    "provider",
    "zones",
    "propagation_check",
    "propagation_timeout",
    "resolvers",
    "follow_cname",
];
const ROUTE53: [&str; 4] = ["hosted_zone_id", "region", "endpoint", "profile"];
const RFC2136: [&str; 4] = [
    "nameserver",
    "tsig_key_name",
    "tsig_algorithm",
    "tsig_secret",
];
const EXEC: [&str; 1] = ["command"];
const PROVIDERS: [(&str, &[&str]); 3] = [
    ("route53", &ROUTE53),
    ("rfc2136", &RFC2136),
    ("exec", &EXEC),
];

/// Two minutes: long enough for a primary to notify its secondaries, short enough that a
/// record that never shows up fails the apply in reasonable time (lego waits 60s, certbot's
/// DNS plugins 10-120s).
const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Every attribute a `dns_solver` block accepts, whatever its provider.
pub(super) fn attributes() -> Vec<&'static str> {
    COMMON
        .iter()
        .chain(PROVIDERS.iter().flat_map(|(_, attrs)| attrs.iter()))
        .copied()
        .collect()
}

pub(super) fn dns_solver(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: &Address,
    diags: &mut Diagnostics,
) -> Option<DnsSolverSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`dns_solver \"{}\"`", address.name),
    );
    reader.check(&attributes(), &[], diags);

    let provider_name = reader.string_spanned("provider", diags);
    let provider_name = reader.required("provider", "\"rfc2136\"", provider_name, diags);
    let provider_name = provider_name.and_then(|(name, span)| {
        if PROVIDERS.iter().any(|(known, _)| *known == name) {
            Some(name)
        } else {
            diags.error(
                Some(span),
                "Unknown DNS provider",
                format!(
                    "{name:?} is not a DNS provider. Use \"route53\", \"rfc2136\" or \"exec\"."
                ),
            );
            None
        }
    });
    if let Some(name) = &provider_name {
        foreign_attributes(&reader, name, diags);
    }

    let zones = reader.string_list("zones", diags);
    let zones = reader.required("zones", "[\"example.com\"]", zones, diags);
    let zones = zones.and_then(|list| zone_list(&reader, list, diags));

    let propagation_check = reader
        .bool("propagation_check", diags)
        .or_default_value(true);
    let propagation_timeout = match reader.string_spanned("propagation_timeout", diags) {
        Got::Absent => Some(DEFAULT_PROPAGATION_TIMEOUT),
        Got::Invalid => None,
        Got::Value((text, span)) => match parse_duration(&text) {
            Ok(d) if d > Duration::ZERO => Some(d),
            Ok(_) => {
                diags.error(
                    Some(span),
                    "Invalid duration",
                    "propagation_timeout must be longer than zero; set propagation_check = false to skip the check.",
                );
                None
            }
            Err(why) => {
                diags.error(Some(span), "Invalid duration", format!("{why}."));
                None
            }
        },
    };
    let resolvers = match reader.string_list("resolvers", diags) {
        Got::Absent => Some(Vec::new()),
        Got::Invalid => None,
        Got::Value(list) => server_list(&list, diags),
    };
    let follow_cname = reader.bool("follow_cname", diags).or_default_value(false);

    let provider = match provider_name.as_deref() {
        Some("route53") => route53(&reader, diags),
        Some("rfc2136") => rfc2136(&reader, diags),
        Some("exec") => exec(&reader, &config.dir, diags),
        _ => None,
    };
    Some(DnsSolverSpec {
        zones: zones?,
        provider: provider?,
        propagation_check: propagation_check?,
        propagation_timeout: propagation_timeout?,
        resolvers: resolvers?,
        follow_cname: follow_cname?,
    })
}

/// Attributes that belong to another provider than the one chosen.
fn foreign_attributes(reader: &BodyReader, chosen: &str, diags: &mut Diagnostics) {
    for (provider, attrs) in PROVIDERS.iter().filter(|(p, _)| *p != chosen) {
        for name in attrs.iter() {
            if let Some(attr) = reader.attr(name) {
                diags.error(
                    Some(reader.key_span(attr)),
                    "Attribute of another provider",
                    format!(
                        "`{name}` applies to provider = \"{provider}\" only, but {} uses provider = \"{chosen}\". Remove it.",
                        reader.what
                    ),
                );
            }
        }
    }
}

pub(super) fn zone_list(
    reader: &BodyReader,
    list: Vec<(String, SourceSpan)>,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    if list.is_empty() {
        let attr = reader.attr("zones")?;
        reader.invalid(
            attr,
            "No zones",
            format!(
                "`zones` in {} is empty; list the zones whose names this solver serves, such as [\"example.com\"].",
                reader.what
            ),
            diags,
        );
        return None;
    }
    let mut ok = true;
    let mut zones = Vec::new();
    for (raw, span) in list {
        match normalize_domain(&raw) {
            Ok(zone) if zone.starts_with("*.") => {
                diags.error(
                    Some(span),
                    "Invalid zone",
                    format!("{raw:?} is a wildcard; a zone is a plain name such as \"example.com\" (it serves *.example.com too)."),
                );
                ok = false;
            }
            Ok(zone) => zones.push(zone),
            Err(why) => {
                diags.error(Some(span), "Invalid zone", format!("{raw:?} {why}."));
                ok = false;
            }
        }
    }
    ok.then_some(zones)
}

/// `host` or `host:port` (port 53 by default); IPv6 addresses in brackets.
pub fn dns_server(text: &str) -> Result<String, String> {
    let bad = || {
        format!("{text:?} is not a DNS server address. Write HOST or HOST:PORT, such as \"10.0.0.53\", \"ns1.example.com:53\" or \"[2001:db8::53]:53\".")
    };
    let text = text.trim();
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(bad());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        return match after {
            "" => Ok(format!("[{host}]:53")),
            port => match port.strip_prefix(':').map(str::parse::<u16>) {
                Some(Ok(p)) if p > 0 => Ok(format!("[{host}]:{p}")),
                _ => Err(bad()),
            },
        };
    }
    match text.split_once(':') {
        None => Ok(format!("{text}:53")),
        Some((host, port)) if !host.is_empty() && !port.contains(':') => {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("{host}:{p}")),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn server_list(list: &[(String, SourceSpan)], diags: &mut Diagnostics) -> Option<Vec<String>> {
    let mut ok = true;
    let mut out = Vec::new();
    for (text, span) in list {
        match dns_server(text) {
            Ok(server) => out.push(server),
            Err(why) => {
                diags.error(Some(span.clone()), "Invalid DNS server", why);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn route53(reader: &BodyReader, diags: &mut Diagnostics) -> Option<DnsProvider> {
    let hosted_zone_id = optional_text(reader, "hosted_zone_id", diags);
    let region = optional_text(reader, "region", diags);
    let endpoint = match reader.string_spanned("endpoint", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((url, _)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(Some(url))
        }
        Got::Value((url, span)) => {
            diags.error(
                Some(span),
                "Invalid endpoint",
                format!("{url:?} is not a URL. `endpoint` is the base URL of a Route53-compatible API, such as \"http://127.0.0.1:5000\"."),
            );
            None
        }
    };
    let profile = optional_text(reader, "profile", diags);
    Some(DnsProvider::Route53(Route53Spec {
        hosted_zone_id: hosted_zone_id?.map(|id| {
            // The API returns ids as "/hostedzone/Z123"; accept them as users copy them.
            id.trim_start_matches("/hostedzone/").to_string()
        }),
        region: region?.unwrap_or_else(|| "us-east-1".to_string()),
        endpoint: endpoint?,
        profile: profile?,
    }))
}

fn rfc2136(reader: &BodyReader, diags: &mut Diagnostics) -> Option<DnsProvider> {
    let nameserver = reader.string_spanned("nameserver", diags);
    let nameserver = reader
        .required("nameserver", "\"10.0.0.53:53\"", nameserver, diags)
        .and_then(|(text, span)| match dns_server(&text) {
            Ok(server) => Some(server),
            Err(why) => {
                diags.error(Some(span), "Invalid DNS server", why);
                None
            }
        });
    let key_name = optional_text(reader, "tsig_key_name", diags);
    let algorithm = match reader.string_spanned("tsig_algorithm", diags) {
        Got::Absent => Some(TsigAlgorithm::HmacSha256),
        Got::Invalid => None,
        Got::Value((text, span)) => {
            match TsigAlgorithm::ALL
                .into_iter()
                .find(|a| a.as_str() == text.to_ascii_lowercase().trim_end_matches('.'))
            {
                Some(a) => Some(a),
                None => {
                    diags.error(
                        Some(span),
                        "Unsupported TSIG algorithm",
                        format!("{text:?} is not a supported TSIG algorithm. Use \"hmac-sha256\", \"hmac-sha384\" or \"hmac-sha512\"."),
                    );
                    None
                }
            }
        }
    };
    // The secret's value never appears in a message: only whether it is well-formed.
    let secret = match reader.secret("tsig_secret", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((unset @ ConfigSecret::Unset { .. }, _)) => Some(Some(unset)),
        Got::Value((ConfigSecret::Known { value, env }, span)) => {
            use base64::Engine;
            let text = value.expose().trim();
            let decoded = base64::engine::general_purpose::STANDARD.decode(text);
            match decoded {
                Ok(bytes) if !bytes.is_empty() => Some(Some(ConfigSecret::Known {
                    value: Sensitive::new(text),
                    env,
                })),
                _ => {
                    diags.error(
                        Some(span),
                        "Invalid TSIG secret",
                        format!(
                            "`tsig_secret` in {} is not base64. Use the `secret` of the key as `tsig-keygen` prints it.",
                            reader.what
                        ),
                    );
                    None
                }
            }
        }
    };
    let tsig = match (key_name?, secret?) {
        (Some(name), Some(secret)) => Some(TsigKey {
            name: name.trim_end_matches('.').to_string(),
            algorithm: algorithm?,
            secret,
        }),
        (None, None) => None,
        (name, _) => {
            let missing = if name.is_some() {
                "tsig_secret"
            } else {
                "tsig_key_name"
            };
            diags.error(
                Some(reader.header_span()),
                "Missing required attribute",
                format!(
                    "{} sets only one of `tsig_key_name` and `tsig_secret`; set `{missing}` too, or neither for a server that accepts unsigned updates.",
                    reader.what
                ),
            );
            return None;
        }
    };
    Some(DnsProvider::Rfc2136(Rfc2136Spec {
        nameserver: nameserver?,
        tsig,
    }))
}

fn exec(reader: &BodyReader, dir: &Path, diags: &mut Diagnostics) -> Option<DnsProvider> {
    let command = reader.string_list("command", diags);
    let command = reader.required("command", "[\"./hooks/dns.sh\"]", command, diags)?;
    if command
        .first()
        .is_none_or(|(program, _)| program.is_empty())
    {
        let attr = reader.attr("command")?;
        reader.invalid(
            attr,
            "Invalid command",
            format!(
                "`command` in {} must be a list of arguments whose first element is the program, such as [\"./hooks/dns.sh\"]; certform appends present|cleanup FQDN VALUE.",
                reader.what
            ),
            diags,
        );
        return None;
    }
    Some(DnsProvider::Exec(ExecSpec {
        command: command.into_iter().map(|(arg, _)| arg).collect(),
        working_dir: dir.to_path_buf(),
    }))
}

#[cfg(test)]
mod tests {
    use super::dns_server;

    #[test]
    fn dns_server_addresses() {
        assert_eq!(dns_server("10.0.0.53"), Ok("10.0.0.53:53".into()));
        assert_eq!(dns_server("127.0.0.1:5353"), Ok("127.0.0.1:5353".into()));
        assert_eq!(
            dns_server("ns1.example.com"),
            Ok("ns1.example.com:53".into())
        );
        assert_eq!(dns_server("[::1]:5353"), Ok("[::1]:5353".into()));
        assert_eq!(dns_server("[::1]"), Ok("[::1]:53".into()));
        for bad in ["", ":53", "a:0", "a:b", "::1", "[x]:53", "a b", "a:53:1"] {
            assert!(dns_server(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
