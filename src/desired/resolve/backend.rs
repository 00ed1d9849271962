//! The remote state backends' settings in `certform { state { ... } }`: `postgres` and
//! `s3`. The connection string is wrapped as a secret as soon as it is read. A transport
//! without TLS (`sslmode=prefer`/`disable` over TCP, an `http://` endpoint) is an error
//! unless `allow_insecure_transport = true` says it is meant.

#[cfg(any(feature = "postgres", feature = "s3"))]
use super::*;

/// Attributes every backend accepts.
const COMMON: [&str; 3] = ["backend", "recipients", "key_id"];

/// What a `state` block accepts with `backend = "postgres"` (also read by [`super::schema`]).
pub(super) fn postgres_attributes() -> Vec<&'static str> {
    [
        &COMMON[..],
        &[
            "conn_str",
            "schema",
            "ca_bundle",
            "allow_insecure_transport",
        ],
    ]
    .concat()
}

/// What a `state` block accepts with `backend = "s3"`.
pub(super) fn s3_attributes() -> Vec<&'static str> {
    let own = [
        "bucket",
        "key",
        "region",
        "endpoint",
        "use_path_style",
        "workspace_key_prefix",
        "server_side_encryption",
        "kms_key_id",
        "allow_insecure_transport",
    ];
    [&COMMON[..], &own].concat()
}

/// `backend = "postgres"`: `conn_str` (required), `schema`, `ca_bundle`,
/// `allow_insecure_transport`.
#[cfg(feature = "postgres")]
pub(super) fn postgres(
    config: &Config,
    reader: &BodyReader,
    diags: &mut Diagnostics,
) -> Option<BackendSettings> {
    reader.check(&postgres_attributes(), &[], diags);
    let conn_str = required_text(reader, "conn_str", "conn_str = env(\"PG_URL\")", diags);
    let schema = match reader.string_spanned("schema", diags) {
        Got::Absent => Some("certform".to_string()),
        Got::Invalid => None,
        Got::Value((schema, span)) => {
            let valid = schema.len() <= 63
                && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                diags.error(
                    Some(span),
                    "Invalid schema name",
                    format!(
                        "{schema:?} is not a plain PostgreSQL schema name: use up to 63 lower-case \
                         letters, digits and `_`, starting with a letter or `_`."
                    ),
                );
            }
            valid.then_some(schema)
        }
    };
    let ca_bundle = optional_text(reader, "ca_bundle", diags).map(|p| {
        p.map(|p| match p.as_str() {
            crate::trust::SYSTEM => p.into(),
            _ => absolute(&config.dir, &p),
        })
    });
    let allow_insecure = allow_insecure_transport(reader, diags)?;
    let conn_str = Sensitive::new(conn_str?);
    if let Err(why) = crate::state::postgres::check_transport(&conn_str, allow_insecure) {
        // At the block, not at `conn_str`: its line may hold the password.
        diags.error(Some(reader.header_span()), "Insecure transport", why);
        return None;
    }
    Some(BackendSettings::Postgres(PostgresSettings {
        conn_str,
        schema: schema?,
        ca_bundle: ca_bundle?,
        allow_insecure_transport: allow_insecure,
    }))
}

/// `backend = "s3"`: `bucket` and `key` (required), `region`, `endpoint`,
/// `use_path_style`, `workspace_key_prefix`, `server_side_encryption`, `kms_key_id`,
/// `allow_insecure_transport`.
#[cfg(feature = "s3")]
pub(super) fn s3(reader: &BodyReader, diags: &mut Diagnostics) -> Option<BackendSettings> {
    reader.check(&s3_attributes(), &[], diags);
    let bucket = required_text(reader, "bucket", "bucket = \"my-tls-state\"", diags);
    let key = required_text(reader, "key", "key = \"certform/default.certstate\"", diags);
    let region = optional_text(reader, "region", diags);
    let endpoint = optional_text(reader, "endpoint", diags);
    let use_path_style = reader.bool("use_path_style", diags).or_default_value(false);
    let prefix = optional_text(reader, "workspace_key_prefix", diags)
        .map(|p| p.unwrap_or_else(|| "env:".to_string()));
    let encryption = match reader.string_spanned("server_side_encryption", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((value, _)) if value == "AES256" || value == "aws:kms" => Some(Some(value)),
        Got::Value((value, span)) => {
            diags.error(
                Some(span),
                "Invalid server-side encryption",
                format!(
                    "{value:?} is not a server-side encryption: use \"AES256\" or \"aws:kms\"."
                ),
            );
            None
        }
    };
    let kms_key_id = optional_text(reader, "kms_key_id", diags);
    if let (Some(Some(_)), Some(encryption)) = (&kms_key_id, &encryption) {
        if encryption.as_deref() != Some("aws:kms") {
            let attr = reader.attr("kms_key_id").expect("kms_key_id was read");
            diags.error(
                Some(reader.key_span(attr)),
                "KMS key without KMS encryption",
                "`kms_key_id` needs `server_side_encryption = \"aws:kms\"`.",
            );
            return None;
        }
    }
    let allow_insecure = allow_insecure_transport(reader, diags)?;
    if let Some(Some(endpoint)) = &endpoint {
        if let Err(why) = crate::aws::check_endpoint(Some(endpoint), allow_insecure) {
            let span = reader.attr("endpoint").map(|attr| reader.key_span(attr));
            diags.error(span, "Insecure transport", why);
            return None;
        }
    }
    Some(BackendSettings::S3(S3Settings {
        bucket: bucket?,
        key: key?,
        region: region?,
        endpoint: endpoint?,
        use_path_style: use_path_style?,
        workspace_key_prefix: prefix?,
        server_side_encryption: encryption?,
        kms_key_id: kms_key_id?,
        allow_insecure_transport: allow_insecure,
    }))
}

/// A required, non-empty string.
#[cfg(any(feature = "postgres", feature = "s3"))]
fn required_text(
    reader: &BodyReader,
    name: &str,
    example: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    match optional_text(reader, name, diags) {
        Some(Some(text)) => Some(text),
        Some(None) => {
            reader.missing(name, example, diags);
            None
        }
        None => None,
    }
}

/// `allow_insecure_transport` (default false); `None` when it is not a bool.
#[cfg(any(feature = "postgres", feature = "s3"))]
fn allow_insecure_transport(reader: &BodyReader, diags: &mut Diagnostics) -> Option<bool> {
    reader
        .bool("allow_insecure_transport", diags)
        .or_default_value(false)
}
