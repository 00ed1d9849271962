//! Output kinds that deliver somewhere other than this machine's file system. Each kind is
//! one module implementing [`RemoteKind`] (deliver the certificate, read back what drift
//! compares) and one line in [`KINDS`]; a build without a kind leaves out both, and an
//! output naming it then fails with a message saying so.

use crate::address::Address;
use crate::desired::model::{Desired, OutputKind, OutputSpec};
use crate::error::{Error, Result};
use crate::plan::RemoteSeen;
use crate::secret::Sensitive;
use crate::state::model::{CertificateState, DeployedOutput, RemoteDelivery, State};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One delivery: the certificate (from state) and its key to the place `output` names.
pub struct Delivery<'a> {
    pub output: &'a OutputSpec,
    pub certificate: &'a CertificateState,
    pub private_key: &'a Sensitive,
    /// What this output delivered before (to the same target), so a kind updates in place:
    /// ACM imports to the same ARN, Secrets Manager adds a version to the same secret.
    pub previous: Option<&'a RemoteDelivery>,
}

/// An output kind that delivers to a remote service.
pub trait RemoteKind: Sync {
    /// The `kind` attribute naming it.
    fn name(&self) -> &'static str;

    /// Delivers the certificate and returns the record state keeps: only public
    /// identifiers (ARN, version id, ETag), never key bytes. `target` and `serial_number`
    /// are filled in by the caller.
    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<RemoteDelivery>>;

    /// Reads back the items of `delivered` as the service holds them now.
    fn observe<'a>(
        &'a self,
        output: &'a OutputSpec,
        delivered: &'a RemoteDelivery,
    ) -> BoxFuture<'a, Result<RemoteSeen>>;
}

/// The kinds this build delivers to.
const KINDS: &[&dyn RemoteKind] = &[
    #[cfg(feature = "aws-acm")]
    &super::aws_acm::AwsAcm,
    #[cfg(feature = "aws-secretsmanager")]
    &super::aws_secretsmanager::AwsSecretsManager,
    #[cfg(feature = "s3")]
    &super::s3::S3,
    &super::ssh::SshKind,
];

/// The executor of a remote `kind`.
fn executor(kind: &OutputKind) -> Result<&'static dyn RemoteKind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.name() == kind.name())
        .ok_or_else(|| {
            Error::Deploy(format!(
                "This certform was built without the `{}` output kind.",
                kind.name()
            ))
        })
}

/// Delivers one output of any kind (files are written here, on this machine).
pub async fn deliver(
    output: &OutputSpec,
    certificate: &CertificateState,
    private_key: &Sensitive,
    previous: Option<&DeployedOutput>,
) -> Result<DeployedOutput> {
    let Some(target) = output.kind.target() else {
        // Local files wait for fsyncs: written off the async workers.
        let (output, certificate, key) = (output.clone(), certificate.clone(), private_key.clone());
        return crate::runtime::blocking(move || super::write_output(&output, &certificate, &key))
            .await;
    };
    let previous = previous
        .and_then(|p| p.remote.as_ref())
        .filter(|p| p.target == target);
    let mut delivered = executor(&output.kind)?
        .deliver(Delivery {
            output,
            certificate,
            private_key,
            previous,
        })
        .await
        .map_err(|e| match e {
            Error::Deploy(why) => Error::Deploy(format!(
                "Cannot deliver output \"{}\" ({target}): {why}",
                output.name
            )),
            other => other,
        })?;
    tracing::info!(
        "delivered output \"{}\" to {}",
        output.name,
        delivered.location
    );
    delivered.target = target;
    delivered.serial_number = certificate.serial_number.clone();
    Ok(DeployedOutput {
        files: Vec::new(),
        remote: Some(delivered),
    })
}

/// Reads back every remote output the configuration still delivers as state recorded it
/// (same target, current certificate). A service that does not answer is a warning, not
/// drift: its output is left out, and the plan proposes nothing for it.
pub fn observe_blocking(desired: &Desired, state: &State) -> Observations {
    let wanted: Vec<_> = desired
        .certificates
        .iter()
        .filter_map(|(address, spec)| Some((address, spec, state.certificates.get(address)?)))
        .flat_map(|(address, spec, current)| {
            spec.outputs.iter().filter_map(move |output| {
                let target = output.kind.target()?;
                let delivered = current
                    .outputs
                    .get(&output.name)?
                    .remote
                    .as_ref()
                    .filter(|d| d.target == target && d.serial_number == current.serial_number)?;
                Some((address, output, delivered))
            })
        })
        .collect();
    if wanted.is_empty() {
        return Observations::new();
    }
    let mut seen = Observations::new();
    for (address, output, delivered) in wanted {
        let read = match executor(&output.kind) {
            Ok(kind) => crate::runtime::block_on(kind.observe(output, delivered)),
            Err(e) => Err(e),
        };
        match read {
            Ok(found) => {
                seen.insert((address.clone(), output.name.clone()), found);
            }
            Err(e) => eprintln!(
                "warning: output \"{}\" of {address} was not checked for drift: reading {} failed: {e}",
                output.name, delivered.location
            ),
        }
    }
    seen
}

/// What [`observe_blocking`] read, by certificate and output name.
pub type Observations = BTreeMap<(Address, String), RemoteSeen>;
