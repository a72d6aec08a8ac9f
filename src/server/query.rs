//! The read API: `query`, `query_range`, `labels`, `label/<name>/values`,
//! `series` and `format_query`, with Loki's parameters and JSON shapes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use loki_logql::{Engine, Expr, QueryParams, QueryResult};
use serde_json::{json, Value};

use super::params;
use super::stats::{self, Counted};
use super::{distributed, ApiError, AppState, GoDuration};

fn success(data: Value) -> Json<Value> {
    Json(json!({ "status": "success", "data": data }))
}

/// A label names or values answer as Loki writes it: `data` is left out
/// when there is nothing (Loki's `LabelResponse` marks it `omitempty`).
fn label_list<T: serde::Serialize>(values: T) -> Json<Value> {
    match json!(values) {
        Value::Array(values) if values.is_empty() => Json(json!({ "status": "success" })),
        values => success(values),
    }
}

pub(crate) fn required<'a>(
    params: &'a HashMap<String, String>,
    name: &str,
) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} parameter is required")))
}

/// Evaluates a query for the request's tenants: split by the configured
/// `split_queries_by_interval`, slices run in parallel on the runtime's
/// threads (at most `max_query_parallelism`, and no more than the cores).
/// Returns the result and Loki's `stats` object.
pub(crate) async fn evaluate(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
    params: QueryParams,
) -> Result<(QueryResult, Value), ApiError> {
    let tenants = state.tenants(headers)?;
    let tenant_limits = state.config.limits_for(&tenants);
    let limits = state.config.query_limits(&tenants);
    if params.limit > limits.max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
            params.limit, limits.max_entries
        )));
    }
    let max_length = tenant_limits.max_query_length.0;
    let length = u64::try_from(params.end.saturating_sub(params.start)).unwrap_or(0);
    if !max_length.is_zero() && u128::from(length) > max_length.as_nanos() {
        return Err(ApiError::bad_request(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            GoDuration(std::time::Duration::from_nanos(length)),
            tenant_limits.max_query_length
        )));
    }
    let expr = loki_logql::parse(query)?;
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let storage = Counted::new(state.logql_storage(&names, &expr, params.interval));
    let counters = storage.counters.clone();
    let max_series = limits.max_series;
    let timeout = limits.timeout;
    let engine = Engine::new(storage).with_limits(limits);
    let split = tenant_limits.split_queries_by_interval.0;
    let interval = i64::try_from(split.as_nanos()).unwrap_or(i64::MAX);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parallelism = tenant_limits.max_query_parallelism.clamp(1, cores);
    let splits = AtomicU64::new(0);
    let started = Instant::now();
    let split = loki_logql::split::query_split(&expr, &params, interval, parallelism, |p| {
        splits.fetch_add(1, Ordering::Relaxed);
        let engine = engine.clone();
        let expr = expr.clone();
        async move {
            tokio::spawn(async move { engine.eval(&expr, &p).await })
                .await
                .map_err(|e| {
                    loki_logql::Error::Storage(loki_logql::StorageError {
                        message: format!("query slice failed: {e}"),
                        retryable: false,
                    })
                })?
        }
    });
    // The whole query, all slices together, has `query_timeout`.
    let result = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, split)
            .await
            .map_err(|_| loki_logql::Error::Timeout)??,
        None => split.await?,
    };
    // Each slice kept to `max_series`; the merged matrix must too.
    if let QueryResult::Matrix(series) = &result {
        if series.len() > max_series {
            return Err(loki_logql::Error::MaxSeries { limit: max_series }.into());
        }
    }
    let stats = stats::stats(&counters, started.elapsed(), &result, splits.into_inner());
    Ok((result, stats))
}

/// Loki's header for response encoding flags: a comma-separated list.
pub(crate) const ENCODING_FLAGS_HEADER: &str = "X-Loki-Response-Encoding-Flags";
/// The one encoding flag there is: log query results give each entry's
/// structured metadata and parsed labels apart from its stream's labels.
pub(crate) const CATEGORIZE_LABELS: &str = "categorize-labels";

