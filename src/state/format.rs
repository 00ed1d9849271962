//! The on-disk state document: the public half as plain JSON and the secret half as an
//! ASCII-armored age ciphertext that also seals the lineage, serial and a digest of the
//! public half. See `state/README.md` for the format.

use super::identity::Identity;
use super::model::{CertificateState, Secrets, State, FORMAT_VERSION};
use crate::address::Address;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use zeroize::Zeroizing;

/// The oldest `format_version` this build can read.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// The field of the document holding the sealed secret half.
const SECRETS_FIELD: &str = "secrets";

/// The field of the document holding the MAC (`state::auth`).
const MAC_FIELD: &str = "mac";

/// What the document holds as written, in this order. Without `mac` and `secrets` it is
/// the public half the seal and the MAC cover. `C` is the certificates map: the model's
/// when a document is written whole, serialised fragments when [`Encoder`] writes it.
#[derive(Serialize)]
struct DocumentOut<'a, C> {
    format_version: u32,
    lineage: uuid::Uuid,
    serial: u64,
    accounts: &'a BTreeMap<String, super::model::AccountState>,
    certificates: C,
    /// Absent while empty, so states without dns-persist-01 records keep their digest.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    persist_records: &'a BTreeMap<crate::address::Address, super::model::PersistRecordState>,
    /// The id of the state key, so a user can pin it; bound by the seal and the MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secrets: Option<&'a str>,
}

impl<'a, C> DocumentOut<'a, C> {
    /// The public half of `state` at `serial`, with `certificates` as its certificates map.
    fn public(state: &'a State, serial: u64, certificates: C, key_id: Option<&'a str>) -> Self {
        DocumentOut {
            format_version: FORMAT_VERSION,
            lineage: state.lineage,
            serial,
            accounts: &state.accounts,
            certificates,
            persist_records: &state.persist_records,
            key_id,
            mac: None,
            secrets: None,
        }
    }
}

/// The document as read (explicit fields, so serde reports line and column).
#[derive(Deserialize)]
struct DocumentIn {
    format_version: u32,
    lineage: uuid::Uuid,
    serial: u64,
    accounts: BTreeMap<String, super::model::AccountState>,
    certificates: BTreeMap<crate::address::Address, super::model::CertificateState>,
    #[serde(default)]
    persist_records: BTreeMap<crate::address::Address, super::model::PersistRecordState>,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    mac: Option<String>,
    /// Kept as the JSON string it is in the document: unescaping it here would hold a
    /// parser buffer and a copy of the whole armored text while `plan` reads a big state.
    secrets: Box<RawValue>,
}

/// The plaintext inside the age envelope: `Secrets` as read, `&Secrets` as written (no
/// copy of every key per write).
#[derive(Serialize, Deserialize)]
struct Sealed<S> {
    seal: Seal,
    secrets: S,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct Seal {
    lineage: uuid::Uuid,
    serial: u64,
    /// SHA-256 (hex) of the canonical JSON of the public half.
    public_sha256: String,
}

/// A decoded document: the public half, readable without any identity, and the sealed
/// secret half, opened on demand with [`StoredState::open_secrets`].
#[derive(Debug, Clone)]
pub struct StoredState {
    pub state: State,
    /// The key id the document claims (not verified until the secrets are opened).
    pub key_id: Option<String>,
    mac: Option<String>,
    /// The armored secret half as the JSON string literal it is in the document (see
    /// [`StoredState::sealed_text`]).
    sealed: Box<RawValue>,
    /// Digest of the public half exactly as it was read.
    public_sha256: String,
    /// The file the document came from, for messages.
    origin: Option<String>,
}

/// Encodes `state` and `secrets` as a document, encrypting the secret half to every
/// recipient (`age1...` or `ssh-ed25519 ...` / `ssh-rsa ...`) and, when the secrets hold a
/// state key, authenticating the whole document with it. The document is always written
/// in the current format version.
pub fn encode(state: &State, secrets: &Secrets, recipients: &[String]) -> Result<Vec<u8>> {
    Encoder::default().encode(state, secrets, recipients)
}

/// Writes documents one after another, as apply does after every action. Each write
/// re-encodes the whole state, so the encoder keeps each certificate's serialised JSON
/// (pretty, as stored, and canonical, as digested) and serialises again only the
/// certificates that changed since its last document: at a thousand certificates a write
/// then costs a comparison per certificate instead of a serialisation. The bytes are the
/// same as a fresh [`encode`] gives (a unit test holds them equal).
#[derive(Default)]
pub struct Encoder {
    certificates: HashMap<Address, Fragments>,
    /// A written document's buffer, given back ([`Encoder::recycle`]) for the next one: a
    /// large state would otherwise cost a fresh allocation, grown in steps, and a page fault
    /// per 4 KiB on every write.
    spare: Vec<u8>,
}

/// One certificate as it was last serialised.
struct Fragments {
    certificate: CertificateState,
    /// Its pretty JSON, indented for its place in the document.
    pretty: Box<RawValue>,
    /// Its canonical JSON (keys sorted, no whitespace), as the digest covers it.
    canonical: Vec<u8>,
}

impl Fragments {
    fn of(certificate: &CertificateState) -> Result<Fragments> {
        let bug = |e: serde_json::Error| Error::Bug(format!("serialising the state: {e}"));
        // A certificate sits two levels deep (`certificates` > its address); JSON strings
        // escape their newlines, so every raw newline is layout and takes the indentation.
        let pretty = serde_json::to_string_pretty(certificate)
            .map_err(bug)?
            .replace('\n', "\n    ");
        let mut canonical_bytes = Vec::new();
        canonical(
            &serde_json::to_value(certificate).map_err(bug)?,
            &mut canonical_bytes,
        );
        Ok(Fragments {
            certificate: certificate.clone(),
            pretty: RawValue::from_string(pretty).map_err(bug)?,
            canonical: canonical_bytes,
        })
    }
}

/// What a document needs from the state besides its certificates (which the encoder holds
/// as fragments once [`Encoder::take_in`] has run): the rest of the public half and the
/// secrets, copied so that the caller can let go of its lock before the encoding proper
/// (digest, encryption, serialisation), which takes milliseconds at a thousand
/// certificates.
pub struct Snapshot {
    /// The state with its certificates map left empty.
    state: State,
    secrets: Secrets,
}

impl Snapshot {
    pub fn lineage(&self) -> uuid::Uuid {
        self.state.lineage
    }

