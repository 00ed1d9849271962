//! `certform { state { ... } parallelism = N }`: where state lives and how apply runs.

use super::*;

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
    };
    let Some((file, block, _)) = config.blocks_of(TopKind::Certform).next() else {
        return (Some(default_state), Some(10));
    };
    let reader = BodyReader::new(file, &config.eval, block, "`certform`");
    reader.check(&["parallelism"], &["state"], diags);
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
    match &backend {
        Got::Value((name, span)) if name != "local" => {
            let known = ["postgres", "s3"];
            let detail = if known.contains(&name.as_str()) {
                format!("The state backend {name} is not supported yet; use backend = \"local\".")
            } else {
                format!("There is no state backend named \"{name}\"; use backend = \"local\".")
            };
            diags.error(Some(span.clone()), "Unsupported state backend", detail);
            return None;
        }
        _ => {}
    }
    reader.check(&["backend", "path", "recipients"], &[], diags);
    let path = reader
        .string("path", diags)
        .map(|p| absolute(&config.dir, &p))
        .or_default_value(config.dir.join("state").join("default.certstate"));
    let recipients = reader
        .string_list("recipients", diags)
        .or_default_value(Vec::new());
    let recipients = recipients.map(|list| {
        list.into_iter()
            .map(|(r, _)| r.trim().to_string())
            .collect::<Vec<_>>()
    });
    if backend.is_invalid() {
        return None;
    }
    Some(StateSettings {
        backend: BackendSettings::Local { path: path? },
        recipients: recipients?,
    })
}