/// Whether the request asks for categorized labels (Grafana does).
pub(crate) fn wants_categorized_labels(headers: &HeaderMap) -> bool {
    headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|flag| flag.trim() == CATEGORIZE_LABELS)
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
    params: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let categorized = params.categorize_labels;
    let (result, stats) = evaluate(state, headers, query, params).await?;
    let mut data =
        serde_json::to_value(&result).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Value::Object(map) = &mut data {
        if categorized {
            // As Loki, whatever the result type.
            map.insert("encodingFlags".to_owned(), json!([CATEGORIZE_LABELS]));
        }
        map.insert("stats".to_owned(), stats);
    }
    Ok(success(data))
}

pub(crate) async fn instant(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let query = required(&params, "query")?;
    if matches!(loki_logql::parse(query)?, Expr::Log(_)) {
        return Err(ApiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ));
    }
    let time = match params.get("time").filter(|v| !v.is_empty()) {
        Some(v) => params::time(v)?,
        None => params::now_ns(),
    };
    let query_params = QueryParams::instant(time)
        .with_limit(params::limit(&params)?)
        .with_direction(params::direction(&params)?)
        .with_categorized_labels(wants_categorized_labels(&headers));
    run(&state, &headers, query, query_params).await
}

pub(crate) async fn range(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let query = required(&params, "query")?;
    let (start, end) = params::range(&params)?;
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
    let interval = match params.get("interval").filter(|v| !v.is_empty()) {
        Some(v) => params::duration(v)?,
        None => 0,
    };
    if interval < 0 {
        return Err(ApiError::bad_request(
            "interval must be a non-negative duration",
        ));
    }
    let query_params = QueryParams::range(start, end, step)
        .with_limit(params::limit(&params)?)
        .with_direction(params::direction(&params)?)
        .with_interval(interval)
        .with_categorized_labels(wants_categorized_labels(&headers));
    run(&state, &headers, query, query_params).await
}

/// The stream selector of a `query` parameter, if any.
pub(crate) fn selector(query: Option<&String>) -> Result<Option<loki_index::Selector>, ApiError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    match loki_logql::parse(query)? {
        Expr::Log(log) => Ok(Some(loki_store::index_selector(&log.selector.matchers)?)),
        Expr::Metric(_) => Err(ApiError::bad_request("a stream selector is required")),
    }
}

pub(crate) async fn labels(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (start, end) = params::range(&params)?;
    let selector = selector(params.get("query"))?;
    if let Some(names) =
        remote_labels(&state, &headers, None, params.get("query"), start, end).await?
    {
        return Ok(label_list(names));
    }
    let mut names = BTreeSet::new();
    for tenant in state.tenants(&headers)? {
        names.extend(
            state
                .store
                .label_names(&tenant, selector.as_ref(), start, end.saturating_add(1))
                .await?,
        );
    }
    Ok(label_list(names))
}

pub(crate) async fn label_values(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (start, end) = params::range(&params)?;
    let selector = selector(params.get("query"))?;
    if let Some(values) = remote_labels(
        &state,
        &headers,
        Some(&name),
        params.get("query"),
        start,
        end,
    )
    .await?
    {
        return Ok(label_list(values));
    }
    let mut values = BTreeSet::new();
    for tenant in state.tenants(&headers)? {
        values.extend(
            state
                .store
                .label_values(
                    &tenant,
                    &name,
                    selector.as_ref(),
                    start,
                    end.saturating_add(1),
                )
                .await?,
        );
    }
    Ok(label_list(values))
}

