//! `dns_solver` blocks: the zones a solver serves, its provider with that provider's
//! attributes, and the propagation check settings. The providers and their attributes come
//! from the provider table (`solver::PROVIDERS`): each attribute is read as its schema says
//! (type, required, default, environment variable), then the provider checks the values.

use super::*;
use crate::solver::dns_provider::{self, AttrCheck, AttrKind, AttrSchema, ProviderEntry};
use crate::solver::PROVIDERS;

/// Attributes every provider takes.
const COMMON: [&str; 6] = [
    "provider",
    "zones",
    "propagation_check",
    "propagation_timeout",
    "resolvers",
    "follow_cname",
];

/// The providers that need a cargo feature, and its name (`crate::features`): a build
/// without it still knows the provider, to say which feature it lacks.
const FEATURE_OF: [(&str, &str); 8] = [
    ("route53", "route53"),
    ("powerdns", "powerdns"),
    ("acme-dns", "acme-dns"),
    ("cloudflare", "cloudflare"),
    ("digitalocean", "digitalocean"),
    ("hetzner", "hetzner"),
    ("google", "google"),
    ("azure", "azure"),
];

/// Two minutes: long enough for a primary to notify its secondaries, short enough that a
/// record that never shows up fails the apply in reasonable time (lego waits 60s, certbot's
/// DNS plugins 10-120s).
const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Every attribute a `dns_solver` block accepts, whatever its provider.
pub(super) fn attributes() -> Vec<&'static str> {
    let mut names: Vec<&str> = COMMON.to_vec();
    for name in PROVIDERS
        .iter()
        .flat_map(|p| p.attributes.iter().map(|a| a.name))
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
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
    let provider = provider_name.and_then(|(name, span)| {
        if let Some(feature) = crate::features::lacking(&FEATURE_OF, &name) {
            crate::features::missing(feature, &format!("provider = \"{name}\""), span, diags);
            return None;
        }
        match dns_provider::entry(&name) {
            Some(entry) => Some(entry),
            None => {
                // The closest name if it is a likely typo, else every name.
                let names: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
                let hint = match crate::config::suggest::closest(names.iter().copied(), &name) {
                    Some(close) => format!("Did you mean \"{close}\"?"),
                    None => format!("Use {}.", quoted_alternatives(&names)),
                };
                diags.error(
                    Some(span),
                    "Unknown DNS provider",
                    format!("{name:?} is not a DNS provider. {hint}"),
                );
                None
            }
        }
    });
    if let Some(entry) = provider {
        foreign_attributes(&reader, entry, diags);
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

    let provider =
        provider.and_then(|entry| provider_attributes(&reader, entry, &config.dir, diags));
    Some(DnsSolverSpec {
        zones: zones?,
        provider: provider?,
        propagation_check: propagation_check?,
        propagation_timeout: propagation_timeout?,
        resolvers: resolvers?,
        follow_cname: follow_cname?,
    })
}

