//! The ACME port: accounts, orders and revocation against any RFC 8555 CA. This is the only
//! module that uses `instant_acme`, and none of its types appear in this API: credentials
//! leave as [`Sensitive`] JSON, certificates as PEM text, errors as [`Error::Acme`] carrying
//! the CA's problem document.
//!
//! Every request goes through certform's own retry (`retry.rs`); order polling uses a tight
//! loop (10 ms doubling to 1 s, 90 s overall) because a local CA answers in milliseconds.
//! What instant-acme cannot send — a POST-as-GET whose response headers matter (alternate
//! chains, `chains.rs`) and revocation signed with a certificate's key (`revoke.rs`) — is
//! signed by `jws.rs` and sent by `request.rs`.

pub mod ari;
mod chains;
mod client;
mod jws;
mod lifecycle;
mod persist;
mod request;
mod retry;
mod revoke;

use crate::address::Address;
use crate::desired::model::AccountSpec;
use crate::secret::Sensitive;
use crate::solver::{ChallengeData, ChallengeKind, Solvers};
use crate::{Error, Result};
use base64::Engine;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, ExternalAccountKey, Identifier, NewOrder, Order,
    OrderStatus, RevocationRequest,
};
pub use lifecycle::{credentials_with_new_key, key_in_use, KeyInUse};
pub use persist::issuer_domain_name;
use request::Session;
use retry::{acme_call, acme_call_traced};
pub use revoke::revoke_with_certificate_key;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First delay between two polls of an order.
const POLL_FIRST: Duration = Duration::from_millis(10);
/// Longest delay between two polls of an order (unless the CA asks for more).
const POLL_MAX: Duration = Duration::from_secs(1);
/// How long an order may stay pending or processing.
const POLL_TIMEOUT: Duration = Duration::from_secs(90);

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

/// What to order.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// The identifiers; the first is the CSR's common name.
    pub domains: &'a [String],
    /// The solver for each domain (every domain must have one).
    pub solver_for: &'a BTreeMap<String, Address>,
    /// A DER CSR for `domains` (see [`crate::keys::csr_der`]).
    pub csr_der: Vec<u8>,
    pub profile: Option<&'a str>,
    /// The certificate this order replaces (PEM), named in `replaces` when the CA offers
    /// ARI (RFC 9773 §5).
    pub replaces: Option<&'a str>,
    /// Keep the chain the CA offers that ends at this CA name (see `chains.rs`).
    pub preferred_chain: Option<&'a str>,
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Leaf first, as the CA sent it.
    pub fullchain_pem: String,
    pub order_url: String,
    /// Set when `preferred_chain` matched none of the chains the CA offers, saying so.
    pub chain_note: Option<String>,
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

fn challenge_type(kind: ChallengeKind) -> ChallengeType {
    match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::Dns01 => ChallengeType::Dns01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
        // instant-acme 0.8 has no variant of its own for it: the type's name is matched.
        ChallengeKind::DnsPersist01 => ChallengeType::Unknown(kind.as_str().to_string()),
    }
}

/// A challenge we answer for one pending authorization.
struct Pending {
    solver: Address,
    kind: ChallengeKind,
    data: ChallengeData,
}

impl AcmeAccount {
    /// Order, validate, finalize with our CSR and download a certificate. Every challenge
    /// that was presented is cleaned up afterwards, also when the order fails (a failed
    /// cleanup is appended to the order's error; after a successful issuance it is printed as
    /// a warning on stderr so the certificate is not lost). Dropping the future midway skips
    /// the cleanup: let it finish.
    pub async fn issue(&self, req: OrderRequest<'_>, solvers: &Solvers) -> Result<Issued> {
        let mut presented: Vec<(Address, ChallengeData)> = Vec::new();
        let result = self.run_order(&req, solvers, &mut presented).await;
        let mut cleanup_errors = Vec::new();
        for (solver, data) in &presented {
            if let Err(e) = solvers.cleanup(solver, data).await {
                cleanup_errors.push(format!("{} ({solver}): {e}", data.domain));
            }
        }
        if cleanup_errors.is_empty() {
            return result;
        }
        let note = format!(
            "cleaning up challenge responses failed for {}",
            cleanup_errors.join("; ")
        );
        match result {
            Err(Error::Acme(m)) => Err(Error::Acme(format!("{m}; also, {note}"))),
            Err(Error::AcmeProblem(r)) => Err(Error::Acme(format!("{r}; also, {note}"))),
            Err(Error::Solver(m)) => Err(Error::Solver(format!("{m}; also, {note}"))),
            Err(other) => Err(Error::Acme(format!("{other}; also, {note}"))),
            Ok(issued) => {
                // The certificate exists: losing it would be worse than a stale challenge file.
                eprintln!("warning: certificate issued, but {note}");
                Ok(issued)
            }
        }
    }

