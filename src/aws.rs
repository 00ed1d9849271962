//! What the AWS-backed parts share (the S3 state backend, the Route53 DNS provider and the
//! `aws_acm`, `aws_secretsmanager` and `s3` output kinds): the SDK configuration from the
//! usual credential chain over rustls, and the refusal of a plain-http endpoint. The check
//! is built in every build, so a lean binary still validates such a configuration's
//! endpoint.

/// Refuses an `endpoint` without TLS unless `allow_insecure` (the `allow_insecure_transport`
/// attribute) accepts it.
pub fn check_endpoint(
    endpoint: Option<&str>,
    allow_insecure: bool,
) -> std::result::Result<(), String> {
    let plain = endpoint.is_some_and(|e| {
        e.trim()
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    });
    if plain && !allow_insecure {
        return Err(
            "The s3 backend's endpoint is http://, which sends the state and the request \
             signatures unencrypted; use https://, or set allow_insecure_transport = true in \
             the state block to accept that."
                .into(),
        );
    }
    Ok(())
}

/// The AWS SDK configuration from the usual chain (environment, `profile` or the default
/// profile, instance role), over rustls; `region`, else the chain's, else `us-east-1`.
#[cfg(feature = "aws")]
pub async fn sdk_config(region: Option<&str>, profile: Option<&str>) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let shared = loader.load().await;
    if shared.region().is_some() {
        return shared;
    }
    shared
        .into_builder()
        .region(aws_config::Region::new("us-east-1"))
        .build()
}
