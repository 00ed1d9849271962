//! The validated desired state: what the configuration asks for, with every reference
//! resolved, every default applied and every secret wrapped in [`Sensitive`]. It is the input
//! of `plan::diff`, and its serialised form (secrets only as `(sensitive)`) is hashed into
//! the configuration digest that binds saved plans.

use crate::address::Address;
use crate::diag::SourceSpan;
use crate::keytype::KeyType;
use crate::secret::{ConfigSecret, Sensitive};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    /// The configuration directory every relative path was resolved against.
    pub config_dir: PathBuf,
    pub state: StateSettings,
    /// Upper bound of concurrent actions in apply (`certform { parallelism = N }`, default 10).
    pub parallelism: usize,
    /// Keyed by account name (the `NAME` in `account "NAME"`).
    pub accounts: BTreeMap<String, AccountSpec>,
    /// Keyed by solver address (`http_solver.web`, `dns_solver.bind`, ...).
    pub solvers: BTreeMap<Address, SolverSpec>,
    /// Keyed by certificate address (one per `for_each` instance).
    pub certificates: BTreeMap<Address, CertificateSpec>,
}

impl Desired {
    /// Every secret the configuration holds and knows: DNS providers' secrets (TSIG secrets,
    /// API keys), EAB HMAC keys, the PostgreSQL connection string.
    pub fn secrets(&self) -> Vec<&Sensitive> {
        let providers = self.solvers.values().flat_map(|solver| match solver {
            SolverSpec::Dns(dns) => dns.provider.secrets().collect(),
            _ => Vec::new(),
        });
        let eab = self.accounts.values().filter_map(|account| {
            account
                .external_account_binding
                .as_ref()
                .and_then(|eab| eab.hmac_key.value().ok())
        });
        let conn_str = match &self.state.backend {
            BackendSettings::Postgres(pg) => Some(&pg.conn_str),
            _ => None,
        };
        providers.chain(eab).chain(conn_str).collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StateSettings {
    pub backend: BackendSettings,
    /// age recipients (`age1...`, `ssh-ed25519 ...`, `ssh-rsa ...`) as written.
    pub recipients: Vec<String>,
    /// The state key id the state must carry (`state::auth`), pinned where a writer of the
    /// state cannot change it.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum BackendSettings {
    /// An absolute path (relative paths in config are resolved against the config dir).
    /// Default: `<config_dir>/state/default.certstate`.
    Local {
        path: PathBuf,
    },
    Postgres(PostgresSettings),
    S3(S3Settings),
}

/// `backend = "postgres"`: a table per schema, one row per workspace.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresSettings {
    /// libpq-style connection string or URL; may hold a password, which the configuration
    /// digest leaves out.
    #[serde(serialize_with = "conn_str_fingerprint")]
    pub conn_str: crate::secret::Sensitive,
    /// Default `certform`.
    pub schema: String,
    /// Extra PEM roots to trust for TLS (`sslmode` in `conn_str`).
    pub ca_bundle: Option<PathBuf>,
    /// `sslmode=prefer` or `disable` over TCP is refused without it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_transport: bool,
}

fn conn_str_fingerprint<S: serde::Serializer>(
    conn_str: &crate::secret::Sensitive,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::state::postgres::conn_str_fingerprint(conn_str))
}

/// `backend = "s3"`: one object per workspace and a conditional-write lock object.
#[derive(Debug, Clone, Serialize)]
pub struct S3Settings {
    pub bucket: String,
    /// The default workspace's key; others are `<workspace_key_prefix>/<NAME>/<key>`.
    pub key: String,
    /// Else `AWS_REGION` / the AWS profile, else `us-east-1`.
    pub region: Option<String>,
    /// An S3-compatible endpoint URL (MinIO, Ceph, moto, ...).
    pub endpoint: Option<String>,
    pub use_path_style: bool,
    /// Default `env:`, as Terraform's.
    pub workspace_key_prefix: String,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    pub kms_key_id: Option<String>,
    /// An `http://` endpoint is refused without it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_transport: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountSpec {
    pub name: String,
    /// The directory URL, shortcuts (`letsencrypt`, ...) already expanded.
    pub directory: String,
    pub contact: Vec<String>,
    pub terms_of_service_agreed: bool,
    pub key_type: KeyType,
    /// Absolute path of a PEM bundle of extra roots to trust for the ACME server.
    pub ca_bundle: Option<PathBuf>,
    pub external_account_binding: Option<ExternalAccountBinding>,
    pub key_rotation_days: Option<u32>,
    /// Deactivate the account at the CA when its block is removed (default: just forget it).
    pub deactivate_on_destroy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExternalAccountBinding {
    pub kid: String,
    pub hmac_key: ConfigSecret,
}

impl ExternalAccountBinding {
    /// What state keeps of the binding: a fingerprint of the kid (the HMAC key is secret and
    /// only matters when the account is registered).
    pub fn kid_fingerprint(&self) -> String {
        eab_kid_fingerprint(&self.kid)
    }
}

/// `sha256:<hex>` of an EAB key identifier, as state records it.
pub fn eab_kid_fingerprint(kid: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(kid.as_bytes())))
}

