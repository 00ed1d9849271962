//! A TLS handshake that reads the leaf certificate an endpoint serves, whoever issued it:
//! the drift check wants to see an expired, self-signed or stale certificate too, so the
//! chain is not verified (the handshake signature still is, so the server holds the key).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout as within;

/// Connects to `endpoint` (HOST:PORT), completes a handshake with SNI `server_name` and
/// returns the served leaf, DER. Connecting and the handshake get `timeout` each. Errors are
/// sentences for the drift report.
pub(super) async fn served_leaf(
    endpoint: &str,
    server_name: &str,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let address = tokio::net::lookup_host(endpoint)
        .await
        .map_err(|e| format!("cannot resolve {endpoint}: {e}"))?
        .next()
        .ok_or_else(|| format!("{endpoint} resolves to no address"))?;
    let tcp = within(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration failed (this is a bug in certform): {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("{server_name:?} cannot be sent as SNI: {e}"))?;
    let handshake = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp);
    let tls = within(timeout, handshake)
        .await
        .map_err(|_| "TLS handshake failed: timed out".to_string())?
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|leaf| leaf.to_vec())
        .ok_or_else(|| "the server sent no certificate".to_string())
}

/// Accepts any certificate chain; checks handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
