//! Live tail across processes: a tailing querier opens a streaming
//! HTTP/2 call to every ingester (`POST /internal/tail`), which answers
//! with each push of the tenants as it stores it (length-delimited
//! [`TailFrame`]s) until the call is closed. The querier merges the
//! ingesters' frames, keeps one copy of each entry (replicas send the
//! same entries) and hands them to the tail handler as a local
//! subscription's batches. Ingesters that join the ring later are
//! connected to within a second; a call that ends is made again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use http_body_util::BodyExt;
use loki_ring::Operation;
use loki_store::{PushEntry, TailBatch, TailStream, TailSubscription};
use prost::Message;
use tokio::sync::mpsc;

use super::pushdown::line_hash;
use super::{labels_text, Cluster};
use crate::server::proto::{
    EntryAdapter, LabelPairAdapter, StreamAdapter, TailFrame, TailRequest, Timestamp,
};
use crate::server::{ApiError, AppState};

/// The internal tail path of ingesters.
pub(crate) const TAIL_PATH: &str = "/internal/tail";

/// Entries remembered to drop replicas' copies.
const SEEN: usize = 200_000;

/// `POST /internal/tail`: the tenants' pushes as they are stored.
pub(crate) async fn serve(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = TailRequest::decode(&body[..])
        .map_err(|e| ApiError::bad_request(format!("cannot decode the tail request: {e}")))?;
    for tenant in &req.tenants {
        loki_store::validate_tenant(tenant)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    }
    let tenants: Vec<&str> = req.tenants.iter().map(String::as_str).collect();
    let subscription = state.store.tail(&tenants);
    let stopping = state.cluster.as_ref().map(|c| c.stopping.subscribe());
    let frames = stream::unfold(
        (subscription, stopping),
        |(subscription, mut stopping)| async move {
            let batch = tokio::select! {
                batch = subscription.recv() => batch,
                // The node stops: the tail ends.
                _ = async {
                    match &mut stopping {
                        Some(stopping) => {
                            let _ = stopping.wait_for(|stop| *stop).await;
                        }
                        None => std::future::pending().await,
                    }
                } => return None,
            };
            let mut out = Vec::new();
            let mut by_tenant: HashMap<Arc<str>, Vec<StreamAdapter>> = HashMap::new();
            for stream in batch.streams {
                by_tenant
                    .entry(stream.tenant.clone())
                    .or_default()
                    .push(adapter(&stream));
            }
            let mut dropped = batch.dropped_count as u64;
            for (tenant, streams) in by_tenant {
                let frame = TailFrame {
                    tenant: tenant.to_string(),
                    streams,
                    dropped: std::mem::take(&mut dropped),
                };
                frame.encode_length_delimited(&mut out).unwrap_or_default();
            }
            if dropped > 0 {
                let frame = TailFrame {
                    dropped,
                    ..Default::default()
                };
                frame.encode_length_delimited(&mut out).unwrap_or_default();
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(out)),
                (subscription, stopping),
            ))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Body::from_stream(frames),
    )
        .into_response())
}

fn adapter(stream: &TailStream) -> StreamAdapter {
    StreamAdapter {
        labels: labels_text(&stream.labels),
        entries: stream
            .entries
            .iter()
            .map(|e| EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(e.timestamp)),
                line: e.line.to_string(),
                structured_metadata: e
                    .metadata
                    .iter()
                    .map(|(name, value)| LabelPairAdapter {
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
            })
            .collect(),
        hash: 0,
    }
}

/// Where a tail's pushes come from: this process's store, or (for a
/// querier) the ingesters.
#[derive(Debug)]
pub(crate) enum TailFeed {
    /// The local store's pushes.
    Local(TailSubscription),
    /// The ingesters' pushes, merged; the fan-out stops when this drops.
    Remote {
        batches: tokio::sync::Mutex<mpsc::Receiver<TailBatch>>,
        fanout: tokio::task::JoinHandle<()>,
    },
}

impl Drop for TailFeed {
    fn drop(&mut self) {
        if let TailFeed::Remote { fanout, .. } = self {
            fanout.abort();
        }
    }
}

impl TailFeed {
    /// Tails `tenants` through the ingesters of `cluster`.
    pub(crate) fn remote(cluster: Arc<Cluster>, tenants: &[&str]) -> TailFeed {
        let (send, receive) = mpsc::channel(64);
        let tenants: Vec<String> = tenants.iter().map(|t| (*t).to_owned()).collect();
        let fanout = tokio::spawn(fan_out(cluster, tenants, send));
        TailFeed::Remote {
            batches: tokio::sync::Mutex::new(receive),
            fanout,
        }
    }

