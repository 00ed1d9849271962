//! `for_each` on `certificate` blocks: one certificate per key of a map (`each.value` is the
//! map's value) or per element of a set of strings (`each.value` is the element too),
//! addressed as `certificate.NAME["KEY"]`. A block without `for_each` is one certificate.
//!
//! Every instance is read with its own `each`, so a problem is found per instance. A problem
//! that every instance has (a misspelt attribute) is reported once; one that only some
//! instances have (an invalid `each.key` as a domain) names those instances.

use super::*;
use crate::config::eval::REF_MARKER;
use crate::config::vars::describe;
use crate::diag::Diagnostic;
use hcl::Value;

/// The certificates a `certificate` block declares; problems go to `diags`.
pub(super) fn certificate_instances(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    name: &str,
    caps: &BTreeMap<Address, Option<SolverCaps>>,
    diags: &mut Diagnostics,
) -> Vec<CertificateSpec> {
    let address = Address::certificate(name);
    let Some(for_each) = block.body.get_attribute("for_each") else {
        return certificate(config, &config.eval, file, block, address, caps, diags)
            .into_iter()
            .collect();
    };
    let Some(instances) = instances(config, file, for_each, name, diags) else {
        return Vec::new();
    };
    let mut found: Vec<(Diagnostic, Vec<Address>)> = Vec::new();
    let mut certificates = Vec::new();
    for (key, value) in &instances {
        let instance = address.clone().with_key(key.clone());
        let eval = config.eval.with_each(key.clone(), value.clone());
        let before = diags.len();
        let cert = certificate(config, &eval, file, block, instance.clone(), caps, diags);
        for diag in diags.split_off(before) {
            match found.iter_mut().find(|(seen, _)| *seen == diag) {
                Some((_, addresses)) => addresses.push(instance.clone()),
                None => found.push((diag, vec![instance.clone()])),
            }
        }
        certificates.extend(cert);
    }
    for (mut diag, addresses) in found {
        if addresses.len() < instances.len() {
            diag.detail
                .push_str(&format!(" (In {}.)", list_instances(&addresses)));
        }
        diags.push(diag);
    }
    certificates
}

/// The (key, each.value) pairs of the `for_each` value, or `None` when it is unusable
/// (reported).
fn instances(
    config: &Config,
    file: &SourceFile,
    for_each: &hcl::edit::structure::Attribute,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<(String, Value)>> {
    let span = file.span(hcl::edit::Span::span(&for_each.value).unwrap_or(0..0));
    let value = config.eval.eval(file, &for_each.value, diags)?;
    let unsuitable = |diags: &mut Diagnostics, detail: String| {
        diags.error(Some(span.clone()), "Invalid for_each argument", detail);
        None
    };
    match value {
        Value::Object(map) => Some(map.into_iter().collect()),
        Value::Array(items) => {
            let mut keys: Vec<(String, Value)> = Vec::new();
            for item in items {
                let key = match &item {
                    Value::String(text) if !text.starts_with(REF_MARKER) => text.clone(),
                    other => {
                        return unsuitable(
                            diags,
                            format!(
                                "for_each of `certificate \"{name}\"` must be a map or a set of strings, but an element is {}. Each key names one certificate, as certificate.{name}[\"KEY\"].",
                                describe(other)
                            ),
                        )
                    }
                };
                if keys.iter().any(|(seen, _)| *seen == key) {
                    return unsuitable(
                        diags,
                        format!(
                            "for_each of `certificate \"{name}\"` lists {key:?} twice, but each key names one certificate. Use toset(...) to drop duplicates."
                        ),
                    );
                }
                keys.push((key, item));
            }
            Some(keys)
        }
        other => unsuitable(
            diags,
            format!(
                "for_each of `certificate \"{name}\"` must be a map or a set of strings, but this is {}.",
                describe(&other)
            ),
        ),
    }
}

/// `certificate.a["x"]`, `... and certificate.a["y"]`, or the first three and a count.
fn list_instances(addresses: &[Address]) -> String {
    const SHOWN: usize = 3;
    let names: Vec<String> = addresses
        .iter()
        .take(SHOWN)
        .map(|a| a.to_string())
        .collect();
    match addresses.len() {
        1 => names[0].clone(),
        n if n <= SHOWN => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
        n => format!("{} and {} more", names.join(", "), n - SHOWN),
    }
}
