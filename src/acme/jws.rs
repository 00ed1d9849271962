//! RFC 8555 §6.2 request signing for the requests certform sends itself (see `request.rs`):
//! a flattened JWS (RFC 7515 §7.2.2) whose protected header carries `alg`, `nonce`, `url` and
//! either `kid` (the account URL, for an account's requests) or `jwk` (the public key itself,
//! for revocation signed with a certificate's key, §7.6). Keys are PKCS#8: the account key is
//! ECDSA P-256 (ES256), a certificate key ECDSA P-256 (ES256), P-384 (ES384) or RSA (RS256).
//! A POST-as-GET (§6.3) has the empty string as its payload. Signing uses ring.

use crate::secret::Sensitive;
use crate::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

/// A private key that signs JWS requests. Its `Debug` shows only the algorithm.
pub(super) struct SigningKey {
    kind: KeyKind,
    rng: SystemRandom,
}

enum KeyKind {
    Ecdsa {
        pair: EcdsaKeyPair,
        /// JWS `alg` (RFC 7518 §3.4).
        alg: &'static str,
        /// JWK `crv` (RFC 7518 §6.2.1.1).
        crv: &'static str,
    },
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .finish()
    }
}

impl SigningKey {
    /// A PKCS#8 DER private key: ECDSA P-256, ECDSA P-384 or RSA (2048 to 8192 bits).
    pub(super) fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey> {
        let rng = SystemRandom::new();
        let ecdsa = [
            (
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                "ES256",
                "P-256",
            ),
            (
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                "ES384",
                "P-384",
            ),
        ];
        let kind = ecdsa
            .into_iter()
            .find_map(|(algorithm, alg, crv)| {
                EcdsaKeyPair::from_pkcs8(algorithm, der, &rng)
                    .ok()
                    .map(|pair| KeyKind::Ecdsa { pair, alg, crv })
            })
            .or_else(|| RsaKeyPair::from_pkcs8(der).ok().map(KeyKind::Rsa))
            // ring's rejection reasons never hold key material, but say nothing useful either.
            .ok_or_else(|| {
                Error::State(
                    "the key is not a PKCS#8 ECDSA P-256, ECDSA P-384 or RSA key that can sign \
                     ACME requests"
                        .into(),
                )
            })?;
        Ok(SigningKey { kind, rng })
    }

    /// A PKCS#8 PEM private key, as the secret half of state keeps certificate keys.
    pub(super) fn from_pkcs8_pem(pem: &Sensitive) -> Result<SigningKey> {
        use rustls::pki_types::PrivateKeyDer;
        match crate::pem::private_key(pem.expose().as_bytes()) {
            Some(PrivateKeyDer::Pkcs8(der)) => Self::from_pkcs8_der(der.secret_pkcs8_der()),
            _ => Err(Error::State(
                "the certificate private key is not a PKCS#8 PEM key".into(),
            )),
        }
    }

    /// The JWS `alg`: `ES256`, `ES384` or `RS256`.
    pub(super) fn algorithm(&self) -> &'static str {
        match &self.kind {
            KeyKind::Ecdsa { alg, .. } => alg,
            KeyKind::Rsa(_) => "RS256",
        }
    }

    /// The public key as a JWK (RFC 7518 §6.2, §6.3).
    pub(super) fn jwk(&self) -> Value {
        match &self.kind {
            KeyKind::Ecdsa { pair, crv, .. } => {
                // An uncompressed point: 0x04 || x || y, both of the curve's size.
                let point = &pair.public_key().as_ref()[1..];
                let (x, y) = point.split_at(point.len() / 2);
                json!({ "kty": "EC", "crv": crv, "x": b64(x), "y": b64(y) })
            }
            KeyKind::Rsa(pair) => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({
                    "kty": "RSA",
                    "n": b64(without_leading_zeros(&public.n)),
                    "e": b64(without_leading_zeros(&public.e)),
                })
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let failed = || Error::Bug("signing an ACME request failed".into());
        match &self.kind {
            KeyKind::Ecdsa { pair, .. } => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            KeyKind::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    message,
                    &mut signature,
                )
                .map_err(|_| failed())?;
                Ok(signature)
            }
        }
    }
}