    /// Waits for the next pushes.
    pub(crate) async fn recv(&self) -> TailBatch {
        match self {
            TailFeed::Local(subscription) => subscription.recv().await,
            TailFeed::Remote { batches, .. } => match batches.lock().await.recv().await {
                Some(batch) => batch,
                // The fan-out ended (it does not, short of a panic): wait
                // for the client to leave.
                None => std::future::pending().await,
            },
        }
    }

    /// Pushes already waiting, if any.
    pub(crate) fn try_recv(&self) -> Option<TailBatch> {
        match self {
            TailFeed::Local(subscription) => subscription.try_recv(),
            TailFeed::Remote { batches, .. } => batches.try_lock().ok()?.try_recv().ok(),
        }
    }
}

/// Keeps one call open to every ingester of the ring and forwards the
/// entries not seen yet.
async fn fan_out(cluster: Arc<Cluster>, tenants: Vec<String>, send: mpsc::Sender<TailBatch>) {
    let (frames_in, mut frames) = mpsc::channel::<TailFrame>(256);
    let mut calls: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut seen: HashSet<(String, String, i64, u64)> = HashSet::new();
    let mut order: VecDeque<(String, String, i64, u64)> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let body = TailRequest {
        tenants: tenants.clone(),
    }
    .encode_to_vec();
    let tenant_header = tenants.join("|");
    loop {
        tokio::select! {
            _ = tick.tick() => {
                calls.retain(|_, call| !call.is_finished());
                let ring = cluster.ring.ring();
                let Ok(set) = ring.replication_set_for_operation(Operation::READ) else {
                    continue;
                };
                for instance in set.instances(&ring) {
                    if calls.contains_key(&instance.addr) {
                        continue;
                    }
                    let call = tokio::spawn(follow(
                        cluster.client.clone(),
                        instance.addr.clone(),
                        tenant_header.clone(),
                        body.clone(),
                        frames_in.clone(),
                    ));
                    calls.insert(instance.addr.clone(), call);
                }
            }
            Some(frame) = frames.recv() => {
                let mut batch = TailBatch::default();
                batch.dropped_count = usize::try_from(frame.dropped).unwrap_or(usize::MAX);
                let tenant: Arc<str> = Arc::from(frame.tenant.as_str());
                for stream in frame.streams {
                    let Ok(parsed) = loki_logql::parse_labels(&stream.labels) else {
                        continue;
                    };
                    let Ok(labels) = loki_index::Labels::new(parsed.iter()) else {
                        continue;
                    };
                    let mut entries = Vec::new();
                    for e in stream.entries {
                        let ts = e.timestamp.map_or(0, |t| t.unix_nanos());
                        let key = (frame.tenant.clone(), stream.labels.clone(), ts, line_hash(&e.line));
                        if !seen.insert(key.clone()) {
                            continue;
                        }
                        order.push_back(key);
                        if order.len() > SEEN {
                            if let Some(old) = order.pop_front() {
                                seen.remove(&old);
                            }
                        }
                        entries.push(PushEntry {
                            timestamp: ts,
                            line: e.line.into(),
                            metadata: e
                                .structured_metadata
                                .into_iter()
                                .map(|p| (p.name.into(), p.value.into()))
                                .collect(),
                        });
                    }
                    if !entries.is_empty() {
                        batch.streams.push(TailStream { tenant: tenant.clone(), labels, entries });
                    }
                }
                if (!batch.streams.is_empty() || batch.dropped_count > 0) && send.send(batch).await.is_err() {
                    break;
                }
            }
        }
    }
    for call in calls.into_values() {
        call.abort();
    }
}

/// One ingester's tail call: its frames into `frames` until it ends.
async fn follow(
    client: super::client::Client,
    addr: String,
    tenant: String,
    body: Vec<u8>,
    frames: mpsc::Sender<TailFrame>,
) {
    let mut response = match client.post_streaming(&addr, TAIL_PATH, &tenant, body).await {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(%addr, error = %err, "tail call failed");
            return;
        }
    };
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(Ok(frame)) = response.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        loop {
            let mut view = &buffer[..];
            let Ok(len) = prost::decode_length_delimiter(&mut view) else {
                break;
            };
            let header = buffer.len() - view.len();
            if view.len() < len {
                break;
            }
            match TailFrame::decode(&view[..len]) {
                Ok(frame) => {
                    if frames.send(frame).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(%addr, error = %err, "an ingester's tail frame does not decode");
                    return;
                }
            }
            buffer.drain(..header + len);
        }
    }
}
