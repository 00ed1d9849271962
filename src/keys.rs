//! Certificate private keys, certificate signing requests and certificate parsing.
//!
//! Keys are PKCS#8 PEM held in [`Sensitive`]: RSA keys are generated with the `rsa` crate
//! (rcgen on `ring` cannot generate RSA), ECDSA keys with rcgen. Everything here is CPU
//! work without I/O; RSA generation is slow, so async callers run it in `spawn_blocking`.
//! No function here ever puts key material into an error message.

use crate::keytype::KeyType;
use crate::secret::Sensitive;
use crate::{Error, Result};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// OID of the TLS Feature extension (RFC 7633) that carries OCSP must-staple.
const OID_TLS_FEATURE: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 24];
/// `SEQUENCE { INTEGER 5 }`: the `status_request` TLS feature.
const MUST_STAPLE_VALUE: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x05];
/// Longest common name X.509 allows (RFC 5280 `ub-common-name`).
const MAX_COMMON_NAME: usize = 64;

/// A certificate's private key, parsed once: its PKCS#8 PEM (what state keeps and outputs
/// write) and rcgen's signer, which signs the CSR and knows the public key the issued
/// certificate must carry. (Parsing a PEM key again computes the public key again: a
/// scalar multiplication for ECDSA, a consistency check for RSA.)
pub struct CertificateKey {
    pem: Sensitive,
    pair: KeyPair,
}

impl CertificateKey {
    /// A new private key of type `kt`.
    pub fn generate(kt: KeyType) -> Result<CertificateKey> {
        match kt {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                use rsa::pkcs8::{EncodePrivateKey, LineEnding};
                let bits = kt.rsa_bits().unwrap_or(2048);
                let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits)
                    .map_err(|e| Error::Bug(format!("generating a {kt} key failed: {e}")))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| Error::Bug(format!("encoding a {kt} key failed: {e}")))?;
                CertificateKey::from_pem(Sensitive::new(pem.as_str()))
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let alg = if kt == KeyType::EcdsaP256 {
                    &PKCS_ECDSA_P256_SHA256
                } else {
                    &PKCS_ECDSA_P384_SHA384
                };
                let pair = KeyPair::generate_for(alg)
                    .map_err(|e| Error::Bug(format!("generating a {kt} key failed: {e}")))?;
                Ok(CertificateKey {
                    pem: Sensitive::new(pair.serialize_pem()),
                    pair,
                })
            }
        }
    }

    /// A PKCS#8 PEM private key of a supported type.
    pub fn from_pem(pem: Sensitive) -> Result<CertificateKey> {
        let pair = key_pair(&pem)?;
        Ok(CertificateKey { pem, pair })
    }

    pub fn pem(&self) -> &Sensitive {
        &self.pem
    }

    pub fn into_pem(self) -> Sensitive {
        self.pem
    }

    /// SHA-256 of the SubjectPublicKeyInfo, lower-case hex (as [`CertSummary::spki_sha256`]).
    pub fn spki_sha256(&self) -> String {
        spki_sha256(&self.pair)
    }

    /// A DER certificate signing request for `domains`, signed with this key.
    ///
    /// The first domain becomes the common name (when it fits in 64 characters); all
    /// domains are subject alternative names (IP addresses as IP SANs). `must_staple` adds
    /// the TLS Feature extension with `status_request` (RFC 7633).
    pub fn csr_der(&self, domains: &[String], must_staple: bool) -> Result<Vec<u8>> {
        let Some(first) = domains.first() else {
            return Err(Error::Bug("a CSR was requested without any domain".into()));
        };
        let mut params = CertificateParams::new(domains.to_vec()).map_err(|e| {
            Error::Acme(format!(
                "cannot build a CSR for {}: {e}",
                domains.join(", ")
            ))
        })?;
        let mut dn = DistinguishedName::new();
        // No common name for an IP address: CAs refuse an IP in the CN (RFC 8738
        // certificates carry it only as an iPAddress SAN).
        if first.len() <= MAX_COMMON_NAME && !crate::desired::domain::is_ip_address(first) {
            dn.push(DnType::CommonName, first.clone());
        }
        params.distinguished_name = dn;
        if must_staple {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    OID_TLS_FEATURE,
                    MUST_STAPLE_VALUE.to_vec(),
                ));
        }
        let csr = params.serialize_request(&self.pair).map_err(|e| {
            Error::Acme(format!("cannot sign a CSR for {}: {e}", domains.join(", ")))
        })?;
        Ok(csr.der().to_vec())
    }
}

