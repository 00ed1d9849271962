//! What the AWS output kinds share: the SDK configuration of an output's [`AwsTarget`]
//! (built as the S3 state backend builds its own) and one wording of a failed call.

use crate::desired::model::AwsTarget;
use crate::error::Error;

/// The SDK configuration for `target`: credentials from the AWS chain, its region or the
/// chain's, else `us-east-1`.
pub(super) async fn config(target: &AwsTarget) -> aws_config::SdkConfig {
    crate::aws::sdk_config(target.region.as_deref(), target.profile.as_deref()).await
}

/// A failed call: `operation` on `location`, with the SDK's whole error chain (its
/// `Display` alone says only "service error").
pub(super) fn failed(operation: &str, location: &str, error: impl std::fmt::Display) -> Error {
    Error::Deploy(format!("{operation} on {location} failed: {error}"))
}
