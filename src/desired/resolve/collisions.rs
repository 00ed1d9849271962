//! Output paths that something else writes too: two outputs (of one certificate or of two)
//! naming one file would overwrite each other on every apply, and an output over the state,
//! its lock or backup, the age identity or a configuration file would destroy it. Each is
//! an error at the path's attribute, naming the other writer. Paths are compared as
//! written (made absolute, `.` and `..` resolved); symbolic links are refused at write time.

use super::*;
use crate::state::{default_identity_path, LocalStore, ENV_IDENTITY};
use std::collections::{BTreeSet, HashMap};

/// Reports every output path that another output, the state, the identity or a
/// configuration file also uses.
pub(super) fn output_collisions(
    config: &Config,
    state: Option<&StateSettings>,
    certificates: &BTreeMap<Address, CertificateSpec>,
    diags: &mut Diagnostics,
) {
    let protected = protected_files(config, state);
    // Hashed, not ordered: output paths share long prefixes, and ordering them compared
    // component by component was a fifth of loading 1,000 certificates with outputs.
    let mut claimed: HashMap<&Path, (String, &SourceSpan)> = HashMap::new();
    let mut reported = BTreeSet::new();
    for (address, spec) in certificates {
        for output in &spec.outputs {
            let writer = format!("output \"{}\" of {address}", output.name);
            for (kind, path, _) in output.files() {
                let Some(span) = output.path_spans.get(&kind) else {
                    continue;
                };
                if let Some(what) = protected.get(path.as_path()) {
                    if reported.insert((writer.clone(), what.clone())) {
                        diags.error(
                            Some(span.clone()),
                            "Output path collision",
                            format!(
                                "{writer} writes {}, which is {what}: the output would overwrite it. Choose another path.",
                                shown(config, path)
                            ),
                        );
                    }
                    continue;
                }
                match claimed.get(path.as_path()) {
                    Some((first, first_span)) => {
                        if reported.insert((writer.clone(), first.clone())) {
                            let detail = format!(
                                "{writer} writes {}, which {first} ({}) writes too: each apply would overwrite one with the other. Give each output its own path.",
                                shown(config, path),
                                diags.describe_location(first_span)
                            );
                            diags.error(Some(span.clone()), "Output path collision", detail);
                        }
                    }
                    None => {
                        claimed.insert(path, (writer.clone(), span));
                    }
                }
            }
        }
    }
}

/// Files no output may write, with what each is.
fn protected_files(config: &Config, state: Option<&StateSettings>) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    if let Some(StateSettings {
        backend: BackendSettings::Local { path },
        ..
    }) = state
    {
        let store = LocalStore::new(path.clone());
        files.insert(path.clone(), "the state file".to_string());
        files.insert(store.lock_path(), "the state lock file".to_string());
        files.insert(store.backup_path(), "the state backup".to_string());
    }
    let identities = std::env::var_os(ENV_IDENTITY)
        .map(|p| {
            absolute(
                &std::env::current_dir().unwrap_or_default(),
                &p.to_string_lossy(),
            )
        })
        .into_iter()
        .chain([default_identity_path()]);
    for identity in identities {
        files.insert(identity, "the age identity".to_string());
    }
    for file in &config.files {
        files.insert(
            absolute(&config.dir, &file.path.to_string_lossy()),
            format!("the configuration file {}", file.name),
        );
    }
    files
}

/// `path` relative to the configuration directory when it is inside it, as written there.
fn shown(config: &Config, path: &Path) -> String {
    path.strip_prefix(&config.dir)
        .unwrap_or(path)
        .display()
        .to_string()
}
