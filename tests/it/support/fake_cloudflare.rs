//! A fake of the Cloudflare API v4 as its published reference describes it
//! (https://developers.cloudflare.com/api/, "Zones › List Zones" and "DNS › Records ›
//! Create / List / Delete", and https://developers.cloudflare.com/fundamentals/api/ for
//! authentication, errors and rate limits): `GET /zones?name=`, `GET|POST
//! /zones/{zone_id}/dns_records` (list with `type`, `name`, `page`, `per_page` and
//! `result_info`), `DELETE /zones/{zone_id}/dns_records/{id}`.
//!
//! It rejects what Cloudflare rejects: a missing or malformed `Authorization: Bearer` header
//! (400, code 6003), a wrong token (403, code 9109), a body that is not `application/json`
//! (400, code 6003 / 6105), an unknown zone id (400, code 7003), a record outside its zone or
//! without content (400, code 1004), an identical record (400, code 81058) and a missing
//! record (404, code 81044). Every error is `{"success":false,"errors":[{"code","message"}]}`.
//! [`FakeCloudflare::rate_limit_next`] answers the next request 429 (code 971) with a
//! `Retry-After`, as Cloudflare's global rate limit does. One deviation, for tests:
//! [`FakeCloudflare::set_max_per_page`] caps `per_page` so pagination is exercised with a
//! handful of records.

use super::fake_api::{absolute, DnsFake, FakeState, Record, Request, Response};
use super::pebble::Pebble;
use serde_json::{json, Value};

type State = FakeState<Cloudflare>;

/// Cloudflare's default page size for record lists.
const DEFAULT_PER_PAGE: usize = 100;

/// Cloudflare's own state next to the zones and records.
#[derive(Default)]
pub struct Cloudflare {
    max_per_page: Option<usize>,
    rate_limited: usize,
}

pub type FakeCloudflare = DnsFake<Cloudflare>;

impl DnsFake<Cloudflare> {
    /// Serve `zones` to clients presenting the API token `token`.
    pub fn start(zones: &[&str], token: &str, pebble: Option<&Pebble>) -> FakeCloudflare {
        DnsFake::serve(zones, token, pebble, Cloudflare::default(), handle)
    }

    /// The API base URL, as `https://api.cloudflare.com/client/v4` is for the real one.
    pub fn url(&self) -> String {
        format!("{}/client/v4", self.base_url())
    }

    /// Answer the next `count` requests with 429 and `Retry-After: 1`.
    pub fn rate_limit_next(&self, count: usize) {
        self.with_state(|s| s.extra.rate_limited = count);
    }

    pub fn set_max_per_page(&self, max: usize) {
        self.with_state(|s| s.extra.max_per_page = Some(max));
    }
}

fn zone_id(index: usize) -> String {
    format!("{:032x}", 0xc10d_0000 + index)
}

fn record_id(id: u64) -> String {
    format!("{id:032x}")
}

fn error(status: u16, code: u32, message: &str) -> Response {
    Response::json(
        status,
        json!({ "success": false, "errors": [{ "code": code, "message": message }],
                "messages": [], "result": null }),
    )
}

fn success(result: Value) -> Response {
    Response::json(
        200,
        json!({ "success": true, "errors": [], "messages": [], "result": result }),
    )
}

