//! The querier's storage: recent data from every ingester of the ring and
//! older data from the shared object store, merged into one [`Storage`] so
//! the whole LogQL engine runs unchanged. Replicas hold the same entries,
//! and an entry may be both in an ingester and in the store: identical
//! entries (same stream, time, line and metadata) are returned once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::stream::{self, BoxStream, StreamExt};
use loki_logql::storage::{
    EntryBatch, SampleBatch, SampleRequest, SelectRequest as LogqlSelect, StorageError,
};
use loki_logql::{Direction, LabelSet, Storage};
use loki_ring::Operation;
use loki_store::{Store, TenantStorage};
use prost::Message;

use super::ingester::{LABELS_PATH, SELECT_PATH};
use super::pushdown::{line_hash, selector_text, QueryPlan};
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
    /// The query served, when its filters and limit may be sent to the
    /// ingesters (see [`pushdown`](super::pushdown)).
    plan: Option<Arc<QueryPlan>>,
}

fn failed(message: String) -> StorageError {
    StorageError {
        message,
        retryable: true,
    }
}

impl QuerierStorage {
    pub(crate) fn new(
        store: &Store,
        cluster: Arc<Cluster>,
        tenants: &[&str],
        plan: Option<Arc<QueryPlan>>,
    ) -> QuerierStorage {
        QuerierStorage {
            store: store.clone(),
            local: store.logql_storage(tenants),
            cluster,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            plan,
        }
    }

    /// The request an ingester is sent for `req`: the selector, and with
    /// a plan the line filters, limit and cutoff.
    fn ingester_request(&self, req: &LogqlSelect, samples: bool) -> Option<SelectRequest> {
        let mut out = SelectRequest {
            tenants: self.tenants.clone(),
            selector: selector_text(&req.matchers),
            start: req.start,
            end: req.end,
            backward: req.direction == Direction::Backward,
            samples,
            ..Default::default()
        };
        let Some(plan) = &self.plan else {
            // No pushdown: whole streams, filtered here.
            return (!samples).then_some(out);
        };
        match plan.line_filters(&req.matchers, req.line_filters.len()) {
            Some(filters) => out.line_filters = filters,
            None if samples && !req.line_filters.is_empty() => return None,
            None => {}
        }
        if plan.limit_applies() {
            out.limit = req.limit.map_or(0, |l| l as u64);
        }
        out.cutoff = req.cutoff.as_ref().and_then(|c| c.bound());
        Some(out)
    }

