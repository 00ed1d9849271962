//! The `google` DNS provider: Google Cloud DNS API v1
//! (<https://cloud.google.com/dns/docs/reference/rest/v1>) as a service account. certform
//! signs a JWT with the account's key (RS256) and trades it at the key file's `token_uri`
//! for an access token (RFC 7523, as Google's client libraries do); no other Google
//! credential (gcloud's login, metadata server) is read, so what the solver may do is
//! exactly what the key file grants. The managed zone is the longest one of the project
//! whose DNS name is a suffix of the record name.
//!
//! Cloud DNS keeps the TXT values of a name as one record set, and a change must name the
//! set it deletes exactly. So each change reads the set, deletes it and adds it back with
//! our value added or removed (no addition when the last value goes), then waits until the
//! change is `done`. A change refused because the set moved in between (409, 412) is
//! retried on the new set. Values of others at the same name stay.

use super::api_client::{self, ApiClient, ApiReply, Payload};
use super::dns_provider::{
    AttrKind, AttrSchema, DnsProvider, ProviderEntry, ProviderFuture, StartContext,
};
use super::oauth::{request_token, Token, TokenCache};
use super::zone_cache::ZoneCache;
use crate::desired::model::ProviderSpec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// TTL of new challenge record sets.
const RECORD_TTL: u64 = 60;
/// The OAuth 2 scope of Cloud DNS changes.
const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
/// How many times a change refused because the record set moved is tried again.
const CONFLICT_RETRIES: u32 = 5;
const DONE_POLL_FIRST: Duration = Duration::from_millis(100);
const DONE_POLL_MAX: Duration = Duration::from_secs(2);

pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
    name: "google",
    summary: "Google Cloud DNS through its API v1, as a service account (its JSON key, role `DNS Administrator` on the project)",
    attributes: &[
        AttrSchema::new(
            "service_account",
            AttrKind::Secret,
            "the service account's JSON key, such as `file(\"dns-sa.json\")`",
        )
        .required("file(\"dns-sa.json\")")
        .env("GCE_SERVICE_ACCOUNT"),
        AttrSchema::new(
            "project",
            AttrKind::Text,
            "the project of the managed zones; the key's `project_id` when absent",
        )
        .env("GCE_PROJECT"),
        api_client::endpoint_attribute("https://dns.googleapis.com"),
        api_client::CA_BUNDLE,
        api_client::ALLOW_INSECURE_TRANSPORT,
    ],
    check: api_client::check_endpoint_only,
    start,
};

/// The fields of a service account key file that certform uses.
#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: String,
    project_id: Option<String>,
}

fn start<'a>(
    spec: &'a ProviderSpec,
    context: &'a StartContext,
) -> ProviderFuture<'a, Box<dyn DnsProvider>> {
    Box::pin(async move {
        let key = spec.required_secret("service_account")?;
        let account: ServiceAccount = serde_json::from_str(key.expose()).map_err(|e| {
            format!("`service_account` is not a service account's JSON key (client_email, private_key, token_uri): {e}")
        })?;
        let project = spec
            .text("project")
            .map(str::to_string)
            .or_else(|| account.project_id.clone())
            .ok_or("set `project` (or GCE_PROJECT): the key names no project_id")?;
        let signer = signer(&account.private_key)?;
        let (token_base, token_path) = split_url(&account.token_uri)?;
        let provider: Box<dyn DnsProvider> = Box::new(Google {
            api: api_client::client_for(spec, "endpoint")?.credentials("`service_account`"),
            login: ApiClient::new(&token_base, &api_client::Transport::of(spec))?.credentials("`service_account`"),
            token_path,
            account,
            signer,
            project,
            token: TokenCache::default(),
            zones: ZoneCache::default(),
            done_timeout: context.propagation_timeout,
        });
        Ok(provider)
    })
}

/// The key pair of a PKCS#8 PEM `private_key`.
fn signer(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    let der = crate::pem::private_key(pem.as_bytes()).ok_or("the service account's private_key is not a PEM private key")?;
    ring::signature::RsaKeyPair::from_pkcs8(der.secret_der())
        .map_err(|e| format!("the service account's private_key is not an RSA key ring can use: {e}"))
}

/// `https://host/path` as (`https://host`, `/path`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(slash) => Ok((
            url[..after_scheme + slash].to_string(),
            url[after_scheme + slash..].to_string(),
        )),
        None => Err(format!("the service account's token_uri {url:?} has no path")),
    }
}

struct Google {
    api: ApiClient,
    /// The token endpoint's host, and its path.
    login: ApiClient,
    token_path: String,
    account: ServiceAccount,
    signer: ring::signature::RsaKeyPair,
    project: String,
    token: TokenCache,
    /// Managed zone names, per record name.
    zones: ZoneCache<String>,
    /// How long a change may stay `pending`.
    done_timeout: Duration,
}

/// One TXT record set as Cloud DNS holds it.
#[derive(Deserialize, Clone)]
struct RecordSet {
    ttl: Option<u64>,
    #[serde(default)]
    rrdatas: Vec<String>,
}

