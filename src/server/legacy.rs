//! The deprecated `/api/prom/*` read paths older Grafana versions and
//! tools still call, with Loki's legacy response shapes:
//!
//! - `/api/prom/query`: a log query over `start`…`end`, answered as
//!   `{"streams":[{"labels":"{app=\"a\"}","entries":[{"ts":"<RFC 3339>","line":"…"}]}]}`;
//! - `/api/prom/label` and `/api/prom/label/<name>/values`:
//!   `{"values":[…]}`.
//!
//! `/api/prom/series` answers as `/loki/api/v1/series`, as in Loki.

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use loki_logql::{QueryParams, QueryResult};
use serde_json::{json, Value};

use super::params;
use super::query::{self, evaluate, required};
use super::{ApiError, AppState};

/// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `RFC3339Nano`).
pub(crate) fn rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let Ok(secs) = u64::try_from(secs) else {
        return format!("{ns}ns");
    };
    let base =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
    if nanos == 0 {
        return base;
    }
    let fraction = format!("{nanos:09}");
    let fraction = fraction.trim_end_matches('0');
    format!("{}.{fraction}Z", base.trim_end_matches('Z'))
}

pub(crate) async fn query(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let query = required(&params, "query")?;
    let (start, end) = params::range(&params)?;
    let query_params = QueryParams::range(start, end, 0)
        .with_limit(params::limit(&params)?)
        .with_direction(params::direction(&params)?);
    if !matches!(loki_logql::parse(query)?, loki_logql::Expr::Log(_)) {
        return Err(ApiError::bad_request(
            "legacy endpoints only support streams result type",
        ));
    }
    let (result, _) = evaluate(&state, &headers, query, query_params).await?;
    let QueryResult::Streams(streams) = result else {
        return Err(ApiError::bad_request(
            "legacy endpoints only support streams result type",
        ));
    };
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let entries: Vec<Value> = s
                .entries
                .iter()
                .map(|e| json!({ "ts": rfc3339_nano(e.timestamp), "line": e.line }))
                .collect();
            json!({ "labels": s.labels.to_string(), "entries": entries })
        })
        .collect();
    if streams.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "streams": streams })))
}

/// The legacy shape, `{"values": […]}`; `{}` when there are none (Loki
/// writes its protobuf `LabelResponse`, whose `values` is `omitempty`).
fn values(response: Json<Value>) -> Json<Value> {
    match response.0.get("data") {
        Some(values) => Json(json!({ "values": values })),
        None => Json(json!({})),
    }
}

pub(crate) async fn labels(
    state: State<AppState>,
    headers: HeaderMap,
    raw: RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    query::labels(state, headers, raw, body).await.map(values)
}

pub(crate) async fn label_values(
    state: State<AppState>,
    headers: HeaderMap,
    name: Path<String>,
    raw: RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    query::label_values(state, headers, name, raw, body)
        .await
        .map(values)
}

#[cfg(test)]
mod tests {
    use super::rfc3339_nano;

    #[test]
    fn timestamps_print_like_go() {
        assert_eq!(
            rfc3339_nano(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_nano(1_700_000_000_120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            rfc3339_nano(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
    }
}
