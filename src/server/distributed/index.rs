//! Volume and index statistics across processes: every ingester answers
//! for what it holds, the querier adds the object store's part.
//!
//! Replicas hold the same streams, so ingesters answer volumes per stream
//! and the querier counts each stream once (its largest replica: a
//! replica that missed pushes holds less, never more), then groups as
//! the request asks. Statistics come as totals with the streams they
//! cover; the querier scales the ingesters' totals by distinct streams
//! over streams reported (exact when every stream has the same number of
//! replicas, as when all are up). A chunk flushed in the last
//! [`INGESTER_FORGETS_AFTER`](super::compactor::INGESTER_FORGETS_AFTER)
//! is counted by its ingester and by the store: both answers are
//! estimates, as Loki's.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use loki_index::{AggregateBy, Labels, Selector, VolumeRequest, VolumeTally};
use loki_store::Store;
use prost::Message;

use super::ingester::index_selector;
use super::{labels_text, Cluster};
use crate::server::proto::{IndexRequest, IndexStats, StreamVolume, StreamVolumes};
use crate::server::ApiError;

/// The internal volume path of ingesters.
pub(crate) const VOLUME_PATH: &str = "/internal/volume";
/// The internal index statistics path of ingesters.
pub(crate) const STATS_PATH: &str = "/internal/stats";

fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// Each matching stream's bytes in `[from, through)` in `store`.
pub(crate) async fn stream_volumes(
    store: &Store,
    tenant: &str,
    selector: &Selector,
    from: i64,
    through: i64,
) -> Result<Vec<(Labels, u64)>, ApiError> {
    // Grouped by every label name, a group is one stream.
    let names = store
        .label_names(tenant, Some(selector), from, through)
        .await?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let request = VolumeRequest {
        target_labels: names,
        aggregate_by: AggregateBy::Series,
        limit: usize::MAX,
    };
    let volumes = store
        .volume(tenant, selector, from, through, &request)
        .await?;
    volumes
        .into_iter()
        .map(|v| {
            let labels =
                Labels::new(v.labels).map_err(|e| internal(format!("a stream's labels: {e}")))?;
            Ok((labels, v.bytes))
        })
        .collect()
}

fn decode_request(body: &[u8]) -> Result<(IndexRequest, Selector), ApiError> {
    let req = IndexRequest::decode(body)
        .map_err(|e| ApiError::bad_request(format!("cannot decode the index request: {e}")))?;
    for tenant in &req.tenants {
        loki_store::validate_tenant(tenant)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    }
    let selector = index_selector(&req.selector)?;
    Ok((req, selector))
}

fn protobuf(message: &impl Message) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        message.encode_to_vec(),
    )
}

/// `POST /internal/volume`: the ingester's per-stream volumes.
pub(crate) async fn volume(
    State(state): State<crate::server::AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (req, selector) = decode_request(&body)?;
    let mut out = StreamVolumes::default();
    for tenant in &req.tenants {
        for (labels, bytes) in
            stream_volumes(&state.store, tenant, &selector, req.from, req.through).await?
        {
            out.streams.push(StreamVolume {
                tenant: tenant.clone(),
                labels: labels_text(&labels),
                bytes,
            });
        }
    }
    Ok(protobuf(&out))
}

/// `POST /internal/stats`: the ingester's index statistics.
pub(crate) async fn stats(
    State(state): State<crate::server::AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (req, selector) = decode_request(&body)?;
    let mut out = IndexStats::default();
    for tenant in &req.tenants {
        let stats = state
            .store
            .index_stats(tenant, &selector, req.from, req.through)
            .await?;
        out.chunks += stats.chunks;
        out.entries += stats.entries;
        out.bytes += stats.bytes;
        for labels in state
            .store
            .series(tenant, Some(&selector), req.from, req.through)
            .await?
        {
            out.streams
                .push(format!("{tenant} {}", labels_text(&labels)));
        }
    }
    Ok(protobuf(&out))
}

/// An index selector as LogQL text.
fn selector_text(selector: &Selector) -> String {
    let matchers: Vec<String> = selector
        .matchers()
        .iter()
        .map(|m| format!("{}{}{}", m.name(), m.op(), super::quote(m.value())))
        .collect();
    format!("{{{}}}", matchers.join(", "))
}

