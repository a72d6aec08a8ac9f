//! `/loki/api/v1/delete`: create, list and cancel log deletion requests.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use loki_logql::Expr;
use serde_json::{json, Value};

use super::params;
use super::{ApiError, AppState};

fn one_tenant(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let tenants = state.tenants(headers)?;
    match tenants.as_slice() {
        [tenant] => Ok(tenant.clone()),
        _ => Err(ApiError::bad_request(
            "a delete request names exactly one tenant",
        )),
    }
}

/// A compactor of distributed mode reads the tenant's requests again
/// first: another compactor may have recorded some while it led, and a
/// request recorded on a stale list would drop them.
async fn current(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    if state.cluster.is_some() {
        state.store.refresh_delete_requests(tenant).await?;
    }
    Ok(())
}

fn seconds(ns: i64) -> f64 {
    (ns / 1_000_000) as f64 / 1000.0
}

/// `POST`/`PUT`: records a request; queries hide the data at once.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = one_tenant(&state, &headers)?;
    let params = params::collect(raw.as_deref(), &headers, &body);
    let query = params
        .get("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter is required"))?;
    let Expr::Log(log) = loki_logql::parse(query)? else {
        return Err(ApiError::bad_request("a delete query must be a log query"));
    };
    if !log.pipeline.is_empty() {
        return Err(ApiError::bad_request(
            "delete queries with line filters are not supported yet: use a stream selector",
        ));
    }
    let selector = loki_store::index_selector(&log.selector.matchers)?;
    let start = params::time(
        params
            .get("start")
            .ok_or_else(|| ApiError::bad_request("start parameter is required"))?,
    )?;
    let now = params::now_ns();
    let end = match params.get("end").filter(|v| !v.is_empty()) {
        Some(v) => params::time(v)?,
        None => now,
    };
    if end > now {
        return Err(ApiError::bad_request(
            "deletes in the future are not allowed",
        ));
    }
    if end <= start {
        return Err(ApiError::bad_request("end time must be after start time"));
    }
    current(&state, &tenant).await?;
    let request = state
        .store
        .add_delete_request(&tenant, &selector, start, end)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(id) = HeaderValue::from_str(&request.id) {
        response.headers_mut().insert("x-delete-request-id", id);
    }
    Ok(response)
}

/// `GET`: the tenant's requests, oldest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = one_tenant(&state, &headers)?;
    current(&state, &tenant).await?;
    let requests: Vec<Value> = state
        .store
        .delete_requests(&tenant)
        .into_iter()
        .map(|r| {
            let query = r
                .matchers
                .iter()
                .map(|(n, op, v)| format!("{n}{op}{v:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            json!({
                "request_id": r.id,
                "start_time": seconds(r.start),
                "end_time": seconds(r.end),
                "query": format!("{{{query}}}"),
                "status": r.status,
                "created_at": seconds(r.created),
            })
        })
        .collect();
    Ok(Json(Value::Array(requests)))
}

/// `DELETE`: cancels a request not yet processed.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, ApiError> {
    let tenant = one_tenant(&state, &headers)?;
    let params = params::collect(raw.as_deref(), &headers, &[]);
    let id = params
        .get("request_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("request_id parameter is required"))?;
    current(&state, &tenant).await?;
    if state.store.cancel_delete_request(&tenant, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "could not find delete request with given id",
        ))
    }
}
