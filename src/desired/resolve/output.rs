//! `output` blocks: a `kind` (default `files`) and the attributes that kind accepts, each
//! checked with its position. `files` write PEM files, one combined PEM or a PKCS#12
//! archive on this machine; the remote kinds deliver to AWS (`aws_acm`,
//! `aws_secretsmanager`, `s3`) with credentials from the AWS chain, never from the
//! configuration.

use super::certificate::{file_mode, named_id, FileRole};
use super::*;
use crate::deploy::ssh::{SshOutput, SshTarget};

/// The kinds that need a cargo feature, and its name (`crate::features`): a build without
/// it still knows the kind, to say which feature it lacks.
const FEATURE_OF: [(&str, &str); 3] = [
    ("aws_acm", "aws-acm"),
    ("aws_secretsmanager", "aws-secretsmanager"),
    ("s3", "s3"),
];
/// Every kind an `output` block may name.
const KINDS: &[&str] = &["files", "aws_acm", "aws_secretsmanager", "s3", "ssh"];
/// What every kind accepts.
const COMMON_ATTRIBUTES: &[&str] = &["kind", "on_change", "on_change_timeout"];
const FILES_ATTRIBUTES: &[&str] = &[
    "directory",
    "cert",
    "chain",
    "fullchain",
    "key",
    "key_mode",
    "mode",
    "owner",
    "group",
    "follow_symlinks",
    "format",
    "path",
    "password",
];
/// What every AWS kind accepts.
const AWS_ATTRIBUTES: &[&str] = &["region", "profile", "endpoint", "allow_insecure_transport"];
const SECRETS_MANAGER_ATTRIBUTES: &[&str] = &["secret_id", "kms_key_id"];
const S3_ATTRIBUTES: &[&str] = &[
    "bucket",
    "prefix",
    "use_path_style",
    "server_side_encryption",
    "kms_key_id",
];

const SSH_ATTRIBUTES: &[&str] = &[
    "host",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "directory",
    "format",
    "key_mode",
    "mode",
    "owner",
    "group",
    "reload_command",
    "timeout",
];

/// The attributes of an `output` block of `kind`.
fn kind_attributes(kind: &str) -> Vec<&'static str> {
    let own: &[&[&str]] = match kind {
        "files" => &[FILES_ATTRIBUTES],
        "aws_acm" => &[AWS_ATTRIBUTES],
        "aws_secretsmanager" => &[AWS_ATTRIBUTES, SECRETS_MANAGER_ATTRIBUTES],
        "s3" => &[AWS_ATTRIBUTES, S3_ATTRIBUTES],
        "ssh" => &[SSH_ATTRIBUTES],
        _ => &[],
    };
    COMMON_ATTRIBUTES
        .iter()
        .chain(own.iter().flat_map(|list| list.iter()))
        .copied()
        .collect()
}

/// Every attribute an `output` block of any kind accepts (for [`super::schema`]).
pub(super) fn attributes() -> Vec<&'static str> {
    let mut all: Vec<&str> = KINDS.iter().flat_map(|k| kind_attributes(k)).collect();
    all.sort_unstable();
    all.dedup();
    all
}

