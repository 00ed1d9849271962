//! Views of the public half of state: `state list`, `state show ADDR`, `show` and
//! `show --json` (described by `schemas/state.schema.json`, without the sealed secrets).
//! A sensitive value the state holds (a contact the CA was sent) is hidden as in plans.

use crate::address::Address;
use crate::state::model::{AccountState, CertificateState, State};
use std::fmt::Write;

/// One address per line, accounts first.
pub fn list(state: &State) -> String {
    let mut out = String::new();
    for name in state.accounts.keys() {
        let _ = writeln!(out, "{}", Address::account(name));
    }
    for address in state.certificates.keys() {
        let _ = writeln!(out, "{address}");
    }
    crate::redact::text(&out).into_owned()
}

pub fn account(name: &str, account: &AccountState) -> String {
    let mut out = format!("# {}:\naccount \"{name}\" {{\n", Address::account(name));
    let _ = writeln!(out, "    directory      = {:?}", account.directory);
    let _ = writeln!(out, "    account_url    = {:?}", account.account_url);
    let _ = writeln!(out, "    contact        = {:?}", account.contact);
    let _ = writeln!(out, "    key_type       = {:?}", account.key_type.as_str());
    let _ = writeln!(
        out,
        "    key_created_at = {:?}",
        crate::plan::diff::rfc3339(account.key_created_at)
    );
    out.push_str("}\n");
    crate::redact::text(&out).into_owned()
}

pub fn certificate(address: &Address, certificate: &CertificateState) -> String {
    let mut out = format!("# {address}:\ncertificate \"{}\" {{\n", address.name);
    let rows: [(&str, String); 9] = [
        ("account", format!("account.{}", certificate.account)),
        ("domains", format!("{:?}", certificate.domains)),
        ("key_type", format!("{:?}", certificate.key_type.as_str())),
        ("serial_number", format!("{:?}", certificate.serial_number)),
        ("issuer", format!("{:?}", certificate.issuer)),
        (
            "not_before",
            format!("{:?}", crate::plan::diff::rfc3339(certificate.not_before)),
        ),
        (
            "not_after",
            format!("{:?}", crate::plan::diff::rfc3339(certificate.not_after)),
        ),
        ("spki_sha256", format!("{:?}", certificate.spki_sha256)),
        (
            "revoke_on_destroy",
            certificate.revoke_on_destroy.to_string(),
        ),
    ];
    for (key, value) in rows {
        let _ = writeln!(out, "    {key:<17} = {value}");
    }
    write_lifecycle(&mut out, certificate);
    for (name, output) in &certificate.outputs {
        let _ = writeln!(out, "\n    output \"{name}\" {{");
        for file in &output.files {
            let _ = writeln!(
                out,
                "        {:<9} = {:?} (mode {:04o})",
                format!("{:?}", file.kind).to_lowercase(),
                file.path.display().to_string(),
                file.mode
            );
        }
        if let Some(remote) = &output.remote {
            let _ = writeln!(out, "        {:<9} = {:?}", "delivered", remote.location);
            for (item, value) in &remote.items {
                let _ = writeln!(out, "        {:<9} = {item:?} {value:?}", "item");
            }
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    crate::redact::text(&out).into_owned()
}

/// Every resource in state, as `show` prints it, after the state's key id (to pin).
pub fn show(state: &State, key_id: Option<&str>) -> String {
    if state.accounts.is_empty() && state.certificates.is_empty() {
        return "The state is empty.\n".into();
    }
    let mut parts: Vec<String> = key_id.map(key_id_line).into_iter().collect();
    parts.extend(state.accounts.iter().map(|(n, a)| account(n, a)));
    parts.extend(state.certificates.iter().map(|(a, c)| certificate(a, c)));
    parts.join("\n")
}

/// The state key id and how to pin it.
pub fn key_id_line(key_id: &str) -> String {
    format!(
        "# State key id: {key_id}. Pin it in the configuration so a state replaced by someone \
         without the identity is refused: certform {{ state {{ key_id = \"{key_id}\" }} }}\n"
    )
}

/// `show --json`: the public half as the state file holds it, without the ciphertext.
pub fn json(state: &State, key_id: Option<&str>) -> String {
    let mut value = serde_json::to_value(state).expect("state serialises");
    if let (Some(object), Some(key_id)) = (value.as_object_mut(), key_id) {
        object.insert("key_id".into(), key_id.into());
    }
    let mut text = serde_json::to_string_pretty(&value).expect("state serialises");
    text.push('\n');
    crate::redact::text(&text).into_owned()
}

/// The ARI window, replaced certificates awaiting revocation and an out-of-plan revocation.
fn write_lifecycle(out: &mut String, certificate: &CertificateState) {
    use crate::plan::diff::rfc3339;
    if let Some(ari) = &certificate.ari {
        let _ = writeln!(
            out,
            "    {:<17} = {:?} (window {} to {}, next check {})",
            "ari_renew_at",
            rfc3339(ari.renew_at),
            rfc3339(ari.window_start),
            rfc3339(ari.window_end),
            rfc3339(ari.next_check_at)
        );
    }
    for pending in &certificate.pending_revocation {
        let _ = writeln!(
            out,
            "    {:<17} = {:?} (revoked after {})",
            "pending_revocation",
            pending.serial_number,
            rfc3339(pending.revoke_after)
        );
    }
    if let Some(revoked) = &certificate.revoked {
        let _ = writeln!(
            out,
            "    {:<17} = {:?} ({})",
            "revoked",
            revoked.reason,
            rfc3339(revoked.at)
        );
    }
}