fn handle(state: &mut State, request: &Request) -> Response {
    if state.extra.rate_limited > 0 {
        state.extra.rate_limited -= 1;
        return error(
            429,
            971,
            "Please wait and consider throttling your request speed",
        )
        .with_header("Retry-After", "1");
    }
    let Some(token) = request.bearer() else {
        return Response::json(
            400,
            json!({ "success": false, "messages": [], "result": null, "errors": [{
                "code": 6003, "message": "Invalid request headers",
                "error_chain": [{ "code": 6111, "message": "Invalid format for Authorization header" }]
            }]}),
        );
    };
    if token != state.credential {
        return error(403, 9109, "Invalid access token");
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["client", "v4", "zones"]) => list_zones(state, request),
        (method, ["client", "v4", "zones", id, "dns_records", rest @ ..]) => {
            let Some(index) = (0..state.zones.len()).find(|i| zone_id(*i) == *id) else {
                return error(
                    400,
                    7003,
                    "Could not route to /zones/dns_records, perhaps your object identifier is invalid?",
                );
            };
            let zone = state.zones[index].clone();
            match (method, rest) {
                ("GET", []) => list_records(state, &zone, id, request),
                ("POST", []) => create_record(state, &zone, id, request),
                ("DELETE", [record]) => delete_record(state, &zone, record),
                _ => error(405, 10405, "Method not allowed for this route"),
            }
        }
        _ => error(400, 7000, "No route for that URI"),
    }
}

fn list_zones(state: &State, request: &Request) -> Response {
    let zones: Vec<Value> = state
        .zones
        .iter()
        .enumerate()
        .filter(|(_, name)| request.query("name").is_none_or(|wanted| wanted == *name))
        .map(|(i, name)| json!({ "id": zone_id(i), "name": name, "status": "active", "type": "full" }))
        .collect();
    let count = zones.len();
    Response::json(
        200,
        json!({ "success": true, "errors": [], "messages": [], "result": zones,
                "result_info": { "page": 1, "per_page": 20, "count": count,
                                 "total_count": count, "total_pages": 1 } }),
    )
}

fn record_json(record: &Record, zone_id: &str) -> Value {
    json!({ "id": record_id(record.id), "zone_id": zone_id, "zone_name": record.zone,
            "name": record.name, "type": record.kind, "content": record.value,
            "ttl": record.ttl, "proxied": false, "proxiable": false })
}

fn list_records(state: &State, zone: &str, zone_id: &str, request: &Request) -> Response {
    let page: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: usize = request
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, state.extra.max_per_page.unwrap_or(usize::MAX));
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
        .map(|r| record_json(r, zone_id))
        .collect();
    let total = matching.len();
    let result: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Response::json(
        200,
        json!({ "success": true, "errors": [], "messages": [],
                "result_info": { "page": page, "per_page": per_page, "count": result.len(),
                                 "total_count": total, "total_pages": total.div_ceil(per_page) },
                "result": result }),
    )
}

fn create_record(state: &mut State, zone: &str, zone_id: &str, request: &Request) -> Response {
    if !request.is_json() {
        return Response::json(
            400,
            json!({ "success": false, "messages": [], "result": null, "errors": [{
                "code": 6003, "message": "Invalid request headers",
                "error_chain": [{ "code": 6105, "message": "Invalid Content-Type header, valid values are application/json,multipart/form-data" }]
            }]}),
        );
    }
    let Some(body) = request.json() else {
        return error(400, 9207, "Request body is invalid.");
    };
    let (Some(kind), Some(name), Some(content)) = (
        body["type"].as_str(),
        body["name"].as_str(),
        body["content"].as_str(),
    ) else {
        return error(
            400,
            1004,
            "DNS Validation Error: type, name and content are required",
        );
    };
    let name = absolute(name, zone);
    if content.is_empty() {
        return error(400, 1004, "DNS Validation Error: content must not be empty");
    }
    if state
        .records
        .in_zone(zone)
        .iter()
        .any(|r| r.name == name && r.kind == kind && r.value == content)
    {
        return error(400, 81058, "An identical record already exists.");
    }
    let ttl = body["ttl"].as_u64().unwrap_or(1);
    let record = state.records.add(zone, &name, kind, content, ttl);
    success(record_json(&record, zone_id))
}

fn delete_record(state: &mut State, zone: &str, id: &str) -> Response {
    let found = state
        .records
        .in_zone(zone)
        .into_iter()
        .find(|r| record_id(r.id) == id);
    match found {
        Some(record) => {
            state.records.remove(record.id);
            success(json!({ "id": id }))
        }
        None => error(404, 81044, "Record does not exist."),
    }
}
