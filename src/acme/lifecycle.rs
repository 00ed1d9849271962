//! Account lifecycle beyond creation: key rollover (RFC 8555 §7.3.5), contact updates
//! (§7.3.2) and deactivation (§7.3.6).

use super::retry::{acme_call, acme_call_traced};
use super::AcmeAccount;
use crate::secret::Sensitive;
use crate::{Error, Result};

impl AcmeAccount {
    /// Replaces the account key with a new one. The account URL stays; from the moment this
    /// returns the old key is refused by the CA, so the caller must store the returned
    /// credentials at once. `self` keeps the old key: use the returned account.
    pub async fn rotate_key(&self) -> Result<(AcmeAccount, Sensitive)> {
        let mut account = self.account.clone();
        let credentials = acme_call!("rolling the account key over", account.update_key().await)?;
        let rolled = AcmeAccount::new(account, &credentials, |signer| {
            self.session.with_signer(signer)
        })?;
        let credentials = serde_json::to_string(&credentials)
            .map_err(|e| Error::Bug(format!("cannot serialise account credentials: {e}")))?;
        Ok((rolled, Sensitive::new(credentials)))
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