/// `"a", "b" or "c"`.
fn quoted_alternatives(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Attributes that belong to other providers only, not to the one chosen.
fn foreign_attributes(reader: &BodyReader, chosen: &ProviderEntry, diags: &mut Diagnostics) {
    let mut reported: Vec<&str> = Vec::new();
    for attr in PROVIDERS.iter().flat_map(|p| p.attributes.iter()) {
        let name = attr.name;
        if reported.contains(&name) || chosen.attributes.iter().any(|a| a.name == name) {
            continue;
        }
        reported.push(name);
        let Some(written) = reader.attr(name) else {
            continue;
        };
        let owners: Vec<&str> = PROVIDERS
            .iter()
            .filter(|p| p.attributes.iter().any(|a| a.name == name))
            .map(|p| p.name)
            .collect();
        diags.error(
            Some(reader.key_span(written)),
            "Attribute of another provider",
            format!(
                "`{name}` applies to provider = {} only, but {} uses provider = \"{}\". Remove it.",
                quoted_alternatives(&owners),
                reader.what,
                chosen.name
            ),
        );
    }
}

/// Reads the attributes of `entry` as its schema says, then lets the provider check them.
fn provider_attributes(
    reader: &BodyReader,
    entry: &'static ProviderEntry,
    config_dir: &Path,
    diags: &mut Diagnostics,
) -> Option<ProviderSpec> {
    let mut values = BTreeMap::new();
    let mut spans = BTreeMap::new();
    let mut ok = true;
    for attr in entry.attributes {
        match provider_attribute(reader, attr, config_dir, diags) {
            Got::Absent => {}
            Got::Invalid => ok = false,
            Got::Value((value, span)) => {
                values.insert(attr.name, value);
                if let Some(span) = span {
                    spans.insert(attr.name, span);
                }
            }
        }
    }
    if !ok {
        return None;
    }
    let errors = diags.error_count();
    (entry.check)(&mut AttrCheck {
        what: &reader.what,
        values: &values,
        spans: &spans,
        header: reader.header_span(),
        diags,
    });
    (diags.error_count() == errors).then_some(ProviderSpec {
        name: entry.name,
        attributes: values,
        config_dir: config_dir.to_path_buf(),
    })
}

/// One provider attribute: as written, else from its environment variable, else its
/// default; `Invalid` (reported) when it is required and none of these.
fn provider_attribute(
    reader: &BodyReader,
    attr: &AttrSchema,
    config_dir: &Path,
    diags: &mut Diagnostics,
) -> Got<(AttrValue, Option<SourceSpan>)> {
    let name = attr.name;
    let written = match attr.kind {
        AttrKind::Text => match optional_text(reader, name, diags) {
            None => Got::Invalid,
            Some(None) => Got::Absent,
            Some(Some(text)) => Got::Value(AttrValue::Text(text)),
        },
        AttrKind::List => reader
            .string_list(name, diags)
            .map(|list| AttrValue::List(list.into_iter().map(|(s, _)| s).collect())),
        AttrKind::Path => match optional_text(reader, name, diags) {
            None => Got::Invalid,
            Some(None) => Got::Absent,
            Some(Some(path)) => Got::Value(AttrValue::Text(
                absolute(config_dir, &path).display().to_string(),
            )),
        },
        AttrKind::Bool => reader.bool(name, diags).map(AttrValue::Bool),
        AttrKind::Secret => match reader.secret(name, diags) {
            Got::Value((ConfigSecret::Known { value, env: None }, span))
                if !attr.literal_allowed && !crate::redact::is_sensitive(value.expose()) =>
            {
                let read_it = match attr.env {
                    Some(variable) => format!("env(\"{variable}\") or file(\"...\"), or leave `{name}` out to use the environment variable {variable}"),
                    None => "env(\"...\") or file(\"...\")".to_string(),
                };
                diags.error(
                    Some(span),
                    "Secret written in the configuration",
                    format!("`{name}` in {} is written in the configuration, which is kept in version control and read by everyone who reviews it. Read it with {read_it}.", reader.what),
                );
                Got::Invalid
            }
            got => got.map(|(secret, _)| AttrValue::Secret(secret)),
        },
    };
    match written {
        Got::Value(value) => {
            let span = reader.attr(name).map(|a| reader.value_span(a));
            return Got::Value((value, span));
        }
        Got::Invalid => return Got::Invalid,
        Got::Absent => {}
    }
    if let Some(variable) = attr.env {
        match std::env::var(variable) {
            Ok(text) if !text.trim().is_empty() => {
                let value = match attr.kind {
                    AttrKind::Secret => {
                        crate::redact::register(&text);
                        AttrValue::Secret(ConfigSecret::Known {
                            value: Sensitive::new(text),
                            env: Some(variable.to_string()),
                        })
                    }
                    _ => AttrValue::Text(text),
                };
                return Got::Value((value, None));
            }
            _ if attr.kind == AttrKind::Secret
                && reader.eval.secret_env() == crate::config::SecretEnv::MayBeUnset =>
            {
                let unset = ConfigSecret::Unset {
                    env: variable.to_string(),
                };
                return Got::Value((AttrValue::Secret(unset), None));
            }
            _ => {}
        }
    }
    if let Some(default) = attr.default {
        let value = match attr.kind {
            AttrKind::Bool => AttrValue::Bool(default == "true"),
            _ => AttrValue::Text(default.to_string()),
        };
        return Got::Value((value, None));
    }
    match attr.required {
        None => Got::Absent,
        Some(example) => {
            match attr.env {
                None => reader.missing(name, example, diags),
                Some(variable) => diags.error(
                    Some(reader.header_span()),
                    "Missing required attribute",
                    format!(
                        "{} must set `{name}`, for example `{name} = {example}`, or the environment variable {variable} must be set.",
                        reader.what
                    ),
                ),
            }
            Got::Invalid
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

pub(super) fn server_list(
    list: &[(String, SourceSpan)],
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
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
