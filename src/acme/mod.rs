//! The ACME port: accounts, orders and revocation against any RFC 8555 CA. This is the only
//! module that uses `instant_acme`, and none of its types appear in this API: credentials
//! leave as [`Sensitive`] JSON, certificates as PEM text, errors as [`Error::Acme`] carrying
//! the CA's problem document.
//!
//! Every request goes through certform's own retry (`retry.rs`); the order flow lives in
//! `order.rs`. What instant-acme cannot send — a POST-as-GET whose response headers matter (alternate
//! chains, `chains.rs`) and revocation signed with a certificate's key (`revoke.rs`) — is
//! signed by `jws.rs` and sent by `request.rs`.

pub mod ari;
mod chains;
mod client;
mod jws;
mod lifecycle;
mod order;
mod persist;
mod poll;
mod request;
mod retry;
mod revoke;

use crate::desired::model::AccountSpec;
use crate::secret::Sensitive;
use crate::{Error, Result};
use base64::Engine;
use instant_acme::{Account, ExternalAccountKey, RevocationRequest};
pub use lifecycle::{credentials_with_new_key, key_in_use, KeyInUse};
pub use order::{Issued, OrderRequest};
pub use persist::issuer_domain_name;
use request::Session;
use retry::{acme_call, acme_call_traced};
pub use revoke::revoke_with_certificate_key;
use std::path::Path;
use std::sync::Arc;

/// A registered ACME account, ready to order and revoke.
#[derive(Clone)]
pub struct AcmeAccount {
    account: Account,
    /// certform's own requests signed with the account key (see `request.rs`).
    session: Arc<Session>,
}

impl std::fmt::Debug for AcmeAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeAccount")
            .field("url", &self.account.id())
            .finish()
    }
}

impl AcmeAccount {
    /// The account URL (its `kid`).
    pub fn url(&self) -> &str {
        self.account.id()
    }

    /// Wraps instant-acme's account with a session that signs as it does (`kid`, the
    /// account key from `credentials`).
    fn new(
        account: Account,
        credentials: &instant_acme::AccountCredentials,
        session: impl FnOnce(jws::Signer) -> Session,
    ) -> Result<AcmeAccount> {
        let key = jws::SigningKey::from_pkcs8_der(credentials.private_key().secret_pkcs8_der())?;
        let session = session(jws::Signer::account(key, account.id()));
        Ok(AcmeAccount {
            account,
            session: Arc::new(session),
        })
    }
}

/// The result of [`create_account`].
#[derive(Debug)]
pub struct NewAccount {
    pub account: AcmeAccount,
    pub account_url: String,
    /// instant-acme's `AccountCredentials` as JSON (it holds the account private key): the
    /// secret half of state stores it and [`load_account`] reads it back.
    pub credentials: Sensitive,
}

/// Register a new account (a new ECDSA P-256 key) at `spec.directory`.
pub async fn create_account(spec: &AccountSpec) -> Result<NewAccount> {
    let http = client::client_for(spec.ca_bundle.as_deref())?;
    let eab = match &spec.external_account_binding {
        Some(binding) => {
            let hmac_key = binding.hmac_key.value().map_err(|why| {
                Error::Acme(format!(
                    "cannot bind account.{} to its external account: {why}",
                    spec.name
                ))
            })?;
            let key = decode_hmac_key(hmac_key.expose()).ok_or_else(|| {
                Error::Acme(format!(
                    "the external_account_binding hmac_key of account.{} is not base64url",
                    spec.name
                ))
            })?;
            Some(ExternalAccountKey::new(binding.kid.clone(), &key))
        }
        None => None,
    };
    let contact: Vec<&str> = spec.contact.iter().map(String::as_str).collect();
    let new_account = instant_acme::NewAccount {
        contact: &contact,
        terms_of_service_agreed: spec.terms_of_service_agreed,
        only_return_existing: false,
    };
    let what = format!("creating account.{} at {}", spec.name, spec.directory);
    let (account, credentials) = acme_call!(
        what,
        Account::builder_with_http(Box::new(http.clone()))
            .create(&new_account, spec.directory.clone(), eab.as_ref())
            .await
    )?;
    let account = AcmeAccount::new(account, &credentials, |signer| {
        Session::new(http, &spec.directory, signer)
    })?;
    let credentials = serde_json::to_string(&credentials)
        .map_err(|e| Error::Bug(format!("cannot serialise account credentials: {e}")))?;
    Ok(NewAccount {
        account_url: account.url().to_string(),
        account,
        credentials: Sensitive::new(credentials),
    })
}

/// The profiles the directory at `directory` lists in `meta.profiles` (draft-ietf-acme-
/// profiles), sorted; `None` when it lists none. Fetched with a plain GET, so `plan` can ask
/// without the identity.
pub async fn offered_profiles(
    directory: &str,
    ca_bundle: Option<&Path>,
) -> Result<Option<Vec<String>>> {
    let http = client::client_for(ca_bundle)?;
    let directory = request::directory(&http, directory).await?;
    Ok(directory
        .meta
        .profiles
        .as_ref()
        .map(|profiles| profiles.keys().cloned().collect()))
}

