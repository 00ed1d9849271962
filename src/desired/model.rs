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
    /// API keys), EAB HMAC keys, the PostgreSQL connection string, PKCS#12 passwords.
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
            #[cfg(feature = "postgres")]
            BackendSettings::Postgres(pg) => Some(&pg.conn_str),
            _ => None,
        };
        let pkcs12 = self
            .certificates
            .values()
            .flat_map(|c| &c.outputs)
            .filter_map(|output| match &output.kind {
                OutputKind::Files(FileFormat::Pkcs12 { password }) => password.value().ok(),
                _ => None,
            });
        providers.chain(eab).chain(conn_str).chain(pkcs12).collect()
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
    Local { path: PathBuf },
    #[cfg(feature = "postgres")]
    Postgres(PostgresSettings),
    #[cfg(feature = "s3")]
    S3(S3Settings),
}

/// `backend = "postgres"`: a table per schema, one row per workspace.
#[cfg(feature = "postgres")]
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

#[cfg(feature = "postgres")]
fn conn_str_fingerprint<S: serde::Serializer>(
    conn_str: &crate::secret::Sensitive,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::state::postgres::conn_str_fingerprint(conn_str))
}

/// `backend = "s3"`: one object per workspace and a conditional-write lock object.
#[cfg(feature = "s3")]
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
    /// When a due renewal may run (`renewal_window`); `None`: at any time.
    pub renewal_window: Option<crate::plan::window::RenewalWindow>,
    /// Spans of time in which no renewal runs (`freeze` blocks).
    pub freezes: Vec<crate::plan::window::Freeze>,
    pub outputs: Vec<OutputSpec>,
    pub check_endpoint: Option<String>,
}

/// When a certificate is due for renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum RenewBefore {
    /// `renew_before = "30d"`: renew when less than this remains.
    Remaining(Duration),
    /// `renew_before = "33%"`: renew when less than this share of the lifetime remains.
    PercentOfLifetime(u8),
    /// Not written: one third of the lifetime, as certbot and Let's Encrypt recommend, but
    /// half of it for a short-lived certificate (at most [`SHORT_LIVED_DAYS`] days), as CAs
    /// advise for 6-day certificates.
    #[default]
    Default,
}

/// A certificate living at most this many days is short-lived (Let's Encrypt's are 6 days
/// and some hours).
pub const SHORT_LIVED_DAYS: i64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct OutputSpec {
    /// The label of the `output "NAME"` block.
    pub name: String,
    /// Where the output delivers (`kind`, default `files`). Left out of the configuration
    /// digest when it is today's plain PEM files, so saved plans from before stay valid.
    #[serde(skip_serializing_if = "OutputKind::is_pem_files")]
    pub kind: OutputKind,
    /// Absolute paths. With `directory = D`, all four are set to D/cert.pem, D/chain.pem,
    /// D/fullchain.pem, D/privkey.pem (certbot layout); otherwise only those given.
    pub cert: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub fullchain: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `format = "combined"` / `"pkcs12"`: the one file (`path`, or `directory` with
    /// `combined.pem` / `certificate.p12`), written with `key_mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub combined: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12: Option<PathBuf>,
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

/// What an output delivers and where: `files` use the path fields of [`OutputSpec`]; the
/// other kinds deliver to a remote service and have no paths.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Files(FileFormat),
    AwsAcm(AwsTarget),
    AwsSecretsManager(SecretsManagerTarget),
    S3(S3Target),
    Ssh(crate::deploy::ssh::SshOutput),
}

/// How a `files` output lays the certificate and key out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Today's four PEM files (`cert`, `chain`, `fullchain`, `key`).
    Pem,
    /// One file holding the key, the certificate and its chain (HAProxy's `crt`).
    Combined,
    /// A PKCS#12 archive of key, certificate and chain, encrypted with `password`.
    Pkcs12 { password: ConfigSecret },
}

/// The AWS account and region a remote kind talks to: credentials come from the AWS chain
/// (environment, `profile`, instance role), never from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AwsTarget {
    /// Else `AWS_REGION` / the profile's region, else `us-east-1`.
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An AWS-compatible endpoint URL (a test server, a VPC endpoint).
    pub endpoint: Option<String>,
}

