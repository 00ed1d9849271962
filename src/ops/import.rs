//! `certform import ADDR`: adopt a certificate issued elsewhere — given as files, a certbot
//! `live/NAME` directory or a lego directory — without placing an order. The certificate
//! must be configured (its block says which account and outputs it has); its key must
//! match the certificate. Outputs whose files on disk already hold exactly these bytes with
//! the configured modes are recorded as deployed, so pointing an output at the files a web
//! server already uses makes the next plan `No changes` (or `renew` when it is due).

use super::{load_desired, recipients_for, store_for, Exit, Globals};
use crate::address::{Address, Kind};
use crate::desired::model::{CertificateSpec, OutputFileKind};
use crate::error::{Error, Result};
use crate::keys;
use crate::secret::Sensitive;
use crate::state::model::{
    CertificateSecret, CertificateState, DeployedFile, DeployedOutput, State,
};
use crate::state::{load_identity, Persister};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// `--cert F --key F [--chain F]`; the cert file may already hold the chain.
    Files {
        cert: PathBuf,
        key: PathBuf,
        chain: Option<PathBuf>,
    },
    /// `--from-certbot DIR`: a `live/NAME` directory (fullchain.pem, privkey.pem).
    Certbot(PathBuf),
    /// `--from-lego DIR`: lego's `.lego` directory or its `certificates` directory
    /// (NAME.crt, NAME.key, NAME.issuer.crt; NAME is the first domain, `*` as `_`).
    Lego(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub address: String,
    pub source: ImportSource,
    pub lock_timeout: Duration,
}

pub fn run(globals: &Globals, request: &ImportRequest) -> Result<Exit> {
    let address: Address = request
        .address
        .parse()
        .map_err(|e: crate::address::ParseAddressError| Error::Usage(e.to_string()))?;
    let desired = load_desired(globals)?;
    let spec = match (address.kind, desired.certificates.get(&address)) {
        (Kind::Certificate, Some(spec)) => spec,
        _ => {
            return Err(Error::Usage(format!(
                "{address} is not a certificate in the configuration: add its block first, so certform knows its account and outputs."
            )))
        }
    };
    let (fullchain, key) = read_source(&request.source, spec)?;
    let key = keys::private_key_to_pkcs8(&key)?;
    let summary = keys::summarize_chain(&fullchain)?;
    if keys::public_key_sha256(&key)? != summary.spki_sha256 {
        return Err(Error::Usage(
            "the private key does not belong to the certificate (their public keys differ).".into(),
        ));
    }

    let store = store_for(globals, &desired)?;
    let lock = store.lock("import", request.lock_timeout)?;
    let identity = load_identity(globals.identity.as_deref())?;
    let stored = store.read()?;
    let stored_serial = stored.as_ref().map(|s| s.state.serial);
    let (mut state, mut secrets) = match stored {
        Some(stored) => (stored.state.clone(), stored.open_secrets(&identity)?),
        None => (State::new(), Default::default()),
    };
    if state.certificates.contains_key(&address) {
        return Err(Error::Usage(format!(
            "{address} is already in the state; certform manages it already."
        )));
    }
    // Keep the configured order when the certificate covers exactly the configured names.
    let same_names = {
        let mut have = summary.domains.clone();
        let mut want = spec.domains.clone();
        have.sort();
        want.sort();
        have == want
    };
    let mut entry = CertificateState {
        account: spec.account.clone(),
        directory: desired.accounts[&spec.account].directory.clone(),
        domains: if same_names {
            spec.domains.clone()
        } else {
            summary.domains.clone()
        },
        key_type: keys::key_type_of(&key)?,
        must_staple: spec.must_staple,
        profile: spec.profile.clone(),
        preferred_chain: spec.preferred_chain.clone(),
        revoke_on_destroy: spec.revoke_on_destroy,
        serial_number: summary.serial_number.clone(),
        not_before: summary.not_before,
        not_after: summary.not_after,
        issuer: summary.issuer.clone(),
        spki_sha256: summary.spki_sha256.clone(),
        certificate_pem: summary.certificate_pem.clone(),
        chain_pem: summary.chain_pem.clone(),
        order_url: None,
        issued_at: summary.not_before,
        outputs: BTreeMap::new(),
        ari: None,
        pending_revocation: Vec::new(),
        revoked: None,
    };
    entry.outputs = outputs_already_in_place(spec, &entry, &key);
    let in_place = entry.outputs.len();
    state.certificates.insert(address.clone(), entry);
    secrets.certificates.insert(
        address.clone(),
        CertificateSecret {
            private_key_pem: key,
        },
    );
    let recipients = recipients_for(&desired, &identity)?;
    Persister::new(store, lock, recipients, stored_serial).persist(&mut state, &secrets)?;
    println!(
        "Imported {address}: serial {}, issued by {}, valid until {}; {in_place} of {} output(s) already in place. Run `certform plan` to see whether it needs anything.",
        summary.serial_number,
        summary.issuer,
        summary.not_after.date(),
        spec.outputs.len()
    );
    Ok(Exit::Success)
}

