//! TLS-ALPN-01 (RFC 8737): the built-in listener of a `tls_alpn_solver`. For each name being
//! validated it holds a self-signed certificate (rcgen) for that name with the critical
//! `acmeIdentifier` extension carrying SHA-256 of the key authorization, and presents it
//! (rustls) only to clients that ask for that name (SNI) with the ALPN protocol
//! `acme-tls/1`. Every other handshake fails. An IP address identifier (RFC 8738 §6) is asked
//! for by its reverse-DNS name (`1.0.0.127.in-addr.arpa`, `...ip6.arpa`) and answered with a
//! certificate whose only SAN is the address.

use crate::address::Address;
use crate::{Error, Result};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// A validation handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Validation certificates by lower-case name.
#[derive(Debug, Default)]
struct Responses(Mutex<HashMap<String, Arc<CertifiedKey>>>);

impl Responses {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ResolvesServerCert for Responses {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let asks_acme = hello.alpn()?.any(|protocol| protocol == ACME_TLS_ALPN);
        if !asks_acme {
            return None;
        }
        let name = hello
            .server_name()?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.lock().get(&name).cloned()
    }
}

/// One listener answering TLS-ALPN-01 for every name it was given.
pub(super) struct AlpnServer {
    responses: Arc<Responses>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl AlpnServer {
    pub(super) async fn bind(solver: &Address, listen: &str) -> Result<AlpnServer> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            Error::Solver(format!(
                "{solver}: cannot listen on {listen} for TLS-ALPN-01 challenges: {e}"
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let responses = Arc::new(Responses::default());
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Bug(format!("TLS-ALPN-01 server configuration: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(responses.clone());
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(serve(listener, acceptor));
        Ok(AlpnServer {
            responses,
            provider,
            task: Mutex::new(Some(task)),
        })
    }

    /// Answer validations of `domain` with a certificate for `key_authorization`.
    pub(super) fn insert(&self, domain: &str, key_authorization: &str) -> Result<()> {
        let certified = self
            .validation_certificate(domain, key_authorization)
            .map_err(|e| {
                Error::Solver(format!(
                    "cannot make the TLS-ALPN-01 certificate for {domain}: {e}"
                ))
            })?;
        self.responses
            .lock()
            .insert(server_name(domain), Arc::new(certified));
        Ok(())
    }

    pub(super) fn remove(&self, domain: &str) {
        self.responses.lock().remove(&server_name(domain));
    }

    fn validation_certificate(
        &self,
        domain: &str,
        key_authorization: &str,
    ) -> std::result::Result<CertifiedKey, String> {
        use rcgen::{CertificateParams, CustomExtension, KeyPair};
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params =
            CertificateParams::new(vec![domain.to_string()]).map_err(|e| e.to_string())?;
        let digest = Sha256::digest(key_authorization.as_bytes());
        params.custom_extensions = vec![CustomExtension::new_acme_identifier(&digest)];
        let certificate = params.self_signed(&key).map_err(|e| e.to_string())?;
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signing_key = self
            .provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| e.to_string())?;
        Ok(CertifiedKey::new(
            vec![certificate.der().clone()],
            signing_key,
        ))
    }

    pub(super) async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The name a validation of `identifier` asks for (SNI), lower-case: the name itself, or
/// for an IP address its reverse-DNS name (RFC 8738 §6).
fn server_name(identifier: &str) -> String {
    use std::fmt::Write;
    match identifier.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            let [a, b, c, d] = ip.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let mut name = String::new();
            for byte in ip.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
            name + "ip6.arpa"
        }
        Err(_) => identifier.to_ascii_lowercase(),
    }
}

impl Drop for AlpnServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

/// Accept loop: each connection only completes a handshake (the validation) and closes.
async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            if let Ok(Ok(mut tls)) = handshake.await {
                use tokio::io::AsyncWriteExt;
                let _ = tls.shutdown().await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::server_name;

    #[test]
    fn an_ip_address_is_asked_for_by_its_reverse_dns_name() {
        assert_eq!(server_name("Www.Example.COM"), "www.example.com");
        assert_eq!(server_name("127.0.0.1"), "1.0.0.127.in-addr.arpa");
        assert_eq!(
            server_name("2001:db8::567:89ab"),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