    async fn run_order(
        &self,
        req: &OrderRequest<'_>,
        solvers: &Solvers,
        presented: &mut Vec<(Address, ChallengeData)>,
    ) -> Result<Issued> {
        if req.domains.is_empty() {
            return Err(Error::Bug(
                "an order was requested without any domain".into(),
            ));
        }
        let identifiers: Vec<Identifier> = req
            .domains
            .iter()
            .map(|d| match d.parse::<std::net::IpAddr>() {
                Ok(ip) => Identifier::Ip(ip),
                Err(_) => Identifier::Dns(d.clone()),
            })
            .collect();
        let names = req.domains.join(", ");
        let order_for = || match req.profile {
            Some(profile) => NewOrder::new(&identifiers).profile(profile),
            None => NewOrder::new(&identifiers),
        };
        let new_order = order_for();
        let replaces = req.replaces.map(ari::certificate_identifier).transpose()?;
        let replacing = replaces.map(|id| order_for().replaces(id));
        let mut order: Order = acme_call!(format!("creating an order for {names}"), {
            match &replacing {
                // instant-acme refuses `replaces` before sending when the CA lacks ARI.
                Some(replacing) => match self.account.new_order(replacing).await {
                    Err(instant_acme::Error::Unsupported(_)) => {
                        self.account.new_order(&new_order).await
                    }
                    other => other,
                },
                None => self.account.new_order(&new_order).await,
            }
        })?;

        // Fetch every authorization; a retry resumes with the ones still missing.
        acme_call!(format!("fetching the authorizations for {names}"), {
            let mut authorizations = order.authorizations();
            let mut failed = None;
            while let Some(next) = authorizations.next().await {
                if let Err(e) = next {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })?;

        // Pick the challenge each solver answers (no network: the states are cached).
        let mut pending: Vec<Pending> = Vec::new();
        {
            let mut authorizations = order.authorizations();
            while let Some(next) = authorizations.next().await {
                let mut authz = next.map_err(|e| Error::Acme(retry::error_chain(&e)))?;
                let domain = authz.identifier().to_string();
                match authz.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => {
                        return Err(Error::Acme(format!(
                            "the authorization for {domain} is {other:?} before validation started"
                        )))
                    }
                }
                let solver = req
                    .solver_for
                    .get(&domain)
                    .ok_or_else(|| Error::Bug(format!("no solver was chosen for {domain}")))?;
                let kind = solvers.kind(solver)?;
                let Some(handle) = authz.challenge(challenge_type(kind)) else {
                    return Err(Error::Acme(format!(
                        "the CA offers no {kind} challenge for {domain} (solver {solver})"
                    )));
                };
                let key_authorization = handle.key_authorization();
                pending.push(Pending {
                    solver: solver.clone(),
                    kind,
                    data: ChallengeData {
                        domain,
                        token: handle.token.clone(),
                        key_authorization: key_authorization.as_str().to_string(),
                        dns_value: key_authorization.dns_value(),
                    },
                });
            }
        }

        // Present all challenges at once (DNS solvers spend their time waiting).
        let mut tasks = tokio::task::JoinSet::new();
        for (i, p) in pending.iter().enumerate() {
            let solvers = solvers.clone();
            let (solver, data) = (p.solver.clone(), p.data.clone());
            tasks.spawn(async move { (i, solvers.present(&solver, &data).await) });
        }
        let mut present_errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, Ok(()))) => {
                    presented.push((pending[i].solver.clone(), pending[i].data.clone()))
                }
                Ok((i, Err(e))) => {
                    // Cleanup is idempotent, and a failed present (a DNS hook, say) may have
                    // done part of its work: clean it up too.
                    presented.push((pending[i].solver.clone(), pending[i].data.clone()));
                    present_errors.push(format!(
                        "presenting the {} challenge for {} failed: {e}",
                        pending[i].kind, pending[i].data.domain
                    ))
                }
                Err(e) => present_errors.push(format!("a solver task failed: {e}")),
            }
        }
        if !present_errors.is_empty() {
            present_errors.sort();
            return Err(Error::Solver(present_errors.join("; ")));
        }

        // Tell the CA to validate.
        {
            let mut authorizations = order.authorizations();
            while let Some(next) = authorizations.next().await {
                let mut authz = next.map_err(|e| Error::Acme(retry::error_chain(&e)))?;
                let domain = authz.identifier().to_string();
                let Some(p) = pending.iter().find(|p| p.data.domain == domain) else {
                    continue;
                };
                let kind = p.kind;
                let mut challenge = authz
                    .challenge(challenge_type(kind))
                    .ok_or_else(|| Error::Bug("a listed challenge vanished".into()))?;
                acme_call!(
                    format!("starting the {kind} challenge for {domain}"),
                    challenge.set_ready().await
                )?;
            }
        }

        // Wait for validation.
        let status = poll(&mut order, &names, "validation", |s| {
            matches!(
                s,
                OrderStatus::Ready | OrderStatus::Invalid | OrderStatus::Valid
            )
        })
        .await?;
        if status == OrderStatus::Invalid {
            return Err(self.validation_failure(&mut order, &pending, &names).await);
        }

        // Finalize with our CSR. A retry after a lost response finds the order already
        // processing and goes on.
        if status == OrderStatus::Ready {
            acme_call!(format!("finalizing the order for {names}"), {
                if order.state().status != OrderStatus::Ready {
                    // An earlier attempt went through although its response was lost.
                    Ok(())
                } else {
                    match order.finalize_csr(&req.csr_der).await {
                        Ok(()) => Ok(()),
                        Err(e) => match order.refresh().await.map(|s| s.status) {
                            Ok(OrderStatus::Processing | OrderStatus::Valid) => Ok(()),
                            _ => Err(e),
                        },
                    }
                }
            })?;
        }

        let status = poll(&mut order, &names, "issuance", |s| {
            matches!(s, OrderStatus::Valid | OrderStatus::Invalid)
        })
        .await?;
        if status != OrderStatus::Valid {
            let why = order_problem(&mut order);
            return Err(Error::Acme(format!(
                "the order for {names} became invalid during issuance: {why}"
            )));
        }
        let certificate_url = order.state().certificate.clone().ok_or_else(|| {
            Error::Acme(format!(
                "the CA named no certificate URL for the valid order for {names}"
            ))
        })?;
        let chosen =
            chains::download(&self.session, &certificate_url, req.preferred_chain, &names).await?;
        Ok(Issued {
            fullchain_pem: chosen.fullchain_pem,
            order_url: order.url().to_string(),
            chain_note: chosen.note,
        })
    }

    /// Explain an invalid order: the failed authorization's domain, challenge type and the
    /// CA's error detail.
    async fn validation_failure(
        &self,
        order: &mut Order,
        pending: &[Pending],
        names: &str,
    ) -> Error {
        let mut failures = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(next) = authorizations.next().await {
            let Ok(mut authz) = next else { continue };
            let refreshed = acme_call!("fetching a failed authorization", {
                authz.refresh().await.map(|s| s.status)
            });
            let Ok(status) = refreshed else { continue };
            if status != AuthorizationStatus::Invalid {
                continue;
            }
            let domain = authz.identifier().to_string();
            let kind = pending
                .iter()
                .find(|p| p.data.domain == domain)
                .map(|p| p.kind);
            let challenge = authz
                .challenges
                .iter()
                .find(|c| kind.is_some_and(|k| c.r#type == challenge_type(k)))
                .or_else(|| authz.challenges.iter().find(|c| c.error.is_some()));
            let kind_text = kind.map(|k| k.as_str()).unwrap_or("unknown");
            let detail = challenge
                .and_then(|c| c.error.as_ref())
                .map(|p| retry::describe_problem(p, None))
                .unwrap_or_else(|| "the CA gave no detail".into());
            failures.push(format!(
                "authorization for {domain} failed: {kind_text} challenge: {detail}"
            ));
        }
        if failures.is_empty() {
            let why = order_problem(order);
            return Error::Acme(format!("the order for {names} became invalid: {why}"));
        }
        Error::Acme(failures.join("; "))
    }

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

/// The CA's problem document on an invalid order, as one line.
fn order_problem(order: &mut Order) -> String {
    order
        .state()
        .error
        .as_ref()
        .map(|p| retry::describe_problem(p, None))
        .unwrap_or_else(|| "no reason given".into())
}

/// Poll `order` until `done(status)`, from [`POLL_FIRST`] doubling to [`POLL_MAX`] (or the
/// CA's `Retry-After`), for at most [`POLL_TIMEOUT`].
async fn poll(
    order: &mut Order,
    names: &str,
    stage: &str,
    done: impl Fn(OrderStatus) -> bool,
) -> Result<OrderStatus> {
    let started = Instant::now();
    let mut delay = POLL_FIRST;
    let mut wait = delay;
    loop {
        tokio::time::sleep(wait).await;
        let (status, trace) = acme_call_traced!(
            format!("polling the order for {names} during {stage}"),
            order.refresh().await.map(|s| s.status)
        )?;
        if done(status) {
            return Ok(status);
        }
        if started.elapsed() >= POLL_TIMEOUT {
            return Err(Error::Acme(format!(
                "the order for {names} was still {status:?} after {}s of {stage}",
                POLL_TIMEOUT.as_secs()
            )));
        }
        delay = (delay * 2).min(POLL_MAX);
        wait = trace
            .retry_after
            .map(|after| after.clamp(delay, Duration::from_secs(30)))
            .unwrap_or(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
