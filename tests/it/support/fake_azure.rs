//! A fake of Azure DNS as Microsoft's published references describe it: the DNS REST API
//! version 2018-05-01 ("Record Sets – Get / Create Or Update / Delete",
//! https://learn.microsoft.com/rest/api/dns/record-sets?view=rest-dns-2018-05-01) under
//! `/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/dnsZones/{zone}/
//! TXT/{relative name}?api-version=2018-05-01`, and the Microsoft identity platform's OAuth
//! 2.0 client credentials grant (`POST /{tenant}/oauth2/v2.0/token`, form-encoded
//! `client_id`, `client_secret`, `scope`, `grant_type=client_credentials`) that issues the
//! bearer token.
//!
//! Each TXT record set carries an `etag` that changes with every write (it is derived from
//! the ids of the set's records, which every write renews); a PUT with
//! `If-Match` that does not match, or with `If-None-Match: *` when the set exists, fails 412
//! `PreconditionFailed`, as Azure's optimistic concurrency does. It rejects what Azure
//! rejects, with its `{"error":{"code","message"}}` body: a missing or unknown bearer token
//! (401 `AuthenticationFailed` / `InvalidAuthenticationToken`), a wrong client secret (401
//! `invalid_client`), a missing or other `api-version` (400), an unknown subscription,
//! resource group or zone (404), a PUT body that is not `application/json` (415) and a TXT set
//! without records (400 `BadRequest`).

use super::fake_api::{percent_decode, DnsFake, FakeState, Request, Response};
use super::pebble::Pebble;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const API_VERSION: &str = "2018-05-01";
const SCOPE: &str = "https://management.azure.com/.default";

/// Azure's own state: where the zones live, the identity and the tokens issued.
pub struct Azure {
    subscription: String,
    resource_group: String,
    tenant: String,
    client_id: String,
    tokens: Vec<String>,
    /// A value someone else writes into the record set right after the next GET of one.
    interfere: Option<String>,
}

pub type FakeAzure = DnsFake<Azure>;
type State = FakeState<Azure>;

/// Where the fake's zones live and who may log in: the client secret is the credential.
pub struct AzureSetup<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl DnsFake<Azure> {
    pub fn start(setup: &AzureSetup, zones: &[&str], pebble: Option<&Pebble>) -> FakeAzure {
        let azure = Azure {
            subscription: setup.subscription.to_string(),
            resource_group: setup.resource_group.to_string(),
            tenant: setup.tenant.to_string(),
            client_id: setup.client_id.to_string(),
            tokens: Vec::new(),
            interfere: None,
        };
        DnsFake::serve(zones, setup.client_secret, pebble, azure, handle)
    }

    /// The Resource Manager endpoint, as `https://management.azure.com` is for the real one.
    pub fn url(&self) -> String {
        self.base_url()
    }

    /// The authority host, as `https://login.microsoftonline.com` is for the real one.
    pub fn login_url(&self) -> String {
        format!("{}/login", self.base_url())
    }

    /// The access tokens the token endpoint issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.with_state(|s| s.extra.tokens.clone())
    }

    /// Right after answering the next GET of a record set, add `value` to that set as
    /// another writer would, so the etag the client just read is stale.
    pub fn interfere_after_next_get(&self, value: &str) {
        self.with_state(|s| s.extra.interfere = Some(value.to_string()));
    }
}

/// The etag of the TXT record set at `name`, `None` when there is no such set: a digest of
/// its records' ids, so every write (which makes new records) changes it.
fn etag(state: &State, zone: &str, name: &str) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let ids: Vec<u64> = state
        .records
        .in_zone(zone)
        .iter()
        .filter(|r| r.name == name && r.kind == "TXT")
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    ids.hash(&mut hasher);
    let digest = hasher.finish();
    Some(format!(
        "{:08x}-{:04x}-{:04x}-0000-{:012x}",
        digest >> 32,
        (digest >> 16) & 0xffff,
        digest & 0xffff,
        ids.len()
    ))
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn handle(state: &mut State, request: &Request) -> Response {
    let segments = request.segments();
    if let ["login", tenant, "oauth2", "v2.0", "token"] = segments.as_slice() {
        return token(state, tenant, request);
    }
    let Some(token) = request.bearer() else {
        return error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    };
    if !state.extra.tokens.iter().any(|t| t == token) {
        return error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    match request.query("api-version") {
        None => {
            return error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        }
        Some(API_VERSION) => {}
        Some(other) => {
            return error(
                400,
                "NoRegisteredProviderFound",
                &format!("No registered resource provider found for API version '{other}'."),
            )
        }
    }
    let ["subscriptions", subscription, "resourceGroups", group, "providers", "Microsoft.Network", "dnsZones", zone, rest @ ..] =
        segments.as_slice()
    else {
        return error(404, "NotFound", "The requested resource was not found.");
    };
    let relative = match rest {
        ["TXT", relative] => Some(*relative),
        [] => None,
        _ => return error(404, "NotFound", "The requested resource was not found."),
    };
    if *subscription != state.extra.subscription {
        return error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{subscription}' could not be found."),
        );
    }
    if !group.eq_ignore_ascii_case(&state.extra.resource_group) {
        return error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{group}' could not be found."),
        );
    }
    let Some(zone) = state.zones.iter().find(|z| *z == zone).cloned() else {
        if relative.is_none() {
            return error(
                404,
                "ResourceNotFound",
                &format!("The Resource 'Microsoft.Network/dnszones/{zone}' under resource group '{group}' was not found."),
            );
        }
        return error(
            404,
            "ParentResourceNotFound",
            &format!("Can not perform requested operation on nested resource. Parent resource '{zone}' not found."),
        );
    };
    let Some(relative) = relative else {
        if request.method != "GET" {
            return error(405, "MethodNotAllowed", "The method is not allowed.");
        }
        return Response::json(
            200,
            json!({ "name": zone, "type": "Microsoft.Network/dnszones", "location": "global",
                    "properties": { "zoneType": "Public" } }),
        );
    };
    let name = if relative == "@" {
        zone.clone()
    } else {
        format!("{}.{zone}", relative.to_ascii_lowercase())
    };
    match request.method.as_str() {
        "GET" => {
            let response = match record_set(state, &zone, relative, &name) {
                Some(set) => Response::json(200, set),
                None => error(
                    404,
                    "NotFound",
                    &format!("The resource record '{relative}' does not exist in resource group '{group}' of subscription '{subscription}'."),
                ),
            };
            if let Some(value) = state.extra.interfere.take() {
                let ttl = state
                    .records
                    .in_zone(&zone)
                    .iter()
                    .find(|r| r.name == name)
                    .map_or(3600, |r| r.ttl);
                state.records.add(&zone, &name, "TXT", &value, ttl);
            }
            response
        }
        "PUT" => put(state, &zone, relative, &name, request),
        "DELETE" => {
            if let Some(response) = precondition(state, &zone, &name, request) {
                return response;
            }
            let existed = etag(state, &zone, &name).is_some();
            for record in state.records.in_zone(&zone) {
                if record.name == name && record.kind == "TXT" {
                    state.records.remove(record.id);
                }
            }
            Response::empty(if existed { 200 } else { 204 })
        }
        _ => error(405, "MethodNotAllowed", "The method is not allowed."),
    }
}

