//! From the checked configuration to the [`Desired`] model: each resource block is read
//! against its schema, references are resolved to addresses, defaults applied, paths made
//! absolute, and each certificate domain is given a solver. Every problem is reported;
//! the model is returned only when there were none.

use crate::address::{Address, Kind};
use crate::config::body::Got;
use crate::config::duration::{parse_duration, DURATION_HELP};
use crate::config::{BodyReader, Config, SourceFile, TopKind};
use crate::desired::domain::{choose_solver, normalize_domain, SolverCaps};
use crate::desired::model::*;
use crate::diag::{Diagnostics, SourceSpan};
use crate::keytype::KeyType;
use crate::secret::Sensitive;
use hcl::edit::structure::Block;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// ACME directory shortcuts.
pub const DIRECTORY_SHORTCUTS: [(&str, &str); 5] = [
    (
        "letsencrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
    ("google", "https://dv.acme-v02.api.pki.goog/directory"),
    (
        "google-staging",
        "https://dv.acme-v02.test-api.pki.goog/directory",
    ),
];

const SOLVER_KINDS: [Kind; 3] = [Kind::HttpSolver, Kind::DnsSolver, Kind::TlsAlpnSolver];

/// Builds the desired model; `None` when any error was reported (including earlier ones).
pub fn resolve(config: &Config, diags: &mut Diagnostics) -> Option<Desired> {
    let dir = &config.dir;
    let (state, parallelism) = certform_settings(config, diags);

    let mut accounts = BTreeMap::new();
    for (file, block, name) in config.blocks_of(TopKind::Resource(Kind::Account)) {
        let name = name.unwrap_or_default();
        if let Some(account) = account(config, file, block, name, diags) {
            accounts.insert(name.to_string(), account);
        }
    }

    // Solver capabilities by address; `None` for solvers that are declared but unusable
    // (already reported), so certificates naming them do not report follow-on errors.
    let mut solvers = BTreeMap::new();
    let mut caps: BTreeMap<Address, Option<SolverCaps>> = BTreeMap::new();
    for kind in SOLVER_KINDS {
        for (file, block, name) in config.blocks_of(TopKind::Resource(kind)) {
            let address = Address::new(kind, name.unwrap_or_default());
            match kind {
                Kind::HttpSolver => {
                    let spec = http_solver(config, file, block, &address, diags);
                    caps.insert(address.clone(), spec.as_ref().map(|_| SolverCaps::Http));
                    if let Some(spec) = spec {
                        solvers.insert(address, SolverSpec::Http(spec));
                    }
                }
                _ => {
                    diags.error(
                        Some(file.span(crate::config::header_span(block))),
                        "Unsupported block type",
                        format!(
                            "{kind} blocks are not supported yet. Use an http_solver for names that are not wildcards."
                        ),
                    );
                    caps.insert(address, None);
                }
            }
        }
    }

    let mut certificates = BTreeMap::new();
    for (file, block, name) in config.blocks_of(TopKind::Resource(Kind::Certificate)) {
        let address = Address::certificate(name.unwrap_or_default());
        if let Some(cert) = certificate(config, file, block, address.clone(), &caps, diags) {
            certificates.insert(address, cert);
        }
    }

    if diags.has_errors() {
        return None;
    }
    Some(Desired {
        config_dir: dir.clone(),
        state: state?,
        parallelism: parallelism?,
        accounts,
        solvers,
        certificates,
    })
}

/// `certform { state { ... } parallelism = N }`, with defaults when absent.
fn certform_settings(
    config: &Config,
    diags: &mut Diagnostics,
) -> (Option<StateSettings>, Option<usize>) {
    let default_state = StateSettings {
        backend: BackendSettings::Local {
            path: config.dir.join("state").join("default.certstate"),
        },
        recipients: Vec::new(),
    };
    let Some((file, block, _)) = config.blocks_of(TopKind::Certform).next() else {
        return (Some(default_state), Some(10));
    };
    let reader = BodyReader::new(file, &config.eval, block, "`certform`");
    reader.check(&["parallelism"], &["state"], diags);
    let parallelism = reader
        .integer("parallelism", 1, 10_000, diags)
        .or_default_value(10)
        .map(|n| n as usize);
    let states = reader.blocks("state");
    for extra in states.iter().skip(1) {
        diags.error(
            Some(file.span(crate::config::header_span(extra))),
            "Duplicate block",
            "The `certform` block may contain only one `state` block.",
        );
    }
    let state = match states.first() {
        None => Some(default_state),
        Some(block) => state_settings(config, file, block, diags),
    };
    (state, parallelism)
}

fn state_settings(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    diags: &mut Diagnostics,
) -> Option<StateSettings> {
    let reader = BodyReader::new(file, &config.eval, block, "`state` in `certform`");
    if !block.labels.is_empty() {
        diags.error(
            Some(reader.header_span()),
            "Unexpected block label",
            "The `state` block takes no label: write `state { ... }`.",
        );
    }
    let backend = reader.string_spanned("backend", diags);
    match &backend {
        Got::Value((name, span)) if name != "local" => {
            let known = ["postgres", "s3"];
            let detail = if known.contains(&name.as_str()) {
                format!("The state backend {name} is not supported yet; use backend = \"local\".")
            } else {
                format!("There is no state backend named \"{name}\"; use backend = \"local\".")
            };
            diags.error(Some(span.clone()), "Unsupported state backend", detail);
            return None;
        }
        _ => {}
    }
    reader.check(&["backend", "path", "recipients"], &[], diags);
    let path = reader
        .string("path", diags)
        .map(|p| absolute(&config.dir, &p))
        .or_default_value(config.dir.join("state").join("default.certstate"));
    let recipients = reader
        .string_list("recipients", diags)
        .or_default_value(Vec::new());
    let recipients = recipients.map(|list| {
        list.into_iter()
            .map(|(r, _)| r.trim().to_string())
            .collect::<Vec<_>>()
    });
    if backend.is_invalid() {
        return None;
    }
    Some(StateSettings {
        backend: BackendSettings::Local { path: path? },
        recipients: recipients?,
    })
}

fn account(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<AccountSpec> {
    let reader = BodyReader::new(file, &config.eval, block, format!("`account \"{name}\"`"));
    reader.check(
        &[
            "directory",
            "contact",
            "terms_of_service_agreed",
            "key_type",
            "ca_bundle",
            "key_rotation_days",
        ],
        &["external_account_binding"],
        diags,
    );
    let directory = reader.string_spanned("directory", diags);
    let directory = reader
        .required("directory", "\"letsencrypt\"", directory, diags)
        .and_then(|(url, span)| directory_url(&url, span, diags));
    let contact = reader
        .string_list("contact", diags)
        .or_default_value(Vec::new());
    let contact = contact.and_then(|list| {
        let mut ok = true;
        let mut out = Vec::new();
        for (entry, span) in list {
            let scheme = entry.split_once(':').map(|(s, rest)| (s, rest.is_empty()));
            match scheme {
                Some((scheme, false)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) => out.push(entry),
                _ => {
                    diags.error(
                        Some(span),
                        "Invalid contact",
                        format!("The contact {entry:?} is not a URL. Write e-mail addresses as \"mailto:{entry}\"."),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    });
    let terms = reader
        .bool("terms_of_service_agreed", diags)
        .or_default_value(false);
    let key_type = match reader.string_spanned("key_type", diags) {
        Got::Absent => Some(KeyType::EcdsaP256),
        Got::Invalid => None,
        Got::Value((text, span)) => match text.parse::<KeyType>() {
            Ok(KeyType::EcdsaP256) => Some(KeyType::EcdsaP256),
            Ok(other) => {
                diags.error(
                    Some(span),
                    "Unsupported account key type",
                    format!(
                        "Account keys must be ecdsa-p256, the only type the ACME client signs requests with; {other} can be used for certificate keys only."
                    ),
                );
                None
            }
            Err(_) => {
                diags.error(
                    Some(span),
                    "Invalid key type",
                    format!("{text:?} is not a key type. Account keys must be \"ecdsa-p256\"."),
                );
                None
            }
        },
    };
    let ca_bundle = match reader.string("ca_bundle", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(path) => Some(Some(absolute(&config.dir, &path))),
    };
    let key_rotation_days = match reader.integer("key_rotation_days", 1, 36_500, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(n) => Some(Some(n as u32)),
    };
    let eabs = reader.blocks("external_account_binding");
    for extra in eabs.iter().skip(1) {
        diags.error(
            Some(file.span(crate::config::header_span(extra))),
            "Duplicate block",
            format!("`account \"{name}\"` may contain only one `external_account_binding` block."),
        );
    }
    let eab = match eabs.first() {
        None => Some(None),
        Some(eab_block) => {
            let eab = BodyReader::new(
                file,
                &config.eval,
                eab_block,
                format!("`external_account_binding` in `account \"{name}\"`"),
            );
            eab.check(&["kid", "hmac_key"], &[], diags);
            let kid = eab.string("kid", diags);
            let kid = eab.required("kid", "env(\"EAB_KID\")", kid, diags);
            let hmac = eab.string("hmac_key", diags);
            let hmac = eab.required("hmac_key", "env(\"EAB_HMAC_KEY\")", hmac, diags);
            match (kid, hmac) {
                (Some(kid), Some(hmac)) => Some(Some(ExternalAccountBinding {
                    kid: kid.trim().to_string(),
                    hmac_key: Sensitive::new(hmac.trim()),
                })),
                _ => None,
            }
        }
    };
    Some(AccountSpec {
        name: name.to_string(),
        directory: directory?,
        contact: contact?,
        terms_of_service_agreed: terms?,
        key_type: key_type?,
        ca_bundle: ca_bundle?,
        external_account_binding: eab?,
        key_rotation_days: key_rotation_days?,
    })
}

fn directory_url(text: &str, span: SourceSpan, diags: &mut Diagnostics) -> Option<String> {
    if let Some((_, url)) = DIRECTORY_SHORTCUTS.iter().find(|(short, _)| *short == text) {
        return Some(url.to_string());
    }
    let host = text
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Some(text.to_string())
        }
        _ => {
            let shortcuts: Vec<&str> = DIRECTORY_SHORTCUTS.iter().map(|(s, _)| *s).collect();
            diags.error(
                Some(span),
                "Invalid ACME directory",
                format!(
                    "{text:?} is neither an https:// URL nor a known shortcut. `directory` must be the CA's directory URL (https only) or one of {}.",
                    shortcuts.join(", ")
                ),
            );
            None
        }
    }
}

fn http_solver(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: &Address,
    diags: &mut Diagnostics,
) -> Option<HttpSolverSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`http_solver \"{}\"`", address.name),
    );
    reader.check(&["webroot", "listen"], &[], diags);
    let webroot = reader.string("webroot", diags);
    let listen = reader.string_spanned("listen", diags);
    match (webroot, listen) {
        (Got::Value(_), Got::Value((_, span))) => {
            diags.error(
                Some(span),
                "Conflicting attributes",
                format!(
                    "{} sets both `webroot` and `listen`; set exactly one: webroot to write challenge files for an existing web server, or listen to serve them from certform.",
                    reader.what
                ),
            );
            None
        }
        (Got::Value(webroot), Got::Absent) => Some(HttpSolverSpec::Webroot {
            webroot: absolute(&config.dir, &webroot),
        }),
        (Got::Absent, Got::Value((listen, span))) => match listen_address(&listen) {
            Ok(listen) => Some(HttpSolverSpec::Listen { listen }),
            Err(why) => {
                diags.error(Some(span), "Invalid listen address", why);
                None
            }
        },
        (Got::Absent, Got::Absent) => {
            diags.error(
                Some(reader.header_span()),
                "Missing required attribute",
                format!(
                    "{} must set either `webroot = \"/var/www/html\"` (write challenge files for an existing web server) or `listen = \":80\"` (serve them from certform).",
                    reader.what
                ),
            );
            None
        }
        _ => None,
    }
}

/// `":80"` → `0.0.0.0:80`; `"127.0.0.1:5002"` and `"[::]:80"` kept.
pub fn listen_address(text: &str) -> Result<String, String> {
    let bad = || {
        format!("{text:?} is not a listen address. Write \":PORT\" for all interfaces or \"HOST:PORT\", such as \":80\" or \"127.0.0.1:5002\".")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad()),
    }
    if host.is_empty() {
        return Ok(format!("0.0.0.0:{port}"));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(char::is_whitespace) || (host.contains(':') && !bracketed) {
        return Err(bad());
    }
    Ok(text.to_string())
}

fn certificate(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: Address,
    caps: &BTreeMap<Address, Option<SolverCaps>>,
    diags: &mut Diagnostics,
) -> Option<CertificateSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`certificate \"{}\"`", address.name),
    );
    reader.check(
        &[
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
        ],
        &["output", "check"],
        diags,
    );
    if let Some(attr) = reader.attr("for_each") {
        diags.error(
            Some(reader.key_span(attr)),
            "Unsupported feature",
            "for_each is not supported yet: declare one certificate block per certificate.",
        );
        return None;
    }
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
        match output(config, file, out_block, out_name, &reader.what, diags) {
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
            let check_reader = BodyReader::new(
                file,
                &config.eval,
                check,
                format!("`check` in {}", reader.what),
            );
            check_reader.check(&["endpoint"], &[], diags);
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
        outputs: outputs?,
        check_endpoint: check_endpoint?,
    })
}