#[derive(Debug, Clone, Serialize)]
pub enum SolverSpec {
    Http(HttpSolverSpec),
    Dns(DnsSolverSpec),
    TlsAlpn(TlsAlpnSolverSpec),
    DnsPersist(DnsPersistSolverSpec),
}

pub use super::solver_specs::*;

#[derive(Debug, Clone, Serialize)]
pub enum HttpSolverSpec {
    /// Write `<webroot>/.well-known/acme-challenge/<token>` (absolute path).
    Webroot { webroot: PathBuf },
    /// Serve challenges from a built-in HTTP server bound to this address
    /// (`":80"` in config means all interfaces, port 80; stored as `0.0.0.0:80`).
    Listen { listen: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateSpec {
    pub address: Address,
    /// Account name (key of `Desired::accounts`).
    pub account: String,
    /// As written, lower-cased; the first is the common name.
    pub domains: Vec<String>,
    pub key_type: KeyType,
    /// The solver chosen for each domain (validation guarantees every domain has one).
    pub solver_for: BTreeMap<String, Address>,
    pub renew_before: RenewBefore,
    pub reuse_key: bool,
    pub revoke_on_destroy: bool,
    pub revoke_replaced_after: Option<Duration>,
    pub profile: Option<String>,
    pub preferred_chain: Option<String>,
    pub must_staple: bool,
    pub outputs: Vec<OutputSpec>,
    pub check_endpoint: Option<String>,
}

/// When a certificate is due for renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RenewBefore {
    /// `renew_before = "30d"`: renew when less than this remains.
    Remaining(Duration),
    /// `renew_before = "33%"`: renew when less than this share of the lifetime remains.
    PercentOfLifetime(u8),
}

impl Default for RenewBefore {
    /// One third of the lifetime, as certbot and Let's Encrypt recommend.
    fn default() -> Self {
        RenewBefore::PercentOfLifetime(33)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputSpec {
    /// The label of the `output "NAME"` block.
    pub name: String,
    /// Absolute paths. With `directory = D`, all four are set to D/cert.pem, D/chain.pem,
    /// D/fullchain.pem, D/privkey.pem (certbot layout); otherwise only those given.
    pub cert: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub fullchain: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Unix permission bits, e.g. 0o600 (default for the key) and 0o644 (default otherwise).
    pub key_mode: u32,
    pub mode: u32,
    /// `owner` / `group`: given the written files and the directories certform creates
    /// (else they belong to the user running certform).
    pub owner: Option<NamedId>,
    pub group: Option<NamedId>,
    /// Write through symbolic links in the output directories (default: refuse them).
    pub follow_symlinks: bool,
    /// argv of a command to run once per apply after every output naming it was written.
    pub on_change: Option<Vec<String>>,
    /// How long `on_change` may run before it is killed (`None`: five minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_change_timeout: Option<Duration>,
    /// Where each path is written in the configuration (the `directory` for all four), for
    /// the diagnostics of a path that two outputs write.
    #[serde(skip)]
    pub path_spans: BTreeMap<OutputFileKind, SourceSpan>,
}

/// A user or group by name, with its id on this machine (resolved by `validate`). Only the
/// name is part of the model's digest: a saved plan stays valid where the id differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedId {
    pub name: String,
    #[serde(skip)]
    pub id: u32,
}

/// What a file of an output holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OutputFileKind {
    Cert,
    Chain,
    Fullchain,
    Key,
}

impl OutputSpec {
    /// The files this output writes, in a fixed order, with the mode each must have.
    pub fn files(&self) -> Vec<(OutputFileKind, &PathBuf, u32)> {
        [
            (OutputFileKind::Cert, &self.cert, self.mode),
            (OutputFileKind::Chain, &self.chain, self.mode),
            (OutputFileKind::Fullchain, &self.fullchain, self.mode),
            (OutputFileKind::Key, &self.key, self.key_mode),
        ]
        .into_iter()
        .filter_map(|(kind, path, mode)| path.as_ref().map(|p| (kind, p, mode)))
        .collect()
    }
}