/// Who signs a request, and how the CA finds the public key.
#[derive(Debug)]
pub(super) struct Signer {
    key: SigningKey,
    /// The account URL (`kid`); `None` puts the public key itself in the header (`jwk`).
    kid: Option<String>,
}

impl Signer {
    /// An account's requests: the header names the account URL.
    pub(super) fn account(key: SigningKey, account_url: &str) -> Signer {
        Signer {
            key,
            kid: Some(account_url.to_string()),
        }
    }

    /// Requests signed with a key no account holds (a certificate's): the header carries it.
    pub(super) fn key_only(key: SigningKey) -> Signer {
        Signer { key, kid: None }
    }

    /// The JSON body of a request to `url`: `payload` as JSON, or `None` for a POST-as-GET.
    pub(super) fn sign(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Result<Vec<u8>> {
        Ok(self
            .jws(url, Some(nonce), payload)?
            .to_string()
            .into_bytes())
    }

    /// The inner JWS of a key change (RFC 8555 §7.3.5): no nonce, the new key's `jwk`.
    pub(super) fn sign_inner(&self, url: &str, payload: &Value) -> Result<Value> {
        self.jws(url, None, Some(payload))
    }

    /// The signer's public key as a JWK.
    pub(super) fn jwk(&self) -> Value {
        self.key.jwk()
    }

    fn jws(&self, url: &str, nonce: Option<&str>, payload: Option<&Value>) -> Result<Value> {
        let mut header = json!({ "alg": self.key.algorithm(), "url": url });
        if let Some(nonce) = nonce {
            header["nonce"] = json!(nonce);
        }
        match &self.kid {
            Some(kid) => header["kid"] = json!(kid),
            None => header["jwk"] = self.key.jwk(),
        }
        let protected = b64(header.to_string().as_bytes());
        let payload = match payload {
            Some(value) => b64(value.to_string().as_bytes()),
            None => String::new(),
        };
        let signature = self.key.sign(format!("{protected}.{payload}").as_bytes())?;
        Ok(json!({
            "protected": protected,
            "payload": payload,
            "signature": b64(&signature),
        }))
    }
}

/// base64url without padding (RFC 7515 §2).
fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// JWK integers are unsigned big-endian in as few octets as possible (RFC 7518 §6.3.1.1).
fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keytype::KeyType;

    const URL: &str = "https://ca.example/acme/cert/1";
    const NONCE: &str = "nonce-Zm9v";

    fn key(kt: KeyType) -> SigningKey {
        SigningKey::from_pkcs8_pem(&crate::keys::generate_private_key(kt).unwrap()).unwrap()
    }

