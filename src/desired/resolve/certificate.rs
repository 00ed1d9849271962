//! `certificate` blocks: domains, key type, solver choice per domain, renewal policy and
//! `output` blocks.

use super::*;
use crate::plan::window::{parse_days, parse_hours, parse_offset, Freeze, RenewalWindow};
use time::OffsetDateTime;

/// What a `certificate` block and its `check` blocks accept (an `output` block: [`super::output`]) (also read by
/// [`super::schema`]).
pub(super) const ATTRIBUTES: &[&str] = &[
    "account",
    "domains",
    "key_type",
    "solvers",
    "renew_before",
    "reuse_key",
    "revoke_on_destroy",
    "revoke_replaced_after",
    "profile",
    "preferred_chain",
    "must_staple",
    "for_each",
];
pub(super) const BLOCKS: &[&str] = &["output", "check", "renewal_window", "freeze"];
pub(super) const CHECK_ATTRIBUTES: &[&str] = &["endpoint"];
pub(super) const WINDOW_ATTRIBUTES: &[&str] = &["days", "hours", "time_zone"];
pub(super) const FREEZE_ATTRIBUTES: &[&str] = &["start", "end"];

/// One certificate (a block, or one `for_each` instance of it, evaluated with `eval`).
pub(super) fn certificate(
    config: &Config,
    eval: &Evaluator,
    file: &SourceFile,
    block: &Block,
    address: Address,
    caps: &BTreeMap<Address, Option<SolverCaps>>,
    diags: &mut Diagnostics,
) -> Option<CertificateSpec> {
    let reader = BodyReader::new(
        file,
        eval,
        block,
        format!("`certificate \"{}\"`", address.name),
    );
    reader.check(ATTRIBUTES, BLOCKS, diags);
    let account = reader.reference("account", &[Kind::Account], "account.le", diags);
    let account = reader
        .required("account", "account.le", account, diags)
        .map(|(a, _)| a.name);

    let domains = reader.string_list("domains", diags);
    let domains = reader.required("domains", "[\"example.com\"]", domains, diags);
    let domains = domains.and_then(|list| domain_list(&reader, list, diags));

    let key_type = match reader.string_spanned("key_type", diags) {
        Got::Absent => Some(KeyType::EcdsaP256),
        Got::Invalid => None,
        Got::Value((text, span)) => match text.parse::<KeyType>() {
            Ok(k) => Some(k),
            Err(_) => {
                let known: Vec<&str> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
                diags.error(
                    Some(span),
                    "Invalid key type",
                    format!(
                        "{text:?} is not a key type. Use one of {}.",
                        known.join(", ")
                    ),
                );
                None
            }
        },
    };

    let solvers = reader.reference_list("solvers", &SOLVER_KINDS, "http_solver.web", diags);
    let solvers = reader.required("solvers", "[http_solver.web]", solvers, diags);
    let solvers = solvers.and_then(|list| {
        if list.is_empty() {
            let attr = reader.attr("solvers")?;
            reader.invalid(
                attr,
                "No solvers",
                format!(
                    "{} must list at least one solver in `solvers`, such as [http_solver.web].",
                    reader.what
                ),
                diags,
            );
            return None;
        }
        Some(list)
    });

    let renew_before = match reader.string_spanned("renew_before", diags) {
        Got::Absent => Some(RenewBefore::default()),
        Got::Invalid => None,
        Got::Value((text, span)) => match renew_before(&text) {
            Ok(r) => Some(r),
            Err(why) => {
                diags.error(Some(span), "Invalid renew_before", why);
                None
            }
        },
    };
    let reuse_key = reader.bool("reuse_key", diags).or_default_value(false);
    let revoke_on_destroy = reader
        .bool("revoke_on_destroy", diags)
        .or_default_value(false);
    let must_staple = reader.bool("must_staple", diags).or_default_value(false);
    let revoke_replaced_after = match reader.string_spanned("revoke_replaced_after", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) => match parse_duration(&text) {
            Ok(d) => Some(Some(d)),
            Err(why) => {
                diags.error(Some(span), "Invalid duration", format!("{why}."));
                None
            }
        },
    };
    let profile = optional_text(&reader, "profile", diags);
    let preferred_chain = optional_text(&reader, "preferred_chain", diags);

    let mut outputs = Some(Vec::new());
    let mut seen_outputs: BTreeMap<String, SourceSpan> = BTreeMap::new();
    for out_block in reader.blocks("output") {
        let header = file.span(crate::config::header_span(out_block));
        if out_block.labels.len() != 1 {
            diags.error(
                Some(header),
                "Wrong number of block labels",
                "An `output` block takes exactly one label, its name: write `output \"NAME\" { ... }`.",
            );
            outputs = None;
            continue;
        }
        let out_name = out_block.labels[0].as_str().to_string();
        if let Some(first) = seen_outputs.get(&out_name) {
            diags.error(
                Some(header),
                "Duplicate block name",
                format!(
                    "{} already has an output named \"{out_name}\" at {}. Output names must be unique within a certificate.",
                    reader.what,
                    diags.describe_location(first)
                ),
            );
            outputs = None;
            continue;
        }
        seen_outputs.insert(out_name.clone(), header);
        match super::output::output(config, eval, file, out_block, out_name, &reader.what, diags) {
            Some(spec) => {
                if let Some(list) = &mut outputs {
                    list.push(spec);
                }
            }
            None => outputs = None,
        }
    }

    let checks = reader.blocks("check");
    for extra in checks.iter().skip(1) {
        diags.error(
            Some(file.span(crate::config::header_span(extra))),
            "Duplicate block",
            format!("{} may contain only one `check` block.", reader.what),
        );
    }
    let check_endpoint = match checks.first() {
        None => Some(None),
        Some(check) => {
            let check_reader =
                BodyReader::new(file, eval, check, format!("`check` in {}", reader.what));
            check_reader.check(CHECK_ATTRIBUTES, &[], diags);
            let endpoint = check_reader.string_spanned("endpoint", diags);
            match check_reader.required("endpoint", "\"example.com:443\"", endpoint, diags) {
                None => None,
                Some((endpoint, span)) => match endpoint.rsplit_once(':') {
                    Some((host, port))
                        if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) =>
                    {
                        Some(Some(endpoint))
                    }
                    _ => {
                        diags.error(
                            Some(span),
                            "Invalid endpoint",
                            format!("{endpoint:?} is not an endpoint. Write HOST:PORT, such as \"example.com:443\"."),
                        );
                        None
                    }
                },
            }
        }
    };

    let renewal_window = renewal_window(file, eval, &reader, diags);
    let freezes = freezes(file, eval, &reader, diags);

    // Solver per domain, only when both are known.
    let solver_for = match (&domains, &solvers) {
        (Some(domains), Some(solvers)) => choose_solvers(&reader, domains, solvers, caps, diags),
        _ => None,
    };

    Some(CertificateSpec {
        address,
        account: account?,
        domains: domains?.into_iter().map(|(d, _)| d).collect(),
        key_type: key_type?,
        solver_for: solver_for?,
        renew_before: renew_before?,
        reuse_key: reuse_key?,
        revoke_on_destroy: revoke_on_destroy?,
        revoke_replaced_after: revoke_replaced_after?,
        profile: profile?,
        preferred_chain: preferred_chain?,
        must_staple: must_staple?,
        renewal_window: renewal_window?,
        freezes: freezes?,
        outputs: outputs?,
        check_endpoint: check_endpoint?,
    })
}

