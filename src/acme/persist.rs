//! What dns-persist-01 needs from a CA before any order: its issuer domain name, the first
//! of the directory's `meta.caaIdentities` (RFC 8555 §7.1.1), which the standing record
//! `_validation-persist.<name>` must start with. Read with a plain GET of the directory.

use super::{client, request};
use crate::{Error, Result};
use std::path::Path;

/// The issuer domain name the CA at `directory_url` names first in its directory.
pub async fn issuer_domain_name(directory_url: &str, ca_bundle: Option<&Path>) -> Result<String> {
    let http = client::client_for(ca_bundle)?;
    let directory = request::directory(&http, directory_url).await?;
    directory
        .meta
        .caa_identities
        .first()
        .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
        .ok_or_else(|| {
            Error::Acme(format!(
                "the ACME directory {directory_url} names no issuer domain name (meta.caaIdentities); set issuer_domain_name in the dns_persist_solver"
            ))
        })
}
