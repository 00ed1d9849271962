//! The state model. [`State`] is the public half: everything `plan`, `show` and
//! `state list` need, readable without the age identity. [`Secrets`] is the secret half:
//! account credentials and certificate private keys, only ever stored age-encrypted.

use crate::address::Address;
use crate::desired::model::{CertificateSpec, OutputFileKind};
use crate::keys::CertSummary;
use crate::keytype::KeyType;
use crate::secret::Sensitive;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

/// The version of the state document this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Fixed when the state is created; a state from another lineage is another state.
    pub lineage: uuid::Uuid,
    /// Incremented on every write.
    pub serial: u64,
    /// Keyed by account name.
    pub accounts: BTreeMap<String, AccountState>,
    /// Keyed by certificate address.
    pub certificates: BTreeMap<Address, CertificateState>,
    /// The dns-persist-01 records certform wrote, keyed by record address
    /// (`dns_persist_solver.NAME["example.com"]`).
    pub persist_records: BTreeMap<Address, PersistRecordState>,
}

/// A standing dns-persist-01 TXT record certform wrote (public: it is in the DNS anyway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistRecordState {
    /// `_validation-persist.<name>`.
    pub name: String,
    /// The TXT value as written.
    pub value: String,
    /// The `dns_solver` that wrote it (and removes it).
    pub via: Address,
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: time::OffsetDateTime,
}

impl State {
    pub fn new() -> Self {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4(),
            serial: 0,
            accounts: BTreeMap::new(),
            certificates: BTreeMap::new(),
            persist_records: BTreeMap::new(),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub directory: String,
    /// The account URL the CA assigned (the `kid` of every request).
    pub account_url: String,
    pub contact: Vec<String>,
    pub key_type: KeyType,
    #[serde(with = "time::serde::rfc3339")]
    pub key_created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Copied from the configuration, so removing the block still knows to deactivate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deactivate_on_destroy: bool,
    /// The account's `ca_bundle`, kept so a removed account can still reach its CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Fingerprint (`sha256:...`) of the `external_account_binding` kid the configuration
    /// last had; never the HMAC key. A changed kid registers the account again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_account_binding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateState {
    /// Account name the certificate was issued through.
    pub account: String,
    /// Directory URL of the CA that issued it.
    pub directory: String,
    /// As requested; the first is the common name.
    pub domains: Vec<String>,
    pub key_type: KeyType,
    pub must_staple: bool,
    pub profile: Option<String>,
    /// `preferred_chain` as configured when the certificate was issued: changing it reissues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<String>,
    /// Copied from the configuration at issuance, so removing the block from the
    /// configuration still knows whether to revoke.
    pub revoke_on_destroy: bool,
    /// Lower-case hex serial number.
    pub serial_number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Issuer distinguished name of the leaf.
    pub issuer: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// The leaf certificate, PEM (public).
    pub certificate_pem: String,
    /// The issuer chain without the leaf, PEM (public).
    pub chain_pem: String,
    /// Where the URL of the order that issued it is known.
    pub order_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// Outputs as last deployed, keyed by output name.
    #[serde(default)]
    pub outputs: BTreeMap<String, DeployedOutput>,
    /// The CA's ARI renewal window (RFC 9773) as last fetched, with the renewal time chosen in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari: Option<AriState>,
    /// Predecessors kept valid for `revoke_replaced_after`, revoked (superseded) once it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_revocation: Vec<PendingRevocation>,
    /// Set by `certform revoke`: the certificate is revoked at the CA and must be reissued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revoked>,
}

impl CertificateState {
    /// A certificate issued (or imported) for `spec` through the CA at `directory`: its own
    /// facts from `summary`, the settings as configured, no output written yet.
    pub fn from_summary(
        summary: CertSummary,
        spec: &CertificateSpec,
        directory: String,
        order_url: Option<String>,
        issued_at: OffsetDateTime,
    ) -> Self {
        CertificateState {
            account: spec.account.clone(),
            directory,
            domains: spec.domains.clone(),
            key_type: spec.key_type,
            must_staple: spec.must_staple,
            profile: spec.profile.clone(),
            preferred_chain: spec.preferred_chain.clone(),
            revoke_on_destroy: spec.revoke_on_destroy,
            serial_number: summary.serial_number,
            not_before: summary.not_before,
            not_after: summary.not_after,
            issuer: summary.issuer,
            spki_sha256: summary.spki_sha256,
            certificate_pem: summary.certificate_pem,
            chain_pem: summary.chain_pem,
            order_url,
            issued_at,
            outputs: BTreeMap::new(),
            ari: None,
            pending_revocation: Vec::new(),
            revoked: None,
        }
    }
}

/// An ARI suggested window and the moment certform chose to renew inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    /// Chosen once inside the window; renewal is planned once it has passed.
    #[serde(with = "time::serde::rfc3339")]
    pub renew_at: OffsetDateTime,
    /// The CA's `Retry-After`: the window is not fetched again before this.
    #[serde(with = "time::serde::rfc3339")]
    pub next_check_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_url: Option<String>,
}

