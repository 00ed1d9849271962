//! `Sensitive` wraps secret text (EAB HMAC keys, TSIG secrets, private keys in memory) so it
//! cannot leak by accident: `Debug` and `Display` print a placeholder, serialising it for a
//! digest yields only a SHA-256 fingerprint, and the memory is zeroised on drop.

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(Zeroizing::new(value.into()))
    }

    /// The secret itself; call sites that use it should be few and obvious.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fingerprint that reveals nothing usable but changes when the secret changes.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl std::fmt::Display for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// Serialised only as a fingerprint: used when the desired model is hashed into a
/// configuration digest, which must change with the secret but never contain it.
impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.fingerprint())
    }
}