/// EAB HMAC keys are base64url (RFC 8555 §7.3.4); accept padding and the standard alphabet too.
fn decode_hmac_key(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|key| !key.is_empty())
}

/// Restore an account from the credentials [`create_account`] returned. `configured` is
/// the directory the configuration names for the account (`None`: the account is no longer
/// configured): the credentials come from the state, which someone without the identity may
/// have written, so they may not choose another CA.
pub async fn load_account(
    credentials: &Sensitive,
    configured: Option<&str>,
    ca_bundle: Option<&Path>,
) -> Result<AcmeAccount> {
    // serde's messages may quote the input: only report where it broke.
    let parse = || serde_json::from_str::<instant_acme::AccountCredentials>(credentials.expose());
    let invalid = |e: serde_json::Error| {
        Error::State(format!(
            "the stored ACME account credentials are not valid (line {}, column {})",
            e.line(),
            e.column()
        ))
    };
    let checked = parse().map_err(invalid)?;
    // instant-acme keeps the directory URL to itself; certform's own requests need it too.
    #[derive(serde::Deserialize)]
    struct StoredDirectory {
        directory: Option<String>,
    }
    let directory = serde_json::from_str::<StoredDirectory>(credentials.expose())
        .map_err(invalid)?
        .directory
        .ok_or_else(|| {
            Error::State("the stored ACME account credentials name no directory URL".into())
        })?;
    if let Some(configured) = configured.filter(|c| *c != directory) {
        return Err(Error::State(format!(
            "The stored account credentials belong to the directory {directory}, but the \
             configuration names {configured}; certform uses an account only with the CA the \
             configuration names. Plan again: a changed directory registers a new account."
        )));
    }
    let http = client::client_for(ca_bundle)?;
    let account = acme_call!(
        "loading the ACME account",
        Account::builder_with_http(Box::new(http.clone()))
            .from_credentials(parse()?)
            .await
    )?;
    AcmeAccount::new(account, &checked, |signer| {
        Session::new(http, &directory, signer)
    })
}

/// RFC 5280 revocation reasons certform offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    /// The RFC 5280 name, as written on the command line (`keyCompromise`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
        }
    }

    pub(super) fn to_acme(self) -> instant_acme::RevocationReason {
        match self {
            RevocationReason::Unspecified => instant_acme::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => instant_acme::RevocationReason::KeyCompromise,
            RevocationReason::Superseded => instant_acme::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => {
                instant_acme::RevocationReason::CessationOfOperation
            }
        }
    }
}

impl std::str::FromStr for RevocationReason {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        [
            RevocationReason::Unspecified,
            RevocationReason::KeyCompromise,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!(
                "unknown revocation reason {s:?}; expected unspecified, keyCompromise, superseded or cessationOfOperation"
            )
        })
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AcmeAccount {
    /// Revoke a certificate (PEM; the first block is revoked) signed by this account.
    pub async fn revoke(
        &self,
        certificate_pem: &str,
        reason: Option<RevocationReason>,
    ) -> Result<()> {
        let der = revoke::leaf_der(certificate_pem)?;
        let request = RevocationRequest {
            certificate: &der,
            reason: reason.map(RevocationReason::to_acme),
        };
        acme_call!(
            "revoking the certificate",
            self.account.revoke(&request).await
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::Solvers;

    #[test]
    fn hmac_keys_decode_in_every_base64_flavour() {
        let raw = b"\xfb\xff\x00secret-bytes";
        for text in [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
            base64::engine::general_purpose::URL_SAFE.encode(raw),
            base64::engine::general_purpose::STANDARD.encode(raw),
        ] {
            assert_eq!(decode_hmac_key(&text).as_deref(), Some(&raw[..]));
        }
        assert_eq!(decode_hmac_key("not base64 !"), None);
        assert_eq!(decode_hmac_key(""), None);
    }

    /// The apply engine spawns these futures on a multi-threaded runtime.
    #[allow(dead_code)]
    fn futures_are_send(
        account: &AcmeAccount,
        req: OrderRequest<'_>,
        solvers: &Solvers,
        spec: &AccountSpec,
        credentials: &Sensitive,
    ) {
        fn is_send<T: Send>(_: T) {}
        is_send(account.issue(req, solvers));
        is_send(account.revoke("", None));
        is_send(revoke_with_certificate_key("", None, "", credentials, None));
        is_send(create_account(spec));
        is_send(load_account(credentials, None, None));
        is_send(solvers.clone().shutdown());
    }

    #[test]
    fn revocation_reasons_parse() {
        assert_eq!(
            "keyCompromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert!("bogus".parse::<RevocationReason>().is_err());
    }

    #[tokio::test]
    async fn bad_credentials_do_not_echo_secrets() {
        let err = load_account(
            &Sensitive::new("{\"id\": 5, \"key_pkcs8\": \"SECRETKEY\"}"),
            None,
            None,
        )
        .await
        .unwrap_err();
        assert!(!err.to_string().contains("SECRETKEY"), "{err}");
    }
}