/// Generate a new private key of type `kt`, as PKCS#8 PEM.
pub fn generate_private_key(kt: KeyType) -> Result<Sensitive> {
    CertificateKey::generate(kt).map(CertificateKey::into_pem)
}

/// Parse a PKCS#8 PEM private key for signing.
fn key_pair(private_key_pem: &Sensitive) -> Result<KeyPair> {
    KeyPair::from_pem(private_key_pem.expose()).map_err(|_| {
        Error::State(
            "the certificate private key is not a PKCS#8 PEM key of a supported type \
             (ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096)"
                .into(),
        )
    })
}

/// The [`KeyType`] of a PKCS#8 PEM private key.
pub fn key_type_of(private_key_pem: &Sensitive) -> Result<KeyType> {
    let key = key_pair(private_key_pem)?;
    let alg = key.algorithm();
    if alg == &PKCS_ECDSA_P256_SHA256 {
        return Ok(KeyType::EcdsaP256);
    }
    if alg == &PKCS_ECDSA_P384_SHA384 {
        return Ok(KeyType::EcdsaP384);
    }
    if alg == &PKCS_RSA_SHA256 {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(private_key_pem.expose()).map_err(|_| {
            Error::State("the certificate private key is not a valid RSA PKCS#8 key".into())
        })?;
        let bits = rsa.size() * 8;
        return match bits {
            2048 => Ok(KeyType::Rsa2048),
            3072 => Ok(KeyType::Rsa3072),
            4096 => Ok(KeyType::Rsa4096),
            other => Err(Error::State(format!(
                "the certificate private key is a {other}-bit RSA key; supported sizes are 2048, 3072 and 4096"
            ))),
        };
    }
    Err(Error::State(
        "the certificate private key has an unsupported algorithm".into(),
    ))
}

/// The public facts of an issued certificate, as kept in the public half of state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Lower-case hex without leading zeros (as Pebble and `openssl x509 -serial` print it,
    /// lower-cased).
    pub serial_number: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// The issuer's distinguished name, e.g. `CN=Pebble Intermediate CA 0b1a2c`.
    pub issuer: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, lower-case hex.
    pub spki_sha256: String,
    /// Subject alternative names (DNS names and IP addresses), in certificate order.
    pub domains: Vec<String>,
    /// The leaf certificate, PEM.
    pub certificate_pem: String,
    /// The rest of the chain, PEM (may be empty).
    pub chain_pem: String,
}

fn pem_to_der(block: &str, index: usize) -> Result<Vec<u8>> {
    let der = crate::pem::certificates(block.as_bytes())
        .next()
        .unwrap_or_else(|| Err(std::io::Error::other("no CERTIFICATE block")))
        .map_err(|e| {
            Error::State(format!(
                "certificate {} of the chain is not valid PEM: {e}",
                index + 1
            ))
        })?;
    Ok(der.to_vec())
}