    /// The serial of the state it was taken from.
    pub fn serial(&self) -> u64 {
        self.state.serial
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

impl Encoder {
    /// [`encode`], serialising only the certificates that changed since this encoder's
    /// last document.
    pub fn encode(
        &mut self,
        state: &State,
        secrets: &Secrets,
        recipients: &[String],
    ) -> Result<Vec<u8>> {
        self.refresh(&state.certificates)?;
        self.encode_rest(state, state.serial, secrets, recipients)
    }

    /// Brings the fragments in line with `state`'s certificates (serialising the changed
    /// ones) and copies the rest, for [`Encoder::encode_snapshot`].
    pub fn take_in(&mut self, state: &State, secrets: &Secrets) -> Result<Snapshot> {
        self.refresh(&state.certificates)?;
        Ok(Snapshot {
            state: State {
                format_version: state.format_version,
                lineage: state.lineage,
                serial: state.serial,
                accounts: state.accounts.clone(),
                certificates: BTreeMap::new(),
                persist_records: state.persist_records.clone(),
            },
            secrets: secrets.clone(),
        })
    }

    /// The document of the state last taken in, with its serial set to `serial`.
    pub fn encode_snapshot(
        &mut self,
        snapshot: &Snapshot,
        serial: u64,
        recipients: &[String],
    ) -> Result<Vec<u8>> {
        self.encode_rest(&snapshot.state, serial, &snapshot.secrets, recipients)
    }

    /// The document of `state` at `serial` with the fragments as its certificates (its own
    /// certificates map is not read).
    fn encode_rest(
        &mut self,
        state: &State,
        serial: u64,
        secrets: &Secrets,
        recipients: &[String],
    ) -> Result<Vec<u8>> {
        let recipients = parse_recipients(recipients)?;
        let key_id = secrets.state_key.as_ref().map(|key| key.id());
        let no_certificates: BTreeMap<String, &RawValue> = BTreeMap::new();
        let bug = |e: serde_json::Error| Error::Bug(format!("serialising the state: {e}"));
        let public = DocumentOut::public(state, serial, &no_certificates, key_id.as_deref());
        let public_sha256 = self.public_digest(&serde_json::to_value(&public).map_err(bug)?);
        let sealed = Sealed {
            seal: Seal {
                lineage: state.lineage,
                serial,
                public_sha256: public_sha256.clone(),
            },
            secrets,
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&sealed)
                .map_err(|e| Error::Bug(format!("serialising the secrets: {e}")))?,
        );
        let armored = encrypt(&recipients, &plaintext)?;
        let mac = secrets
            .state_key
            .as_ref()
            .map(|key| key.mac(state.lineage, serial, &public_sha256, &armored));
        let certificates: BTreeMap<&Address, &RawValue> = self
            .certificates
            .iter()
            .map(|(address, fragments)| (address, &*fragments.pretty))
            .collect();
        let document = DocumentOut {
            mac: mac.as_deref(),
            secrets: Some(&armored),
            ..DocumentOut::public(state, serial, &certificates, key_id.as_deref())
        };
        let mut bytes = std::mem::take(&mut self.spare);
        bytes.clear();
        serde_json::to_writer_pretty(&mut bytes, &document).map_err(bug)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Takes back the bytes of a document written, to serialise the next one into.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        self.spare = bytes;
    }

    /// Brings the fragments in line with `certificates`: new and changed ones serialised,
    /// removed ones dropped.
    fn refresh(&mut self, certificates: &BTreeMap<Address, CertificateState>) -> Result<()> {
        self.certificates
            .retain(|address, _| certificates.contains_key(address));
        for (address, certificate) in certificates {
            match self.certificates.get(address) {
                Some(cached) if cached.certificate == *certificate => {}
                _ => {
                    self.certificates
                        .insert(address.clone(), Fragments::of(certificate)?);
                }
            }
        }
        Ok(())
    }

    /// The digest of the public half: `document` (with an empty certificates map) in
    /// canonical JSON with the cached certificates put in its place.
    fn public_digest(&self, document: &serde_json::Value) -> String {
        let mut hasher = Sha256::new();
        let serde_json::Value::Object(fields) = document else {
            unreachable!("a document serialises as an object")
        };
        canonical_object(&mut hasher, fields.iter(), |out, name, value| {
            if name == "certificates" {
                self.canonical_certificates(out);
            } else {
                canonical(value, out);
            }
        });
        hex::encode(hasher.finalize())
    }

    /// The certificates object in canonical JSON: addresses sorted as strings.
    fn canonical_certificates(&self, out: &mut impl Write) {
        let entries: Vec<(String, &[u8])> = self
            .certificates
            .iter()
            .map(|(address, fragments)| (address.to_string(), fragments.canonical.as_slice()))
            .collect();
        canonical_object(
            out,
            entries
                .iter()
                .map(|(address, fragment)| (address, *fragment)),
            |out, _, fragment| put(out, fragment),
        );
    }
}

/// Decodes a document's public half; the secret half stays sealed.
pub fn decode(bytes: &[u8]) -> Result<StoredState> {
    // The top level with each field's JSON as it stands in `bytes`: no tree of the whole
    // document is built (at 10,000 certificates a `Value` is twice the document).
    let raw: &RawValue = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_eof() {
            "is truncated or incomplete"
        } else {
            "is not valid JSON"
        };
        Error::State(format!(
            "The state document {what} (line {}, column {}: {e}). It may have been cut short by a \
             full disk or edited by hand; restore the previous version from the `.backup` file next to it, \
             then run `certform state accept-rollback`.",
            e.line(),
            e.column()
        ))
    })?;
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        Error::State(
            "The state document is not a JSON object, so it is not a certform state.".to_string(),
        )
    })?;
    let version = match fields.get("format_version").map(|raw| value_of(raw)) {
        None => {
            return Err(Error::State(
                "The state document has no `format_version` field, so it is not a certform state.".to_string(),
            ))
        }
        Some(v) => v.as_u64().ok_or_else(|| {
            Error::State(format!(
                "The state document's `format_version` is {v}, not a whole number, so it is not a certform state."
            ))
        })?,
    };
    if version > u64::from(FORMAT_VERSION) {
        return Err(Error::State(format!(
            "The state was written by a newer certform (format version {version}; this build reads \
             versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}). Upgrade certform to work with this state."
        )));
    }
    if version < u64::from(MIN_FORMAT_VERSION) {
        return Err(Error::State(format!(
            "The state has format version {version}, which this certform no longer supports (it reads \
             versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}). Upgrade it with an older certform release first."
        )));
    }
    if !fields
        .get(SECRETS_FIELD)
        .is_some_and(|raw| raw.get().starts_with('"'))
    {
        return Err(Error::State(
            "The state document's `secrets` is missing or not a string. Restore the previous \
             version from the `.backup` file next to it (then run `certform state \
             accept-rollback`), or fix the edit."
                .to_string(),
        ));
    }
    let public_sha256 = digest_of_public_half(&fields);
    drop(fields);
    let document: DocumentIn = serde_json::from_slice(bytes).map_err(|e| {
        Error::State(format!(
            "The state document is invalid: {e}. Restore the previous version from the `.backup` \
             file next to it (then run `certform state accept-rollback`), or fix the edit."
        ))
    })?;
    Ok(StoredState {
        state: State {
            format_version: document.format_version,
            lineage: document.lineage,
            serial: document.serial,
            accounts: document.accounts,
            certificates: document.certificates,
            persist_records: document.persist_records,
        },
        key_id: document.key_id,
        mac: document.mac,
        sealed: document.secrets,
        public_sha256,
        origin: None,
    })
}

