//! A fake of the DigitalOcean API v2 as its published reference describes it
//! (https://docs.digitalocean.com/reference/api/digitalocean/, "Domain Records": List All,
//! Create, Delete; "Authentication" and "Errors"): `GET|POST /v2/domains/{domain}/records`
//! (list filtered by `type` and the fully qualified `name`, paginated by `page` and
//! `per_page` with `links.pages.next` and `meta.total`),
//! `DELETE /v2/domains/{domain}/records/{id}` (204), and "Domains › Retrieve an Existing
//! Domain" (`GET /v2/domains/{domain}`).
//!
//! It rejects what DigitalOcean rejects, with its `{"id","message"}` error body: a missing or
//! wrong `Authorization: Bearer` token (401 `Unauthorized`), an unknown domain or record (404
//! `not_found`), a body that is not `application/json` (400 `bad_request`), and a record
//! without type or data or with a TTL under 30 (422 `unprocessable_entity`). Record names are
//! shown relative to the domain (`_acme-challenge`, `@`); a create accepts relative or fully
//! qualified names.

use super::fake_api::{absolute, relative, DnsFake, FakeState, Record, Request, Response};
use super::pebble::Pebble;
use serde_json::{json, Value};

/// DigitalOcean's default page size.
const DEFAULT_PER_PAGE: usize = 20;
/// The smallest TTL DigitalOcean accepts.
const MIN_TTL: u64 = 30;

/// DigitalOcean's own state: none beyond the domains and records; the marker picks its
/// handler.
pub struct DigitalOcean;

pub type FakeDigitalOcean = DnsFake<DigitalOcean>;
type State = FakeState<DigitalOcean>;

impl DnsFake<DigitalOcean> {
    /// Serve `domains` to clients presenting the personal access token `token`.
    pub fn start(domains: &[&str], token: &str, pebble: Option<&Pebble>) -> FakeDigitalOcean {
        DnsFake::serve(domains, token, pebble, DigitalOcean, handle)
    }
}

fn error(status: u16, id: &str, message: &str) -> Response {
    Response::json(status, json!({ "id": id, "message": message }))
}

fn not_found() -> Response {
    error(
        404,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn record_json(record: &Record) -> Value {
    json!({ "id": record.id, "type": record.kind, "name": relative(&record.name, &record.zone),
            "data": record.value, "priority": null, "port": null, "ttl": record.ttl,
            "weight": null, "flags": null, "tag": null })
}

fn handle(state: &mut State, request: &Request) -> Response {
    if request.bearer() != Some(state.credential.as_str()) {
        return error(401, "Unauthorized", "Unable to authenticate you");
    }
    let segments = request.segments();
    let ["v2", "domains", domain, rest @ ..] = segments.as_slice() else {
        return not_found();
    };
    let Some(zone) = state.zones.iter().find(|z| z == domain).cloned() else {
        return not_found();
    };
    let rest = match (request.method.as_str(), rest) {
        ("GET", []) => {
            return Response::json(
                200,
                json!({ "domain": { "name": zone, "ttl": 1800, "zone_file": "" } }),
            )
        }
        (_, ["records", rest @ ..]) => rest,
        _ => return not_found(),
    };
    match (request.method.as_str(), rest) {
        ("GET", []) => list(state, &zone, request),
        ("POST", []) => create(state, &zone, request),
        ("DELETE", [id]) => {
            let found = id
                .parse()
                .ok()
                .and_then(|id| state.records.get(id))
                .filter(|r| r.zone == zone)
                .map(|r| r.id);
            match found {
                Some(id) => {
                    state.records.remove(id);
                    Response::empty(204)
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn list(state: &State, zone: &str, request: &Request) -> Response {
    let page: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: usize = request
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, 200);
    let matching: Vec<Value> = state
        .records
        .in_zone(zone)
        .iter()
        .filter(|r| request.query("type").is_none_or(|t| t == r.kind))
        .filter(|r| {
            request
                .query("name")
                .is_none_or(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&r.name))
        })
        .map(record_json)
        .collect();
    let total = matching.len();
    let records: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut pages = json!({});
    if page * per_page < total {
        let mut query: Vec<String> = request
            .query
            .iter()
            .filter(|(n, _)| n != "page")
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        query.push(format!("page={}", page + 1));
        pages["next"] = format!(
            "https://api.digitalocean.com{}?{}",
            request.path,
            query.join("&")
        )
        .into();
    }
    Response::json(
        200,
        json!({ "domain_records": records, "links": { "pages": pages }, "meta": { "total": total } }),
    )
}

fn create(state: &mut State, zone: &str, request: &Request) -> Response {
    if !request.is_json() {
        return error(400, "bad_request", "Content-Type must be application/json");
    }
    let Some(body) = request.json() else {
        return error(400, "bad_request", "unable to parse the request body");
    };
    let (Some(kind), Some(name), Some(data)) = (
        body["type"].as_str(),
        body["name"].as_str(),
        body["data"].as_str().filter(|d| !d.is_empty()),
    ) else {
        return error(
            422,
            "unprocessable_entity",
            "Type, name and data are required.",
        );
    };
    let ttl = body["ttl"].as_u64().unwrap_or(1800);
    if ttl < MIN_TTL {
        return error(
            422,
            "unprocessable_entity",
            "Ttl must be greater than or equal to 30.",
        );
    }
    let record = state
        .records
        .add(zone, &absolute(name, zone), kind, data, ttl);
    Response::json(201, json!({ "domain_record": record_json(&record) }))
}