/// Summarise a PEM full chain (leaf first).
pub fn summarize_chain(fullchain_pem: &str) -> Result<CertSummary> {
    let blocks = crate::pem::certificate_blocks(fullchain_pem);
    if blocks.is_empty() {
        return Err(Error::State(
            "the certificate chain holds no PEM CERTIFICATE block".into(),
        ));
    }
    let ders = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| pem_to_der(b, i))
        .collect::<Result<Vec<_>>>()?;
    for (i, der) in ders.iter().enumerate().skip(1) {
        X509Certificate::from_der(der).map_err(|e| {
            Error::State(format!(
                "certificate {} of the chain cannot be parsed: {e}",
                i + 1
            ))
        })?;
    }
    let (_, leaf) = X509Certificate::from_der(&ders[0])
        .map_err(|e| Error::State(format!("the leaf certificate cannot be parsed: {e}")))?;

    let mut domains = Vec::new();
    let san = leaf.subject_alternative_name().map_err(|e| {
        Error::State(format!(
            "the leaf certificate's subjectAltName is invalid: {e}"
        ))
    })?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => domains.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        domains.push(std::net::Ipv4Addr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        domains.push(std::net::Ipv6Addr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }

    Ok(CertSummary {
        serial_number: leaf.tbs_certificate.serial.to_str_radix(16),
        not_before: leaf.validity().not_before.to_datetime(),
        not_after: leaf.validity().not_after.to_datetime(),
        issuer: leaf.issuer().to_string(),
        spki_sha256: hex::encode(Sha256::digest(leaf.public_key().raw)),
        domains,
        certificate_pem: blocks[0].clone(),
        chain_pem: blocks[1..].concat(),
    })
}

/// Whether two identifier lists name the same set: DNS names compared without case, IP
/// addresses by value (`2001:DB8::1` is `2001:db8::1`), order and duplicates ignored.
pub fn same_identifiers(a: &[String], b: &[String]) -> bool {
    fn normalised(names: &[String]) -> std::collections::BTreeSet<String> {
        names
            .iter()
            .map(|name| match name.parse::<std::net::IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => name.trim_end_matches('.').to_ascii_lowercase(),
            })
            .collect()
    }
    normalised(a) == normalised(b)
}

/// Checks that an issued certificate is the one ordered: its public key is the one of
/// `private_key` (the CSR's) and its names are exactly `ordered`. A CA (or a proxy in front
/// of it) answering with any other certificate must not get it deployed.
pub fn check_issued(
    summary: &CertSummary,
    private_key: &CertificateKey,
    ordered: &[String],
) -> Result<()> {
    if !same_identifiers(&summary.domains, ordered) {
        return Err(Error::Acme(format!(
            "The CA returned a certificate for other names than ordered: ordered {}, got {}; \
             it was not deployed and the state is unchanged.",
            ordered.join(", "),
            if summary.domains.is_empty() {
                "none".to_string()
            } else {
                summary.domains.join(", ")
            }
        )));
    }
    if private_key.spki_sha256() != summary.spki_sha256 {
        return Err(Error::Acme(
            "The CA returned a certificate for another public key than the one in the CSR; \
             it was not deployed and the state is unchanged."
                .into(),
        ));
    }
    Ok(())
}

/// The serial number of a DER certificate, lower-case hex as [`CertSummary`] keeps it
/// (for comparing a served certificate with state's).
pub fn serial_of_der(der: &[u8]) -> Result<String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| Error::State(format!("the certificate cannot be parsed: {e}")))?;
    Ok(cert.tbs_certificate.serial.to_str_radix(16))
}

/// SHA-256 of the SubjectPublicKeyInfo of a private key, hex: equal to a certificate's
/// `spki_sha256` exactly when the certificate is for this key.
pub fn public_key_sha256(private_key_pem: &Sensitive) -> Result<String> {
    key_pair(private_key_pem).map(|pair| spki_sha256(&pair))
}

fn spki_sha256(pair: &KeyPair) -> String {
    use rcgen::PublicKeyData;
    hex::encode(Sha256::digest(pair.subject_public_key_info()))
}