/// The full chain (leaf first) and the private key, as PEM text.
fn read_source(source: &ImportSource, spec: &CertificateSpec) -> Result<(String, String)> {
    match source {
        ImportSource::Files { cert, key, chain } => {
            let mut fullchain = read(cert)?;
            if let Some(chain) = chain {
                fullchain.push_str(&read(chain)?);
            }
            Ok((fullchain, read(key)?))
        }
        ImportSource::Certbot(dir) => Ok((
            read(&dir.join("fullchain.pem"))?,
            read(&dir.join("privkey.pem"))?,
        )),
        ImportSource::Lego(dir) => {
            let dir = if dir.join("certificates").is_dir() {
                dir.join("certificates")
            } else {
                dir.clone()
            };
            let name = spec.domains[0].replace('*', "_");
            let mut fullchain = read(&dir.join(format!("{name}.crt")))?;
            // lego writes the chain into NAME.crt unless run with --no-bundle.
            let issuer = dir.join(format!("{name}.issuer.crt"));
            if fullchain.matches("BEGIN CERTIFICATE").count() == 1 && issuer.exists() {
                fullchain.push_str(&read(&issuer)?);
            }
            Ok((fullchain, read(&dir.join(format!("{name}.key")))?))
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("Cannot read the file to import", path, e))
}

/// The outputs whose every file already holds what apply would write, with its mode.
fn outputs_already_in_place(
    spec: &CertificateSpec,
    entry: &CertificateState,
    key: &Sensitive,
) -> BTreeMap<String, DeployedOutput> {
    let fullchain = format!("{}{}", entry.certificate_pem, entry.chain_pem);
    let mut in_place = BTreeMap::new();
    for output in &spec.outputs {
        let files: Vec<_> = output.files();
        let observed = crate::deploy::observe(files.iter().map(|(_, path, _)| path.as_path()));
        let deployed: Option<Vec<DeployedFile>> = files
            .iter()
            .map(|(kind, path, mode)| {
                let wanted = match kind {
                    OutputFileKind::Cert => entry.certificate_pem.as_str(),
                    OutputFileKind::Chain => entry.chain_pem.as_str(),
                    OutputFileKind::Fullchain => fullchain.as_str(),
                    OutputFileKind::Key => key.expose(),
                };
                let sha256 = crate::deploy::sha256_hex(wanted.as_bytes());
                let facts = observed.files.get(*path).cloned().flatten()?;
                (facts.sha256 == sha256 && facts.mode == *mode).then(|| DeployedFile {
                    kind: *kind,
                    path: (*path).clone(),
                    sha256,
                    mode: *mode,
                })
            })
            .collect();
        if let Some(files) = deployed {
            in_place.insert(output.name.clone(), DeployedOutput { files });
        }
    }
    in_place
}
