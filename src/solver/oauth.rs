//! OAuth 2.0 access tokens for the cloud DNS providers whose APIs take a short-lived bearer
//! token (Google Cloud DNS: a service account's signed JWT, RFC 7523; Azure DNS: a client
//! secret, the client credentials grant of RFC 6749 §4.4). [`request_token`] posts the
//! grant as a form and reads the standard answer; [`TokenCache`] keeps the token until a
//! minute before it expires. Every token is registered as a secret, so no message shows it.

use super::api_client::{ApiClient, Payload};
use hyper::Method;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// A token this close to its expiry is renewed first.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A token and until when it may be used.
pub(super) struct Token {
    pub value: String,
    pub valid_for: Duration,
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    error_description: Option<String>,
}

/// POST `form` to `path` at `api` (a token endpoint) and read the access token; a refusal
/// quotes the endpoint's `error` and `error_description`.
pub(super) async fn request_token(
    api: &ApiClient,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Token, String> {
    let reply = api
        .send(Method::POST, path, &[], Some(Payload::Form(form)))
        .await?;
    if !reply.status.is_success() {
        let message = reply
            .json::<Refusal>()
            .ok()
            .map(|r| match r.error_description {
                Some(description) => format!("{}: {description}", r.error),
                None => r.error,
            });
        return Err(format!(
            "the token request was refused: {}",
            reply.error_saying(message)
        ));
    }
    let answer: Answer = reply.json()?;
    crate::redact::register(&answer.access_token);
    Ok(Token {
        value: answer.access_token,
        valid_for: Duration::from_secs(answer.expires_in.unwrap_or(300)),
    })
}

/// The current token of one provider, renewed when it is about to expire.
#[derive(Default)]
pub(super) struct TokenCache {
    current: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenCache {
    /// `Bearer <token>`, fetching a new token with `fetch` when there is none or it expires
    /// within a minute.
    pub(super) async fn bearer<F>(&self, fetch: F) -> Result<String, String>
    where
        F: std::future::Future<Output = Result<Token, String>>,
    {
        let mut current = self.current.lock().await;
        match &*current {
            Some((token, expiry)) if Instant::now() + RENEW_BEFORE < *expiry => {
                Ok(format!("Bearer {token}"))
            }
            _ => {
                let token = fetch.await?;
                let bearer = format!("Bearer {}", token.value);
                *current = Some((token.value, Instant::now() + token.valid_for));
                Ok(bearer)
            }
        }
    }
}
