//! The querier's storage: recent data from every ingester of the ring and
//! older data from the shared object store, merged into one
//! [`Storage`](loki_logql::Storage) so the whole LogQL engine runs
//! unchanged. Replicas hold the same entries, and an entry may be both in
//! an ingester and in the store: identical entries (same stream, time,
//! line and metadata) are returned once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::stream::{self, BoxStream, StreamExt};
use loki_logql::storage::{EntryBatch, SelectRequest as LogqlSelect, StorageError};
use loki_logql::{Direction, LabelSet, Storage};
use loki_ring::Operation;
use loki_store::{Store, TenantStorage};
use prost::Message;

use super::ingester::{LABELS_PATH, SELECT_PATH};
use super::Cluster;
use crate::server::proto::{LabelRequest, LabelResponse, SelectRequest, SelectResponse};
use crate::server::ApiError;

/// Entries per batch handed to the evaluator.
const BATCH: usize = 1024;

/// One entry: time, line, structured metadata.
type Entry = (i64, String, Vec<(String, String)>);

/// The tenants' data across the ingesters and the object store.
#[derive(Debug, Clone)]
pub(crate) struct QuerierStorage {
    store: Store,
    local: TenantStorage,
    cluster: Arc<Cluster>,
    tenants: Vec<String>,
}

impl QuerierStorage {
    pub(crate) fn new(store: &Store, cluster: Arc<Cluster>, tenants: &[&str]) -> QuerierStorage {
        QuerierStorage {
            store: store.clone(),
            local: store.logql_storage(tenants),
            cluster,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Every matching entry of the store and the ingesters, merged.
    async fn collect(self, req: LogqlSelect) -> Result<Vec<EntryBatch>, StorageError> {
        let failed = |message: String| StorageError {
            message,
            retryable: true,
        };
        self.cluster
            .refresh_segments(&self.store)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut streams: HashMap<String, (Arc<LabelSet>, Vec<Entry>)> = HashMap::new();

        // The object store, read as a single process reads it.
        let local = LogqlSelect {
            cutoff: None,
            limit: None,
            ..req.clone()
        };
        let mut batches = self.local.select(&local);
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            let slot = streams
                .entry(batch.labels.to_string())
                .or_insert_with(|| (batch.labels.clone(), Vec::new()));
            for i in 0..batch.len() {
                if batch.mask.as_ref().is_some_and(|m| !m[i]) {
                    continue;
                }
                slot.1.push((
                    batch.timestamps[i],
                    batch.line(i).to_owned(),
                    batch.metadata(i).to_vec(),
                ));
            }
        }

        // The ingesters.
        let selector = format!(
            "{{{}}}",
            req.matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let body = SelectRequest {
            tenants: self.tenants.clone(),
            selector,
            start: req.start,
            end: req.end,
            backward: req.direction == Direction::Backward,
        }
        .encode_to_vec();
        for answer in self
            .cluster
            .ask_ingesters(SELECT_PATH, &self.tenants, body)
            .await?
        {
            let answer = SelectResponse::decode(&answer[..])
                .map_err(|e| failed(format!("an ingester's select answer: {e}")))?;
            for stream in answer.streams {
                let labels = loki_logql::parse_labels(&stream.labels)
                    .map_err(|e| failed(format!("an ingester's stream labels: {e}")))?;
                let slot = streams
                    .entry(labels.to_string())
                    .or_insert_with(|| (Arc::new(labels), Vec::new()));
                slot.1.extend(stream.entries.into_iter().map(|e| {
                    (
                        e.timestamp.map_or(0, |t| t.unix_nanos()),
                        e.line,
                        e.structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    )
                }));
            }
        }

        // Merge: direction order, identical entries once.
        let mut out = Vec::new();
        for (_, (labels, mut entries)) in streams {
            entries.sort_unstable();
            entries.dedup();
            if req.direction == Direction::Backward {
                entries.reverse();
            }
            for chunk in entries.chunks(BATCH) {
                let mut batch = EntryBatch::new(labels.clone());
                for (ts, line, metadata) in chunk {
                    let metadata: Vec<(&str, &str)> = metadata
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    batch.push(*ts, line, &metadata);
                }
                out.push(batch);
            }
        }
        Ok(out)
    }
}

impl Storage for QuerierStorage {
    fn select(&self, req: &LogqlSelect) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let this = self.clone();
        let req = req.clone();
        stream::once(this.collect(req))
            .flat_map(|result| match result {
                Ok(batches) => stream::iter(batches.into_iter().map(Ok)).boxed(),
                Err(err) => stream::iter([Err(err)]).boxed(),
            })
            .boxed()
    }
}

/// Label names, values or series (per `req`) of the object store and the
/// ingesters, merged.
pub(crate) async fn labels(
    store: &Store,
    cluster: &Cluster,
    req: LabelRequest,
) -> Result<BTreeSet<String>, ApiError> {
    cluster.refresh_segments(store).await?;
    let mut values = super::ingester::store_labels(store, &req).await?;
    let answers = cluster
        .ask_ingesters(LABELS_PATH, &req.tenants, req.encode_to_vec())
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    for answer in answers {
        let answer = LabelResponse::decode(&answer[..]).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("an ingester's labels answer: {e}"),
            )
        })?;
        values.extend(answer.values);
    }
    Ok(values)
}

/// How stale the querier's list of index segments may be: ingesters keep
/// answering for what they flushed themselves, so the list matters only
/// for data of ingesters that have left.
const SEGMENTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

impl Cluster {
    /// Lists the object store's index segments again unless that was done
    /// within [`SEGMENTS_MAX_AGE`] (the query slices of one query, run in
    /// parallel, share one listing).
    pub(crate) async fn refresh_segments(&self, store: &Store) -> loki_store::Result<()> {
        let mut refreshed = self.segments_refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < SEGMENTS_MAX_AGE) {
            return Ok(());
        }
        store.refresh_segments().await?;
        *refreshed = Some(std::time::Instant::now());
        Ok(())
    }

    /// POSTs `body` to `path` on every ingester a read may use, in
    /// parallel, and returns the answers. As many ingesters as the ring's
    /// read quorum allows (`max_errors`) may fail.
    pub(crate) async fn ask_ingesters(
        &self,
        path: &str,
        tenants: &[String],
        body: Vec<u8>,
    ) -> Result<Vec<axum::body::Bytes>, StorageError> {
        let ring = self.ring.ring();
        let set = ring
            .replication_set_for_operation(Operation::READ)
            .map_err(|e| StorageError {
                message: e.to_string(),
                retryable: true,
            })?;
        let tenant = tenants.join("|");
        let calls = set.instances(&ring).map(|instance| {
            let client = self.client.clone();
            let (addr, body, tenant) = (instance.addr.clone(), body.clone(), tenant.clone());
            async move { client.post(&addr, path, &tenant, body).await }
        });
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        for result in join_all(calls).await {
            match result {
                Ok(bytes) => answers.push(bytes),
                Err(err) => errors.push(err.to_string()),
            }
        }
        if errors.len() > set.max_errors() {
            return Err(StorageError {
                message: format!(
                    "too many ingesters failed ({} of {}, at most {} may): {}",
                    errors.len(),
                    set.len(),
                    set.max_errors(),
                    errors.join("; ")
                ),
                retryable: true,
            });
        }
        Ok(answers)
    }
}
