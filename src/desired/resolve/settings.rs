//! `certform { state { ... } parallelism = N }`: where state lives and how apply runs.

use super::*;

/// What the `certform` block and a local `state` block accept (also read by
/// [`super::schema`]).
pub(super) const CERTFORM_ATTRIBUTES: &[&str] = &["parallelism"];
pub(super) const LOCAL_STATE_ATTRIBUTES: &[&str] = &["backend", "path", "recipients", "key_id"];

/// `certform { state { ... } parallelism = N }`, with defaults when absent.
pub(super) fn certform_settings(
    config: &Config,
    diags: &mut Diagnostics,
) -> (Option<StateSettings>, Option<usize>) {
    let default_state = StateSettings {
        backend: BackendSettings::Local {
            path: config.dir.join("state").join("default.certstate"),
        },
        recipients: Vec::new(),
        key_id: None,
    };
    let Some((file, block, _)) = config.blocks_of(TopKind::Certform).next() else {
        return (Some(default_state), Some(10));
    };
    let reader = BodyReader::new(file, &config.eval, block, "`certform`");
    reader.check(CERTFORM_ATTRIBUTES, &["state"], diags);
    let parallelism = reader
        .integer("parallelism", 1, 10_000, diags)
        .or_default_value(10)
        .map(|n| n as usize);
    let states = reader.blocks("state");
    for extra in states.iter().skip(1) {
        diags.error(
            Some(file.span(crate::config::header_span(extra))),
            "Duplicate block",
            "The `certform` block may contain only one `state` block.",
        );
    }
    let state = match states.first() {
        None => Some(default_state),
        Some(block) => state_settings(config, file, block, diags),
    };
    (state, parallelism)
}

pub(super) fn state_settings(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    diags: &mut Diagnostics,
) -> Option<StateSettings> {
    let reader = BodyReader::new(file, &config.eval, block, "`state` in `certform`");
    if !block.labels.is_empty() {
        diags.error(
            Some(reader.header_span()),
            "Unexpected block label",
            "The `state` block takes no label: write `state { ... }`.",
        );
    }
    let backend = reader.string_spanned("backend", diags);
    let backend = match backend {
        Got::Invalid => None,
        Got::Absent => Some(local_backend(config, &reader, diags)),
        Got::Value((name, span)) => match name.as_str() {
            "local" => Some(local_backend(config, &reader, diags)),
            #[cfg(feature = "postgres")]
            "postgres" => Some(super::backend::postgres(config, &reader, diags)),
            #[cfg(feature = "s3")]
            "s3" => Some(super::backend::s3(&reader, diags)),
            #[cfg(not(all(feature = "postgres", feature = "s3")))]
            "postgres" | "s3" => {
                let what = format!("backend = \"{name}\"");
                crate::features::missing(&name, &what, span, diags);
                None
            }
            _ => {
                diags.error(
                    Some(span),
                    "Unsupported state backend",
                    format!(
                        "There is no state backend named \"{name}\"; use \"local\", \"postgres\" or \"s3\"."
                    ),
                );
                None
            }
        },
    };
    let recipients = reader
        .string_list("recipients", diags)
        .or_default_value(Vec::new())
        .map(|list| {
            list.into_iter()
                .map(|(r, _)| r.trim().to_string())
                .collect::<Vec<_>>()
        });
    let key_id = match reader.string_spanned("key_id", diags) {
        Got::Absent => Some(None),
        Got::Invalid => None,
        Got::Value((id, _)) if crate::state::auth::is_key_id(&id) => Some(Some(id)),
        Got::Value((id, span)) => {
            diags.error(
                Some(span),
                "Invalid state key id",
                format!(
                    "\"{id}\" is not a state key id: it is `sk-` and 32 lower-case hex digits, as \
                     `certform show` prints it after the first apply."
                ),
            );
            None
        }
    };
    Some(StateSettings {
        backend: backend??,
        recipients: recipients?,
        key_id: key_id?,
    })
}

/// `backend = "local"` (the default): `path`, relative to the configuration directory.
fn local_backend(
    config: &Config,
    reader: &BodyReader,
    diags: &mut Diagnostics,
) -> Option<BackendSettings> {
    reader.check(LOCAL_STATE_ATTRIBUTES, &[], diags);
    let path = reader
        .string("path", diags)
        .map(|p| absolute(&config.dir, &p))
        .or_default_value(config.dir.join("state").join("default.certstate"));
    Some(BackendSettings::Local { path: path? })
}
