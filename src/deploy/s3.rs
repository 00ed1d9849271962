//! `kind = "s3"`: `cert.pem`, `chain.pem`, `fullchain.pem` and `privkey.pem` as objects under
//! a prefix, with the server-side encryption configured. Drift reads each object's ETag
//! back: a deleted or overwritten object is delivered again.

use super::remote::{BoxFuture, Delivery, RemoteKind};
use crate::desired::model::{OutputKind, OutputSpec, S3Target};
use crate::error::{Error, Result};
use crate::plan::RemoteSeen;
use crate::state::model::RemoteDelivery;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

pub(super) struct S3;

impl RemoteKind for S3 {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<RemoteDelivery>> {
        Box::pin(async move {
            let target = target(delivery.output)?;
            let client = client(target).await;
            let certificate = delivery.certificate;
            let fullchain = format!("{}{}", certificate.certificate_pem, certificate.chain_pem);
            let objects = [
                ("cert.pem", certificate.certificate_pem.as_str()),
                ("chain.pem", certificate.chain_pem.as_str()),
                ("fullchain.pem", fullchain.as_str()),
                ("privkey.pem", delivery.private_key.expose()),
            ];
            let mut items = BTreeMap::new();
            for (name, content) in objects {
                let key = format!("{}{name}", target.prefix);
                let body = Zeroizing::new(content.as_bytes().to_vec());
                let put = client
                    .put_object()
                    .bucket(&target.bucket)
                    .key(&key)
                    .content_type("application/x-pem-file")
                    .body(ByteStream::from(body.to_vec()))
                    .set_server_side_encryption(
                        target
                            .server_side_encryption
                            .as_deref()
                            .map(ServerSideEncryption::from),
                    )
                    .set_ssekms_key_id(target.kms_key_id.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        let location = format!("s3://{}/{key}", target.bucket);
                        super::aws::failed("PutObject", &location, DisplayErrorContext(&e))
                    })?;
                items.insert(key, put.e_tag.unwrap_or_default());
            }
            Ok(RemoteDelivery {
                target: String::new(),
                location: format!("s3://{}/{}", target.bucket, target.prefix),
                serial_number: String::new(),
                items,
            })
        })
    }

    fn observe<'a>(
        &'a self,
        output: &'a OutputSpec,
        delivered: &'a RemoteDelivery,
    ) -> BoxFuture<'a, Result<RemoteSeen>> {
        Box::pin(async move {
            let target = target(output)?;
            let client = client(target).await;
            let mut found = BTreeMap::new();
            for key in delivered.items.keys() {
                match client
                    .head_object()
                    .bucket(&target.bucket)
                    .key(key)
                    .send()
                    .await
                {
                    Ok(head) => {
                        found.insert(key.clone(), head.e_tag.unwrap_or_default());
                    }
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
                    Err(e) => {
                        let location = format!("s3://{}/{key}", target.bucket);
                        return Err(super::aws::failed(
                            "HeadObject",
                            &location,
                            DisplayErrorContext(&e),
                        ));
                    }
                }
            }
            Ok(RemoteSeen::Found(found))
        })
    }
}

fn target(output: &OutputSpec) -> Result<&S3Target> {
    match &output.kind {
        OutputKind::S3(target) => Ok(target),
        other => Err(Error::Bug(format!(
            "s3 asked to deliver a {}",
            other.name()
        ))),
    }
}

async fn client(target: &S3Target) -> Client {
    let shared = super::aws::config(&target.aws).await;
    crate::state::s3::s3_client(
        &shared,
        target.aws.endpoint.as_deref(),
        target.use_path_style,
    )
}