    /// Before a read: the segment list at most [`SEGMENTS_MAX_AGE`] old
    /// (listed again now with `relist`), the tenants' delete requests
    /// read again.
    async fn prepare(&self, relist: bool) -> Result<(), StorageError> {
        if relist {
            *self.cluster.segments_refreshed.lock().await = None;
        }
        self.cluster
            .refresh_segments(&self.store)
            .await
            .map_err(|e| failed(e.to_string()))?;
        for tenant in &self.tenants {
            self.store
                .refresh_delete_requests(tenant)
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }

    /// The deleted time ranges of a stream (of the one tenant read, or
    /// the tenant its `__tenant_id__` names).
    fn deleted(&self, labels: &LabelSet) -> Vec<(i64, i64)> {
        let tenant = match self.tenants.as_slice() {
            [one] => one.as_str(),
            _ => labels.get("__tenant_id__").unwrap_or(""),
        };
        match loki_index::Labels::new(labels.iter()) {
            Ok(labels) => self.store.deleted_ranges(tenant, &labels),
            Err(_) => Vec::new(),
        }
    }

    /// Reads the object store's entries of `req` into `streams`; a read
    /// that meets a segment the compactor deleted lists again and
    /// retries once.
    async fn read_store(
        &self,
        req: &LogqlSelect,
    ) -> Result<HashMap<String, (Arc<LabelSet>, Vec<Entry>)>, StorageError> {
        let mut attempt = 0;
        loop {
            match self.read_store_once(req).await {
                Ok(streams) => return Ok(streams),
                Err(err) if attempt == 0 => {
                    tracing::debug!(error = %err, "store read failed: listing segments again");
                    attempt += 1;
                    self.prepare(true).await?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn read_store_once(
        &self,
        req: &LogqlSelect,
    ) -> Result<HashMap<String, (Arc<LabelSet>, Vec<Entry>)>, StorageError> {
        let mut streams: HashMap<String, (Arc<LabelSet>, Vec<Entry>)> = HashMap::new();
        let mut batches = self.local.select(req);
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
        Ok(streams)
    }

    /// The ingesters' answers to `body`, decoded.
    async fn ask(&self, body: SelectRequest) -> Result<Vec<SelectResponse>, StorageError> {
        let answers = self
            .cluster
            .ask_ingesters(SELECT_PATH, &self.tenants, body.encode_to_vec())
            .await?;
        answers
            .iter()
            .map(|a| {
                SelectResponse::decode(&a[..])
                    .map_err(|e| failed(format!("an ingester's select answer: {e}")))
            })
            .collect()
    }

    /// Every matching entry of the store and the ingesters, merged.
    async fn collect(self, req: LogqlSelect) -> Result<Vec<EntryBatch>, StorageError> {
        self.prepare(false).await?;
        // The object store, read as a single process reads it.
        let local = LogqlSelect {
            cutoff: None,
            limit: None,
            ..req.clone()
        };
        let mut streams = self.read_store(&local).await?;

        // The ingesters.
        let body = self
            .ingester_request(&req, false)
            .ok_or_else(|| failed("no ingester request for entries".to_owned()))?;
        for answer in self.ask(body).await? {
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

        // Merge: direction order, identical entries once, deleted ones not.
        let mut out = Vec::new();
        for (_, (labels, mut entries)) in streams {
            entries.sort_unstable();
            entries.dedup();
            let deleted = self.deleted(&labels);
            if !deleted.is_empty() {
                entries.retain(|e| !deleted.iter().any(|(a, b)| e.0 >= *a && e.0 <= *b));
            }
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

    /// Every matching sample of the store and the ingesters (which send
    /// samples, not lines), merged: one per distinct entry.
    async fn collect_samples(
        self,
        req: SampleRequest,
        body: SelectRequest,
    ) -> Result<Vec<SampleBatch>, StorageError> {
        self.prepare(false).await?;
        let mut streams: HashMap<String, (Arc<LabelSet>, Vec<SampleEntry>, u64)> = HashMap::new();
        for (key, (labels, entries)) in self.read_store(&req.to_select()).await? {
            let slot = streams
                .entry(key)
                .or_insert_with(|| (labels, Vec::new(), 0));
            for (ts, line, metadata) in entries {
                slot.2 += line.len() as u64;
                if req.line_filters.matches(&line) {
                    slot.1
                        .push((ts, line_hash(&line), line.len() as u64, metadata));
                }
            }
        }

        for answer in self.ask(body).await? {
            for stream in answer.samples {
                let labels = loki_logql::parse_labels(&stream.labels)
                    .map_err(|e| failed(format!("an ingester's stream labels: {e}")))?;
                let n = stream.timestamps.len();
                if stream.bytes.len() != n || stream.hashes.len() != n || stream.metadata.len() > n
                {
                    return Err(failed(format!(
                        "an ingester's samples of {}: {n} times, {} sizes, {} hashes, {} metadata",
                        stream.labels,
                        stream.bytes.len(),
                        stream.hashes.len(),
                        stream.metadata.len()
                    )));
                }
                let slot = streams
                    .entry(labels.to_string())
                    .or_insert_with(|| (Arc::new(labels), Vec::new(), 0));
                let mut metadata = stream.metadata.into_iter();
                for i in 0..n {
                    let pairs = metadata
                        .next()
                        .map(|m| m.pairs.into_iter().map(|p| (p.name, p.value)).collect())
                        .unwrap_or_default();
                    slot.2 += stream.bytes[i];
                    slot.1.push((
                        stream.timestamps[i],
                        stream.hashes[i],
                        stream.bytes[i],
                        pairs,
                    ));
                }
            }
        }

        let mut out = Vec::new();
        for (_, (labels, mut samples, scanned)) in streams {
            samples.sort_unstable();
            samples.dedup();
            let deleted = self.deleted(&labels);
            if !deleted.is_empty() {
                samples.retain(|e| !deleted.iter().any(|(a, b)| e.0 >= *a && e.0 <= *b));
            }
            let mut batch = SampleBatch::new(labels);
            batch.scanned_bytes = scanned;
            for (ts, _, bytes, metadata) in samples {
                batch.push(ts, req.bytes.then_some(bytes), metadata);
            }
            out.push(batch);
        }
        Ok(out)
    }
}

/// One sample: time, line hash, line length, structured metadata.
type SampleEntry = (i64, u64, u64, Vec<(String, String)>);

fn flatten<T: Send + 'static>(
    result: Result<Vec<T>, StorageError>,
) -> BoxStream<'static, Result<T, StorageError>> {
    match result {
        Ok(batches) => stream::iter(batches.into_iter().map(Ok)).boxed(),
        Err(err) => stream::iter([Err(err)]).boxed(),
    }
}

impl Storage for QuerierStorage {
    fn select(&self, req: &LogqlSelect) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let this = self.clone();
        let req = req.clone();
        stream::once(this.collect(req)).flat_map(flatten).boxed()
    }

    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        let Some(body) = self.ingester_request(&req.to_select(), true) else {
            // The filters are not known as text: lines come back and are
            // filtered here.
            let filters = req.line_filters.clone();
            let bytes = req.bytes;
            return self
                .select(&req.to_select())
                .map(move |b| b.map(|b| SampleBatch::from_entries(&b, &filters, bytes)))
                .boxed();
        };
        let this = self.clone();
        let req = req.clone();
        stream::once(this.collect_samples(req, body))
            .flat_map(flatten)
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
pub(crate) const SEGMENTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

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