#[derive(Deserialize)]
struct RecordSets {
    #[serde(default)]
    rrsets: Vec<RecordSet>,
}

#[derive(Deserialize)]
struct ManagedZones {
    #[serde(default, rename = "managedZones")]
    managed_zones: Vec<ManagedZone>,
}

#[derive(Deserialize)]
struct ManagedZone {
    name: String,
}

#[derive(Deserialize)]
struct Change {
    id: String,
    status: String,
}

#[derive(Deserialize)]
struct Failure {
    error: FailureDetail,
}

#[derive(Deserialize)]
struct FailureDetail {
    message: String,
}

impl DnsProvider for Google {
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.change(name, value, true))
    }

    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(self.change(name, value, false))
    }
}

impl Google {
    /// Add (`add`) or remove `value` at `name`, and wait until the change is done.
    async fn change(&self, name: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = self.zone(name).await?;
        let base = format!("/dns/v1/projects/{}/managedZones/{zone}", self.project);
        let mut attempt = 0;
        loop {
            let current = self.txt_set(&base, name).await?;
            let values: Vec<String> = current
                .as_ref()
                .map(|set| set.rrdatas.iter().map(|v| unquote(v)).collect())
                .unwrap_or_default();
            let has = values.iter().any(|v| v == value);
            if has == add {
                return Ok(());
            }
            let rest: Vec<&String> = values.iter().filter(|v| *v != value).collect();
            let mut wanted: Vec<String> = rest.iter().map(|v| quote(v)).collect();
            if add {
                wanted.push(quote(value));
            }
            let ttl = current.as_ref().and_then(|s| s.ttl).unwrap_or(RECORD_TTL);
            let set = |rrdatas: &[String]| json!({ "name": format!("{name}."), "type": "TXT", "ttl": ttl, "rrdatas": rrdatas });
            let mut change = json!({ "kind": "dns#change" });
            if let Some(current) = &current {
                change["deletions"] = json!([set(&current.rrdatas)]);
            }
            if !wanted.is_empty() {
                change["additions"] = json!([set(&wanted)]);
            }
            let reply = self
                .call(Method::POST, &format!("{base}/changes"), Some(&change))
                .await?;
            let moved = matches!(
                reply.status,
                StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED
            );
            if moved && attempt < CONFLICT_RETRIES {
                attempt += 1;
                continue;
            }
            let change: Change = success(&reply)?.json()?;
            return self.wait_done(&base, change).await;
        }
    }

    /// Poll the change until it is `done`, for at most `propagation_timeout`.
    async fn wait_done(&self, base: &str, mut change: Change) -> Result<(), String> {
        let deadline = Instant::now() + self.done_timeout;
        let mut pause = DONE_POLL_FIRST;
        while change.status != "done" {
            if Instant::now() + pause > deadline {
                return Err(format!(
                    "change {} is still {} after {}s (propagation_timeout)",
                    change.id,
                    change.status,
                    self.done_timeout.as_secs()
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(DONE_POLL_MAX);
            let path = format!("{base}/changes/{}", change.id);
            change = success(&self.call(Method::GET, &path, None).await?)?.json()?;
        }
        Ok(())
    }

    async fn txt_set(&self, base: &str, name: &str) -> Result<Option<RecordSet>, String> {
        let path = format!("{base}/rrsets?name={name}.&type=TXT");
        let sets: RecordSets = success(&self.call(Method::GET, &path, None).await?)?.json()?;
        Ok(sets.rrsets.into_iter().next())
    }

    /// The managed zone holding `name`.
    async fn zone(&self, name: &str) -> Result<String, String> {
        let lookup = |candidate: String| async move {
            let path = format!(
                "/dns/v1/projects/{}/managedZones?dnsName={candidate}.",
                self.project
            );
            let zones: ManagedZones =
                success(&self.call(Method::GET, &path, None).await?)?.json()?;
            Ok(zones.managed_zones.into_iter().next().map(|z| z.name))
        };
        self.zones.find(name, self.api.endpoint(), lookup).await
    }

    /// A request to Cloud DNS with the current access token.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiReply, String> {
        let bearer = self.token.bearer(self.new_token()).await?;
        self.api
            .send(method, path, &[("authorization", &bearer)], body.map(Payload::Json))
            .await
    }

    /// A token for a freshly signed assertion (RFC 7523 §2.1).
    async fn new_token(&self) -> Result<Token, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("the system clock is before 1970: {e}"))?
            .as_secs();
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.account.private_key_id });
        let claims = json!({ "iss": self.account.client_email, "scope": SCOPE,
                             "aud": self.account.token_uri, "iat": now, "exp": now + 3600 });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the token request with the service account's key failed")?;
        let assertion = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        request_token(&self.login, &self.token_path, &form).await
    }
}

/// The answer when it is 2xx; else the error with Google's message.
fn success(reply: &ApiReply) -> Result<&ApiReply, String> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let message = reply.json::<Failure>().ok().map(|f| f.error.message);
    Err(reply.error_saying(message))
}

fn quote(value: &str) -> String {
    format!("\"{value}\"")
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .to_string()
}
