//! `/loki/api/v1/index/volume` and `/index/volume_range`: bytes per group
//! of streams, as a Prometheus-style vector or matrix (Loki 2.9+).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use loki_index::{AggregateBy, Selector, VolumeRequest};
use loki_logql::{Expr, QueryResult};
use serde_json::{json, Map, Value};

use super::params;
use super::query::required;
use super::stats::{self, Counters};
use super::{ApiError, AppState};

type Group = Vec<(String, String)>;

struct Request {
    selector: Selector,
    volume: VolumeRequest,
    limit: usize,
    start: i64,
    end: i64,
}

fn request(params: &HashMap<String, String>) -> Result<Request, ApiError> {
    let query = required(params, "query")?;
    let Expr::Log(log) = loki_logql::parse(query)? else {
        return Err(ApiError::bad_request(
            "volume queries take a stream selector",
        ));
    };
    if !log.pipeline.is_empty() {
        return Err(ApiError::bad_request(
            "volume queries take a stream selector without a pipeline",
        ));
    }
    let selector = loki_store::index_selector(&log.selector.matchers)?;
    let (start, end) = params::range(params)?;
    let limit = match params.get("limit").filter(|v| !v.is_empty()) {
        None => 100,
        Some(v) => match v.parse::<i64>() {
            Ok(0) => 100,
            Ok(n) if n > 0 => n as usize,
            _ => return Err(ApiError::bad_request("limit must be a positive value")),
        },
    };
    let target_labels: Vec<String> = params
        .get("targetLabels")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let aggregate_by = match params.get("aggregateBy").map(String::as_str) {
        None | Some("") | Some("series") => AggregateBy::Series,
        Some("labels") => AggregateBy::Labels,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid aggregateBy {other:?}: expected series or labels"
            )))
        }
    };
    let volume = VolumeRequest {
        target_labels,
        aggregate_by,
        limit: usize::MAX,
    };
    Ok(Request {
        selector,
        volume,
        limit,
        start,
        end,
    })
}

/// Bytes per group over `[from, through)` for every tenant of the request.
async fn volumes(
    state: &AppState,
    tenants: &[String],
    request: &Request,
    from: i64,
    through: i64,
) -> Result<BTreeMap<Group, u64>, ApiError> {
    if let Some(cluster) = state.querier() {
        let volumes = super::distributed::index::volumes(
            &state.store,
            cluster,
            tenants,
            &request.selector,
            &request.volume,
            from,
            through,
        )
        .await?;
        return Ok(volumes.into_iter().collect());
    }
    let mut groups = BTreeMap::new();
    for tenant in tenants {
        for v in state
            .store
            .volume(tenant, &request.selector, from, through, &request.volume)
            .await?
        {
            *groups.entry(v.labels).or_default() += v.bytes;
        }
    }
    Ok(groups)
}

/// The `limit` largest groups, largest first.
fn top(groups: &BTreeMap<Group, u64>, limit: usize) -> Vec<(Group, u64)> {
    let mut out: Vec<(Group, u64)> = groups.iter().map(|(g, b)| (g.clone(), *b)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

fn metric(group: &[(String, String)]) -> Value {
    Value::Object(
        group
            .iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

fn seconds(ns: i64) -> f64 {
    ns.div_euclid(1_000_000) as f64 / 1000.0
}

fn envelope(result_type: &str, result: Vec<Value>, started: Instant) -> Json<Value> {
    let stats = stats::stats(
        &Counters::default(),
        started.elapsed(),
        &QueryResult::Streams(Vec::new()),
        1,
    );
    Json(json!({
        "status": "success",
        "data": { "resultType": result_type, "result": result, "stats": stats },
    }))
}

pub(crate) async fn instant(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let params = params::collect(raw.as_deref(), &headers, &body);
    let request = request(&params)?;
    let tenants = state.tenants(&headers)?;
    let groups = volumes(
        &state,
        &tenants,
        &request,
        request.start,
        request.end.saturating_add(1),
    )
    .await?;
    let at = seconds(request.end);
    let result = top(&groups, request.limit)
        .into_iter()
        .map(|(group, bytes)| json!({ "metric": metric(&group), "value": [at, bytes.to_string()] }))
        .collect();
    Ok(envelope("vector", result, started))
}

pub(crate) async fn range(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let params = params::collect(raw.as_deref(), &headers, &body);
    let request = request(&params)?;
    let (start, end) = (request.start, request.end);
    let step = match params.get("step").filter(|v| !v.is_empty()) {
        Some(v) => params::duration(v)?,
        None => (end.saturating_sub(start) / 1_000_000_000 / 250).max(1) * 1_000_000_000,
    };
    if step <= 0 {
        return Err(ApiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if end.saturating_sub(start) / step > 11_000 {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let tenants = state.tenants(&headers)?;
    // Point `t` holds the bytes of `[t, t + step)` (the last ends at `end`).
    let mut totals: BTreeMap<Group, u64> = BTreeMap::new();
    let mut points: Vec<(i64, BTreeMap<Group, u64>)> = Vec::new();
    let mut t = start;
    while t <= end {
        let through = t.saturating_add(step).min(end.saturating_add(1));
        let groups = volumes(&state, &tenants, &request, t, through).await?;
        for (g, b) in &groups {
            *totals.entry(g.clone()).or_default() += b;
        }
        points.push((t, groups));
        let Some(next) = t.checked_add(step) else {
            break;
        };
        t = next;
    }
    let result = top(&totals, request.limit)
        .into_iter()
        .map(|(group, _)| {
            let values: Vec<Value> = points
                .iter()
                .filter_map(|(t, groups)| {
                    groups
                        .get(&group)
                        .map(|b| json!([seconds(*t), b.to_string()]))
                })
                .collect();
            json!({ "metric": metric(&group), "values": values })
        })
        .collect();
    Ok(envelope("matrix", result, started))
}
