//! The roots certform trusts on outgoing TLS, for the ACME client and the PostgreSQL
//! backend alike: the web PKI roots (webpki-roots) plus a `ca_bundle`, which is either a
//! PEM file of extra roots or `"system"`: this machine's trust store, read with
//! rustls-native-certs (the OS store, or the files `SSL_CERT_FILE` / `SSL_CERT_DIR` name),
//! for a private CA installed system-wide. The only user of rustls-native-certs.

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// The `ca_bundle` value that means the system trust store (kept as written, never made
/// an absolute path; a file of that name is written `./system`).
pub const SYSTEM: &str = "system";

/// Whether `ca_bundle` names the system trust store.
pub fn is_system(ca_bundle: &Path) -> bool {
    ca_bundle.as_os_str() == SYSTEM
}

/// A rustls client configuration (ring) trusting the web PKI roots and `ca_bundle`;
/// `what` names the bundle in messages, such as "the postgres backend's ca_bundle".
pub fn client_config(ca_bundle: Option<&Path>, what: &str) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    match ca_bundle {
        None => {}
        Some(system) if is_system(system) => add_system_roots(&mut roots, what)?,
        Some(path) => add_bundle(&mut roots, path, what)?,
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Bug(format!("rustls protocol versions: {e}")))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// Every certificate of the PEM file `path`; none at all is an error.
fn add_bundle(roots: &mut rustls::RootCertStore, path: &Path, what: &str) -> Result<()> {
    let pem = std::fs::read(path).map_err(|e| Error::io(format!("Cannot read {what}"), path, e))?;
    let mut added = 0;
    for cert in crate::pem::certificates(&pem) {
        let cert = cert.map_err(|e| Error::io(format!("Cannot parse {what}"), path, e))?;
        roots.add(cert).map_err(|e| {
            Error::Usage(format!(
                "{what} {} holds a certificate rustls cannot use as a root: {e}",
                path.display()
            ))
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(Error::Usage(format!(
            "{what} {} holds no PEM CERTIFICATE",
            path.display()
        )));
    }
    Ok(())
}

/// The system store's roots. A store holds odd certificates at times: those rustls cannot
/// use are left out (and logged), but a store that yields no root at all is an error.
fn add_system_roots(roots: &mut rustls::RootCertStore, what: &str) -> Result<()> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("reading the system trust store: {error}");
    }
    let (added, unusable) = roots.add_parsable_certificates(found.certs);
    if unusable > 0 {
        tracing::warn!("{unusable} certificate(s) of the system trust store are not usable roots");
    }
    if added == 0 {
        let why = match found.errors.first() {
            Some(error) => format!(": {error}"),
            None => String::new(),
        };
        return Err(Error::Usage(format!(
            "{what} is \"system\", but the system trust store holds no usable root{why}. \
             Install the CA there (update-ca-certificates), or point SSL_CERT_FILE or \
             SSL_CERT_DIR at it."
        )));
    }
    Ok(())
}