pub(super) fn output(
    config: &Config,
    eval: &Evaluator,
    file: &SourceFile,
    block: &Block,
    name: String,
    parent: &str,
    diags: &mut Diagnostics,
) -> Option<OutputSpec> {
    let mut reader = BodyReader::new(
        file,
        eval,
        block,
        format!("`output \"{name}\"` in {parent}"),
    );
    let kind = match reader.string_spanned("kind", diags) {
        Got::Absent => "files".to_string(),
        Got::Invalid => return None,
        Got::Value((kind, span)) if KINDS.contains(&kind.as_str()) => {
            if let Some(feature) = crate::features::lacking(&FEATURE_OF, &kind) {
                let what = format!("kind = \"{kind}\"");
                crate::features::missing(feature, &what, span, diags);
                return None;
            }
            kind
        }
        Got::Value((kind, span)) => {
            diags.error(
                Some(span),
                "Unknown output kind",
                format!(
                    "{kind:?} is not an output kind. `kind` in {} takes one of {}.",
                    reader.what,
                    KINDS.join(", ")
                ),
            );
            return None;
        }
    };
    if kind != "files" {
        reader.what = format!("`output \"{name}\"` (kind = \"{kind}\") in {parent}");
    }
    reader.check(&kind_attributes(&kind), &[], diags);
    let hooks = hooks(&reader, diags);
    let remote = match kind.as_str() {
        "files" => None,
        "aws_acm" => Some(aws(&reader, diags).map(OutputKind::AwsAcm)),
        "aws_secretsmanager" => Some(secrets_manager(&reader, diags)),
        "ssh" => Some(ssh(config, &reader, diags)),
        _ => Some(s3(&reader, diags)),
    };
    let Some(remote) = remote else {
        return files(config, &reader, name, hooks, diags);
    };
    let (on_change, on_change_timeout) = hooks?;
    Some(OutputSpec {
        name,
        kind: remote?,
        cert: None,
        chain: None,
        fullchain: None,
        key: None,
        combined: None,
        pkcs12: None,
        key_mode: FileRole::Key.default_mode(),
        mode: FileRole::Public.default_mode(),
        owner: None,
        group: None,
        follow_symlinks: false,
        on_change,
        on_change_timeout,
        path_spans: BTreeMap::new(),
    })
}

type Hooks = (Option<Vec<String>>, Option<Duration>);

/// `on_change` and `on_change_timeout`, which every kind accepts.
fn hooks(reader: &BodyReader, diags: &mut Diagnostics) -> Option<Hooks> {
    let on_change = command(reader, "on_change", diags);
    let on_change_timeout = positive_duration(reader, "on_change_timeout", diags);
    Some((on_change?, on_change_timeout?))
}