/// The `renewal_window` block, at most one: `days` (default every day), `hours` (default all
/// day) and `time_zone` (default UTC).
fn renewal_window(
    file: &SourceFile,
    eval: &Evaluator,
    reader: &BodyReader,
    diags: &mut Diagnostics,
) -> Option<Option<RenewalWindow>> {
    let blocks = reader.blocks("renewal_window");
    for extra in blocks.iter().skip(1) {
        diags.error(
            Some(file.span(crate::config::header_span(extra))),
            "Duplicate block",
            format!(
                "{} may contain only one `renewal_window` block.",
                reader.what
            ),
        );
    }
    let Some(block) = blocks.first() else {
        return Some(None);
    };
    let window = BodyReader::new(
        file,
        eval,
        block,
        format!("`renewal_window` in {}", reader.what),
    );
    window.check(WINDOW_ATTRIBUTES, &[], diags);
    let invalid = |name: &str, why: String, diags: &mut Diagnostics| {
        if let Some(attr) = window.attr(name) {
            window.invalid(attr, &format!("Invalid {name}"), why, diags);
        }
    };
    let days = match window.string_list("days", diags) {
        Got::Absent => Some(RenewalWindow::ALWAYS.days),
        Got::Invalid => None,
        Got::Value(names) => match parse_days(names.iter().map(|(n, _)| n.as_str())) {
            Ok(days) => Some(days),
            Err(why) => {
                invalid("days", why, diags);
                None
            }
        },
    };
    let hours = match window.string_spanned("hours", diags) {
        Got::Absent => Some((RenewalWindow::ALWAYS.opens, RenewalWindow::ALWAYS.minutes)),
        Got::Invalid => None,
        Got::Value((text, _)) => match parse_hours(&text) {
            Ok(hours) => Some(hours),
            Err(why) => {
                invalid("hours", why, diags);
                None
            }
        },
    };
    let offset = match window.string_spanned("time_zone", diags) {
        Got::Absent => Some(RenewalWindow::ALWAYS.offset),
        Got::Invalid => None,
        Got::Value((text, _)) => match parse_offset(&text) {
            Ok(offset) => Some(offset),
            Err(why) => {
                invalid("time_zone", why, diags);
                None
            }
        },
    };
    let (opens, minutes) = hours?;
    Some(Some(RenewalWindow {
        days: days?,
        opens,
        minutes,
        offset: offset?,
    }))
}

