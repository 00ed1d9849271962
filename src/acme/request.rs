//! Signed requests certform sends itself, beside instant-acme (which neither hands back
//! response headers nor signs with a key other than the account's): POST-as-GET downloads
//! whose `Link` headers name alternate chains, and revocation signed with a certificate's
//! key. They use the shared client of `client.rs` (TCP_NODELAY, the 1 MiB answer limit, the
//! per-attempt trace) and the retry policy of `retry.rs` (`badNonce`, 429, 5xx, connection
//! errors). A nonce comes from the directory's `newNonce` once, then from each answer's
//! `Replay-Nonce` (error answers carry one too, so a `badNonce` retry costs no extra round
//! trip).

use super::client::AcmeHttp;
use super::jws::Signer;
use super::retry::{acme_call, acme_call_traced};
use crate::{Error, Result};
use bytes::Bytes;
use instant_acme::{BodyWrapper, HttpClient, Problem};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const REPLAY_NONCE: &str = "replay-nonce";
const JOSE_JSON: &str = "application/jose+json";

/// The directory members certform uses (RFC 8555 §7.1.1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub revoke_cert: String,
    /// Absent when the CA offers no account key rollover.
    pub key_change: Option<String>,
    /// RFC 9773; absent when the CA offers no ARI.
    pub renewal_info: Option<String>,
    #[serde(default)]
    pub meta: DirectoryMeta,
}

/// The directory's `meta` members certform reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DirectoryMeta {
    /// draft-ietf-acme-profiles: profile name -> description; absent when the CA has none.
    pub profiles: Option<std::collections::BTreeMap<String, String>>,
    /// The CA's issuer domain names (CAA, and the first of dns-persist-01's records).
    #[serde(default)]
    pub caa_identities: Vec<String>,
}

/// The directory at `url`, fetched with a plain GET once per process.
pub(super) async fn directory(http: &AcmeHttp, url: &str) -> Result<Arc<Directory>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Arc<Directory>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    if let Some(directory) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(directory.clone());
    }
    let response = http.get(url).await?;
    if response.status != 200 {
        return Err(Error::Acme(format!(
            "the ACME directory {url} answered {}",
            response.status
        )));
    }
    let directory: Arc<Directory> = serde_json::from_slice::<Directory>(&response.body)
        .map_err(|e| Error::Acme(format!("the ACME directory {url} is not valid: {e}")))?
        .into();
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(url.to_string(), directory.clone());
    Ok(directory)
}

/// A successful answer to a signed request.
#[derive(Debug)]
pub(super) struct Answer {
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// One signer talking to one CA. Shared by the concurrent requests of an account: each takes
/// a nonce an earlier answer left, or asks `newNonce` when there is none. Answers arrive
/// while other requests are in flight, so their nonces are pooled (the newest taken first):
/// with a single slot, concurrent downloads each paid a `newNonce` round trip.
pub(super) struct Session {
    http: AcmeHttp,
    directory_url: String,
    signer: Signer,
    nonces: Mutex<Vec<String>>,
}

/// How many unused nonces a session keeps (the oldest are dropped: a CA expires them).
const NONCE_POOL: usize = 32;

impl Session {
    pub(super) fn new(http: AcmeHttp, directory_url: &str, signer: Signer) -> Session {
        Session {
            http,
            directory_url: directory_url.to_string(),
            signer,
            nonces: Mutex::new(Vec::new()),
        }
    }

    pub(super) async fn directory(&self) -> Result<Arc<Directory>> {
        directory(&self.http, &self.directory_url).await
    }

    /// A POST-as-GET (RFC 8555 §6.3): the resource at `url`, with its headers.
    pub(super) async fn post_as_get(&self, what: &str, url: &str) -> Result<Answer> {
        self.post(what, url, None).await
    }

    /// POSTs `payload` (or nothing, for a POST-as-GET) signed to `url`; `what` names the
    /// request in retry notices and errors (`while <what>`).
    pub(super) async fn post(
        &self,
        what: &str,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<Answer> {
        let new_nonce = self.directory().await?.new_nonce.clone();
        acme_call!(what, self.attempt(&new_nonce, url, payload).await)
    }

    /// Like [`Session::post`], but an answer with the problem type `expected` is `None`
    /// rather than an error (`accountDoesNotExist` is an answer to a question).
    pub(super) async fn post_unless(
        &self,
        what: &str,
        url: &str,
        payload: &Value,
        expected: &str,
    ) -> Result<Option<Answer>> {
        let new_nonce = self.directory().await?.new_nonce.clone();
        acme_call!(
            what,
            match self.attempt(&new_nonce, url, Some(payload)).await {
                Err(instant_acme::Error::Api(problem))
                    if problem.r#type.as_deref() == Some(expected) =>
                {
                    Ok(None)
                }
                other => other.map(Some),
            }
        )
    }

    /// The signer's public key as a JWK.
    pub(super) fn jwk(&self) -> Value {
        self.signer.jwk()
    }

    /// One signed POST. An error answer becomes `Error::Api` with the CA's problem document,
    /// which `retry.rs` classifies.
    async fn attempt(
        &self,
        new_nonce: &str,
        url: &str,
        payload: Option<&Value>,
    ) -> std::result::Result<Answer, instant_acme::Error> {
        let taken = self.nonce_pool().pop();
        let nonce = match taken {
            Some(nonce) => nonce,
            None => self.fresh_nonce(new_nonce).await?,
        };
        let body = self
            .signer
            .sign(url, &nonce, payload)
            .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
        let request = hyper::Request::post(url)
            .header(hyper::header::USER_AGENT, "certform")
            .header(hyper::header::CONTENT_TYPE, JOSE_JSON)
            .body(BodyWrapper::from(body))?;
        let mut response = self.http.request(request).await?;
        if let Some(next) = replay_nonce(&response.parts.headers) {
            let mut pool = self.nonce_pool();
            if pool.len() == NONCE_POOL {
                pool.remove(0);
            }
            pool.push(next);
        }
        let body = response
            .body
            .into_bytes()
            .await
            .map_err(instant_acme::Error::Other)?;
        if response.parts.status.is_client_error() || response.parts.status.is_server_error() {
            return Err(match serde_json::from_slice::<Problem>(&body) {
                Ok(problem) => instant_acme::Error::Api(problem),
                // `retry.rs` reports the status the trace recorded.
                Err(_) => instant_acme::Error::Str("the CA's answer is no problem document"),
            });
        }
        Ok(Answer {
            headers: response.parts.headers,
            body,
        })
    }

    async fn fresh_nonce(
        &self,
        new_nonce: &str,
    ) -> std::result::Result<String, instant_acme::Error> {
        let request = hyper::Request::head(new_nonce)
            .header(hyper::header::USER_AGENT, "certform")
            .body(BodyWrapper::default())?;
        let response = self.http.request(request).await?;
        if !response.parts.status.is_success() {
            return Err(instant_acme::Error::Str(
                "the CA's newNonce answered an error",
            ));
        }
        replay_nonce(&response.parts.headers).ok_or(instant_acme::Error::Str(
            "the CA's newNonce answered no Replay-Nonce",
        ))
    }

    fn nonce_pool(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn replay_nonce(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get(REPLAY_NONCE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}