impl StoredState {
    /// Names the file the document came from, so messages can point at its backup.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Decrypts the secret half and checks its seal against the public half it came with.
    pub fn open_secrets(&self, identity: &Identity) -> Result<Secrets> {
        let armored = self.sealed_text()?;
        let plaintext = decrypt(&armored, identity, self.origin.as_deref())?;
        let sealed: Sealed<Secrets> = serde_json::from_slice(&plaintext).map_err(|e| {
            Error::Decrypt(format!(
                "the decrypted secrets are not valid ({e}). {}",
                self.restore_hint()
            ))
        })?;
        let state = &self.state;
        let seal = &sealed.seal;
        let problem = if seal.lineage != state.lineage {
            Some(format!(
                "its encrypted secrets belong to another state (lineage {}, while the public half has lineage {})",
                seal.lineage, state.lineage
            ))
        } else if seal.serial != state.serial {
            Some(format!(
                "its encrypted secrets were written at serial {} but the public half is at serial {}, \
                 so the two halves come from different versions",
                seal.serial, state.serial
            ))
        } else if seal.public_sha256 != self.public_sha256 {
            Some(
                "its public half does not match the digest sealed in its encrypted secrets"
                    .to_string(),
            )
        } else {
            self.authentication_problem(&sealed.secrets, &armored)
        };
        match problem {
            Some(problem) => Err(Error::State(format!(
                "The state file has been modified outside certform: {problem}. {}",
                self.restore_hint()
            ))),
            None => Ok(sealed.secrets),
        }
    }

