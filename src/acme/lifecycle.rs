//! Account lifecycle beyond creation: key rollover (RFC 8555 §7.3.5), contact updates
//! (§7.3.2) and deactivation (§7.3.6).
//!
//! A rollover must never lose the account: the new key is made here
//! ([`credentials_with_new_key`]) so the caller stores it *before* [`AcmeAccount::change_key`]
//! sends it. Any failure of that request is ambiguous — the CA may have acted on a request
//! whose answer was lost, and a retry signed with the old key is then refused — so it is
//! settled by asking the CA which key it holds ([`key_in_use`]), never by trying a fresh key.

use super::jws::{Signer, SigningKey};
use super::request::Session;
use super::retry::{acme_call, acme_call_traced};
use super::{client, AcmeAccount};
use crate::secret::Sensitive;
use crate::{Error, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;

const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// Which of an account's two keys the CA holds after a key change.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyInUse {
    Old,
    New,
    /// The CA could not be asked, or knows the account by neither key: why.
    Unknown(String),
}

/// The same credentials (account URL, directory) with a newly generated ECDSA P-256 key,
/// not yet known to the CA.
pub fn credentials_with_new_key(current: &Sensitive) -> Result<Sensitive> {
    let mut credentials = credentials_json(current)?;
    let (_, pkcs8) = instant_acme::Key::generate_pkcs8()
        .map_err(|e| Error::Bug(format!("cannot generate an account key: {e}")))?;
    credentials["key_pkcs8"] =
        json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pkcs8.secret_pkcs8_der()));
    Ok(Sensitive::new(credentials.to_string()))
}

/// Asks the CA which key it holds for the account of `old` and `new` (the same account
/// with two keys): `newAccount` with `onlyReturnExisting`, signed with the new key first.
pub async fn key_in_use(old: &Sensitive, new: &Sensitive, ca_bundle: Option<&Path>) -> KeyInUse {
    settle(|which| async move {
        let credentials = match which {
            KeyInUse::New => new,
            _ => old,
        };
        holds_account(credentials, ca_bundle).await
    })
    .await
}

/// The decision of [`key_in_use`], given a way to ask whether a key (`KeyInUse::New` or
/// `KeyInUse::Old`) is the account's.
async fn settle<Fut: Future<Output = Result<bool>>>(ask: impl Fn(KeyInUse) -> Fut) -> KeyInUse {
    match ask(KeyInUse::New).await {
        Ok(true) => KeyInUse::New,
        Ok(false) => match ask(KeyInUse::Old).await {
            Ok(true) => KeyInUse::Old,
            Ok(false) => KeyInUse::Unknown("the CA knows the account by neither key".into()),
            Err(e) => KeyInUse::Unknown(e.to_string()),
        },
        Err(e) => KeyInUse::Unknown(e.to_string()),
    }
}