    fn decode(text: &str) -> Vec<u8> {
        assert!(
            !text.contains(['=', '+', '/']),
            "not unpadded base64url: {text}"
        );
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// The three members of a flattened JWS, and its protected header decoded.
    fn parts(body: &[u8]) -> (Value, String, String, String) {
        let jws: Value = serde_json::from_slice(body).unwrap();
        let mut members: Vec<&String> = jws.as_object().unwrap().keys().collect();
        members.sort();
        assert_eq!(members, ["payload", "protected", "signature"], "{jws}");
        let text = |name: &str| jws[name].as_str().unwrap().to_string();
        let header = serde_json::from_slice(&decode(&text("protected"))).unwrap();
        (
            header,
            text("protected"),
            text("payload"),
            text("signature"),
        )
    }

    /// Verifies the signature with ring's public-key verification, using only the JWK.
    fn verify(jwk: &Value, alg: &str, protected: &str, payload: &str, signature: &str) {
        assert!(
            checks(jwk, alg, &format!("{protected}.{payload}"), signature),
            "the {alg} signature does not verify"
        );
        // The check can fail: another signing input is refused.
        assert!(!checks(
            jwk,
            alg,
            &format!("{protected}.{payload}x"),
            signature
        ));
    }

    fn checks(jwk: &Value, alg: &str, message: &str, signature: &str) -> bool {
        let signature = decode(signature);
        let field = |name: &str| decode(jwk[name].as_str().unwrap());
        let verified = match alg {
            "ES256" | "ES384" => {
                let algorithm: &dyn signature::VerificationAlgorithm = if alg == "ES256" {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                let point = [vec![4], field("x"), field("y")].concat();
                signature::UnparsedPublicKey::new(algorithm, point)
                    .verify(message.as_bytes(), &signature)
            }
            "RS256" => signature::RsaPublicKeyComponents {
                n: field("n"),
                e: field("e"),
            }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message.as_bytes(),
                &signature,
            ),
            other => panic!("unexpected alg {other}"),
        };
        verified.is_ok()
    }

    #[test]
    fn certificate_keys_sign_with_their_jwk_in_the_header() {
        for (kt, alg, kty) in [
            (KeyType::EcdsaP256, "ES256", "EC"),
            (KeyType::EcdsaP384, "ES384", "EC"),
            (KeyType::Rsa2048, "RS256", "RSA"),
        ] {
            let signer = Signer::key_only(key(kt));
            let payload = json!({ "certificate": "MIIB", "reason": 1 });
            let body = signer.sign(URL, NONCE, Some(&payload)).unwrap();
            let (header, protected, encoded_payload, signature) = parts(&body);
            assert_eq!(header["alg"], alg, "{header}");
            assert_eq!(header["url"], URL);
            assert_eq!(header["nonce"], NONCE);
            assert_eq!(header["jwk"]["kty"], kty, "{header}");
            assert!(header.get("kid").is_none(), "jwk and kid are exclusive");
            assert_eq!(
                serde_json::from_slice::<Value>(&decode(&encoded_payload)).unwrap(),
                payload
            );
            verify(
                &header["jwk"],
                alg,
                &protected,
                &encoded_payload,
                &signature,
            );
        }
    }

    #[test]
    fn jwk_coordinates_have_the_curve_size_and_rsa_integers_no_leading_zero() {
        let p384 = key(KeyType::EcdsaP384).jwk();
        assert_eq!(p384["crv"], "P-384");
        assert_eq!(decode(p384["x"].as_str().unwrap()).len(), 48);
        assert_eq!(decode(p384["y"].as_str().unwrap()).len(), 48);
        let rsa = key(KeyType::Rsa2048).jwk();
        assert_eq!(decode(rsa["e"].as_str().unwrap()), [1, 0, 1]);
        let n = decode(rsa["n"].as_str().unwrap());
        assert_eq!((n.len(), n[0] != 0), (256, true));
    }

    #[test]
    fn account_requests_name_the_account_by_kid() {
        let account_url = "https://ca.example/acme/acct/7";
        let key = key(KeyType::EcdsaP256);
        let jwk = key.jwk();
        let body = Signer::account(key, account_url)
            .sign(URL, NONCE, Some(&json!({})))
            .unwrap();
        let (header, protected, payload, signature) = parts(&body);
        assert_eq!(header["kid"], account_url);
        assert!(header.get("jwk").is_none(), "jwk and kid are exclusive");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(
            (header["url"].as_str(), header["nonce"].as_str()),
            (Some(URL), Some(NONCE))
        );
        assert_eq!(decode(&payload), b"{}");
        verify(&jwk, "ES256", &protected, &payload, &signature);
    }

    #[test]
    fn post_as_get_has_an_empty_payload() {
        let key = key(KeyType::EcdsaP256);
        let jwk = key.jwk();
        let body = Signer::account(key, "https://ca.example/acct/1")
            .sign(URL, NONCE, None)
            .unwrap();
        let (_, protected, payload, signature) = parts(&body);
        assert_eq!(payload, "");
        verify(&jwk, "ES256", &protected, &payload, &signature);
    }

    #[test]
    fn the_account_key_from_instant_acme_credentials_signs_es256() {
        let (_, pkcs8) = instant_acme::Key::generate_pkcs8().unwrap();
        let key = SigningKey::from_pkcs8_der(pkcs8.secret_pkcs8_der()).unwrap();
        assert_eq!(key.algorithm(), "ES256");
    }

    #[test]
    fn unusable_keys_are_refused_without_echoing_them() {
        let junk =
            Sensitive::new("-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n-----END PRIVATE KEY-----\n");
        let err = SigningKey::from_pkcs8_pem(&junk).unwrap_err().to_string();
        assert!(!err.contains("U0VDUkVU"), "{err}");
        let err = SigningKey::from_pkcs8_der(b"SECRET")
            .unwrap_err()
            .to_string();
        assert!(err.contains("PKCS#8"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
