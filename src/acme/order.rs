//! The order flow (RFC 8555 §7.4): create an order, answer each pending authorization's
//! challenge through its solver, wait for validation, finalize with certform's CSR, wait for
//! issuance and download the chain. [`AcmeAccount::issue`] runs these steps in order and
//! cleans up every challenge it presented, whatever the outcome.
//!
//! After the challenges are started each pending authorization is polled until it settles,
//! then the order; after finalizing, the order again. `poll.rs` paces these polls (the CA's
//! `Retry-After`, bounded).

use super::poll::Poller;
use super::retry::{self, acme_call, acme_call_traced};
use super::{ari, chains, AcmeAccount};
use crate::address::Address;
use crate::solver::{ChallengeData, ChallengeKind, Solvers};
use crate::{Error, Result};
use instant_acme::{AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus};
use std::collections::BTreeMap;
use std::time::Duration;

/// What to order.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// The identifiers; the first is the CSR's common name.
    pub domains: &'a [String],
    /// The solver for each domain (every domain must have one).
    pub solver_for: &'a BTreeMap<String, Address>,
    /// A DER CSR for `domains` (see [`crate::keys::CertificateKey::csr_der`]).
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

    /// The steps of one order; `presented` collects what [`AcmeAccount::issue`] cleans up.
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
        let names = req.domains.join(", ");
        let mut order = self.create_order(req, &names).await?;
        fetch_authorizations(&mut order, &names).await?;
        let pending = pick_challenges(&mut order, req, solvers).await?;
        present_all(&pending, solvers, presented).await?;
        start_validation(&mut order, &pending).await?;

        // A moment for the CA, then the order as the CA paces it (its Retry-After): one
        // request answers for every authorization, and a CA that validates quickly (most,
        // for HTTP-01) has settled it by the first poll.
        let mut validation = Poller::new(format!("validation of the order for {names}"));
        validation.wait(None, "pending").await?;
        let status = poll(&mut order, &names, &mut validation, |s| {
            matches!(
                s,
                OrderStatus::Ready | OrderStatus::Invalid | OrderStatus::Valid
            )
        })
        .await?;
        if status == OrderStatus::Invalid {
            return Err(validation_failure(&mut order, &pending, &names).await);
        }
        let mut retry_after = None;
        if status == OrderStatus::Ready {
            retry_after = finalize(&mut order, &req.csr_der, &names).await?;
        }

        let mut issuance = Poller::new(format!("issuance of the order for {names}"));
        issuance.wait(retry_after, "processing").await?;
        let status = poll(&mut order, &names, &mut issuance, |s| {
            matches!(s, OrderStatus::Valid | OrderStatus::Invalid)
        })
        .await?;
        if status != OrderStatus::Valid {
            let why = order_problem(&mut order);
            return Err(Error::Acme(format!(
                "the order for {names} became invalid during issuance: {why}"
            )));
        }
        self.download(&mut order, req.preferred_chain, &names).await
    }

    /// Create the order, naming the certificate it replaces when the CA offers ARI.
    async fn create_order(&self, req: &OrderRequest<'_>, names: &str) -> Result<Order> {
        let identifiers: Vec<Identifier> = req.domains.iter().map(|d| identifier(d)).collect();
        let order_for = || match req.profile {
            Some(profile) => NewOrder::new(&identifiers).profile(profile),
            None => NewOrder::new(&identifiers),
        };
        let new_order = order_for();
        let replaces = req.replaces.map(ari::certificate_identifier).transpose()?;
        let replacing = replaces.map(|id| order_for().replaces(id));
        acme_call!(format!("creating an order for {names}"), {
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
        })
    }

    /// Download the certificate of a valid order, keeping the preferred chain.
    async fn download(
        &self,
        order: &mut Order,
        preferred_chain: Option<&str>,
        names: &str,
    ) -> Result<Issued> {
        let certificate_url = order.state().certificate.clone().ok_or_else(|| {
            Error::Acme(format!(
                "the CA named no certificate URL for the valid order for {names}"
            ))
        })?;
        let chosen =
            chains::download(&self.session, &certificate_url, preferred_chain, names).await?;
        Ok(Issued {
            fullchain_pem: chosen.fullchain_pem,
            order_url: order.url().to_string(),
            chain_note: chosen.note,
        })
    }
}

