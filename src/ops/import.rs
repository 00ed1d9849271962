//! `certform import ADDR`: adopt a certificate issued elsewhere — given as files, a certbot
//! `live/NAME` directory or a lego directory — without placing an order. The certificate
//! must be configured (its block says which account and outputs it has); its key must
//! match the certificate. Outputs whose files on disk already hold exactly these bytes with
//! the configured modes are recorded as deployed, so pointing an output at the files a web
//! server already uses makes the next plan `No changes` (or `renew` when it is due).

use super::{load_desired, recipients_for, store_for, Exit, Globals, ReadState};
use crate::address::{Address, Kind};
use crate::desired::model::{CertificateSpec, OutputFileKind};
use crate::error::{Error, Result};
use crate::keys;
use crate::plan::FileSeen;
use crate::secret::Sensitive;
use crate::state::model::{CertificateSecret, CertificateState, DeployedFile, DeployedOutput};
use crate::state::{load_identity, Persister};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

mod pem;

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
    let source = source_files(&request.source, spec)?;
    let key = pem::read_private_key(&source.key)?;
    let summary = keys::summarize_chain(&source.fullchain)?;
    if keys::public_key_sha256(&key)? != summary.spki_sha256 {
        return Err(Error::Usage(format!(
            "The private key in {} does not belong to the certificate in {} (their public keys \
             differ); nothing was imported.",
            source.key.display(),
            source.leaf.display()
        )));
    }

    let store = store_for(globals, &desired)?;
    let lock = store.lock("import", request.lock_timeout)?;
    let identity = load_identity(globals.identity.as_deref())?;
    let read = ReadState::read(&*store)?;
    let stored_serial = read.as_ref().map(|r| r.state().serial);
    let (mut state, mut secrets) =
        ReadState::open_or_new(read, &identity, &desired.state, &store.describe())?;
    if state.certificates.contains_key(&address) {
        return Err(Error::Usage(format!(
            "{address} is already in the state; certform manages it already."
        )));
    }
    // Keep the configured order when the certificate covers exactly the configured names.
    let same_names = keys::same_identifiers(&summary.domains, &spec.domains);
    let mut entry = CertificateState::from_summary(
        summary.clone(),
        spec,
        desired.accounts[&spec.account].directory.clone(),
        None,
        summary.not_before,
    );
    if !same_names {
        entry.domains = summary.domains.clone();
    }
    entry.key_type = keys::key_type_of(&key)?;
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

/// What an import source holds, each file already checked as PEM.
struct SourceFiles {
    /// The file holding the leaf certificate.
    leaf: PathBuf,
    /// The leaf and its chain, PEM.
    fullchain: String,
    /// The file holding the private key.
    key: PathBuf,
}

fn source_files(source: &ImportSource, spec: &CertificateSpec) -> Result<SourceFiles> {
    let (leaf, chain, key) = match source {
        ImportSource::Files { cert, key, chain } => (cert.clone(), chain.clone(), key.clone()),
        ImportSource::Certbot(dir) => (dir.join("fullchain.pem"), None, dir.join("privkey.pem")),
        ImportSource::Lego(dir) => {
            let dir = if dir.join("certificates").is_dir() {
                dir.join("certificates")
            } else {
                dir.clone()
            };
            let name = spec.domains[0].replace('*', "_");
            // lego writes the chain into NAME.crt unless run with --no-bundle.
            let issuer = dir.join(format!("{name}.issuer.crt"));
            let leaf = dir.join(format!("{name}.crt"));
            let bundled = pem::read_certificates(&leaf)?
                .matches("BEGIN CERTIFICATE")
                .count()
                > 1;
            let chain = (!bundled && issuer.exists()).then_some(issuer);
            (leaf, chain, dir.join(format!("{name}.key")))
        }
    };
    let mut fullchain = pem::read_certificates(&leaf)?;
    if let Some(chain) = chain {
        fullchain.push_str(&pem::read_certificates(&chain)?);
    }
    Ok(SourceFiles {
        leaf,
        fullchain,
        key,
    })
}

/// The outputs whose every file already holds what apply would write, with its mode.
fn outputs_already_in_place(
    spec: &CertificateSpec,
    entry: &CertificateState,
    key: &Sensitive,
) -> BTreeMap<String, DeployedOutput> {
    let mut in_place = BTreeMap::new();
    // A remote output cannot be seen from here: the next apply delivers it.
    for output in spec.outputs.iter().filter(|o| o.kind.is_local()) {
        let files: Vec<_> = output.files();
        let observed = crate::deploy::observe(files.iter().map(|(_, path, _)| path.as_path()));
        let deployed: Option<Vec<DeployedFile>> = files
            .iter()
            .map(|(kind, path, mode)| {
                // A PKCS#12 archive differs on every write: it is never in place.
                if *kind == OutputFileKind::Pkcs12 {
                    return None;
                }
                let wanted = crate::deploy::file_content(output, *kind, entry, key).ok()?;
                let sha256 = crate::deploy::sha256_hex(&wanted);
                let Some(FileSeen::Regular(facts)) = observed.files.get(*path) else {
                    return None;
                };
                (facts.sha256 == sha256 && facts.mode == *mode).then(|| DeployedFile {
                    kind: *kind,
                    path: (*path).clone(),
                    sha256,
                    mode: *mode,
                })
            })
            .collect();
        if let Some(files) = deployed {
            in_place.insert(
                output.name.clone(),
                DeployedOutput {
                    files,
                    remote: None,
                },
            );
        }
    }
    in_place
}