    /// What is wrong with the document's MAC under the key in its secrets (`None`: it
    /// verifies, or the state has no key yet and claims none). A state without a key is
    /// then only as good as its pins (`state::auth::check_pins`).
    fn authentication_problem(&self, secrets: &Secrets, armored: &str) -> Option<String> {
        let state = &self.state;
        match (&secrets.state_key, &self.mac) {
            (None, None) if self.key_id.is_none() => None,
            (None, _) => Some(
                "it carries a MAC or key id but its encrypted secrets hold no state key".into(),
            ),
            (Some(_), None) => Some("its MAC is missing".into()),
            (Some(key), Some(mac)) => {
                if self.key_id.as_deref() != Some(key.id().as_str()) {
                    Some("the key id in its public half is not the id of its state key".into())
                } else if !key.verify(
                    state.lineage,
                    state.serial,
                    &self.public_sha256,
                    armored,
                    mac,
                ) {
                    Some("its MAC does not verify under its state key".into())
                } else {
                    None
                }
            }
        }
    }

    /// The armored secret half, unescaped from its JSON string.
    fn sealed_text(&self) -> Result<String> {
        serde_json::from_str(self.sealed.get()).map_err(|e| {
            Error::State(format!(
                "The state document's `secrets` is not a string ({e}). {}",
                self.restore_hint()
            ))
        })
    }

    fn restore_hint(&self) -> String {
        match &self.origin {
            Some(origin) => format!(
                "Restore the previous version from `{origin}.backup` and run `certform state \
                 accept-rollback` (or undo the edit); never edit the state by hand."
            ),
            None => {
                "Restore the previous version from the state's `.backup` file and run `certform \
                     state accept-rollback` (or undo the edit); \
                     never edit the state by hand."
                    .to_string()
            }
        }
    }
}

/// SHA-256 (hex) of the canonical JSON (object keys sorted, no whitespace) of the document
/// whose top-level fields are `fields`, without `secrets` and `mac`, parsing one
/// certificate at a time. The JSON is hashed as it is written, never held whole.
fn digest_of_public_half(fields: &BTreeMap<String, &RawValue>) -> String {
    let mut hasher = Sha256::new();
    let public = fields
        .iter()
        .filter(|(name, _)| *name != SECRETS_FIELD && *name != MAC_FIELD);
    canonical_object(&mut hasher, public, |out, name, raw| {
        let entries = (name == "certificates")
            .then(|| serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()).ok())
            .flatten();
        match entries {
            Some(entries) => canonical_object(out, entries.iter(), |out, _, raw| {
                canonical(&value_of(raw), out)
            }),
            None => canonical(&value_of(raw), out),
        }
    });
    hex::encode(hasher.finalize())
}

/// An object in canonical JSON from its entries (sorted here by key), each value written
/// by `value`.
fn canonical_object<'e, W: Write, V: 'e>(
    out: &mut W,
    entries: impl Iterator<Item = (&'e String, V)>,
    mut value: impl FnMut(&mut W, &str, V),
) {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    put(out, b"{");
    for (i, (key, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            put(out, b",");
        }
        write_json(out, key);
        put(out, b":");
        value(out, key, v);
    }
    put(out, b"}");
}

/// A field's JSON as a tree; it was checked as valid JSON when the document was read.
fn value_of(raw: &RawValue) -> serde_json::Value {
    serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null)
}

/// Writes keys and scalars with serde_json straight into `out` (a hasher, or a buffer in
/// tests): the bytes are what `Value::to_string` gives, without a string per value (this
/// runs on every state read and write).
fn canonical(value: &serde_json::Value, out: &mut impl Write) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            canonical_object(out, map.iter(), |out, _, value| canonical(value, out))
        }
        Value::Array(items) => {
            put(out, b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    put(out, b",");
                }
                canonical(item, out);
            }
            put(out, b"]");
        }
        scalar => write_json(out, scalar),
    }
}

fn put(out: &mut impl Write, bytes: &[u8]) {
    out.write_all(bytes)
        .expect("a hasher or buffer takes every byte");
}

fn write_json(out: &mut impl Write, value: &impl Serialize) {
    serde_json::to_writer(out, value)
        .expect("a string or scalar serialises into a hasher or buffer");
}

fn parse_recipients(recipients: &[String]) -> Result<Vec<Box<dyn age::Recipient + Send>>> {
    if recipients.is_empty() {
        return Err(Error::State(
            "No recipients are configured for the state's secrets: at least one age recipient \
             (age1...) or SSH public key (ssh-ed25519 / ssh-rsa) is needed."
                .to_string(),
        ));
    }
    recipients
        .iter()
        .map(|text| {
            let trimmed = text.trim();
            let parsed: Option<Box<dyn age::Recipient + Send>> = if trimmed.starts_with("age1") {
                trimmed
                    .parse::<age::x25519::Recipient>()
                    .ok()
                    .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            } else if trimmed.starts_with("ssh-") {
                trimmed
                    .parse::<age::ssh::Recipient>()
                    .ok()
                    .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            } else {
                None
            };
            parsed.ok_or_else(|| {
                Error::State(format!(
                    "The state recipient {text:?} is not a valid age recipient (age1...) or supported \
                     SSH public key (ssh-ed25519 or ssh-rsa of at least 2048 bits)."
                ))
            })
        })
        .collect()
}

