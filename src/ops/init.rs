//! `certform init`: make sure there is an age identity, print its recipient, write a
//! starter configuration when the directory has none, and check the state backend.

use super::{load_desired, read_state, store_for, Exit, Globals};
use crate::desired::model::BackendSettings;
use crate::error::{Error, Result};
use crate::state::{default_identity_path, generate_identity, load_identity, ENV_IDENTITY};
use std::path::{Path, PathBuf};

pub fn run(globals: &Globals, identity_out: Option<PathBuf>) -> Result<Exit> {
    // The same places `apply` looks, so the identity init creates is the one apply uses.
    let path = identity_out
        .or_else(|| globals.identity.clone())
        .or_else(|| std::env::var_os(ENV_IDENTITY).map(PathBuf::from))
        .unwrap_or_else(default_identity_path);
    let recipient = if path.exists() {
        let identity = load_identity(Some(&path))?;
        let recipient = identity.recipient().ok_or_else(|| {
            Error::Identity(format!(
                "{} holds no X25519 identity to derive a recipient from",
                path.display()
            ))
        })?;
        println!("Using the existing identity {}.", path.display());
        recipient
    } else {
        let recipient = generate_identity(&path)?;
        println!(
            "Created a new age identity in {} (keep it secret, back it up).",
            path.display()
        );
        recipient
    };
    println!("Its recipient (public key) is:\n\n    {recipient}\n");

    let dir = &globals.config_dir;
    if !has_config(dir)? {
        let starter = dir.join("main.hcl");
        std::fs::write(&starter, starter_config(&recipient))
            .map_err(|e| Error::io("Cannot write the starter configuration", &starter, e))?;
        println!("Wrote a starter configuration to {}.", starter.display());
    }
    let desired = load_desired(globals)?;
    // Irrefutable in a build with neither remote backend.
    #[allow(irrefutable_let_patterns)]
    if let BackendSettings::Local { path } = &desired.state.backend {
        crate::state::local::create_state_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    let store = store_for(globals, &desired)?;
    read_state(&*store)?;
    println!(
        "The {} state backend is ready: {}.\n\ncertform has been initialised. Next: certform plan",
        backend_name(&desired.state.backend),
        store.describe()
    );
    Ok(Exit::Success)
}

fn backend_name(backend: &BackendSettings) -> &'static str {
    match backend {
        BackendSettings::Local { .. } => "local",
        #[cfg(feature = "postgres")]
        BackendSettings::Postgres(_) => "postgres",
        #[cfg(feature = "s3")]
        BackendSettings::S3(_) => "s3",
    }
}

fn has_config(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io("Cannot read the configuration directory", dir, e))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .any(|e| e.path().extension().is_some_and(|x| x == "hcl")))
}

fn starter_config(recipient: &str) -> String {
    format!(
        r#"# A starter certform configuration. Edit the domains and the webroot, then run
# `certform plan` and `certform apply`.

certform {{
  state {{
    path       = "state/default.certstate"
    recipients = ["{recipient}"]
  }}
}}

account "le" {{
  directory               = "letsencrypt-staging"
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}}

http_solver "web" {{
  webroot = "/var/www/html"
}}

certificate "www" {{
  account = account.le
  domains = ["example.com", "www.example.com"]
  solvers = [http_solver.web]

  output "files" {{
    directory = "tls/www"
  }}
}}
"#
    )
}