/// The `freeze` blocks: `start` and `end`, RFC 3339 times, `end` after `start`.
fn freezes(
    file: &SourceFile,
    eval: &Evaluator,
    reader: &BodyReader,
    diags: &mut Diagnostics,
) -> Option<Vec<Freeze>> {
    let mut freezes = Some(Vec::new());
    for block in reader.blocks("freeze") {
        let freeze = BodyReader::new(file, eval, block, format!("`freeze` in {}", reader.what));
        freeze.check(FREEZE_ATTRIBUTES, &[], diags);
        let time = |name: &str, diags: &mut Diagnostics| {
            let got = freeze.string_spanned(name, diags);
            let (text, span) = freeze.required(name, "\"2026-12-20T00:00:00Z\"", got, diags)?;
            let parsed =
                OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339);
            match parsed {
                Ok(t) => Some((t, span)),
                Err(_) => {
                    diags.error(
                        Some(span),
                        format!("Invalid {name}"),
                        format!("{text:?} is not a time; write an RFC 3339 time such as \"2026-12-20T00:00:00Z\" or \"2026-12-20T00:00:00+01:00\"."),
                    );
                    None
                }
            }
        };
        let start = time("start", diags);
        let end = time("end", diags);
        match (start, end) {
            (Some((start, _)), Some((end, span))) if end <= start => {
                diags.error(
                    Some(span),
                    "Invalid end",
                    format!(
                        "`end` in `freeze` in {} must be after its `start`.",
                        reader.what
                    ),
                );
                freezes = None;
            }
            (Some((start, _)), Some((end, _))) => {
                if let Some(list) = &mut freezes {
                    list.push(Freeze { start, end });
                }
            }
            _ => freezes = None,
        }
    }
    freezes
}

