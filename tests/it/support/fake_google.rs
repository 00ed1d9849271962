//! A fake of the Google Cloud DNS API v1 as its published reference describes it
//! (https://cloud.google.com/dns/docs/reference/rest/v1: `managedZones.list`,
//! `resourceRecordSets.list`, `changes.create`, `changes.get`; errors as in
//! https://cloud.google.com/apis/design/errors): under `/dns/v1/projects/{project}/`,
//! `GET managedZones?dnsName=`, `GET managedZones/{zone}/rrsets?name=&type=`,
//! `POST managedZones/{zone}/changes` and `GET managedZones/{zone}/changes/{id}`; and the
//! token endpoint of Google's OAuth 2.0 for service accounts
//! (https://developers.google.com/identity/protocols/oauth2/service-account, "Preparing to
//! make an authorized API call" / RFC 7523): `POST /token` with a form-encoded
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256 `assertion`,
//! whose signature, issuer, audience, scope and lifetime it verifies (`invalid_grant`
//! otherwise, as Google answers). Only tokens it issued open the DNS API.
//!
//! A change is `pending` for the first [`FakeGoogle::set_pending_polls`] reads and is applied
//! only when it turns `done`, as Cloud DNS applies changes asynchronously: a client that does
//! not wait sees the old records. It rejects what Cloud DNS rejects, with its `{"error":
//! {"code","message","status","errors":[{"reason"}]}}` body: a missing or wrong OAuth 2
//! bearer token (401 `authError`), an unknown project or managed zone (404 `notFound`), a
//! body that is not `application/json` (400), a record outside the zone (400 `invalid`), an
//! addition of a record set that exists (409 `alreadyExists`) and a deletion that does not
//! name a record set exactly as it is (412 `conditionNotMet`). TXT rrdatas are quoted
//! strings, as Cloud DNS returns them.

use super::fake_api::{percent_decode, DnsFake, FakeState, Request, Response};
use super::pebble::Pebble;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Cloud DNS's own state: the project, the service account, the tokens issued, the
/// changes and their polls.
pub struct Google {
    project: String,
    client_email: String,
    /// The service account's public key (PKCS#1 DER) and its private key (PKCS#8 PEM).
    public_key: Vec<u8>,
    private_key_pem: String,
    tokens: Vec<String>,
    /// How many `changes.get` answers say `pending` before a change is applied.
    pending_polls: usize,
    changes: BTreeMap<u64, Change>,
}

struct Change {
    /// `pending` answers still to give.
    polls_left: usize,
    additions: Vec<RecordSet>,
    deletions: Vec<RecordSet>,
    body: Value,
}

#[derive(Debug, Clone, PartialEq)]
struct RecordSet {
    name: String,
    kind: String,
    ttl: u64,
    /// Unquoted values, sorted.
    values: Vec<String>,
}

pub type FakeGoogle = DnsFake<Google>;
type State = FakeState<Google>;

impl DnsFake<Google> {
    /// Serve `zones` of `project` to a service account with a key made here. Each zone's
    /// managed zone name is its DNS name with dots as dashes.
    pub fn start(project: &str, zones: &[&str], pebble: Option<&Pebble>) -> FakeGoogle {
        let (private_key_pem, public_key) = rsa_key();
        let google = Google {
            project: project.to_string(),
            client_email: format!("certform-dns@{project}.iam.gserviceaccount.com"),
            public_key,
            private_key_pem,
            tokens: Vec::new(),
            pending_polls: 2,
            changes: BTreeMap::new(),
        };
        DnsFake::serve(zones, "", pebble, google, handle)
    }

    /// The API root, as `https://dns.googleapis.com` is for the real one.
    pub fn url(&self) -> String {
        self.base_url()
    }

    /// The service account's JSON key, as the Cloud console downloads it, with this fake
    /// as its `token_uri`.
    pub fn service_account(&self) -> String {
        let key = self.with_state(|s| s.extra.private_key_pem.clone());
        self.service_account_with(&key)
    }