/// OAuth 2.0 client credentials grant: form-encoded, and only for our client and secret.
fn token(state: &mut State, tenant: &str, request: &Request) -> Response {
    let form_encoded = request
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method != "POST" || !form_encoded {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": "AADSTS900144: The request body must contain a form-encoded grant." }),
        );
    }
    if tenant != state.extra.tenant {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.") }),
        );
    }
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&request.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| {
            (
                percent_decode(&n.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") || field("scope") != Some(SCOPE) {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": "AADSTS900144: grant_type client_credentials and the Resource Manager scope are required." }),
        );
    }
    if field("client_id") != Some(state.extra.client_id.as_str())
        || field("client_secret") != Some(state.credential.as_str())
    {
        return Response::json(
            401,
            json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID." }),
        );
    }
    let token = format!("azure-access-token-{}", state.extra.tokens.len() + 1);
    state.extra.tokens.push(token.clone());
    Response::json(
        200,
        json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }),
    )
}

fn record_set(state: &State, zone: &str, relative: &str, name: &str) -> Option<Value> {
    let etag = etag(state, zone, name)?;
    let records: Vec<_> = state
        .records
        .in_zone(zone)
        .into_iter()
        .filter(|r| r.name == name && r.kind == "TXT")
        .collect();
    let ttl = records.first().map_or(3600, |r| r.ttl);
    let txt: Vec<Value> = records
        .iter()
        .map(|r| json!({ "value": [r.value] }))
        .collect();
    Some(json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/dnszones/{zone}/TXT/{relative}",
                      state.extra.subscription, state.extra.resource_group),
        "name": relative, "type": "Microsoft.Network/dnszones/TXT", "etag": etag,
        "properties": { "TTL": ttl, "fqdn": format!("{name}."), "provisioningState": "Succeeded",
                        "TXTRecords": txt } }))
}

/// The answer to a failed `If-Match` / `If-None-Match`, if one fails.
fn precondition(state: &State, zone: &str, name: &str, request: &Request) -> Option<Response> {
    let current = etag(state, zone, name);
    let failed = |header: &str| {
        Some(error(
            412,
            "PreconditionFailed",
            &format!("The condition in the {header} header was not satisfied: the record set has changed or does not exist."),
        ))
    };
    if let Some(wanted) = request.header("if-match") {
        if wanted != "*" && current.as_deref() != Some(wanted) || wanted == "*" && current.is_none()
        {
            return failed("If-Match");
        }
    }
    if request.header("if-none-match") == Some("*") && current.is_some() {
        return failed("If-None-Match");
    }
    None
}

fn put(state: &mut State, zone: &str, relative: &str, name: &str, request: &Request) -> Response {
    if !request.is_json() {
        return error(
            415,
            "UnsupportedMediaType",
            "The content media type is not supported. Only 'application/json' is supported.",
        );
    }
    if let Some(response) = precondition(state, zone, name, request) {
        return response;
    }
    let Some(body) = request.json() else {
        return error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let values: Vec<String> = body["properties"]["TXTRecords"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["value"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if values.is_empty() {
        return error(
            400,
            "BadRequest",
            "The record set must contain at least one TXT record.",
        );
    }
    let ttl = body["properties"]["TTL"].as_u64().unwrap_or(3600);
    let created = etag(state, zone, name).is_none();
    for record in state.records.in_zone(zone) {
        if record.name == name && record.kind == "TXT" {
            state.records.remove(record.id);
        }
    }
    for value in &values {
        state.records.add(zone, name, "TXT", value, ttl);
    }
    let set = record_set(state, zone, relative, name).expect("the set just written");
    Response::json(if created { 201 } else { 200 }, set)
}
