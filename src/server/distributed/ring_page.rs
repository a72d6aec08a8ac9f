//! `GET /ring`: the ring as JSON (`Accept: application/json` or
//! `?format=json`) or as a small HTML page, as Loki's ring status page:
//! each instance's state, zone, token count, share of the ring and last
//! heartbeat. A compactor also answers `GET /compactor/ring`, its
//! compactors' ring, which says which one leads.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use loki_ring::{Operation, Ring};
use serde_json::{json, Value};

use crate::server::{ApiError, AppState};

/// The ring's instances as JSON values, sorted by ID; with `leader`, each
/// says whether it is the one with that ID.
fn instances(ring: &Ring, leader: Option<Option<&str>>) -> Vec<Value> {
    let ownership = ring.ownership();
    let now = ring.now();
    let mut out: Vec<Value> = ring
        .instances()
        .iter()
        .enumerate()
        .map(|(index, i)| {
            let fraction = ownership.get(&i.id).map_or(0.0, |o| o.fraction);
            json!({
                "id": i.id,
                "address": i.addr,
                "zone": i.zone,
                "state": i.state.as_str(),
                "healthy": ring.is_healthy(index, Operation::REPORTING)
                    && i.is_heartbeat_healthy(now, ring.config().heartbeat_timeout),
                "tokens": i.tokens.len(),
                "ownership": fraction,
                "heartbeat_timestamp": i.timestamp,
                "heartbeat_age_seconds": now.saturating_sub(i.timestamp),
                "registered_timestamp": i.registered_timestamp,
            })
        })
        .collect();
    if let Some(leader) = leader {
        for i in &mut out {
            i["leader"] = Value::Bool(i["id"].as_str() == leader);
        }
    }
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /ring`.
pub(crate) async fn ring(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let cluster = state
        .cluster
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("no ring: this process runs -target=all"))?;
    let instances = instances(&cluster.ring.ring(), None);
    Ok(page("Ingester ring", &instances, &headers, raw.as_deref()))
}

/// `GET /compactor/ring`: the compactors, and which one leads.
pub(crate) async fn compactor_ring(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let ring = state
        .cluster
        .as_ref()
        .and_then(|c| c.compactors.as_ref())
        .ok_or_else(|| ApiError::bad_request("no compactor ring: this process is no compactor"))?
        .ring();
    let leader = super::compactor::leader(&ring).map(|(id, _)| id);
    let instances = instances(&ring, Some(leader));
    Ok(page("Compactor ring", &instances, &headers, raw.as_deref()))
}

/// The instances as JSON (`{"shards": […]}`) when asked for, else as an
/// HTML table under `title`.
fn page(title: &str, instances: &[Value], headers: &HeaderMap, raw: Option<&str>) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
        || url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .any(|(k, v)| k == "format" && v == "json");
    if wants_json {
        return axum::Json(json!({ "shards": instances })).into_response();
    }
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\n\
         <h1>{title}</h1>\n<table border=\"1\" cellpadding=\"4\">\n\
         <tr><th>Instance</th><th>Address</th><th>State</th><th>Zone</th><th>Tokens</th><th>Ownership</th><th>Last heartbeat</th></tr>\n",
    );
    for i in instances {
        let state = i["state"].as_str().unwrap_or("");
        let mut state = if i["healthy"] == Value::Bool(true) {
            state.to_owned()
        } else {
            format!("{state} (unhealthy)")
        };
        if i["leader"] == Value::Bool(true) {
            state.push_str(", leader");
        }
        page.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}s ago</td></tr>\n",
            escape(i["id"].as_str().unwrap_or("")),
            escape(i["address"].as_str().unwrap_or("")),
            escape(&state),
            escape(i["zone"].as_str().unwrap_or("")),
            i["tokens"],
            i["ownership"].as_f64().unwrap_or(0.0) * 100.0,
            i["heartbeat_age_seconds"],
        ));
    }
    page.push_str("</table>\n</body></html>\n");
    Html(page).into_response()
}