    /// The same account with another private key: the token endpoint refuses its assertions.
    pub fn service_account_with_another_key(&self) -> String {
        self.service_account_with(&rsa_key().0)
    }

    fn service_account_with(&self, private_key_pem: &str) -> String {
        let (project, email) =
            self.with_state(|s| (s.extra.project.clone(), s.extra.client_email.clone()));
        json!({ "type": "service_account", "project_id": project, "private_key_id": "0123abcd",
                "private_key": private_key_pem, "client_email": email, "client_id": "1234567890",
                "token_uri": format!("{}/token", self.base_url()) })
        .to_string()
    }

    /// The access tokens the token endpoint issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.with_state(|s| s.extra.tokens.clone())
    }

    pub fn set_pending_polls(&self, polls: usize) {
        self.with_state(|s| s.extra.pending_polls = polls);
    }
}

fn managed_zone_name(zone: &str) -> String {
    zone.replace('.', "-")
}

fn error(code: u16, status: &str, reason: &str, message: &str) -> Response {
    Response::json(
        code,
        json!({ "error": { "code": code, "message": message, "status": status,
                           "errors": [{ "message": message, "domain": "global", "reason": reason }] } }),
    )
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

fn record_sets(state: &State, zone: &str) -> Vec<RecordSet> {
    let mut sets: BTreeMap<(String, String), RecordSet> = BTreeMap::new();
    for record in state.records.in_zone(zone) {
        let set = sets
            .entry((record.name.clone(), record.kind.clone()))
            .or_insert_with(|| RecordSet {
                name: record.name.clone(),
                kind: record.kind.clone(),
                ttl: record.ttl,
                values: Vec::new(),
            });
        set.values.push(record.value.clone());
        set.values.sort();
    }
    sets.into_values().collect()
}

fn set_json(set: &RecordSet) -> Value {
    let rrdatas: Vec<String> = set
        .values
        .iter()
        .map(|v| {
            if set.kind == "TXT" {
                quote(v)
            } else {
                v.clone()
            }
        })
        .collect();
    json!({ "kind": "dns#resourceRecordSet", "name": format!("{}.", set.name),
            "type": set.kind, "ttl": set.ttl, "rrdatas": rrdatas })
}

fn parse_set(value: &Value, zone: &str) -> Result<RecordSet, Response> {
    let invalid = |what: &str| {
        Err(error(
            400,
            "INVALID_ARGUMENT",
            "invalid",
            &format!("Invalid value for '{what}'"),
        ))
    };
    let Some(name) = value["name"].as_str().filter(|n| n.ends_with('.')) else {
        return invalid("entity.change.additions[0].name");
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name != zone && !name.ends_with(&format!(".{zone}")) {
        return invalid("entity.change.additions[0].name");
    }
    let (Some(kind), Some(rrdatas)) = (value["type"].as_str(), value["rrdatas"].as_array()) else {
        return invalid("entity.change.additions[0]");
    };
    let mut values: Vec<String> = rrdatas
        .iter()
        .filter_map(Value::as_str)
        .map(unquote)
        .collect();
    if values.is_empty() {
        return invalid("entity.change.additions[0].rrdata");
    }
    values.sort();
    Ok(RecordSet {
        name,
        kind: kind.to_string(),
        ttl: value["ttl"].as_u64().unwrap_or(300),
        values,
    })
}

/// A fresh RSA key: (PKCS#8 PEM, PKCS#1 DER of the public key).
fn rsa_key() -> (String, Vec<u8>) {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    (pem, public)
}

fn refuse_grant(description: &str) -> Response {
    Response::json(
        400,
        json!({ "error": "invalid_grant", "error_description": description }),
    )
}

/// The JWT bearer grant: a form with an assertion signed by the service account's key.
fn token(state: &mut State, request: &Request) -> Response {
    use base64::Engine;
    let form_encoded = request
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method != "POST" || !form_encoded {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": "Bad Request" }),
        );
    }
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&request.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| (percent_decode(n), percent_decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Response::json(
            400,
            json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" }),
        );
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
    };
    let [header, claims, signature] = parts.as_slice() else {
        return refuse_grant(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    };
    let (Some(claims), Some(signature)) = (decode(claims), decode(signature)) else {
        return refuse_grant("Invalid JWT Signature.");
    };
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &state.extra.public_key,
    );
    if key
        .verify(format!("{header}.{}", parts[1]).as_bytes(), &signature)
        .is_err()
    {
        return refuse_grant("Invalid JWT Signature.");
    }
    let claims: Value = serde_json::from_slice(&claims).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let scope_ok = claims["scope"].as_str().is_some_and(|s| {
        s.split(' ').any(|s| {
            s == "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
                || s == "https://www.googleapis.com/auth/cloud-platform"
        })
    });
    let lifetime_ok = matches!((claims["iat"].as_u64(), claims["exp"].as_u64()),
        (Some(iat), Some(exp)) if iat <= now + 60 && exp > now && exp - iat <= 3600);
    if claims["iss"].as_str() != Some(state.extra.client_email.as_str())
        || claims["aud"]
            .as_str()
            .is_none_or(|aud| !aud.ends_with("/token"))
        || !scope_ok
        || !lifetime_ok
    {
        return refuse_grant(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    }
    let token = format!("ya29.fake-access-token-{}", state.extra.tokens.len() + 1);
    state.extra.tokens.push(token.clone());
    Response::json(
        200,
        json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }),
    )
}

