//! Revocation signed with the certificate's own key (RFC 8555 §7.6): the request carries the
//! certificate's public key as `jwk` instead of an account URL, so it works when certform
//! holds no account that issued the certificate (an imported certificate, an account gone
//! from state). instant-acme signs only with an account key, so this goes through `jws.rs`.

use super::jws::{Signer, SigningKey};
use super::request::Session;
use super::{client, RevocationReason};
use crate::secret::Sensitive;
use crate::{Error, Result};
use instant_acme::RevocationRequest;
use rustls::pki_types::CertificateDer;
use std::path::Path;

/// Revokes `certificate_pem` (its first block) at the CA of `directory`, signed with
/// `private_key_pem`, the certificate's PKCS#8 key.
pub async fn revoke_with_certificate_key(
    directory: &str,
    ca_bundle: Option<&Path>,
    certificate_pem: &str,
    private_key_pem: &Sensitive,
    reason: Option<RevocationReason>,
) -> Result<()> {
    let der = leaf_der(certificate_pem)?;
    let payload = serde_json::to_value(RevocationRequest {
        certificate: &der,
        reason: reason.map(RevocationReason::to_acme),
    })
    .map_err(|e| Error::Bug(format!("cannot encode a revocation request: {e}")))?;
    let signer = Signer::key_only(SigningKey::from_pkcs8_pem(private_key_pem)?);
    let session = Session::new(client::client_for(ca_bundle)?, directory, signer);
    let url = session.directory().await?.revoke_cert.clone();
    session
        .post(
            "revoking the certificate with its own key",
            &url,
            Some(&payload),
        )
        .await?;
    Ok(())
}

/// The first certificate of a PEM chain, as DER.
pub(super) fn leaf_der(certificate_pem: &str) -> Result<CertificateDer<'static>> {
    crate::pem::first_certificate(certificate_pem.as_bytes())
        .ok_or_else(|| Error::Acme("the certificate to revoke is not PEM".into()))
}
