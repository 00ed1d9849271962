//! `format = "pkcs12"`: the key, the certificate and its chain in one PKCS#12 archive
//! (PBES2 with AES-256 and an HMAC-SHA-256 MAC, which OpenSSL 1.1.1+, Java 8u301+ and
//! Windows read), through the `p12-keystore` crate.

use crate::error::{Error, Result};
use crate::secret::Sensitive;
use crate::state::model::CertificateState;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use zeroize::Zeroizing;

/// The friendly name of the key entry: the alias Java's keytool and Tomcat ask for.
const ALIAS: &str = "certform";

/// The archive of `certificate` (leaf first, then its chain) and `private_key` (PKCS#8
/// PEM, as state keeps it), encrypted with `password`.
pub(super) fn archive(
    certificate: &CertificateState,
    private_key: &Sensitive,
    password: &Sensitive,
    output: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let fail = |what: &str| {
        Error::Deploy(format!(
            "Cannot build the PKCS#12 archive of output \"{output}\": {what}"
        ))
    };
    let pem = format!("{}{}", certificate.certificate_pem, certificate.chain_pem);
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .map(|der| {
            let der = der.map_err(|_| fail("a certificate in state is not PEM"))?;
            Certificate::from_der(&der).map_err(|e| fail(&format!("{e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let key_der = match rustls_pemfile::private_key(&mut private_key.expose().as_bytes()) {
        Ok(Some(key)) => Zeroizing::new(key.secret_der().to_vec()),
        // The key's bytes never reach a message.
        _ => return Err(fail("the private key in state is not PEM")),
    };
    let key = PrivateKey::from_der(&key_der).map_err(|_| fail("the private key is not PKCS#8"))?;
    let local_key_id = crate::deploy::sha256_hex(certs.first().map_or(&[][..], |c| c.as_der()));
    let chain = PrivateKeyChain::new(local_key_id.into_bytes(), key, certs);
    let mut store = KeyStore::new();
    store.add_entry(ALIAS, KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password.expose())
        .write()
        .map(Zeroizing::new)
        .map_err(|e| fail(&format!("{e}")))
}
