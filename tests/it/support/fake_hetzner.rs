//! A fake of the Hetzner DNS Public API as its published reference describes it
//! (https://dns.hetzner.com/api-docs, version 1.1.1: "Zones › Get All Zones", "Records ›
//! Get All Records / Create Record / Delete Record", "Authentication"): `GET
//! /api/v1/zones?name=`, `GET /api/v1/records?zone_id=`, `POST /api/v1/records`,
//! `DELETE /api/v1/records/{id}`.
//!
//! It rejects what Hetzner rejects: a missing or wrong `Auth-API-Token` header (401
//! `Invalid authentication credentials`), an unknown zone or record (404, `{"error":
//! {"message","code"}}`), a body that is not `application/json` (415) and a record without
//! name, type, value or zone (422). Record names are relative to the zone (`_acme-challenge`,
//! `@`) as Hetzner stores them.

use super::fake_api::{relative, DnsFake, FakeState, Record, Request, Response};
use super::pebble::Pebble;
use serde_json::{json, Value};

/// Hetzner's own state: none beyond the zones and records; the marker picks its handler.
pub struct Hetzner;

pub type FakeHetzner = DnsFake<Hetzner>;
type State = FakeState<Hetzner>;

impl DnsFake<Hetzner> {
    /// Serve `zones` to clients presenting the API token `token`.
    pub fn start(zones: &[&str], token: &str, pebble: Option<&Pebble>) -> FakeHetzner {
        DnsFake::serve(zones, token, pebble, Hetzner, handle)
    }
}

fn zone_id(zones: &[String], name: &str) -> Option<String> {
    zones
        .iter()
        .position(|z| z == name)
        .map(|i| format!("hz{:020}", i + 1))
}

fn zone_by_id(zones: &[String], id: &str) -> Option<String> {
    zones
        .iter()
        .find(|z| zone_id(zones, z).as_deref() == Some(id))
        .cloned()
}

fn error(status: u16, message: &str) -> Response {
    Response::json(
        status,
        json!({ "error": { "message": message, "code": status } }),
    )
}

fn record_json(zones: &[String], record: &Record) -> Value {
    json!({ "id": format!("rec{}", record.id), "type": record.kind,
            "name": relative(&record.name, &record.zone), "value": record.value,
            "ttl": record.ttl, "zone_id": zone_id(zones, &record.zone),
            "created": "2026-01-01 00:00:00.000 +0000 UTC",
            "modified": "2026-01-01 00:00:00.000 +0000 UTC" })
}

fn pagination(total: usize) -> Value {
    json!({ "pagination": { "page": 1, "per_page": total.max(1), "last_page": 1,
                            "total_entries": total } })
}

fn handle(state: &mut State, request: &Request) -> Response {
    if request.header("auth-api-token") != Some(state.credential.as_str()) {
        return Response::json(
            401,
            json!({ "message": "Invalid authentication credentials" }),
        );
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "zones"]) => {
            let zones: Vec<Value> = state
                .zones
                .iter()
                .filter(|z| request.query("name").is_none_or(|n| n == *z))
                .map(|z| {
                    json!({ "id": zone_id(&state.zones, z), "name": z, "ttl": 86400,
                                 "status": "verified" })
                })
                .collect();
            if zones.is_empty() {
                return error(404, "zone not found");
            }
            let total = zones.len();
            Response::json(200, json!({ "zones": zones, "meta": pagination(total) }))
        }
        ("GET", ["api", "v1", "records"]) => {
            let Some(zone) = request
                .query("zone_id")
                .and_then(|id| zone_by_id(&state.zones, id))
            else {
                return error(404, "zone not found");
            };
            let records: Vec<Value> = state
                .records
                .in_zone(&zone)
                .iter()
                .map(|r| record_json(&state.zones, r))
                .collect();
            let total = records.len();
            Response::json(
                200,
                json!({ "records": records, "meta": pagination(total) }),
            )
        }
        ("POST", ["api", "v1", "records"]) => create(state, request),
        ("DELETE", ["api", "v1", "records", id]) => {
            let found = id
                .strip_prefix("rec")
                .and_then(|n| n.parse().ok())
                .filter(|n| state.records.get(*n).is_some());
            match found {
                Some(n) => {
                    state.records.remove(n);
                    Response::json(200, json!({}))
                }
                None => error(404, "record not found"),
            }
        }
        _ => error(404, "not found"),
    }
}

fn create(state: &mut State, request: &Request) -> Response {
    if !request.is_json() {
        return error(415, "Content-Type must be application/json");
    }
    let Some(body) = request.json() else {
        return error(400, "invalid JSON body");
    };
    let (Some(name), Some(kind), Some(value), Some(id)) = (
        body["name"].as_str().filter(|n| !n.is_empty()),
        body["type"].as_str(),
        body["value"].as_str().filter(|v| !v.is_empty()),
        body["zone_id"].as_str(),
    ) else {
        return error(422, "name, type, value and zone_id are required");
    };
    let Some(zone) = zone_by_id(&state.zones, id) else {
        return error(404, "zone not found");
    };
    // Hetzner takes names relative to the zone: a fully qualified name would become a
    // record under `<name>.<zone>`, which is what the real API does with it too.
    let fqdn = if name == "@" {
        zone.clone()
    } else {
        format!("{}.{zone}", name.trim_end_matches('.'))
    };
    let ttl = body["ttl"].as_u64().unwrap_or(86400);
    let record = state.records.add(&zone, &fqdn, kind, value, ttl);
    Response::json(200, json!({ "record": record_json(&state.zones, &record) }))
}