/// A private key in any PEM form other tools write — PKCS#8 (`PRIVATE KEY`, certbot),
/// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, lego) — as the PKCS#8 PEM
/// certform keeps. Never echoes key material in an error.
pub fn private_key_to_pkcs8(pem: &str) -> Result<Sensitive> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rustls::pki_types::PrivateKeyDer;
    let unreadable = || {
        Error::State(
            "the private key is not a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY".into(),
        )
    };
    let der = crate::pem::private_key(pem.as_bytes()).ok_or_else(unreadable)?;
    let pkcs8 = match der {
        // Kept byte for byte, so deployed copies of it still match.
        PrivateKeyDer::Pkcs8(_) => Sensitive::new(pem),
        PrivateKeyDer::Pkcs1(der) => {
            let key = rsa::RsaPrivateKey::from_pkcs1_der(der.secret_pkcs1_der())
                .map_err(|_| unreadable())?;
            let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|_| unreadable())?;
            Sensitive::new(pem.as_str())
        }
        PrivateKeyDer::Sec1(der) => {
            // RFC 5915 keys name their curve; wrap for each curve ring knows until one parses.
            const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
            const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
            [P256, P384]
                .into_iter()
                .map(|curve| pkcs8_pem(&wrap_sec1(der.secret_sec1_der(), curve)))
                .find(|candidate| key_pair(candidate).is_ok())
                .ok_or_else(unreadable)?
        }
        _ => return Err(unreadable()),
    };
    key_pair(&pkcs8)?;
    Ok(pkcs8)
}

fn pkcs8_pem(der: &[u8]) -> Sensitive {
    Sensitive::new(crate::pem::encode("PRIVATE KEY", der))
}