fn encrypt(recipients: &[Box<dyn age::Recipient + Send>], plaintext: &[u8]) -> Result<String> {
    use age::armor::{ArmoredWriter, Format};
    let fail = |e: &dyn std::fmt::Display| {
        Error::State(format!("Cannot encrypt the state's secrets: {e}."))
    };
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| fail(&e))?;
    let armored =
        ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armored).map_err(|e| fail(&e))?;
    writer.write_all(plaintext).map_err(|e| fail(&e))?;
    let armored = writer.finish().map_err(|e| fail(&e))?;
    let bytes = armored.finish().map_err(|e| fail(&e))?;
    String::from_utf8(bytes)
        .map_err(|e| Error::Bug(format!("armored age output is not UTF-8: {e}")))
}

fn decrypt(armored: &str, identity: &Identity, origin: Option<&str>) -> Result<Zeroizing<Vec<u8>>> {
    use age::armor::ArmoredReader;
    let corrupt = |e: &dyn std::fmt::Display| {
        let backup = origin.map_or_else(
            || "the state's `.backup` file".to_string(),
            |o| format!("`{o}.backup`"),
        );
        Error::Decrypt(format!(
            "the encrypted secrets in the state are damaged ({e}). Restore the previous version from \
             {backup}, then run `certform state accept-rollback`."
        ))
    };
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(armored.as_bytes())).map_err(|e| corrupt(&e))?;
    let mut reader = decryptor.decrypt(identity.keys()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => Error::Decrypt(format!(
            "none of the keys in the identity from {} is a recipient of this state (its public keys: \
             {}). Use an identity whose public key is among the state's recipients, or ask someone \
             who holds one to add yours as a recipient and apply.",
            identity.source(),
            if identity.recipients().is_empty() {
                "unknown".to_string()
            } else {
                identity.recipients().join(", ")
            }
        )),
        other => corrupt(&other),
    })?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| corrupt(&e))?;
    Ok(plaintext)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::address::Address;
    use crate::keytype::KeyType;
    use crate::secret::Sensitive;
    use crate::state::model::{
        AccountSecret, AccountState, CertificateSecret, CertificateState, DeployedFile,
        DeployedOutput,
    };

    /// A fresh ed25519 key in OpenSSH's private key format (`openssh-key-v1`, unencrypted, as
    /// `ssh-keygen -t ed25519 -N ""` writes it) and its `authorized_keys` line, made at test
    /// time so that no private key lives in the source.
    pub(crate) fn ssh_ed25519_key() -> (String, String) {
        use base64::Engine as _;
        fn string(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let seed: [u8; 32] = rand::random();
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let mut public_blob = Vec::new();
        string(&mut public_blob, b"ssh-ed25519");
        string(&mut public_blob, &public);

        let check: u32 = rand::random();
        let mut private = Vec::new();
        private.extend_from_slice(&check.to_be_bytes());
        private.extend_from_slice(&check.to_be_bytes());
        string(&mut private, b"ssh-ed25519");
        string(&mut private, &public);
        string(&mut private, &[&seed[..], &public[..]].concat());
        string(&mut private, b"certform-test");
        for pad in 1..=((8 - private.len() % 8) % 8) as u8 {
            private.push(pad);
        }

        let mut blob = b"openssh-key-v1\0".to_vec();
        string(&mut blob, b"none");
        string(&mut blob, b"none");
        string(&mut blob, b"");
        blob.extend_from_slice(&1u32.to_be_bytes());
        string(&mut blob, &public_blob);
        string(&mut blob, &private);

        let key = crate::pem::encode("OPENSSH PRIVATE KEY", &blob);
        let recipient = format!(
            "ssh-ed25519 {} certform-test",
            base64::engine::general_purpose::STANDARD.encode(&public_blob)
        );
        (key, recipient)
    }

    pub(crate) const SECRET_MARKER: &str = "MC4CAQAwBQYDK2VwBCIEINOTAREALKEYBUTSECRETMARKER";

    pub(crate) fn x25519_identity() -> (Identity, String) {
        use age::secrecy::ExposeSecret;
        let key = age::x25519::Identity::generate();
        let recipient = key.to_public().to_string();
        let text = format!("# test\n{}\n", key.to_string().expose_secret());
        (Identity::parse(&text, "test-x25519").unwrap(), recipient)
    }

    pub(crate) fn sample() -> (State, Secrets) {
        let at = time::macros::datetime!(2026-11-28 12:00:00.123456789 UTC);
        let mut state = State::new();
        state.serial = 7;
        state.accounts.insert(
            "le".to_string(),
            AccountState {
                directory: "https://acme.example/dir".to_string(),
                account_url: "https://acme.example/acct/1".to_string(),
                contact: vec!["mailto:ops@example.org".to_string()],
                key_type: KeyType::EcdsaP256,
                key_created_at: at,
                created_at: at,
                deactivate_on_destroy: true,
                ca_bundle: Some("/etc/certform/ca.pem".into()),
                external_account_binding: Some(format!("sha256:{}", "0".repeat(64))),
            },
        );
        let address = Address::certificate("site").with_key("example.org");
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "nginx".to_string(),
            DeployedOutput {
                files: vec![DeployedFile {
                    kind: crate::desired::model::OutputFileKind::Key,
                    path: "/etc/ssl/example.key".into(),
                    sha256: "00".repeat(32),
                    mode: 0o600,
                }],
                remote: None,
            },
        );
        state.certificates.insert(
            address.clone(),
            CertificateState {
                account: "le".to_string(),
                directory: "https://acme.example/dir".to_string(),
                domains: vec!["example.org".to_string(), "www.example.org".to_string()],
                key_type: KeyType::EcdsaP384,
                must_staple: false,
                profile: None,
                preferred_chain: Some("Test Root".to_string()),
                revoke_on_destroy: true,
                serial_number: "0abc".to_string(),
                not_before: at,
                not_after: at + time::Duration::days(90),
                issuer: "CN=Test CA".to_string(),
                spki_sha256: "11".repeat(32),
                certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                    .to_string(),
                chain_pem: String::new(),
                order_url: Some("https://acme.example/order/1".to_string()),
                issued_at: at,
                outputs,
                ari: Some(crate::state::model::AriState {
                    window_start: at,
                    window_end: at + time::Duration::days(2),
                    renew_at: at + time::Duration::days(1),
                    next_check_at: at + time::Duration::hours(6),
                    explanation_url: Some("https://acme.example/why".into()),
                }),
                pending_revocation: vec![crate::state::model::PendingRevocation {
                    serial_number: "0abb".to_string(),
                    account: "le".to_string(),
                    certificate_pem: String::new(),
                    not_after: at,
                    revoke_after: at,
                }],
                revoked: Some(crate::state::model::Revoked {
                    reason: "keyCompromise".to_string(),
                    at,
                }),
            },
        );
        let mut secrets = Secrets::default();
        secrets.accounts.insert(
            "le".to_string(),
            AccountSecret {
                credentials: Sensitive::new(format!("{{\"key_pkcs8\":\"{SECRET_MARKER}\"}}")),
            },
        );
        secrets.certificates.insert(
            address,
            CertificateSecret {
                private_key_pem: Sensitive::new(format!(
                    "-----BEGIN PRIVATE KEY-----\n{SECRET_MARKER}\n-----END PRIVATE KEY-----\n"
                )),
            },
        );
        secrets.state_key = Some(crate::state::auth::StateKey::generate());
        (state, secrets)
    }

    fn state_err(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::State(msg)) => msg,
            other => panic!("expected Error::State, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_with_x25519_and_ssh_recipients() {
        let (x, x_recipient) = x25519_identity();
        let (ssh_key, ssh_recipient) = ssh_ed25519_key();
        let ssh = Identity::parse(&ssh_key, "test-ssh").unwrap();
        assert_eq!(ssh.recipient(), None);
        assert!(ssh_recipient.starts_with(&ssh.recipients()[0]));
        let (state, secrets) = sample();
        let bytes = encode(&state, &secrets, &[x_recipient, ssh_recipient.clone()]).unwrap();

        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains(SECRET_MARKER),
            "plaintext secret in the document"
        );
        assert!(
            !text.contains("PRIVATE KEY-----\n"),
            "plaintext key in the document"
        );
        assert!(text.contains("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(text.starts_with("{\n  \"format_version\": 2,"), "{text}");

        let stored = decode(&bytes).unwrap();
        assert_eq!(stored.state, state);
        assert_eq!(stored.open_secrets(&x).unwrap(), secrets);
        assert_eq!(stored.open_secrets(&ssh).unwrap(), secrets);

        // One identity file holding both kinds of key; the x25519 one is `recipient()`.
        use age::secrecy::ExposeSecret;
        let other = age::x25519::Identity::generate();
        let text = format!(
            "# certform identity\n{ssh_key}\n{}\n",
            other.to_string().expose_secret()
        );
        let both = Identity::parse(&text, "both").unwrap();
        assert_eq!(both.recipients().len(), 2);
        assert_eq!(both.recipient(), Some(other.to_public().to_string()));
        assert_eq!(stored.open_secrets(&both).unwrap(), secrets);
    }

    #[test]
    fn edited_public_half_is_detected() {
        let (x, r) = x25519_identity();
        let (state, secrets) = sample();
        let bytes = encode(&state, &secrets, &[r]).unwrap();
        let text = String::from_utf8(bytes).unwrap();

        let edited = text.replace("www.example.org", "evil.example.org");
        assert_ne!(edited, text);
        let stored = decode(edited.as_bytes())
            .unwrap()
            .with_origin("/s/state.json");
        let msg = state_err(stored.open_secrets(&x));
        assert!(
            msg.starts_with("The state file has been modified outside certform:"),
            "{msg}"
        );
        assert!(msg.contains("/s/state.json.backup"), "{msg}");

        // An added field is an edit too; re-indenting is not.
        let added = text.replacen("\"serial\"", "\"extra\": 1,\n  \"serial\"", 1);
        let msg = state_err(decode(added.as_bytes()).unwrap().open_secrets(&x));
        assert!(msg.contains("does not match the digest"), "{msg}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        assert_eq!(decode(&compact).unwrap().open_secrets(&x).unwrap(), secrets);
    }

    #[test]
    fn spliced_halves_are_detected() {
        let (x, r) = x25519_identity();
        let recipients = [r];
        let (mut state, secrets) = sample();
        let old = encode(&state, &secrets, &recipients).unwrap();
        state.serial += 1;
        let new = encode(&state, &Secrets::default(), &recipients).unwrap();

        let mut doc: serde_json::Value = serde_json::from_slice(&new).unwrap();
        let old_doc: serde_json::Value = serde_json::from_slice(&old).unwrap();
        doc["secrets"] = old_doc["secrets"].clone();
        let spliced = serde_json::to_vec_pretty(&doc).unwrap();
        let msg = state_err(decode(&spliced).unwrap().open_secrets(&x));
        assert!(msg.contains("modified outside certform"), "{msg}");
        assert!(
            msg.contains("serial 7") && msg.contains("serial 8"),
            "{msg}"
        );

        // Secrets of another lineage.
        let (other, _) = sample();
        let foreign = encode(&other, &secrets, &recipients).unwrap();
        let foreign: serde_json::Value = serde_json::from_slice(&foreign).unwrap();
        doc["secrets"] = foreign["secrets"].clone();
        let msg = state_err(
            decode(&serde_json::to_vec(&doc).unwrap())
                .unwrap()
                .open_secrets(&x),
        );
        assert!(msg.contains("another state"), "{msg}");
    }

    #[test]
    fn wrong_identity_is_a_decrypt_error() {
        let (_, r) = x25519_identity();
        let (state, secrets) = sample();
        let stored = decode(&encode(&state, &secrets, &[r]).unwrap()).unwrap();
        let (wrong, wrong_recipient) = x25519_identity();
        match stored.open_secrets(&wrong) {
            Err(err @ Error::Decrypt(_)) => {
                let msg = err.to_string();
                assert!(
                    msg.contains("none of the keys in the identity from test-x25519"),
                    "{msg}"
                );
                assert!(msg.contains("is a recipient of this state"), "{msg}");
                assert!(msg.contains(&wrong_recipient), "{msg}");
            }
            other => panic!("expected Error::Decrypt, got {other:?}"),
        }
    }

    #[test]
    fn damaged_ciphertext_is_a_decrypt_error() {
        let (x, r) = x25519_identity();
        let (state, secrets) = sample();
        let bytes = encode(&state, &secrets, &[r]).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        doc["secrets"] =
            serde_json::Value::String("-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n".into());
        let stored = decode(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert!(matches!(stored.open_secrets(&x), Err(Error::Decrypt(m)) if m.contains("damaged")));
    }

    #[test]
    fn secrets_that_are_not_a_string_are_refused_when_read() {
        let (_, r) = x25519_identity();
        let (state, secrets) = sample();
        let bytes = encode(&state, &secrets, &[r]).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        doc["secrets"] = serde_json::json!({"not": "armored"});
        let msg = state_err(decode(&serde_json::to_vec(&doc).unwrap()));
        assert!(
            msg.contains("`secrets` is missing or not a string") && msg.contains(".backup"),
            "{msg}"
        );
    }

    #[test]
    fn a_keyed_document_carries_a_mac_that_binds_it() {
        let (x, r) = x25519_identity();
        let (state, mut secrets) = sample();
        let key = crate::state::auth::StateKey::generate();
        secrets.state_key = Some(key.clone());
        let bytes = encode(&state, &secrets, &[r]).unwrap();
        let stored = decode(&bytes).unwrap();
        assert_eq!(stored.key_id.as_deref(), Some(key.id().as_str()));
        assert_eq!(stored.open_secrets(&x).unwrap(), secrets);

        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let edited = |field: &str, value: serde_json::Value| {
            let mut doc = doc.clone();
            doc[field] = value;
            decode(&serde_json::to_vec(&doc).unwrap())
                .unwrap()
                .open_secrets(&x)
        };
        let msg = state_err(edited("mac", "hmac-sha256:00".into()));
        assert!(msg.contains("its MAC does not verify"), "{msg}");
        let msg = state_err(edited(
            "key_id",
            crate::state::auth::StateKey::generate().id().into(),
        ));
        assert!(msg.contains("does not match the digest"), "{msg}");
        let mut stripped = doc.clone();
        stripped.as_object_mut().unwrap().remove("mac");
        let msg = state_err(
            decode(&serde_json::to_vec(&stripped).unwrap())
                .unwrap()
                .open_secrets(&x),
        );
        assert!(msg.contains("its MAC is missing"), "{msg}");
    }

    #[test]
    fn broken_documents_have_clear_messages() {
        let (_, r) = x25519_identity();
        let (state, secrets) = sample();
        let bytes = encode(&state, &secrets, &[r]).unwrap();

        let msg = state_err(decode(&bytes[..bytes.len() / 2]));
        assert!(
            msg.contains("truncated") && msg.contains("line ") && msg.contains("column "),
            "{msg}"
        );
        let msg = state_err(decode(b"{\n  \"format_version\": 1,\n  oops\n}"));
        assert!(
            msg.contains("not valid JSON") && msg.contains("line 3"),
            "{msg}"
        );
        let msg = state_err(decode(b"[1, 2]"));
        assert!(msg.contains("not a JSON object"), "{msg}");
        let msg = state_err(decode(b"{\"serial\": 1}"));
        assert!(msg.contains("no `format_version`"), "{msg}");

        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        doc["format_version"] = 3.into();
        let msg = state_err(decode(&serde_json::to_vec(&doc).unwrap()));
        assert!(
            msg.contains("written by a newer certform (format version 3"),
            "{msg}"
        );
        doc["format_version"] = 0.into();
        let msg = state_err(decode(&serde_json::to_vec(&doc).unwrap()));
        assert!(msg.contains("no longer supports"), "{msg}");

        doc["format_version"] = 1.into();
        doc.as_object_mut().unwrap().remove("serial");
        let msg = state_err(decode(&serde_json::to_vec(&doc).unwrap()));
        assert!(msg.contains("missing field `serial`"), "{msg}");
        doc["serial"] = "seven".into();
        let msg = state_err(decode(&serde_json::to_vec_pretty(&doc).unwrap()));
        assert!(
            msg.contains("invalid type") && msg.contains("line"),
            "{msg}"
        );
    }

    #[test]
    fn encode_needs_valid_recipients() {
        let (state, secrets) = sample();
        let msg = state_err(encode(&state, &secrets, &[]));
        assert!(msg.contains("No recipients"), "{msg}");
        let (_, good) = x25519_identity();
        let msg = state_err(encode(
            &state,
            &secrets,
            &[good, "age1notarecipient".to_string()],
        ));
        assert!(msg.contains("\"age1notarecipient\""), "{msg}");
    }
}

#[cfg(test)]
mod schema_tests {
    use super::tests::{sample, x25519_identity};
    use super::*;

    /// The digest's input, byte for byte: states written by earlier builds must still open.
    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let value: serde_json::Value = serde_json::from_str(
            r#"{ "b": [1, 2.5, null, true, -3], "a": { "y": "\u00e9\"\n\\", "x": {} } }"#,
        )
        .unwrap();
        let mut out = Vec::new();
        canonical(&value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"x":{},"y":"é\"\n\\"},"b":[1,2.5,null,true,-3]}"#
        );
    }

    /// The document `encode` would have written before the encoder kept fragments: the
    /// whole state serialised at once, with `bytes`' own MAC and sealed secrets.
    fn written_whole(state: &State, bytes: &[u8]) -> Vec<u8> {
        let written: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let document = DocumentOut {
            mac: written["mac"].as_str(),
            secrets: written["secrets"].as_str(),
            ..DocumentOut::public(
                state,
                state.serial,
                &state.certificates,
                written["key_id"].as_str(),
            )
        };
        let mut whole = serde_json::to_vec_pretty(&document).unwrap();
        whole.push(b'\n');
        whole
    }

    #[test]
    fn the_encoder_writes_what_a_whole_serialisation_writes_as_certificates_change() {
        let (identity, recipient) = x25519_identity();
        let (mut state, mut secrets) = sample();
        secrets.state_key = Some(crate::state::auth::StateKey::generate());
        let template = state.certificates.values().next().unwrap().clone();
        let mut encoder = Encoder::default();
        let mut check = |state: &State| {
            let bytes = encoder
                .encode(state, &secrets, std::slice::from_ref(&recipient))
                .unwrap();
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                String::from_utf8(written_whole(state, &bytes)).unwrap()
            );
            // The digest sealed with the secrets is the one a reader computes.
            let read = decode(&bytes).unwrap();
            assert_eq!(read.state, *state);
            read.open_secrets(&identity).unwrap();
        };
        check(&state);
        // Added (addresses that sort differently as strings and as addresses), changed,
        // then removed certificates.
        for name in ["b", "a-b", "a_b", "a"] {
            let mut certificate = template.clone();
            certificate.domains = vec![format!("{name}.example\"\u{e9}")];
            state
                .certificates
                .insert(Address::certificate(name), certificate);
            state.serial += 1;
            check(&state);
        }
        state
            .certificates
            .get_mut(&Address::certificate("a"))
            .unwrap()
            .chain_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
        state.serial += 1;
        check(&state);
        state.certificates.remove(&Address::certificate("a-b"));
        state.serial += 1;
        check(&state);
        state.certificates.clear();
        check(&state);
    }

    /// `schemas/state.schema.json` names exactly the fields this build writes.
    #[test]
    fn schema_matches_the_document() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/state.schema.json")).unwrap();
        let (_, r) = x25519_identity();
        let (mut state, secrets) = sample();
        // Written only when there is one.
        state.persist_records.insert(
            "dns_persist_solver.p[\"example.com\"]".parse().unwrap(),
            crate::state::model::PersistRecordState {
                name: "_validation-persist.example.com".into(),
                value: "ca.test; accounturi=https://ca.test/acct/1".into(),
                via: "dns_solver.bind".parse().unwrap(),
                written_at: time::OffsetDateTime::UNIX_EPOCH,
            },
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&encode(&state, &secrets, &[r]).unwrap()).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&doc), keys(&schema["properties"]));
        let account = doc["accounts"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(
            keys(account),
            keys(&schema["$defs"]["account"]["properties"])
        );
        let cert = doc["certificates"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(
            keys(cert),
            keys(&schema["$defs"]["certificate"]["properties"])
        );
    }
}
