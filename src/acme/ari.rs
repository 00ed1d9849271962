//! ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a certificate,
//! fetched with a plain GET (no account key, so `plan` can do it without the identity), and
//! the certificate identifier a renewal order names in `replaces`.

use super::client::{self, GetResponse};
use crate::{Error, Result};
use instant_acme::{CertificateIdentifier, RenewalInfo};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

/// When the CA sends no `Retry-After`, ask again after this long (RFC 9773 §4.3.3 leaves it
/// to the client; six hours is what Let's Encrypt sends).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);
/// A CA asking to wait longer than a day is asked again after a day anyway (RFC 9773 §4.3.3).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A window as the CA suggested it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub explanation_url: Option<String>,
    /// How long until the window may be fetched again.
    pub retry_after: Duration,
}

/// The `renewalInfo` base URL a directory advertises, or `None` when it offers no ARI.
/// Fetched once per directory and process.
pub async fn renewal_info_base(
    directory: &str,
    ca_bundle: Option<&Path>,
) -> Result<Option<String>> {
    let http = client::client_for(ca_bundle)?;
    let directory = super::request::directory(&http, directory).await?;
    Ok(directory.renewal_info.clone())
}

/// The CA's window for `certificate_pem` (the leaf first), from the directory's
/// `renewalInfo` base URL (see [`renewal_info_base`]).
pub async fn renewal_window(
    base: &str,
    ca_bundle: Option<&Path>,
    certificate_pem: &str,
) -> Result<RenewalWindow> {
    let http = client::client_for(ca_bundle)?;
    let id = certificate_identifier(certificate_pem)?;
    let url = format!("{}/{id}", base.trim_end_matches('/'));
    let GetResponse {
        status,
        retry_after,
        body,
    } = http.get(&url).await?;
    if status != 200 {
        return Err(Error::Acme(format!(
            "the CA answered {status} for the renewal information at {url}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    let info: RenewalInfo = serde_json::from_slice(&body).map_err(|e| {
        Error::Acme(format!(
            "the renewal information at {url} is not valid: {e}"
        ))
    })?;
    Ok(RenewalWindow {
        start: info.suggested_window.start,
        end: info.suggested_window.end,
        explanation_url: info.explanation_url,
        retry_after: retry_after
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .min(MAX_RETRY_AFTER),
    })
}

/// RFC 9773 §4.1: `base64url(AKI keyIdentifier) "." base64url(serial)` of the leaf.
pub(super) fn certificate_identifier(
    certificate_pem: &str,
) -> Result<CertificateIdentifier<'static>> {
    let der = crate::pem::first_certificate(certificate_pem.as_bytes())
        .ok_or_else(|| Error::State("the certificate in state is not PEM".into()))?;
    CertificateIdentifier::try_from(&der)
        .map(CertificateIdentifier::into_owned)
        .map_err(|why| Error::Acme(format!("cannot identify the certificate for ARI: {why}")))
}