/// An IP address is ordered as an `ip` identifier (RFC 8738), anything else as `dns`.
fn identifier(domain: &str) -> Identifier {
    match domain.parse::<std::net::IpAddr>() {
        Ok(ip) => Identifier::Ip(ip),
        Err(_) => Identifier::Dns(domain.to_string()),
    }
}

/// Fetch every authorization; a retry resumes with the ones still missing.
async fn fetch_authorizations(order: &mut Order, names: &str) -> Result<()> {
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
    })
}

/// Pick the challenge each solver answers (no network: the states are cached).
async fn pick_challenges(
    order: &mut Order,
    req: &OrderRequest<'_>,
    solvers: &Solvers,
) -> Result<Vec<Pending>> {
    let mut pending: Vec<Pending> = Vec::new();
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
    Ok(pending)
}

/// Present all challenges at once (DNS solvers spend their time waiting). Each one is added
/// to `presented` even when presenting it failed: cleanup is idempotent, and a failed present
/// (a DNS hook, say) may have done part of its work.
async fn present_all(
    pending: &[Pending],
    solvers: &Solvers,
    presented: &mut Vec<(Address, ChallengeData)>,
) -> Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, p) in pending.iter().enumerate() {
        let solvers = solvers.clone();
        let (solver, data) = (p.solver.clone(), p.data.clone());
        tasks.spawn(async move { (i, solvers.present(&solver, &data).await) });
    }
    let mut present_errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(()))) => presented.push((pending[i].solver.clone(), pending[i].data.clone())),
            Ok((i, Err(e))) => {
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
    Ok(())
}

/// Tell the CA to validate each challenge we answered.
async fn start_validation(order: &mut Order, pending: &[Pending]) -> Result<()> {
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
    Ok(())
}

/// Finalize with our CSR. A retry after a lost response finds the order already processing
/// and goes on. Returns the CA's `Retry-After`, the first wait before polling for issuance.
async fn finalize(order: &mut Order, csr_der: &[u8], names: &str) -> Result<Option<Duration>> {
    let ((), trace) = acme_call_traced!(format!("finalizing the order for {names}"), {
        if order.state().status != OrderStatus::Ready {
            // An earlier attempt went through although its response was lost.
            Ok(())
        } else {
            match order.finalize_csr(csr_der).await {
                Ok(()) => Ok(()),
                Err(e) => match order.refresh().await.map(|s| s.status) {
                    Ok(OrderStatus::Processing | OrderStatus::Valid) => Ok(()),
                    _ => Err(e),
                },
            }
        }
    })?;
    Ok(trace.retry_after)
}

/// Explain an invalid order: the failed authorization's domain, challenge type and the CA's
/// error detail.
async fn validation_failure(order: &mut Order, pending: &[Pending], names: &str) -> Error {
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

/// The CA's problem document on an invalid order, as one line.
fn order_problem(order: &mut Order) -> String {
    order
        .state()
        .error
        .as_ref()
        .map(|p| retry::describe_problem(p, None))
        .unwrap_or_else(|| "no reason given".into())
}

/// Poll `order` until `done(status)`, at once and then as `poller` paces it.
async fn poll(
    order: &mut Order,
    names: &str,
    poller: &mut Poller,
    done: impl Fn(OrderStatus) -> bool,
) -> Result<OrderStatus> {
    loop {
        let (status, trace) = refresh(order, names).await?;
        if done(status) {
            return Ok(status);
        }
        poller
            .wait(trace.retry_after, &format!("{status:?}"))
            .await?;
    }
}

/// One poll of the order: its status, and the attempt's trace (the CA's `Retry-After`).
async fn refresh(order: &mut Order, names: &str) -> Result<(OrderStatus, retry::TraceData)> {
    acme_call_traced!(
        format!("polling the order for {names}"),
        order.refresh().await.map(|s| s.status)
    )
}
