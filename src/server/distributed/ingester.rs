//! The ingester's internal endpoints: the distributor's push, and the
//! querier's reads of what the ingester holds (its head and the segments
//! it knows), all protobuf.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use loki_logql::Expr;
use prost::Message;

use super::labels_text;
use crate::server::proto::{LabelRequest, LabelResponse, SelectRequest};
use crate::server::{decode_push, ApiError, AppState};

/// The internal select path of ingesters.
pub(crate) const SELECT_PATH: &str = "/internal/select";
/// The internal labels path of ingesters.
pub(crate) const LABELS_PATH: &str = "/internal/labels";

/// The tenant a distributor named (it checked the caller's already).
fn tenant(headers: &HeaderMap) -> Result<String, ApiError> {
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    loki_store::validate_tenant(tenant)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    Ok(tenant.to_owned())
}

/// `POST /internal/push`: a `PushRequest` (snappy protobuf) from a
/// distributor, stored as a push to this process would be.
pub(crate) async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, String), ApiError> {
    let tenant = tenant(&headers)?;
    let streams = decode_push("application/x-protobuf", "", body)?;
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    let bytes: usize = streams
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| e.line.len())
        .sum();
    let summary = state.store.push(&tenant, streams).await?;
    state.metrics.pushed(&tenant, &summary, lines, bytes);
    if summary.refusals.is_empty() {
        return Ok((StatusCode::NO_CONTENT, String::new()));
    }
    let status = StatusCode::from_u16(summary.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let message: Vec<String> = summary
        .refusals
        .iter()
        .map(|r| format!("{} ({} entries)", r.message, r.entries))
        .collect();
    Ok((status, message.join("\n")))
}

fn decode<M: Message + Default>(body: &[u8], what: &str) -> Result<M, ApiError> {
    M::decode(body).map_err(|e| ApiError::bad_request(format!("cannot decode {what}: {e}")))
}

fn protobuf(message: &impl Message) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        message.encode_to_vec(),
    )
}

/// The index selector of a LogQL stream selector's text.
pub(crate) fn index_selector(text: &str) -> Result<loki_index::Selector, ApiError> {
    match loki_logql::parse(text)? {
        Expr::Log(log) => Ok(loki_store::index_selector(&log.selector.matchers)?),
        Expr::Metric(_) => Err(ApiError::bad_request(format!(
            "{text:?} is not a stream selector"
        ))),
    }
}

/// `POST /internal/select`: the entries (or samples) of the matching
/// streams in range that pass the request's line filters, the first
/// `limit` of them in direction order (see [`pushdown`](super::pushdown)).
pub(crate) async fn select(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: SelectRequest = decode(&body, "the select request")?;
    for tenant in &req.tenants {
        loki_store::validate_tenant(tenant)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    }
    let out = super::pushdown::answer(&state.store, &req).await?;
    let body = out.encode_to_vec();
    if let Some(cluster) = &state.cluster {
        let entries: usize = out.streams.iter().map(|s| s.entries.len()).sum::<usize>()
            + out
                .samples
                .iter()
                .map(|s| s.timestamps.len())
                .sum::<usize>();
        cluster
            .sent
            .entries
            .fetch_add(entries as u64, Ordering::Relaxed);
        cluster
            .sent
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    Ok(([(header::CONTENT_TYPE, "application/x-protobuf")], body))
}

/// What a [`LabelRequest`] asks of one store: label names, one label's
/// values, or series as label-set texts. Shared by the ingester's endpoint
/// and the querier's own read of the object store.
pub(crate) async fn store_labels(
    store: &loki_store::Store,
    req: &LabelRequest,
) -> Result<BTreeSet<String>, ApiError> {
    let selectors = req
        .selectors
        .iter()
        .map(|s| index_selector(s).map(Some))
        .collect::<Result<Vec<_>, _>>()?;
    let selectors = if selectors.is_empty() {
        vec![None]
    } else {
        selectors
    };
    let mut out = BTreeSet::new();
    for tenant in &req.tenants {
        loki_store::validate_tenant(tenant)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
        for selector in &selectors {
            let selector = selector.as_ref();
            if req.series {
                for labels in store.series(tenant, selector, req.start, req.end).await? {
                    out.insert(labels_text(&labels));
                }
            } else if let Some(name) = &req.name {
                out.extend(
                    store
                        .label_values(tenant, name, selector, req.start, req.end)
                        .await?,
                );
            } else {
                out.extend(
                    store
                        .label_names(tenant, selector, req.start, req.end)
                        .await?,
                );
            }
        }
    }
    Ok(out)
}

/// `POST /internal/labels`: label names, values or series.
pub(crate) async fn labels(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: LabelRequest = decode(&body, "the labels request")?;
    let values = store_labels(&state.store, &req).await?;
    Ok(protobuf(&LabelResponse {
        values: values.into_iter().collect(),
    }))
}

/// The store's maintenance until `shutdown` ([`Store::run_maintenance`]
/// with compaction off, which is the compactor's: flush checks, early
/// uploads under `ingester.max_memory`, early WAL checkpoints), and every
/// second forgets the segments it flushed that queriers list by now (see
/// [`compactor`](super::compactor)).
///
/// [`Store::run_maintenance`]: loki_store::Store::run_maintenance
pub(crate) async fn flush_loop(state: AppState, shutdown: tokio::sync::oneshot::Receiver<()>) {
    let store = state.store.clone();
    let forget = async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            store.forget_flushed_segments(super::compactor::INGESTER_FORGETS_AFTER);
        }
    };
    let maintenance = state.store.clone().run_maintenance(async {
        let _ = shutdown.await;
    });
    tokio::select! {
        result = maintenance => {
            if let Err(err) = result {
                tracing::error!(error = %err, "final flush failed");
            }
        }
        () = forget => {}
    }
}