async fn ask(
    cluster: &Cluster,
    path: &str,
    tenants: &[String],
    selector: &Selector,
    from: i64,
    through: i64,
) -> Result<Vec<Bytes>, ApiError> {
    let body = IndexRequest {
        tenants: tenants.to_vec(),
        selector: selector_text(selector),
        from,
        through,
    }
    .encode_to_vec();
    cluster
        .ask_ingesters(path, tenants, body)
        .await
        .map_err(|e| internal(e.message))
}

/// Bytes per group (as `request` groups) of the ingesters and the store.
pub(crate) async fn volumes(
    store: &Store,
    cluster: &Cluster,
    tenants: &[String],
    selector: &Selector,
    request: &VolumeRequest,
    from: i64,
    through: i64,
) -> Result<Vec<(Vec<(String, String)>, u64)>, ApiError> {
    cluster.refresh_segments(store).await?;
    // Per (tenant, stream): the store's bytes, and the largest replica's.
    let mut stored: HashMap<(String, String), (Labels, u64)> = HashMap::new();
    for tenant in tenants {
        for (labels, bytes) in stream_volumes(store, tenant, selector, from, through).await? {
            stored.insert((tenant.clone(), labels_text(&labels)), (labels, bytes));
        }
    }
    let mut held: HashMap<(String, String), u64> = HashMap::new();
    for answer in ask(cluster, VOLUME_PATH, tenants, selector, from, through).await? {
        let answer = StreamVolumes::decode(&answer[..])
            .map_err(|e| internal(format!("an ingester's volume answer: {e}")))?;
        for stream in answer.streams {
            let slot = held.entry((stream.tenant, stream.labels)).or_default();
            *slot = (*slot).max(stream.bytes);
        }
    }
    let unlimited = VolumeRequest {
        limit: usize::MAX,
        ..request.clone()
    };
    let mut tally = VolumeTally::new(selector, &unlimited);
    for (key, bytes) in held {
        match stored.get_mut(&key) {
            Some((_, stored_bytes)) => *stored_bytes += bytes,
            None => {
                let labels = loki_logql::parse_labels(&key.1)
                    .map_err(|e| internal(format!("an ingester's stream labels: {e}")))?;
                let labels = Labels::new(labels.iter())
                    .map_err(|e| internal(format!("an ingester's stream labels: {e}")))?;
                stored.insert(key, (labels, bytes));
            }
        }
    }
    for (labels, bytes) in stored.into_values() {
        tally.add(&labels, bytes);
    }
    Ok(tally
        .finish()
        .into_iter()
        .map(|v| (v.labels, v.bytes))
        .collect())
}

/// Index statistics of the store and the ingesters.
pub(crate) async fn index_stats(
    store: &Store,
    cluster: &Cluster,
    tenants: &[String],
    selector: &Selector,
    from: i64,
    through: i64,
) -> Result<loki_index::Stats, ApiError> {
    cluster.refresh_segments(store).await?;
    let mut total = loki_index::Stats::default();
    let mut streams: BTreeSet<String> = BTreeSet::new();
    for tenant in tenants {
        let stats = store.index_stats(tenant, selector, from, through).await?;
        total.chunks += stats.chunks;
        total.entries += stats.entries;
        total.bytes += stats.bytes;
        for labels in store.series(tenant, Some(selector), from, through).await? {
            streams.insert(format!("{tenant} {}", labels_text(&labels)));
        }
    }
    let (mut reported, mut chunks, mut entries, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut held: BTreeSet<String> = BTreeSet::new();
    for answer in ask(cluster, STATS_PATH, tenants, selector, from, through).await? {
        let answer = IndexStats::decode(&answer[..])
            .map_err(|e| internal(format!("an ingester's stats answer: {e}")))?;
        reported += answer.streams.len() as u64;
        chunks += answer.chunks;
        entries += answer.entries;
        bytes += answer.bytes;
        held.extend(answer.streams);
    }
    if reported > 0 {
        let scale = |n: u64| {
            u64::try_from(u128::from(n) * held.len() as u128 / u128::from(reported))
                .unwrap_or(u64::MAX)
        };
        total.chunks += scale(chunks);
        total.entries += scale(entries);
        total.bytes += scale(bytes);
    }
    streams.extend(held);
    total.streams = streams.len() as u64;
    Ok(total)
}
