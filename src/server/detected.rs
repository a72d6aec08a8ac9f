//! What Grafana's Logs Drilldown asks of a service besides queries:
//! `detected_labels` (stream labels worth grouping by, with their
//! cardinality), `detected_fields` and `detected_field/<name>/values`
//! (fields of the newest lines; see [`loki_logql::detect`]) and
//! `drilldown-limits`. Shapes as Loki's: these answers have no
//! `status`/`data` envelope, and an empty one is `{}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use loki_logql::detect::{detect_fields, DetectedFields};
use loki_logql::Expr;
use serde_json::{json, Map, Value};

use super::query::{matching_series, required, selector};
use super::{params, ApiError, AppState};

/// Labels kept whatever their values, as Loki keeps them.
const ALWAYS_DETECTED: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

/// `GET /loki/api/v1/detected_labels`: the labels of the streams matching
/// `query` (every stream without one) over the range, each with its number
/// of distinct values; labels whose values all look like ids (numbers or
/// UUIDs) are left out, except Loki's four static ones and two-valued
/// `0`/`1` flags.
pub(crate) async fn labels(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (start, end) = params::range(&params)?;
    let query = params.get("query").filter(|q| !q.trim().is_empty());
    let selectors = vec![selector(query)?];
    let texts: Vec<String> = query.cloned().into_iter().collect();
    let series = matching_series(&state, &headers, &selectors, &texts, start, end).await?;
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pairs in series {
        for (name, value) in pairs {
            values.entry(name).or_default().insert(value);
        }
    }
    let detected: Vec<Value> = values
        .iter()
        .filter(|(name, values)| {
            ALWAYS_DETECTED.contains(&name.as_str()) || !looks_like_ids(values)
        })
        .map(|(name, values)| json!({ "label": name, "cardinality": values.len() }))
        .collect();
    Ok(omit_empty("detectedLabels", detected, None))
}

/// Whether a label's values say nothing to group by: all numbers or UUIDs
/// (one or two values that are all `0`/`1` are a flag, and kept).
fn looks_like_ids(values: &BTreeSet<String>) -> bool {
    if values.len() <= 2 && values.iter().all(|v| v == "0" || v == "1") {
        return false;
    }
    values
        .iter()
        .all(|v| v.parse::<f64>().is_ok() || is_uuid(v))
}

/// A UUID as Go's `uuid.Parse` reads it: 32 hex digits, bare or in the
/// 8-4-4-4-12 form (optionally in braces or after `urn:uuid:`).
fn is_uuid(value: &str) -> bool {
    let value = value.strip_prefix("urn:uuid:").unwrap_or(value);
    let value = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(value);
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match value.len() {
        32 => hex(value),
        36 => {
            let groups: Vec<&str> = value.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}

/// What `detected_fields` and `detected_field/<name>/values` share: the
/// query, range and limits of the request, and the fields found.
async fn detect(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(DetectedFields, usize), ApiError> {
    let query = required(params, "query")?;
    let Expr::Log(log) = loki_logql::parse(query)? else {
        return Err(ApiError::bad_request(
            "detected fields need a log query, not a metric query",
        ));
    };
    let (start, end) = params::range(params)?;
    let tenants = state.tenants(headers)?;
    let limits = state.config.query_limits(&tenants);
    let line_limit = positive(params, "line_limit", None, 100)?;
    if line_limit > limits.max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({line_limit} > {})",
            limits.max_entries
        )));
    }
    let limit = positive(params, "limit", Some("field_limit"), 1000)?;
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let expr = Expr::Log(log.clone());
    let storage = state.logql_storage(&names, &expr, 0);
    let detecting = detect_fields(&*storage, &log, start, end, line_limit, limit);
    let found = match limits.timeout {
        Some(timeout) => tokio::time::timeout(timeout, detecting)
            .await
            .map_err(|_| loki_logql::Error::Timeout)??,
        None => detecting.await?,
    };
    Ok((found, limit))
}

