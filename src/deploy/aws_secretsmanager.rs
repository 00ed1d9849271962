//! `kind = "aws_secretsmanager"`: one secret holding the certificate, chain, full chain and
//! key as JSON (`{"certificate": ..., "chain": ..., "fullchain": ..., "private_key": ...}`),
//! created when missing; each delivery adds a version (the previous one stays as
//! `AWSPREVIOUS`). Drift reads which version is `AWSCURRENT`.

use super::remote::{BoxFuture, Delivery, RemoteKind};
use crate::desired::model::{OutputKind, OutputSpec, SecretsManagerTarget};
use crate::error::{Error, Result};
use crate::plan::RemoteSeen;
use crate::state::model::RemoteDelivery;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::Client;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

pub(super) struct AwsSecretsManager;

/// The item drift compares: the id of the version staged `AWSCURRENT`.
const VERSION: &str = "version";
const CURRENT: &str = "AWSCURRENT";

impl RemoteKind for AwsSecretsManager {
    fn name(&self) -> &'static str {
        "aws_secretsmanager"
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<RemoteDelivery>> {
        Box::pin(async move {
            let target = target(delivery.output)?;
            let client = client(target).await;
            let certificate = delivery.certificate;
            let document = Zeroizing::new(
                serde_json::json!({
                    "certificate": certificate.certificate_pem,
                    "chain": certificate.chain_pem,
                    "fullchain": format!("{}{}", certificate.certificate_pem, certificate.chain_pem),
                    "private_key": delivery.private_key.expose(),
                })
                .to_string(),
            );
            let id = &target.secret_id;
            let put = client
                .put_secret_value()
                .secret_id(id)
                .secret_string(document.as_str())
                .send()
                .await;
            let (arn, version) = match put {
                Ok(put) => (put.arn, put.version_id),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    let created = client
                        .create_secret()
                        .name(id)
                        .description("TLS certificate and key, written by certform")
                        .set_kms_key_id(target.kms_key_id.clone())
                        .secret_string(document.as_str())
                        .send()
                        .await
                        .map_err(|e| {
                            super::aws::failed("CreateSecret", id, DisplayErrorContext(&e))
                        })?;
                    (created.arn, created.version_id)
                }
                Err(e) => {
                    return Err(super::aws::failed(
                        "PutSecretValue",
                        id,
                        DisplayErrorContext(&e),
                    ))
                }
            };
            let (Some(arn), Some(version)) = (arn, version) else {
                return Err(Error::Deploy(format!(
                    "Secrets Manager answered for {id} without the secret's ARN or version id"
                )));
            };
            Ok(RemoteDelivery {
                target: String::new(),
                location: arn,
                serial_number: String::new(),
                items: BTreeMap::from([(VERSION.to_string(), version)]),
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
            let arn = &delivered.location;
            // DescribeSecret: the versions and their stages, never the secret's value.
            let described = match client.describe_secret().secret_id(arn).send().await {
                Ok(described) => described,
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    return Ok(RemoteSeen::Missing)
                }
                Err(e) => {
                    return Err(super::aws::failed(
                        "DescribeSecret",
                        arn,
                        DisplayErrorContext(&e),
                    ))
                }
            };
            if described.deleted_date().is_some() {
                return Ok(RemoteSeen::Missing);
            }
            let current = described
                .version_ids_to_stages()
                .into_iter()
                .flatten()
                .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
                .map(|(version, _)| (VERSION.to_string(), version.clone()));
            Ok(RemoteSeen::Found(current.into_iter().collect()))
        })
    }
}

fn target(output: &OutputSpec) -> Result<&SecretsManagerTarget> {
    match &output.kind {
        OutputKind::AwsSecretsManager(target) => Ok(target),
        other => Err(Error::Bug(format!(
            "aws_secretsmanager asked to deliver a {}",
            other.name()
        ))),
    }
}

async fn client(target: &SecretsManagerTarget) -> Client {
    let shared = super::aws::config(&target.aws).await;
    let mut config = aws_sdk_secretsmanager::config::Builder::from(&shared);
    if let Some(endpoint) = &target.aws.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}
