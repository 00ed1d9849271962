//! `account` blocks: directory URL (or shortcut), contact, terms, key type, EAB.

use super::*;

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

/// What an `account` block accepts (also read by [`super::schema`]).
pub(super) const ATTRIBUTES: &[&str] = &[
    "directory",
    "contact",
    "terms_of_service_agreed",
    "key_type",
    "ca_bundle",
    "key_rotation_days",
    "deactivate_on_destroy",
];
pub(super) const BLOCKS: &[&str] = &["external_account_binding"];
pub(super) const EAB_ATTRIBUTES: &[&str] = &["kid", "hmac_key"];

pub(super) fn account(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<AccountSpec> {
    let reader = BodyReader::new(file, &config.eval, block, format!("`account \"{name}\"`"));
    reader.check(ATTRIBUTES, BLOCKS, diags);
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
        Got::Value(system) if system == crate::trust::SYSTEM => Some(Some(system.into())),
        Got::Value(path) => Some(Some(absolute(&config.dir, &path))),
    };
    let key_rotation_days = match reader.integer("key_rotation_days", 1, 36_500, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(n) => Some(Some(n as u32)),
    };
    let deactivate_on_destroy = reader
        .bool("deactivate_on_destroy", diags)
        .or_default_value(false);
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
            eab.check(EAB_ATTRIBUTES, &[], diags);
            let kid = eab.string("kid", diags);
            let kid = eab.required("kid", "env(\"EAB_KID\")", kid, diags);
            let hmac = eab.secret("hmac_key", diags).map(|(secret, _)| secret);
            let hmac = eab.required("hmac_key", "env(\"EAB_HMAC_KEY\")", hmac, diags);
            match (kid, hmac) {
                (Some(kid), Some(hmac_key)) => Some(Some(ExternalAccountBinding {
                    kid: kid.trim().to_string(),
                    hmac_key,
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
        deactivate_on_destroy: deactivate_on_destroy?,
    })
}

pub(super) fn directory_url(
    text: &str,
    span: SourceSpan,
    diags: &mut Diagnostics,
) -> Option<String> {
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
