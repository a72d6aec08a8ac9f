//! The distributor: hashes each stream to its replica set, sends every
//! ingester its streams in one call, all calls in parallel, and succeeds
//! when every stream met quorum (dskit's `DoBatch`, with [`Batch`]).

use std::sync::Arc;

use axum::http::StatusCode;
use futures_util::stream::{FuturesUnordered, StreamExt};
use loki_ring::{stream_token, Batch, BatchStatus, ItemStatus, Operation, Outcome};
use loki_store::PushStream;

use super::{stream_adapter, Cluster};
use crate::server::proto::{PushRequest, StreamAdapter};
use crate::server::ApiError;

/// The internal push path of ingesters.
pub(crate) const PUSH_PATH: &str = "/internal/push";

/// Replicates `streams` of `tenant` to their ingesters, after the tenant's
/// global rate limit admits their `bytes` (as sent). `Ok` once every
/// stream was stored by a quorum of its replicas; otherwise the error of a
/// stream that could not be: the ingesters' 4xx when they refused it as
/// invalid, a 429 when some rate-limited it, else a 500.
pub(crate) async fn push(
    cluster: &Cluster,
    tenant: &str,
    streams: Vec<PushStream>,
    bytes: usize,
) -> Result<(), ApiError> {
    if let Some(limits) = &cluster.rate_limits {
        let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
        limits.admit(tenant, lines, bytes)?;
    }
    let ring = cluster.ring.ring();
    let adapters: Vec<StreamAdapter> = streams.into_iter().map(adapter).collect();
    let keys: Vec<u32> = adapters
        .iter()
        .map(|s| stream_token(tenant, &s.labels))
        .collect();
    let batch = Batch::new(&ring, Operation::WRITE_NO_EXTEND, &keys)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let batch = Arc::new(batch);
    let mut calls: FuturesUnordered<_> = batch
        .instance_batches()
        .iter()
        .enumerate()
        .map(|(pos, part)| {
            let instance = &ring.instances()[part.instance];
            let (id, addr) = (instance.id.clone(), instance.addr.clone());
            let body = PushRequest {
                streams: part.items.iter().map(|&i| adapters[i].clone()).collect(),
            }
            .encode_snappy();
            let client = cluster.client.clone();
            async move {
                let result = client.post(&addr, PUSH_PATH, tenant, body).await;
                (pos, id, addr, result)
            }
        })
        .collect();
    // Every call runs to its end (bounded by the client's timeout), so each
    // replica gets its copy even once quorum is known.
    // The failures: the status of a peer's refusal (4xx) and a message.
    let mut errors: Vec<(Option<StatusCode>, String)> = Vec::new();
    while let Some((pos, id, addr, result)) = calls.next().await {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(e) => {
                tracing::warn!(ingester = %id, %addr, error = %e, "push to ingester failed");
                if e.is_client_error() {
                    errors.push((e.status, e.message));
                    Outcome::ClientError
                } else {
                    errors.push((
                        None,
                        format!("failed to push to ingester {id} ({addr}): {e}"),
                    ));
                    Outcome::ServerError
                }
            }
        };
        batch.record(pos, outcome);
    }
    if batch.status() == BatchStatus::Succeeded {
        return Ok(());
    }
    let refused =
        (0..batch.len()).any(|i| batch.item_status(i) == ItemStatus::Failed(Outcome::ClientError));
    if refused {
        if let Some((Some(status), message)) = errors.iter().find(|(s, _)| s.is_some()) {
            return Err(ApiError::new(*status, message.clone()));
        }
    }
    // Some replicas rate-limited, others failed: ask the client to back
    // off and retry (it resends everything, which is safe: identical
    // entries are stored once).
    if let Some((Some(status), message)) = errors
        .iter()
        .find(|(s, _)| *s == Some(StatusCode::TOO_MANY_REQUESTS))
    {
        return Err(ApiError::new(*status, message.clone()));
    }
    let detail: Vec<&str> = errors.iter().map(|(_, m)| m.as_str()).collect();
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "push did not reach a quorum of ingesters for every stream: {}",
            detail.join("; ")
        ),
    ))
}

fn adapter(stream: PushStream) -> StreamAdapter {
    stream_adapter(
        &stream.labels,
        stream.entries.into_iter().map(|e| {
            let metadata = e
                .metadata
                .into_iter()
                .map(|(n, v)| (String::from(n), String::from(v)))
                .collect();
            (e.timestamp, String::from(e.line), metadata)
        }),
    )
}