pub(crate) async fn series(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (start, end) = params::range(&params)?;
    // `match[]` may repeat: read every occurrence.
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    pairs.extend(url::form_urlencoded::parse(&body).into_owned());
    let mut matches: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "match[]" || k == "match")
        .map(|(_, v)| v)
        .collect();
    matches.sort();
    matches.dedup();
    // No matcher, or a single `{}`, means every series (as Loki 2.9+).
    let selectors = match matches.as_slice() {
        [] => vec![None],
        [only] if only.replace(' ', "") == "{}" => vec![None],
        _ => matches
            .iter()
            .map(|m| selector(Some(m)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let found = matching_series(&state, &headers, &selectors, &matches, start, end).await?;
    let data: Vec<BTreeMap<String, String>> = found
        .into_iter()
        .map(|pairs| pairs.into_iter().collect())
        .collect();
    Ok(success(json!(data)))
}

/// The label sets of the series matching any of `selectors` (`None`:
/// every series; `texts` are the same selectors as written, for other
/// processes) with entries in `[start, end]`, for the request's tenants.
pub(crate) async fn matching_series(
    state: &AppState,
    headers: &HeaderMap,
    selectors: &[Option<loki_index::Selector>],
    texts: &[String],
    start: i64,
    end: i64,
) -> Result<BTreeSet<Vec<(String, String)>>, ApiError> {
    let mut found: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
    if let Some(cluster) = state.querier() {
        let req = crate::server::proto::LabelRequest {
            tenants: state.tenants(headers)?,
            name: None,
            selectors: if selectors.iter().all(Option::is_none) {
                Vec::new()
            } else {
                texts.to_vec()
            },
            start,
            end: end.saturating_add(1),
            series: true,
        };
        for text in distributed::querier::labels(&state.store, cluster, req).await? {
            let labels = loki_logql::parse_labels(&text)
                .map_err(|e| ApiError::bad_request(format!("series {text}: {e}")))?;
            found.insert(
                labels
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            );
        }
    } else {
        for tenant in state.tenants(headers)? {
            for selector in selectors {
                for labels in state
                    .store
                    .series(&tenant, selector.as_ref(), start, end.saturating_add(1))
                    .await?
                {
                    found.insert(
                        labels
                            .iter()
                            .map(|(n, v)| (n.to_owned(), v.to_owned()))
                            .collect(),
                    );
                }
            }
        }
    }
    Ok(found)
}

/// For a querier: label names (no `name`) or a label's values of the
/// ingesters and the object store, merged; `None` for other processes.
async fn remote_labels(
    state: &AppState,
    headers: &HeaderMap,
    name: Option<&str>,
    query: Option<&String>,
    start: i64,
    end: i64,
) -> Result<Option<BTreeSet<String>>, ApiError> {
    let Some(cluster) = state.querier() else {
        return Ok(None);
    };
    let req = crate::server::proto::LabelRequest {
        tenants: state.tenants(headers)?,
        name: name.map(str::to_owned),
        selectors: query
            .filter(|q| !q.is_empty())
            .cloned()
            .into_iter()
            .collect(),
        start,
        end: end.saturating_add(1),
        series: false,
    };
    Ok(Some(
        distributed::querier::labels(&state.store, cluster, req).await?,
    ))
}

pub(crate) async fn index_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let (start, end) = params::range(&params)?;
    let selector = selector(params.get("query"))?
        .ok_or_else(|| ApiError::bad_request("query parameter is required"))?;
    let tenants = state.tenants(&headers)?;
    let mut total = loki_index::Stats::default();
    if let Some(cluster) = state.querier() {
        total = distributed::index::index_stats(
            &state.store,
            cluster,
            &tenants,
            &selector,
            start,
            end.saturating_add(1),
        )
        .await?;
    } else {
        for tenant in &tenants {
            let stats = state
                .store
                .index_stats(tenant, &selector, start, end.saturating_add(1))
                .await?;
            total.streams += stats.streams;
            total.chunks += stats.chunks;
            total.entries += stats.entries;
            total.bytes += stats.bytes;
        }
    }
    Ok(Json(json!({
        "streams": total.streams,
        "chunks": total.chunks,
        "entries": total.entries,
        "bytes": total.bytes,
    })))
}

pub(crate) async fn format_query(
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &body);
    let query = required(&params, "query")?;
    Ok(success(json!(loki_logql::parse(query)?.pretty())))
}