/// Whether the CA finds the account of `credentials` by its key.
async fn holds_account(credentials: &Sensitive, ca_bundle: Option<&Path>) -> Result<bool> {
    let json = credentials_json(credentials)?;
    let field = |name: &str| {
        json[name].as_str().map(str::to_string).ok_or_else(|| {
            Error::State(format!(
                "the stored ACME account credentials name no {name}"
            ))
        })
    };
    let (account_url, directory) = (field("id")?, field("directory")?);
    let signer = Signer::key_only(signing_key(credentials)?);
    let session = Session::new(client::client_for(ca_bundle)?, &directory, signer);
    let url = session.directory().await?.new_account.clone();
    let answer = session
        .post_unless(
            "asking the CA which account key it holds",
            &url,
            &json!({ "onlyReturnExisting": true }),
            ACCOUNT_DOES_NOT_EXIST,
        )
        .await?;
    Ok(answer.is_some_and(|answer| {
        answer
            .headers
            .get(hyper::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            == Some(account_url.as_str())
    }))
}

fn credentials_json(credentials: &Sensitive) -> Result<Value> {
    // serde's messages may quote the input: say only that it is broken.
    serde_json::from_str(credentials.expose())
        .map_err(|_| Error::State("the stored ACME account credentials are not valid JSON".into()))
}

fn signing_key(credentials: &Sensitive) -> Result<SigningKey> {
    let parsed = serde_json::from_str::<instant_acme::AccountCredentials>(credentials.expose())
        .map_err(|_| Error::State("the stored ACME account credentials are not valid".into()))?;
    SigningKey::from_pkcs8_der(parsed.private_key().secret_pkcs8_der())
}

impl AcmeAccount {
    /// Sends `keyChange` making the key of `new_credentials` (from
    /// [`credentials_with_new_key`], already stored) the account key. An error says only
    /// that the outcome is not known: settle it with [`key_in_use`].
    pub async fn change_key(&self, new_credentials: &Sensitive) -> Result<()> {
        let url = self
            .session
            .directory()
            .await?
            .key_change
            .clone()
            .ok_or_else(|| {
                Error::Acme("the CA offers no account key rollover (no keyChange)".into())
            })?;
        let inner = Signer::key_only(signing_key(new_credentials)?).sign_inner(
            &url,
            &json!({ "account": self.url(), "oldKey": self.session.jwk() }),
        )?;
        self.session
            .post("rolling the account key over", &url, Some(&inner))
            .await?;
        Ok(())
    }

    /// Replaces the account's contact URLs; the account URL stays.
    pub async fn update_contacts(&self, contact: &[String]) -> Result<()> {
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        acme_call!(
            "updating the account's contact",
            self.account.update_contacts(&contacts).await
        )
    }

    /// Deactivates the account at the CA: it can no longer order or revoke.
    pub async fn deactivate(&self) -> Result<()> {
        acme_call!(
            "deactivating the account",
            self.account.clone().deactivate().await
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `settle` with a CA that answers `new` and `old` for the two keys.
    async fn settled(new: Result<bool>, old: Result<bool>) -> KeyInUse {
        let answers = std::sync::Mutex::new((Some(new), Some(old)));
        settle(|which| {
            let answer = {
                let mut answers = answers.lock().unwrap();
                match which {
                    KeyInUse::New => answers.0.take(),
                    _ => answers.1.take(),
                }
            };
            async move { answer.expect("each key is asked about once") }
        })
        .await
    }

    fn unreachable() -> Result<bool> {
        Err(Error::Acme("connection refused".into()))
    }

    #[tokio::test]
    async fn the_key_the_ca_holds_decides_and_an_unanswered_question_decides_nothing() {
        assert_eq!(settled(Ok(true), unreachable()).await, KeyInUse::New);
        assert_eq!(settled(Ok(false), Ok(true)).await, KeyInUse::Old);
        assert_eq!(
            settled(unreachable(), Ok(true)).await,
            KeyInUse::Unknown("ACME error: connection refused".into()),
            "the old key answering proves nothing while the new one was not asked"
        );
        assert_eq!(
            settled(Ok(false), unreachable()).await,
            KeyInUse::Unknown("ACME error: connection refused".into())
        );
        assert_eq!(
            settled(Ok(false), Ok(false)).await,
            KeyInUse::Unknown("the CA knows the account by neither key".into())
        );
    }

    #[test]
    fn new_credentials_keep_the_account_and_change_only_the_key() {
        let (_, pkcs8) = instant_acme::Key::generate_pkcs8().unwrap();
        let old = Sensitive::new(
            json!({
                "id": "https://ca.example/acct/1",
                "key_pkcs8": base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(pkcs8.secret_pkcs8_der()),
                "directory": "https://ca.example/dir",
            })
            .to_string(),
        );
        let new = credentials_with_new_key(&old).unwrap();
        let (old_json, new_json) = (
            credentials_json(&old).unwrap(),
            credentials_json(&new).unwrap(),
        );
        assert_eq!(new_json["id"], old_json["id"]);
        assert_eq!(new_json["directory"], old_json["directory"]);
        assert_ne!(new_json["key_pkcs8"], old_json["key_pkcs8"]);
        assert_ne!(
            signing_key(&new).unwrap().jwk(),
            signing_key(&old).unwrap().jwk()
        );
    }
}