/// Validates, lower-cases and de-duplicates the domain list.
fn domain_list(
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

fn choose_solvers(
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
                if let Some(base) = domain.strip_prefix("*.") {
                    diags.error(
                        Some(span.clone()),
                        "Wildcard needs a DNS solver",
                        format!(
                            "{domain} needs a DNS-01 solver; none of the certificate's solvers serves it. Wildcard names can only be validated with DNS-01: add a dns_solver whose zones include {base} to `solvers`."
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
fn renew_before(text: &str) -> Result<RenewBefore, String> {
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

fn optional_text(
    reader: &BodyReader,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<Option<String>> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) if text.trim().is_empty() => {
            diags.error(
                Some(span),
                "Empty value",
                format!(
                    "`{name}` in {} is empty; remove it or give a value.",
                    reader.what
                ),
            );
            None
        }
        Got::Value((text, _)) => Some(Some(text)),
    }
}

fn output(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    name: String,
    parent: &str,
    diags: &mut Diagnostics,
) -> Option<OutputSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`output \"{name}\"` in {parent}"),
    );
    reader.check(
        &[
            "directory",
            "cert",
            "chain",
            "fullchain",
            "key",
            "key_mode",
            "mode",
            "on_change",
        ],
        &[],
        diags,
    );
    let mut failed = false;
    let mut path = |attr: &str, diags: &mut Diagnostics| match reader.string(attr, diags) {
        Got::Absent => None,
        Got::Invalid => {
            failed = true;
            None
        }
        Got::Value(p) => Some(absolute(&config.dir, &p)),
    };
    let directory = path("directory", diags);
    let mut cert = path("cert", diags);
    let mut chain = path("chain", diags);
    let mut fullchain = path("fullchain", diags);
    let mut key = path("key", diags);
    let any_file = cert.is_some() || chain.is_some() || fullchain.is_some() || key.is_some();
    match (&directory, any_file) {
        (Some(dir), false) => {
            cert = Some(dir.join("cert.pem"));
            chain = Some(dir.join("chain.pem"));
            fullchain = Some(dir.join("fullchain.pem"));
            key = Some(dir.join("privkey.pem"));
        }
        (Some(_), true) => {
            let attr = reader.attr("directory")?;
            diags.error(
                Some(reader.key_span(attr)),
                "Conflicting attributes",
                format!(
                    "{} sets `directory` and individual file paths; use either `directory` (cert.pem, chain.pem, fullchain.pem and privkey.pem inside it) or any of `cert`, `chain`, `fullchain`, `key`.",
                    reader.what
                ),
            );
            failed = true;
        }
        (None, false) if !failed => {
            diags.error(
                Some(reader.header_span()),
                "Missing required attribute",
                format!(
                    "{} writes no files: set `directory`, or at least one of `cert`, `chain`, `fullchain` and `key`.",
                    reader.what
                ),
            );
            failed = true;
        }
        (None, _) => {}
    }
    let key_mode = file_mode(&reader, "key_mode", 0o600, diags);
    let mode = file_mode(&reader, "mode", 0o644, diags);
    let on_change = match reader.string_list("on_change", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(argv) if argv.first().is_none_or(|(program, _)| program.is_empty()) => {
            let attr = reader.attr("on_change")?;
            reader.invalid(
                attr,
                "Invalid command",
                format!(
                    "`on_change` in {} must be a command as a list of arguments whose first element is the program, such as [\"systemctl\", \"reload\", \"nginx\"].",
                    reader.what
                ),
                diags,
            );
            None
        }
        Got::Value(argv) => Some(Some(argv.into_iter().map(|(a, _)| a).collect())),
    };
    if failed {
        return None;
    }
    Some(OutputSpec {
        name,
        cert,
        chain,
        fullchain,
        key,
        key_mode: key_mode?,
        mode: mode?,
        on_change: on_change?,
    })
}

fn file_mode(
    reader: &BodyReader,
    name: &str,
    default: u32,
    diags: &mut Diagnostics,
) -> Option<u32> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(default),
        Got::Invalid => None,
        Got::Value((text, span)) => match parse_mode(&text) {
            Some(mode) => Some(mode),
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

/// `"0644"` / `"644"` → 0o644.
pub fn parse_mode(text: &str) -> Option<u32> {
    if !(3..=4).contains(&text.len()) || !text.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok()
}

/// `path` made absolute against `dir`, with `.` and `..` resolved lexically.
pub fn absolute(dir: &Path, path: &str) -> PathBuf {
    let joined = dir.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address(":80"), Ok("0.0.0.0:80".to_string()));
        assert_eq!(
            listen_address("127.0.0.1:5002"),
            Ok("127.0.0.1:5002".to_string())
        );
        assert_eq!(listen_address("[::]:80"), Ok("[::]:80".to_string()));
        for bad in ["80", ":", ":0", ":99999", "::80", "a b:80"] {
            assert!(listen_address(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600"), Some(0o600));
        assert_eq!(parse_mode("644"), Some(0o644));
        for bad in ["", "0", "68", "0x644", "06444", "rw-"] {
            assert_eq!(parse_mode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn renew_before_forms() {
        assert_eq!(
            renew_before("30d"),
            Ok(RenewBefore::Remaining(Duration::from_secs(30 * 86400)))
        );
        assert_eq!(renew_before("33%"), Ok(RenewBefore::PercentOfLifetime(33)));
        for bad in ["0%", "100%", "0d", "soon", "33.3%"] {
            assert!(renew_before(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        let dir = Path::new("/etc/certform");
        assert_eq!(
            absolute(dir, "state/x"),
            PathBuf::from("/etc/certform/state/x")
        );
        assert_eq!(absolute(dir, "./a/../b"), PathBuf::from("/etc/certform/b"));
        assert_eq!(absolute(dir, "/abs"), PathBuf::from("/abs"));
    }
}
