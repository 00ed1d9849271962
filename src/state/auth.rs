//! State authentication. age proves nothing about who encrypted a file and its recipients
//! are public, so anyone who can *write* the state could seal a new secret half of their
//! own. Each lineage therefore has a random 32-byte key, kept inside the secret half (so
//! only identity holders know it), and every document carries an HMAC-SHA256 under it over
//! the lineage, the serial, the public half and the sealed secret half. A forger can still
//! seal a key of their own with a matching MAC; what they cannot do is give it the key id
//! pinned where they cannot write: the configuration (`certform { state { key_id } }`) and
//! this machine's record (`seen`). The pins are checked in [`check_pins`].

use crate::error::{Error, Result};
use ring::hmac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What a key id starts with, so a pasted value is recognisable.
pub const KEY_ID_PREFIX: &str = "sk-";

/// The per-lineage authentication key. Serialised as hex, only inside the secret half.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey(Zeroizing<[u8; 32]>);

impl StateKey {
    pub fn generate() -> StateKey {
        use rand::RngCore;
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key[..]);
        StateKey(key)
    }

    /// `sk-` and 32 hex digits: a fingerprint of the key that reveals nothing of it.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"certform state key id\0");
        hasher.update(&self.0[..]);
        format!("{KEY_ID_PREFIX}{}", hex::encode(&hasher.finalize()[..16]))
    }

    /// The MAC of a document: its lineage, serial, the digest of its public half and the
    /// armored secret half it carries.
    pub fn mac(
        &self,
        lineage: uuid::Uuid,
        serial: u64,
        public_sha256: &str,
        sealed: &str,
    ) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        let tag = hmac::sign(&key, &mac_input(lineage, serial, public_sha256, sealed));
        format!("hmac-sha256:{}", hex::encode(tag.as_ref()))
    }

    /// Checks `mac` in constant time.
    pub fn verify(
        &self,
        lineage: uuid::Uuid,
        serial: u64,
        public_sha256: &str,
        sealed: &str,
        mac: &str,
    ) -> bool {
        let Some(tag) = mac
            .strip_prefix("hmac-sha256:")
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        hmac::verify(
            &key,
            &mac_input(lineage, serial, public_sha256, sealed),
            &tag,
        )
        .is_ok()
    }
}

fn mac_input(lineage: uuid::Uuid, serial: u64, public_sha256: &str, sealed: &str) -> Vec<u8> {
    let sealed_sha256 = hex::encode(Sha256::digest(sealed.as_bytes()));
    format!("certform state v2\n{lineage}\n{serial}\n{public_sha256}\n{sealed_sha256}\n")
        .into_bytes()
}

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateKey({})", self.id())
    }
}

impl Serialize for StateKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Zeroizing::new(hex::encode(&self.0[..])))
    }
}

impl<'de> Deserialize<'de> for StateKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), &mut key[..])
            .map_err(|_| serde::de::Error::custom("the state key is not 64 hex digits"))?;
        Ok(StateKey(key))
    }
}

/// Whether `text` has the shape of a key id (for validating `key_id` in the configuration).
pub fn is_key_id(text: &str) -> bool {
    text.strip_prefix(KEY_ID_PREFIX).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Where a key id is pinned, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `key_id` in the configuration's `certform { state { } }` block.
    Configuration,
    /// This machine's record of the lineage (file named).
    ThisMachine(String),
}

/// A key id the state must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub key_id: String,
    pub source: PinSource,
}

/// Checks the key id of an opened, MAC-verified state (`None`: a state written before
/// authentication, which has no key) against every pin. `location` names the state.
pub fn check_pins(found: Option<&str>, pins: &[Pin], location: &str) -> Result<()> {
    for pin in pins {
        if found == Some(pin.key_id.as_str()) {
            continue;
        }
        let where_pinned = match &pin.source {
            PinSource::Configuration => format!(
                "the configuration pins key_id = \"{}\" (certform {{ state {{ key_id }} }})",
                pin.key_id
            ),
            PinSource::ThisMachine(record) => format!(
                "this machine last used this state with key id {} (record: {record})",
                pin.key_id
            ),
        };
        let found = match found {
            Some(id) => format!("is authenticated with key id {id}"),
            None => "carries no authentication key".to_string(),
        };
        return Err(Error::State(format!(
            "The state {location} {found}, but {where_pinned}. Someone who does not hold the \
             identity may have replaced it (age recipients are public: anyone who can write the \
             state can seal a secret half of their own), or the pin is wrong. Nothing was \
             changed. Restore the state certform last wrote; if this state is genuine, correct \
             key_id in the configuration (`certform show` prints the state's key id) or run \
             `certform state accept-rollback` to make this machine trust it."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_bind_every_input_and_verify_only_under_the_same_key() {
        let key = StateKey::generate();
        let lineage = uuid::Uuid::new_v4();
        let mac = key.mac(lineage, 3, "abc", "sealed");
        assert!(key.verify(lineage, 3, "abc", "sealed", &mac));
        assert!(!key.verify(lineage, 4, "abc", "sealed", &mac));
        assert!(!key.verify(lineage, 3, "abd", "sealed", &mac));
        assert!(!key.verify(lineage, 3, "abc", "sealeD", &mac));
        assert!(!key.verify(uuid::Uuid::new_v4(), 3, "abc", "sealed", &mac));
        assert!(!StateKey::generate().verify(lineage, 3, "abc", "sealed", &mac));
        assert!(!key.verify(lineage, 3, "abc", "sealed", "hmac-sha256:zz"));
    }

    #[test]
    fn key_ids_are_stable_distinct_and_recognised() {
        let key = StateKey::generate();
        assert_eq!(key.id(), key.clone().id());
        assert_ne!(key.id(), StateKey::generate().id());
        assert!(is_key_id(&key.id()));
        assert!(!is_key_id("sk-123"));
        assert!(!is_key_id(&key.id().to_uppercase()));
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<StateKey>(&json).unwrap(), key);
        assert!(!format!("{key:?}").contains(&json[1..9]));
    }

    #[test]
    fn pins_refuse_another_key_and_a_missing_one() {
        let pin = |id: &str| Pin {
            key_id: id.into(),
            source: PinSource::Configuration,
        };
        let id = StateKey::generate().id();
        check_pins(Some(&id), &[pin(&id)], "s").unwrap();
        check_pins(None, &[], "s").unwrap();
        let other = StateKey::generate().id();
        let message = check_pins(Some(&other), &[pin(&id)], "s")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("the configuration pins key_id"),
            "{message}"
        );
        let message = check_pins(None, &[pin(&id)], "s").unwrap_err().to_string();
        assert!(
            message.contains("carries no authentication key"),
            "{message}"
        );
    }
}
