//! `kind = "aws_acm"`: imports the certificate, its chain and key into AWS Certificate
//! Manager, and on renewal imports again to the same ARN (state keeps it), so the load
//! balancers and CloudFront distributions that use the ARN serve the new certificate
//! without being touched. Drift reads the ARN's serial number back.

use super::remote::{BoxFuture, Delivery, RemoteKind};
use crate::desired::model::{AwsTarget, OutputKind, OutputSpec};
use crate::error::{Error, Result};
use crate::plan::RemoteSeen;
use crate::state::model::RemoteDelivery;
use aws_sdk_acm::config::http::HttpResponse;
use aws_sdk_acm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_acm::operation::import_certificate::ImportCertificateError;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::Client;
use std::collections::BTreeMap;

pub(super) struct AwsAcm;

/// The item drift compares: the serial number ACM reports for the ARN.
const SERIAL: &str = "serial";

impl RemoteKind for AwsAcm {
    fn name(&self) -> &'static str {
        "aws_acm"
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<RemoteDelivery>> {
        Box::pin(async move {
            let client = client(target(delivery.output)?).await;
            let previous = delivery.previous.map(|p| p.location.as_str());
            let arn = match import(&client, &delivery, previous).await {
                // Deleted from ACM since: a new ARN (whatever used the old one needs it).
                Err(e) if previous.is_some() && e.code() == Some("ResourceNotFoundException") => {
                    tracing::warn!(
                        "{} is gone from ACM: importing as a new certificate",
                        previous.unwrap_or_default()
                    );
                    import(&client, &delivery, None).await
                }
                other => other,
            }
            .map_err(|e| {
                let location = previous.unwrap_or("ACM");
                super::aws::failed("ImportCertificate", location, DisplayErrorContext(&e))
            })?;
            let arn = arn.as_str();
            let serial = match serial(&client, arn).await? {
                RemoteSeen::Found(items) => items,
                RemoteSeen::Missing => {
                    return Err(Error::Deploy(format!(
                        "{arn} is gone right after its import"
                    )))
                }
            };
            Ok(RemoteDelivery {
                target: String::new(),
                location: arn.to_string(),
                serial_number: String::new(),
                items: serial,
            })
        })
    }

    fn observe<'a>(
        &'a self,
        output: &'a OutputSpec,
        delivered: &'a RemoteDelivery,
    ) -> BoxFuture<'a, Result<RemoteSeen>> {
        Box::pin(async move {
            let client = client(target(output)?).await;
            serial(&client, &delivered.location).await
        })
    }
}

/// Imports the certificate, to `arn` when given; returns the ARN.
async fn import(
    client: &Client,
    delivery: &Delivery<'_>,
    arn: Option<&str>,
) -> std::result::Result<String, SdkError<ImportCertificateError, HttpResponse>> {
    let certificate = delivery.certificate;
    let imported = client
        .import_certificate()
        .set_certificate_arn(arn.map(str::to_string))
        .certificate(Blob::new(certificate.certificate_pem.as_bytes()))
        .certificate_chain(Blob::new(certificate.chain_pem.as_bytes()))
        .private_key(Blob::new(delivery.private_key.expose().as_bytes()))
        .send()
        .await?;
    Ok(imported.certificate_arn().unwrap_or_default().to_string())
}

fn target(output: &OutputSpec) -> Result<&AwsTarget> {
    match &output.kind {
        OutputKind::AwsAcm(target) => Ok(target),
        other => Err(Error::Bug(format!(
            "aws_acm asked to deliver a {}",
            other.name()
        ))),
    }
}

async fn client(target: &AwsTarget) -> Client {
    let shared = super::aws::config(target).await;
    let mut config = aws_sdk_acm::config::Builder::from(&shared);
    if let Some(endpoint) = &target.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

/// The serial number ACM holds for `arn`, as it words it; `Missing` when the ARN is gone.
async fn serial(client: &Client, arn: &str) -> Result<RemoteSeen> {
    let described = match client
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
    {
        Ok(described) => described,
        Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(RemoteSeen::Missing),
        Err(e) => {
            return Err(super::aws::failed(
                "DescribeCertificate",
                arn,
                DisplayErrorContext(&e),
            ))
        }
    };
    let serial = described
        .certificate()
        .and_then(|c| c.serial())
        .unwrap_or_default();
    Ok(RemoteSeen::Found(BTreeMap::from([(
        SERIAL.to_string(),
        serial.to_string(),
    )])))
}