/// A command as an argv (`on_change`, `reload_command`): a list whose first element is the
/// program.
fn command(
    reader: &BodyReader,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<Option<Vec<String>>> {
    match reader.string_list(name, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(argv) if argv.first().is_none_or(|(program, _)| program.is_empty()) => {
            let attr = reader.attr(name)?;
            reader.invalid(
                attr,
                "Invalid command",
                format!(
                    "`{name}` in {} must be a command as a list of arguments whose first element is the program, such as [\"systemctl\", \"reload\", \"nginx\"].",
                    reader.what
                ),
                diags,
            );
            None
        }
        Got::Value(argv) => Some(Some(argv.into_iter().map(|(a, _)| a).collect())),
    }
}

/// A duration longer than zero (`on_change_timeout`, `timeout`).
fn positive_duration(
    reader: &BodyReader,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<Option<Duration>> {
    match reader.string_spanned(name, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) => match crate::config::duration::positive_duration(&text) {
            Ok(duration) => Some(Some(duration)),
            Err(why) => {
                diags.error(Some(span), "Invalid duration", format!("{why}."));
                None
            }
        },
    }
}

/// `kind = "files"`: `format` (`pem`, `combined`, `pkcs12`) and the paths it writes.
fn files(
    config: &Config,
    reader: &BodyReader,
    name: String,
    hooks: Option<Hooks>,
    diags: &mut Diagnostics,
) -> Option<OutputSpec> {
    let mut failed = false;
    let format = match reader.string_spanned("format", diags) {
        Got::Absent => Some("pem".to_string()),
        Got::Invalid => None,
        Got::Value((format, _)) if ["pem", "combined", "pkcs12"].contains(&format.as_str()) => {
            Some(format)
        }
        Got::Value((format, span)) => {
            diags.error(
                Some(span),
                "Unknown file format",
                format!(
                    "{format:?} is not a file format. `format` in {} takes \"pem\" (cert, chain, fullchain and key files), \"combined\" (key and chain in one file, as HAProxy reads it) or \"pkcs12\" (an archive encrypted with `password`).",
                    reader.what
                ),
            );
            None
        }
    };
    let format = format?;
    let single = format != "pem";
    // Attributes of the other formats are refused by name.
    let foreign: &[&str] = if single {
        &["cert", "chain", "fullchain", "key"]
    } else {
        &["path", "password"]
    };
    for attr in foreign.iter().filter_map(|a| reader.attr(a)) {
        reader.invalid(
            attr,
            "Attribute of another format",
            format!(
                "`{}` does not apply to format = \"{format}\" in {}: {}.",
                attr.key.as_str(),
                reader.what,
                if single {
                    "this format writes one file: set `path`, or `directory`"
                } else {
                    "`path` and `password` are for format = \"combined\" and \"pkcs12\""
                }
            ),
            diags,
        );
        failed = true;
    }
    let password = match (format.as_str(), reader.secret("password", diags)) {
        ("pkcs12", Got::Value((secret, _))) => Some(Some(secret)),
        ("pkcs12", Got::Absent) => {
            reader.missing("password", "env(\"P12_PASSWORD\")", diags);
            None
        }
        ("combined", Got::Value(_)) => {
            let attr = reader.attr("password")?;
            reader.invalid(
                attr,
                "Attribute of another format",
                format!(
                    "`password` in {} applies only to format = \"pkcs12\"; a combined PEM file is not encrypted (protect it with `key_mode`).",
                    reader.what
                ),
                diags,
            );
            None
        }
        (_, Got::Invalid) => None,
        _ => Some(None),
    };
    let mut path_spans = BTreeMap::new();
    let mut path = |attr: &str, diags: &mut Diagnostics| match reader.string_spanned(attr, diags) {
        Got::Absent => None,
        Got::Invalid => {
            failed = true;
            None
        }
        Got::Value((p, span)) => Some((absolute(&config.dir, &p), span)),
    };
    let directory = path("directory", diags);
    let single_path = if single { path("path", diags) } else { None };
    let mut cert = path("cert", diags);
    let mut chain = path("chain", diags);
    let mut fullchain = path("fullchain", diags);
    let mut key = path("key", diags);
    let mut one = single_path.clone();
    let any_file = cert.is_some()
        || chain.is_some()
        || fullchain.is_some()
        || key.is_some()
        || single_path.is_some();
    match (&directory, any_file) {
        (Some((dir, span)), false) => {
            let inside = |name| Some((dir.join(name), span.clone()));
            match format.as_str() {
                "combined" => one = inside("combined.pem"),
                "pkcs12" => one = inside("certificate.p12"),
                _ => {
                    cert = inside("cert.pem");
                    chain = inside("chain.pem");
                    fullchain = inside("fullchain.pem");
                    key = inside("privkey.pem");
                }
            }
        }
        (Some(_), true) => {
            let attr = reader.attr("directory")?;
            diags.error(
                Some(reader.key_span(attr)),
                "Conflicting attributes",
                if single {
                    format!(
                        "{} sets `directory` and `path`; use one of them.",
                        reader.what
                    )
                } else {
                    format!(
                        "{} sets `directory` and individual file paths; use either `directory` (cert.pem, chain.pem, fullchain.pem and privkey.pem inside it) or any of `cert`, `chain`, `fullchain`, `key`.",
                        reader.what
                    )
                },
            );
            failed = true;
        }
        (None, false) if !failed => {
            diags.error(
                Some(reader.header_span()),
                "Missing required attribute",
                if single {
                    format!("{} writes no file: set `path` or `directory`.", reader.what)
                } else {
                    format!(
                        "{} writes no files: set `directory`, or at least one of `cert`, `chain`, `fullchain` and `key`.",
                        reader.what
                    )
                },
            );
            failed = true;
        }
        (None, _) => {}
    }
    let key_mode = file_mode(reader, "key_mode", FileRole::Key, diags);
    let mode = file_mode(reader, "mode", FileRole::Public, diags);
    let owner = named_id(
        reader,
        "owner",
        "user",
        crate::deploy::owner::user_id,
        diags,
    );
    let group = named_id(
        reader,
        "group",
        "group",
        crate::deploy::owner::group_id,
        diags,
    );
    let follow_symlinks = reader
        .bool("follow_symlinks", diags)
        .or_default_value(false);
    let (on_change, on_change_timeout) = hooks?;
    if failed {
        return None;
    }
    let mut located = |kind, written: Option<(PathBuf, SourceSpan)>| {
        written.map(|(path, span)| {
            path_spans.insert(kind, span);
            path
        })
    };
    let (file_format, combined, pkcs12) = match (format.as_str(), password?) {
        ("combined", _) => (
            FileFormat::Combined,
            located(OutputFileKind::Combined, one),
            None,
        ),
        ("pkcs12", Some(password)) => (
            FileFormat::Pkcs12 { password },
            None,
            located(OutputFileKind::Pkcs12, one),
        ),
        _ => (FileFormat::Pem, None, None),
    };
    Some(OutputSpec {
        name,
        kind: OutputKind::Files(file_format),
        cert: located(OutputFileKind::Cert, cert),
        chain: located(OutputFileKind::Chain, chain),
        fullchain: located(OutputFileKind::Fullchain, fullchain),
        key: located(OutputFileKind::Key, key),
        combined,
        pkcs12,
        key_mode: key_mode?,
        mode: mode?,
        owner: owner?,
        group: group?,
        follow_symlinks: follow_symlinks?,
        on_change,
        path_spans,
        on_change_timeout,
    })
}

/// `region`, `profile`, `endpoint` and `allow_insecure_transport` of an AWS kind.
fn aws(reader: &BodyReader, diags: &mut Diagnostics) -> Option<AwsTarget> {
    let region = optional_text(reader, "region", diags);
    let profile = optional_text(reader, "profile", diags);
    let endpoint = optional_text(reader, "endpoint", diags);
    let allow_insecure = reader
        .bool("allow_insecure_transport", diags)
        .or_default_value(false)?;
    if let Some(Some(endpoint)) = &endpoint {
        if let Err(why) = crate::aws::check_endpoint(Some(endpoint), allow_insecure) {
            let attr = reader.attr("endpoint")?;
            let why = why.replace(
                "The s3 backend's endpoint",
                &format!("`endpoint` in {}", reader.what),
            );
            let why = why
                .replace("sends the state", "sends the private key")
                .replace("in the state block", "in the output block");
            reader.invalid(attr, "Insecure endpoint", why, diags);
            return None;
        }
    }
    Some(AwsTarget {
        region: region?,
        profile: profile?,
        endpoint: endpoint?,
    })
}

/// `kind = "aws_secretsmanager"`: `secret_id` (required) and `kms_key_id`.
fn secrets_manager(reader: &BodyReader, diags: &mut Diagnostics) -> Option<OutputKind> {
    let aws = aws(reader, diags);
    let secret_id = required_text(reader, "secret_id", "\"tls/www.example.com\"", diags);
    let kms_key_id = optional_text(reader, "kms_key_id", diags);
    Some(OutputKind::AwsSecretsManager(SecretsManagerTarget {
        aws: aws?,
        secret_id: secret_id?,
        kms_key_id: kms_key_id?,
    }))
}

/// `kind = "s3"`: `bucket` (required), `prefix`, `use_path_style`, `server_side_encryption`
/// (`AES256` or `aws:kms`) and `kms_key_id`.
fn s3(reader: &BodyReader, diags: &mut Diagnostics) -> Option<OutputKind> {
    let aws = aws(reader, diags);
    let bucket = required_text(reader, "bucket", "\"example-tls\"", diags);
    let prefix = match reader.string("prefix", diags) {
        Got::Absent => Some(String::new()),
        Got::Invalid => None,
        Got::Value(prefix) => Some(prefix),
    };
    let use_path_style = reader.bool("use_path_style", diags).or_default_value(false);
    let sse = match reader.string_spanned("server_side_encryption", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((sse, _)) if sse == "AES256" || sse == "aws:kms" => Some(Some(sse)),
        Got::Value((sse, span)) => {
            diags.error(
                Some(span),
                "Invalid server-side encryption",
                format!(
                    "{sse:?} is not a server-side encryption S3 knows; `server_side_encryption` in {} takes \"AES256\" or \"aws:kms\".",
                    reader.what
                ),
            );
            None
        }
    };
    let kms_key_id = optional_text(reader, "kms_key_id", diags);
    Some(OutputKind::S3(S3Target {
        aws: aws?,
        bucket: bucket?,
        prefix: prefix?,
        use_path_style: use_path_style?,
        server_side_encryption: sse?,
        kms_key_id: kms_key_id?,
    }))
}

/// A text attribute the kind cannot do without.
fn required_text(
    reader: &BodyReader,
    name: &str,
    example: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    match optional_text(reader, name, diags)? {
        Some(text) => Some(text),
        None => {
            reader.missing(name, example, diags);
            None
        }
    }
}

/// `kind = "ssh"`: the host and how to log in (the user's own ssh setup: `identity_file`
/// is a path, the agent and `~/.ssh/config` apply), the remote `directory`, modes and
/// owner, and a `reload_command` run there.
fn ssh(config: &Config, reader: &BodyReader, diags: &mut Diagnostics) -> Option<OutputKind> {
    let word = |name: &str, example: &str, required: bool, diags: &mut Diagnostics| {
        let text = match reader.string_spanned(name, diags) {
            Got::Absent if required => {
                reader.missing(name, example, diags);
                return None;
            }
            Got::Absent => return Some(None),
            Got::Invalid => return None,
            Got::Value(text) => text,
        };
        match text {
            (text, _)
                if !text.is_empty()
                    && !text.starts_with('-')
                    && !text.contains(char::is_whitespace) =>
            {
                Some(Some(text))
            }
            (text, span) => {
                diags.error(
                    Some(span),
                    "Invalid ssh attribute",
                    format!(
                        "{text:?} is not a valid `{name}` in {}: it must be one word that does not start with \"-\", such as {example}.",
                        reader.what
                    ),
                );
                None
            }
        }
    };
    let host = word("host", "\"web1.example.com\"", true, diags);
    let user = word("user", "\"deploy\"", false, diags);
    let owner = word("owner", "\"www-data\"", false, diags);
    let group = word("group", "\"ssl-cert\"", false, diags);
    let port = match reader.integer("port", 1, 65_535, diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value(port) => Some(u16::try_from(port).ok()),
    };
    let local_path = |name: &str, diags: &mut Diagnostics| match reader.string_spanned(name, diags)
    {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((text, span)) if text.contains("PRIVATE KEY") || text.contains('\n') => {
            diags.error(
                Some(span),
                "Key material in the configuration",
                format!(
                    "`{name}` in {} takes the path of a file, not its contents: never put a key in the configuration (ssh reads the file, or uses your agent).",
                    reader.what
                ),
            );
            None
        }
        Got::Value((text, _)) => Some(Some(absolute(&config.dir, &text))),
    };
    let identity_file = local_path("identity_file", diags);
    let known_hosts = local_path("known_hosts", diags);
    let directory = match reader.string_spanned("directory", diags) {
        Got::Absent => {
            reader.missing("directory", "\"/etc/nginx/tls/www\"", diags);
            None
        }
        Got::Invalid => None,
        Got::Value((dir, _)) if dir.starts_with('/') => Some(dir),
        Got::Value((dir, span)) => {
            diags.error(
                Some(span),
                "Invalid remote directory",
                format!(
                    "`directory` in {} must be an absolute path on the host, such as \"/etc/nginx/tls/www\"; {dir:?} is not.",
                    reader.what
                ),
            );
            None
        }
    };
    let combined = match reader.string_spanned("format", diags) {
        Got::Absent => Some(false),
        Got::Invalid => None,
        Got::Value((format, _)) if format == "pem" || format == "combined" => {
            Some(format == "combined")
        }
        Got::Value((format, span)) => {
            diags.error(
                Some(span),
                "Unknown file format",
                format!(
                    "{format:?} is not a format of an ssh output. `format` in {} takes \"pem\" (cert.pem, chain.pem, fullchain.pem and privkey.pem) or \"combined\" (combined.pem: key and chain in one file).",
                    reader.what
                ),
            );
            None
        }
    };
    let key_mode = file_mode(reader, "key_mode", FileRole::Key, diags);
    let mode = file_mode(reader, "mode", FileRole::Public, diags);
    let reload_command = command(reader, "reload_command", diags);
    let timeout = positive_duration(reader, "timeout", diags);
    Some(OutputKind::Ssh(SshOutput {
        target: SshTarget {
            host: host??,
            port: port?,
            user: user?,
            identity_file: identity_file?,
            known_hosts: known_hosts?,
            timeout: timeout?.unwrap_or(crate::deploy::ssh::DEFAULT_TIMEOUT),
        },
        directory: directory?,
        combined: combined?,
        key_mode: key_mode?,
        mode: mode?,
        owner: owner?,
        group: group?,
        reload_command: reload_command?,
    }))
}