/// Validates, lower-cases and de-duplicates the domain list.
pub(super) fn domain_list(
    reader: &BodyReader,
    list: Vec<(String, SourceSpan)>,
    diags: &mut Diagnostics,
) -> Option<Vec<(String, SourceSpan)>> {
    if list.is_empty() {
        let attr = reader.attr("domains")?;
        reader.invalid(
            attr,
            "No domains",
            format!("`domains` in {} is empty; list at least one name. The first is the certificate's common name.", reader.what),
            diags,
        );
        return None;
    }
    let mut ok = true;
    let mut out: Vec<(String, SourceSpan)> = Vec::new();
    for (raw, span) in list {
        match normalize_domain(&raw) {
            Ok(domain) => {
                if let Some((_, first)) = out.iter().find(|(d, _)| *d == domain) {
                    diags.error(
                        Some(span),
                        "Duplicate domain",
                        format!(
                            "{domain} is listed twice in `domains` of {} (first at {}). Remove one of them.",
                            reader.what,
                            diags.describe_location(first)
                        ),
                    );
                    ok = false;
                } else {
                    out.push((domain, span));
                }
            }
            Err(why) => {
                diags.error(Some(span), "Invalid domain name", format!("{raw:?} {why}."));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

pub(super) fn choose_solvers(
    reader: &BodyReader,
    domains: &[(String, SourceSpan)],
    solvers: &[(Address, SourceSpan)],
    caps: &BTreeMap<Address, Option<SolverCaps>>,
    diags: &mut Diagnostics,
) -> Option<BTreeMap<String, Address>> {
    let usable: Vec<(Address, SolverCaps)> = solvers
        .iter()
        .filter_map(|(address, _)| {
            caps.get(address)
                .cloned()
                .flatten()
                .map(|c| (address.clone(), c))
        })
        .collect();
    // A named solver that is itself in error could have served the name: say nothing more.
    let some_unusable = solvers
        .iter()
        .any(|(address, _)| !matches!(caps.get(address), Some(Some(_))));
    let mut solver_for = BTreeMap::new();
    let mut ok = true;
    for (domain, span) in domains {
        match choose_solver(domain, &usable) {
            Some(address) => {
                solver_for.insert(domain.clone(), address.clone());
            }
            None => {
                ok = false;
                if some_unusable {
                    continue;
                }
                if let Some((persist, _)) = usable
                    .iter()
                    .find(|(_, caps)| caps.persist_without_wildcard_policy(domain))
                {
                    diags.error(
                        Some(span.clone()),
                        "Wildcard needs policy = \"wildcard\"",
                        format!(
                            "{domain} is in the zones of {persist}, but a dns-persist-01 record authorizes a wildcard only with policy=wildcard: set policy = \"wildcard\" in {persist}, or add a dns_solver to `solvers`."
                        ),
                    );
                } else if let Some(base) = domain.strip_prefix("*.") {
                    diags.error(
                        Some(span.clone()),
                        "Wildcard needs a DNS solver",
                        format!(
                            "{domain} needs a DNS-01 solver; none of the certificate's solvers serves it. Wildcard names can only be validated with DNS-01: add a dns_solver whose zones include {base} to `solvers`."
                        ),
                    );
                } else if crate::desired::domain::is_ip_address(domain) {
                    diags.error(
                        Some(span.clone()),
                        "IP address needs an HTTP-01 or TLS-ALPN-01 solver",
                        format!(
                            "{domain} is an IP address, which CAs validate only with HTTP-01 or TLS-ALPN-01 (RFC 8738), never DNS: add an http_solver or tls_alpn_solver to the solvers of {}.",
                            reader.what
                        ),
                    );
                } else {
                    diags.error(
                        Some(span.clone()),
                        "No solver for domain",
                        format!(
                            "None of the solvers of {} can serve {domain}. DNS solvers serve only names inside their zones; add an http_solver, or a dns_solver whose zones include {domain}, to `solvers`.",
                            reader.what
                        ),
                    );
                }
            }
        }
    }
    ok.then_some(solver_for)
}

/// `"30d"` (remaining time) or `"33%"` (share of the lifetime).
pub(super) fn renew_before(text: &str) -> Result<RenewBefore, String> {
    if let Some(percent) = text.strip_suffix('%') {
        return match percent.parse::<u8>() {
            Ok(p) if (1..=99).contains(&p) => Ok(RenewBefore::PercentOfLifetime(p)),
            _ => Err(format!(
                "{text:?} is not a valid share of the lifetime; write a whole percentage from 1% to 99%, such as \"33%\"."
            )),
        };
    }
    match parse_duration(text) {
        Ok(d) if d > Duration::ZERO => Ok(RenewBefore::Remaining(d)),
        Ok(_) => Err("renew_before must be longer than zero.".to_string()),
        Err(_) => Err(format!(
            "{text:?} is neither a duration nor a percentage. renew_before is the time left when renewal is due (\"30d\") or a share of the lifetime (\"33%\"). {DURATION_HELP}."
        )),
    }
}

/// `mode` or `key_mode`: octal permission bits, without setuid, setgid or sticky bits and
/// never writable by others; a key is never readable by others either (0640 lets a group
/// read it: give the group with `group`, rather than widening the mode).
pub(super) fn file_mode(
    reader: &BodyReader,
    name: &str,
    role: FileRole,
    diags: &mut Diagnostics,
) -> Option<u32> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(role.default_mode()),
        Got::Invalid => None,
        Got::Value((text, span)) => match parse_mode(&text) {
            Some(mode) => match unsafe_mode(mode, role) {
                None => Some(mode),
                Some(why) => {
                    diags.error(
                        Some(span),
                        "Unsafe file mode",
                        format!("`{name} = \"{text}\"` in {} {why}.", reader.what),
                    );
                    None
                }
            },
            None => {
                diags.error(
                    Some(span),
                    "Invalid file mode",
                    format!(
                        "{text:?} is not a file mode. `{name}` takes octal permission bits as a string, such as \"0600\" or \"0644\"."
                    ),
                );
                None
            }
        },
    }
}

/// What an output file holds, for its mode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FileRole {
    /// A private key: `0600` unless configured.
    Key,
    /// A certificate or chain: `0644` unless configured.
    Public,
}

impl FileRole {
    pub(super) fn default_mode(self) -> u32 {
        match self {
            FileRole::Key => 0o600,
            FileRole::Public => 0o644,
        }
    }
}

/// Why `mode` is refused for an output file of `role`, if it is.
fn unsafe_mode(mode: u32, role: FileRole) -> Option<&'static str> {
    let key = role == FileRole::Key;
    if mode & 0o7000 != 0 {
        Some("sets the setuid, setgid or sticky bit; output files are data: use permission bits only, such as \"0644\"")
    } else if mode & 0o002 != 0 {
        Some("lets anyone on the machine overwrite the file; drop the write bit for others, such as \"0644\"")
    } else if key && mode & 0o007 != 0 {
        Some("gives every user of the machine access to the private key; use \"0600\", or \"0640\" with `group` set to the group of the server that reads it")
    } else {
        None
    }
}

/// `owner` / `group`: the name of a user (or group) this machine has, with its id.
pub(super) fn named_id(
    reader: &BodyReader,
    name: &str,
    what: &str,
    lookup: fn(&str) -> Option<u32>,
    diags: &mut Diagnostics,
) -> Option<Option<NamedId>> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) => match lookup(&text) {
            Some(id) => Some(Some(NamedId { name: text, id })),
            None => {
                diags.error(
                    Some(span),
                    format!("Unknown {what}"),
                    format!(
                        "There is no {what} named {text:?} on this machine. `{name}` in {} gives the output's files to an existing {what}: create it first, or correct the name.",
                        reader.what
                    ),
                );
                None
            }
        },
    }
}

/// `"0644"` / `"644"` → 0o644.
pub fn parse_mode(text: &str) -> Option<u32> {
    if !(3..=4).contains(&text.len()) || !text.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok()
}