/// `kind = "aws_secretsmanager"`: one secret holding the PEMs as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsManagerTarget {
    pub aws: AwsTarget,
    /// The secret's name (created when missing) or ARN.
    pub secret_id: String,
    /// KMS key for a secret certform creates (else the account's default key).
    pub kms_key_id: Option<String>,
}

/// `kind = "s3"`: `cert.pem`, `chain.pem`, `fullchain.pem` and `privkey.pem` under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct S3Target {
    pub aws: AwsTarget,
    pub bucket: String,
    /// Prepended to each object name as written (`tls/www/` gives `tls/www/cert.pem`).
    pub prefix: String,
    pub use_path_style: bool,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    pub kms_key_id: Option<String>,
}

impl OutputKind {
    /// Written to this machine's file system (not delivered over the network).
    pub fn is_local(&self) -> bool {
        matches!(self, OutputKind::Files(_))
    }

    /// The `kind` attribute's value.
    pub fn name(&self) -> &'static str {
        match self {
            OutputKind::Files(_) => "files",
            OutputKind::AwsAcm(_) => "aws_acm",
            OutputKind::AwsSecretsManager(_) => "aws_secretsmanager",
            OutputKind::S3(_) => "s3",
            OutputKind::Ssh(_) => "ssh",
        }
    }

    fn is_pem_files(&self) -> bool {
        matches!(self, OutputKind::Files(FileFormat::Pem))
    }

    /// What a remote kind delivered at `location` (and `item` of it), for a drift reason:
    /// `acm certificate arn:...`, `secret arn:...`, `s3 object s3://bucket/tls/cert.pem`.
    pub fn describe(&self, location: &str, item: Option<&str>) -> String {
        match (self, item) {
            (OutputKind::AwsAcm(_), _) => format!("acm certificate {location}"),
            (OutputKind::AwsSecretsManager(_), _) => format!("secret {location}"),
            (OutputKind::S3(t), Some(key)) => format!("s3 object s3://{}/{key}", t.bucket),
            (OutputKind::Ssh(ssh), Some(path)) => ssh.describe(path),
            (_, _) => location.to_string(),
        }
    }

    /// Where a remote kind delivers, in words that change exactly when the configuration
    /// moves it elsewhere (state keeps it; `None` for `files`, whose paths say it).
    pub fn target(&self) -> Option<String> {
        let region = |aws: &AwsTarget| {
            let mut text = aws
                .region
                .clone()
                .unwrap_or_else(|| "the default region".into());
            if let Some(endpoint) = &aws.endpoint {
                text.push_str(&format!(" at {endpoint}"));
            }
            text
        };
        match self {
            OutputKind::Files(_) => None,
            OutputKind::AwsAcm(aws) => Some(format!("acm in {}", region(aws))),
            OutputKind::AwsSecretsManager(t) => {
                Some(format!("secret {} in {}", t.secret_id, region(&t.aws)))
            }
            OutputKind::S3(t) => Some(format!(
                "s3://{}/{} in {}{}",
                t.bucket,
                t.prefix,
                region(&t.aws),
                t.server_side_encryption
                    .as_ref()
                    .map(|sse| format!(" ({sse})"))
                    .unwrap_or_default()
            )),
            OutputKind::Ssh(ssh) => Some(ssh.target()),
        }
    }
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
    /// `format = "combined"`: key, certificate and chain.
    Combined,
    /// `format = "pkcs12"`: an encrypted PKCS#12 archive.
    Pkcs12,
}

impl OutputSpec {
    /// The files this output writes, in a fixed order, with the mode each must have.
    pub fn files(&self) -> Vec<(OutputFileKind, &PathBuf, u32)> {
        [
            (OutputFileKind::Cert, &self.cert, self.mode),
            (OutputFileKind::Chain, &self.chain, self.mode),
            (OutputFileKind::Fullchain, &self.fullchain, self.mode),
            (OutputFileKind::Key, &self.key, self.key_mode),
            (OutputFileKind::Combined, &self.combined, self.key_mode),
            (OutputFileKind::Pkcs12, &self.pkcs12, self.key_mode),
        ]
        .into_iter()
        .filter_map(|(kind, path, mode)| path.as_ref().map(|p| (kind, p, mode)))
        .collect()
    }
}
