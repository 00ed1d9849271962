//! PEM in and out, on rustls-pki-types' `PemObject` (which replaces rustls-pemfile): the
//! certificates and the private key in PEM text, and DER armoured as PEM (RFC 7468).
//! `ops::import::pem` checks a user's files line by line (to name the faulty line) and
//! decodes each block's body with [`decode_body`].

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// Every `CERTIFICATE` block in `pem`, in order (blocks of other kinds are skipped); a
/// malformed block ends the run with an error.
pub fn certificates(
    pem: &[u8],
) -> impl Iterator<Item = std::io::Result<CertificateDer<'static>>> + '_ {
    CertificateDer::pem_slice_iter(pem).map(|cert| cert.map_err(io_error))
}

/// The first `CERTIFICATE` block of `pem`, if it is readable.
pub fn first_certificate(pem: &[u8]) -> Option<CertificateDer<'static>> {
    certificates(pem).next()?.ok()
}

/// PEM text cut into its `CERTIFICATE` blocks as they stand (so stored and deployed copies
/// keep the CA's bytes), each normalised to end with a newline.
pub fn certificate_blocks(pem: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let Some(end) = after.find(END) else { break };
        let block = &after[..end + END.len()];
        blocks.push(format!("{}\n", block.trim_end()));
        rest = &after[end + END.len()..];
    }
    blocks
}

/// The first private key in `pem` (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`),
/// if there is a readable one.
pub fn private_key(pem: &[u8]) -> Option<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).ok()
}

/// The DER of a block's body (its base64 lines joined, without BEGIN/END), zeroised when
/// dropped (the block may be a key); `None` when it is not valid base64. For
/// `ops::import::pem`, which checks a user's file line by line and names the faulty line.
pub fn decode_body(body: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(Zeroizing::new)
}

/// `der` armoured as a PEM block labelled `label` (RFC 7468: base64 in lines of 64).
pub fn encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A malformed block as an I/O error with the words rustls-pemfile used, which error
/// messages quote.
fn io_error(error: pem::Error) -> std::io::Error {
    let text = match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "section end {:?} missing",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "illegal section start: {:?}",
            String::from_utf8_lossy(&line)
        ),
        pem::Error::Base64Decode(error) => error,
        other => format!("{other:?}"),
    };
    std::io::Error::new(std::io::ErrorKind::InvalidData, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_other_kinds_are_skipped() {
        let cert = encode("CERTIFICATE", b"not really DER");
        let key = encode("PRIVATE KEY", b"key bytes");
        let text = format!("subject=CN x\n{key}{cert}{cert}");
        let certs: Vec<_> = certificates(text.as_bytes()).map(Result::unwrap).collect();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].as_ref(), b"not really DER");
        assert_eq!(
            first_certificate(text.as_bytes()).unwrap().as_ref(),
            b"not really DER"
        );
        assert_eq!(
            private_key(text.as_bytes()).unwrap().secret_der(),
            b"key bytes"
        );
        assert!(private_key(cert.as_bytes()).is_none());
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(certificates(broken.as_bytes())
            .next()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