/// PKCS#8 `PrivateKeyInfo` around a SEC1 `ECPrivateKey` on the curve `curve_oid` (DER).
fn wrap_sec1(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let algorithm = der_tlv(0x30, &[EC_PUBLIC_KEY, curve_oid].concat());
    let version = [0x02, 0x01, 0x00];
    der_tlv(
        0x30,
        &[&version[..], &algorithm, &der_tlv(0x04, sec1)].concat(),
    )
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, IsCa, Issuer, PublicKeyData};
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::ParsedExtension;

    fn domains() -> Vec<String> {
        vec!["example.com".into(), "www.example.com".into()]
    }

    #[test]
    fn every_key_type_generates_and_round_trips() {
        for kt in KeyType::ALL {
            let key = generate_private_key(kt).unwrap();
            assert!(
                key.expose().starts_with("-----BEGIN PRIVATE KEY-----"),
                "{kt}"
            );
            assert_eq!(key_type_of(&key).unwrap(), kt);
        }
    }

    #[test]
    fn key_type_of_rejects_garbage_without_echoing_it() {
        let err = key_type_of(&Sensitive::new("not a key SECRETSECRET")).unwrap_err();
        assert!(!err.to_string().contains("SECRETSECRET"));
    }

    fn check_csr(kt: KeyType, must_staple: bool) {
        let key = CertificateKey::generate(kt).unwrap();
        let der = key.csr_der(&domains(), must_staple).unwrap();
        let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
        let info = &csr.certification_request_info;
        let cn: Vec<_> = info
            .subject
            .iter_common_name()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(cn, vec!["example.com".to_string()]);
        let mut sans = Vec::new();
        let mut staple = false;
        for ext in csr.requested_extensions().unwrap() {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for n in &san.general_names {
                        if let GeneralName::DNSName(d) = n {
                            sans.push(d.to_string());
                        }
                    }
                }
                ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::Unparsed => {
                    staple = true;
                }
                _ => {}
            }
        }
        assert_eq!(sans, domains());
        assert_eq!(staple, must_staple);
    }

    #[test]
    fn csr_has_common_name_and_sans() {
        check_csr(KeyType::EcdsaP256, false);
        check_csr(KeyType::EcdsaP384, true);
        check_csr(KeyType::Rsa2048, false);
    }

    #[test]
    fn long_first_domain_is_not_a_common_name() {
        let key = CertificateKey::generate(KeyType::EcdsaP256).unwrap();
        let long = format!("{}.example.com", "a".repeat(60));
        let der = key.csr_der(std::slice::from_ref(&long), false).unwrap();
        let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
        assert_eq!(
            csr.certification_request_info
                .subject
                .iter_common_name()
                .count(),
            0
        );
    }

    #[test]
    fn summarize_rcgen_chain() {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Test Issuing CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["example.com".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        leaf_params.serial_number = Some(vec![0x00, 0x8f, 0x01].into());
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        // Windows line endings and text around the blocks must not matter.
        let fullchain = format!("{}\r\n{}", leaf.pem(), ca_cert.pem());
        let s = summarize_chain(&fullchain).unwrap();
        assert_eq!(s.serial_number, "8f01");
        assert_eq!(s.domains, vec!["example.com", "127.0.0.1"]);
        assert_eq!(s.issuer, "CN=Test Issuing CA");
        assert_eq!(
            s.spki_sha256,
            hex::encode(Sha256::digest(leaf_key.subject_public_key_info()))
        );
        assert!(s.not_before < s.not_after);
        assert_eq!(summarize_chain(&s.certificate_pem).unwrap().chain_pem, "");
        assert_eq!(s.certificate_pem.trim(), leaf.pem().trim());
        assert_eq!(s.chain_pem.trim(), ca_cert.pem().trim());
        assert!(summarize_chain("nothing here").is_err());
    }

    #[test]
    fn identifiers_compare_as_sets_without_case() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_identifiers(
            &names(&["WWW.example.com", "2001:DB8::1", "example.com"]),
            &names(&["example.com", "www.example.com", "2001:db8::1"])
        ));
        assert!(!same_identifiers(
            &names(&["example.com"]),
            &names(&["example.com", "www.example.com"])
        ));
        assert!(!same_identifiers(
            &names(&["10.0.0.1"]),
            &names(&["10.0.0.2"])
        ));
    }

    #[test]
    fn an_issued_certificate_must_have_the_csr_key_and_the_ordered_names() {
        let issuer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issuer = Issuer::new(
            CertificateParams::new(Vec::<String>::new()).unwrap(),
            issuer_key,
        );
        let key = CertificateKey::generate(KeyType::EcdsaP256).unwrap();
        let issue = |key: &CertificateKey, names: &[&str]| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let leaf = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key.pair, &issuer)
                .unwrap();
            summarize_chain(&leaf.pem()).unwrap()
        };
        let ordered = vec!["example.com".to_string(), "192.0.2.7".to_string()];

        let good = issue(&key, &["EXAMPLE.com", "192.0.2.7"]);
        check_issued(&good, &key, &ordered).unwrap();

        let other_names = issue(&key, &["example.com", "evil.example"]);
        let err = check_issued(&other_names, &key, &ordered)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("The CA returned a certificate for other names than ordered: ordered example.com, 192.0.2.7, got example.com, evil.example"),
            "{err}"
        );

        let other_key = CertificateKey::generate(KeyType::EcdsaP256).unwrap();
        let wrong_key = issue(&other_key, &["example.com", "192.0.2.7"]);
        let err = check_issued(&wrong_key, &key, &ordered)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another public key than the one in the CSR"),
            "{err}"
        );
    }

    #[test]
    fn keys_in_pkcs1_and_sec1_form_become_the_same_pkcs8_key() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let rsa_pkcs8 = generate_private_key(KeyType::Rsa2048).unwrap();
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(rsa_pkcs8.expose()).unwrap();
        let pkcs1 = rsa.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        let converted = private_key_to_pkcs8(&pkcs1).unwrap();
        assert_eq!(
            public_key_sha256(&converted).unwrap(),
            public_key_sha256(&rsa_pkcs8).unwrap()
        );

        for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let key = generate_private_key(kt).unwrap();
            let sec1 = openssl_like_sec1(&key);
            let converted = private_key_to_pkcs8(&sec1).unwrap();
            assert_eq!(key_type_of(&converted).unwrap(), kt);
            assert_eq!(
                public_key_sha256(&converted).unwrap(),
                public_key_sha256(&key).unwrap()
            );
        }
        assert!(private_key_to_pkcs8("not a key").is_err());
    }

    /// The SEC1 `EC PRIVATE KEY` inside a PKCS#8 EC key (its last OCTET STRING).
    fn openssl_like_sec1(pkcs8: &Sensitive) -> String {
        use base64::Engine;
        let der = crate::pem::private_key(pkcs8.expose().as_bytes()).unwrap();
        let der = der.secret_der();
        let (_, info) = x509_parser::der_parser::der::parse_der(der).unwrap();
        let seq = info.as_sequence().unwrap();
        let sec1 = seq[2].as_slice().unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(sec1);
        format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n")
    }
}