/// A positive integer parameter `name` (else `fallback`, else `default`).
fn positive(
    params: &HashMap<String, String>,
    name: &str,
    fallback: Option<&str>,
    default: usize,
) -> Result<usize, ApiError> {
    let given = params
        .get(name)
        .or_else(|| fallback.and_then(|f| params.get(f)))
        .filter(|v| !v.is_empty());
    match given {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be a positive value"
            ))),
        },
    }
}

/// `GET /loki/api/v1/detected_fields`: the fields of the newest
/// `line_limit` (100) lines `query` returns, at most `limit` (1000) of
/// them, each with its type, cardinality and parsers (`null` for
/// structured metadata).
pub(crate) async fn fields(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (found, limit) = detect(&state, &headers, &params).await?;
    let fields: Vec<Value> = found
        .fields()
        .into_iter()
        .map(|f| {
            let parsers = (!f.parsers.is_empty())
                .then(|| f.parsers.iter().map(|p| p.as_str()).collect::<Vec<_>>());
            json!({
                "label": f.label,
                "type": f.field_type.as_str(),
                "cardinality": f.cardinality,
                "parsers": parsers,
            })
        })
        .collect();
    Ok(omit_empty("fields", fields, Some(limit)))
}

/// `GET /loki/api/v1/detected_field/<name>/values`: the distinct values of
/// field `name` in the same lines as `detected_fields`, at most `limit`.
pub(crate) async fn field_values(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (found, limit) = detect(&state, &headers, &params).await?;
    let values: Vec<Value> = found
        .values(&name)
        .into_iter()
        .take(limit)
        .map(Value::String)
        .collect();
    Ok(omit_empty("values", values, Some(limit)))
}

/// `{key: items, "limit": limit}`, or `{}` when there are no items (Loki
/// leaves out empty members of these answers).
fn omit_empty(key: &str, items: Vec<Value>, limit: Option<usize>) -> Json<Value> {
    let mut out = Map::new();
    if !items.is_empty() {
        out.insert(key.to_owned(), Value::Array(items));
        if let Some(limit) = limit {
            out.insert("limit".to_owned(), json!(limit));
        }
    }
    Json(Value::Object(out))
}

/// The limits Logs Drilldown may read (Loki's default publish list), as
/// far as this server has them.
const PUBLISHED_LIMITS: [&str; 6] = [
    "max_entries_limit_per_query",
    "max_query_length",
    "max_query_series",
    "query_timeout",
    "retention_period",
    "volume_enabled",
];

/// `GET /loki/api/v1/drilldown-limits`: the tenant's query limits Logs
/// Drilldown adapts to, and that there is no pattern ingester (so it
/// hides its patterns tab).
pub(crate) async fn limits(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenants = state.tenants(&headers)?;
    let all = serde_json::to_value(state.config.limits_for(&tenants))
        .map_err(|e| ApiError::bad_request(format!("cannot show the limits: {e}")))?;
    let mut published: Map<String, Value> = match all {
        Value::Object(all) => all
            .into_iter()
            .filter(|(name, _)| PUBLISHED_LIMITS.contains(&name.as_str()))
            .collect(),
        _ => Map::new(),
    };
    // Volume queries are always served here.
    published.insert("volume_enabled".to_owned(), Value::Bool(true));
    Ok(Json(json!({
        "limits": published,
        "pattern_ingester_enabled": false,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn numbers_and_uuids_are_ids_flags_and_words_are_not() {
        assert!(looks_like_ids(&set(&["1", "2.5", "300"])));
        assert!(looks_like_ids(&set(&[
            "6f1c4a52-3b0e-4d4b-9a43-1c2d3e4f5a6b",
            "{6F1C4A523B0E4D4B9A431C2D3E4F5A6B}",
            "urn:uuid:6f1c4a52-3b0e-4d4b-9a43-1c2d3e4f5a6b",
        ])));
        assert!(looks_like_ids(&set(&["7"])));
        assert!(!looks_like_ids(&set(&["0", "1"])));
        assert!(!looks_like_ids(&set(&["1"])));
        assert!(!looks_like_ids(&set(&["prod", "1"])));
        assert!(!looks_like_ids(&set(&[
            "6f1c4a52-3b0e-4d4b-9a43-1c2d3e4f5a6"
        ])));
    }
}