/// A replaced certificate waiting for its grace period to end before it is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRevocation {
    /// Lower-case hex serial number.
    pub serial_number: String,
    /// The account that issued it (revocation is signed with its key).
    pub account: String,
    /// The leaf, PEM (public).
    pub certificate_pem: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub revoke_after: OffsetDateTime,
}

/// A revocation done outside a plan (`certform revoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// The RFC 5280 reason as given (`keyCompromise`).
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What apply wrote for one `output` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedOutput {
    /// A `files` output's files (empty for a remote kind).
    #[serde(default)]
    pub files: Vec<DeployedFile>,
    /// What a remote kind delivered (`None` for `files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteDelivery>,
}

/// Where a remote kind delivered a certificate and what drift checks compare: only public
/// identifiers (an ARN, a version id, an object's ETag), never a byte of the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteDelivery {
    /// `OutputKind::target` when delivered: a configuration that moves the output elsewhere
    /// delivers again.
    pub target: String,
    /// What was written, as its service names it: the ACM certificate ARN (imported again to
    /// the same ARN on renewal), the secret's ARN, `s3://bucket/prefix`.
    pub location: String,
    /// The serial number of the certificate delivered (a new certificate delivers again).
    pub serial_number: String,
    /// What a refresh reads back, by item: `serial` (ACM), `version` (Secrets Manager), each
    /// object key with its ETag (S3).
    pub items: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedFile {
    pub kind: OutputFileKind,
    pub path: PathBuf,
    /// SHA-256 of the bytes written, hex. For the key file this is a digest of secret
    /// material, which reveals nothing usable.
    pub sha256: String,
    pub mode: u32,
}

/// The secret half, decrypted. Never serialised anywhere but inside the age envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Secrets {
    pub accounts: BTreeMap<String, AccountSecret>,
    pub certificates: BTreeMap<Address, CertificateSecret>,
    /// The lineage's authentication key (`state::auth`); `None` only in a state written
    /// before states were authenticated, until its next write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_key: Option<super::auth::StateKey>,
    /// An account's credentials with its next key, stored before the CA is asked to change
    /// to it (a key rollover) and settled, by asking the CA which key it holds, before the
    /// account is used again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending_account_keys: BTreeMap<String, AccountSecret>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSecret {
    /// instant-acme's `AccountCredentials` as JSON (holds the PKCS#8 account key).
    #[serde(with = "sensitive_string")]
    pub credentials: Sensitive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateSecret {
    /// The certificate's private key, PKCS#8 PEM.
    #[serde(with = "sensitive_string")]
    pub private_key_pem: Sensitive,
}

/// Serialises a [`Sensitive`] as its real text; only for the encrypted secret half.
mod sensitive_string {
    use crate::secret::Sensitive;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Sensitive, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Sensitive, D::Error> {
        Ok(Sensitive::new(String::deserialize(deserializer)?))
    }
}