fn handle(state: &mut State, request: &Request) -> Response {
    if request.path == "/token" {
        return token(state, request);
    }
    if !request
        .bearer()
        .is_some_and(|b| state.extra.tokens.iter().any(|t| t == b))
    {
        return error(
            401,
            "UNAUTHENTICATED",
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let segments = request.segments();
    let ["dns", "v1", "projects", project, "managedZones", rest @ ..] = segments.as_slice() else {
        return error(404, "NOT_FOUND", "notFound", "Not Found");
    };
    if *project != state.extra.project {
        return error(
            404,
            "NOT_FOUND",
            "notFound",
            &format!("The 'parameters.project' resource named '{project}' does not exist."),
        );
    }
    if let ("GET", []) = (request.method.as_str(), rest) {
        let zones: Vec<Value> = state
            .zones
            .iter()
            .filter(|z| {
                request
                    .query("dnsName")
                    .is_none_or(|n| n.trim_end_matches('.') == z.as_str())
            })
            .map(|z| {
                json!({ "kind": "dns#managedZone", "name": managed_zone_name(z),
                             "dnsName": format!("{z}."), "visibility": "public" })
            })
            .collect();
        return Response::json(
            200,
            json!({ "kind": "dns#managedZonesListResponse", "managedZones": zones }),
        );
    }
    let Some((managed, rest)) = rest.split_first() else {
        return error(404, "NOT_FOUND", "notFound", "Not Found");
    };
    let Some(zone) = state
        .zones
        .iter()
        .find(|z| managed_zone_name(z) == *managed)
        .cloned()
    else {
        return error(
            404,
            "NOT_FOUND",
            "notFound",
            &format!("The 'parameters.managedZone' resource named '{managed}' does not exist."),
        );
    };
    match (request.method.as_str(), rest) {
        ("GET", ["rrsets"]) => {
            let sets: Vec<Value> = record_sets(state, &zone)
                .iter()
                .filter(|s| {
                    request
                        .query("name")
                        .is_none_or(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&s.name))
                })
                .filter(|s| request.query("type").is_none_or(|t| t == s.kind))
                .map(set_json)
                .collect();
            Response::json(
                200,
                json!({ "kind": "dns#resourceRecordSetsListResponse", "rrsets": sets }),
            )
        }
        ("POST", ["changes"]) => create_change(state, &zone, request),
        ("GET", ["changes", id]) => poll_change(state, &zone, id),
        _ => error(404, "NOT_FOUND", "notFound", "Not Found"),
    }
}

fn create_change(state: &mut State, zone: &str, request: &Request) -> Response {
    if !request.is_json() {
        return error(
            400,
            "INVALID_ARGUMENT",
            "parseError",
            "Invalid JSON payload received.",
        );
    }
    let Some(body) = request.json() else {
        return error(
            400,
            "INVALID_ARGUMENT",
            "parseError",
            "Invalid JSON payload received.",
        );
    };
    let parse_all = |key: &str| -> Result<Vec<RecordSet>, Response> {
        body[key]
            .as_array()
            .map(|sets| sets.iter().map(|s| parse_set(s, zone)).collect())
            .unwrap_or(Ok(Vec::new()))
    };
    let (additions, deletions) = match (parse_all("additions"), parse_all("deletions")) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if additions.is_empty() && deletions.is_empty() {
        return error(
            400,
            "INVALID_ARGUMENT",
            "required",
            "The 'entity.change' parameter is required but was missing.",
        );
    }
    let current = record_sets(state, zone);
    for (i, deletion) in deletions.iter().enumerate() {
        if !current.contains(deletion) {
            return error(
                412,
                "FAILED_PRECONDITION",
                "conditionNotMet",
                &format!("Precondition not met for 'entity.change.deletions[{i}]'"),
            );
        }
    }
    for (i, addition) in additions.iter().enumerate() {
        let exists = current
            .iter()
            .any(|s| s.name == addition.name && s.kind == addition.kind);
        let deleted = deletions
            .iter()
            .any(|d| d.name == addition.name && d.kind == addition.kind);
        if exists && !deleted {
            return error(
                409,
                "ALREADY_EXISTS",
                "alreadyExists",
                &format!(
                    "The resource 'entity.change.additions[{i}]' named '{}. ({})' already exists",
                    addition.name, addition.kind
                ),
            );
        }
    }
    let id = state.extra.changes.len() as u64 + 1;
    let mut answer = json!({ "kind": "dns#change", "id": id.to_string(), "status": "pending",
        "startTime": "2026-01-01T00:00:00.000Z",
        "additions": additions.iter().map(set_json).collect::<Vec<_>>(),
        "deletions": deletions.iter().map(set_json).collect::<Vec<_>>() });
    let polls_left = state.extra.pending_polls;
    state.extra.changes.insert(
        id,
        Change {
            polls_left,
            additions,
            deletions,
            body: answer.clone(),
        },
    );
    if polls_left == 0 {
        apply_change(state, zone, id);
        answer["status"] = "done".into();
    }
    Response::json(200, answer)
}

fn poll_change(state: &mut State, zone: &str, id: &str) -> Response {
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| state.extra.changes.contains_key(id))
    else {
        return error(
            404,
            "NOT_FOUND",
            "notFound",
            &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
        );
    };
    let change = state.extra.changes.get_mut(&id).unwrap();
    if change.polls_left > 0 {
        change.polls_left -= 1;
        if change.polls_left == 0 {
            apply_change(state, zone, id);
        } else {
            return Response::json(200, change.body.clone());
        }
    }
    let mut body = state.extra.changes[&id].body.clone();
    body["status"] = "done".into();
    Response::json(200, body)
}

fn apply_change(state: &mut State, zone: &str, id: u64) {
    let change = &state.extra.changes[&id];
    let (deletions, additions) = (change.deletions.clone(), change.additions.clone());
    for deletion in &deletions {
        for record in state.records.in_zone(zone) {
            if record.name == deletion.name && record.kind == deletion.kind {
                state.records.remove(record.id);
            }
        }
    }
    for addition in &additions {
        for value in &addition.values {
            state
                .records
                .add(zone, &addition.name, &addition.kind, value, addition.ttl);
        }
    }
}
