//! The `stats` object of query responses, with Loki's key names: what this
//! server measures (lines and bytes read from storage, execution time,
//! entries returned, splits) and zeros for what it has no counterpart of.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use loki_logql::{EntryBatch, QueryResult, SelectRequest, Storage, StorageError};
use serde_json::{json, Value};

/// Lines and bytes read from storage by one query.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
    metadata_bytes: AtomicU64,
}

/// A storage counting what the evaluator reads from it.
#[derive(Debug, Clone)]
pub(crate) struct Counted<S> {
    pub(crate) inner: S,
    pub(crate) counters: Arc<Counters>,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S) -> Counted<S> {
        Counted {
            inner,
            counters: Arc::default(),
        }
    }
}

impl<S: Storage> Storage for Counted<S> {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let counters = self.counters.clone();
        self.inner
            .select(req)
            .inspect(move |batch| {
                if let Ok(batch) = batch {
                    counters
                        .lines
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    counters
                        .bytes
                        .fetch_add(batch.line_data.len() as u64, Ordering::Relaxed);
                    let metadata: usize = batch
                        .structured_metadata
                        .iter()
                        .flatten()
                        .map(|(n, v)| n.len() + v.len())
                        .sum();
                    counters
                        .metadata_bytes
                        .fetch_add(metadata as u64, Ordering::Relaxed);
                }
            })
            .boxed()
    }
}

/// Entries in a log result.
pub(crate) fn entries_returned(result: &QueryResult) -> u64 {
    match result {
        QueryResult::Streams(streams) => streams.iter().map(|s| s.entries.len() as u64).sum(),
        _ => 0,
    }
}

fn cache() -> Value {
    json!({
        "entriesFound": 0, "entriesRequested": 0, "entriesStored": 0,
        "bytesReceived": 0, "bytesSent": 0, "requests": 0,
        "downloadTime": 0, "queryLengthServed": 0,
    })
}

fn store(lines: u64, bytes: u64, metadata_bytes: u64) -> Value {
    json!({
        "totalChunksRef": 0,
        "totalChunksDownloaded": 0,
        "chunksDownloadTime": 0,
        "queryReferencedStructuredMetadata": false,
        "chunk": {
            "headChunkBytes": 0,
            "headChunkLines": 0,
            "decompressedBytes": bytes,
            "decompressedLines": lines,
            "compressedBytes": 0,
            "totalDuplicates": 0,
            "postFilterLines": 0,
            "headChunkStructuredMetadataBytes": 0,
            "decompressedStructuredMetadataBytes": metadata_bytes,
        },
        "chunkRefsFetchTime": 0,
        "congestionControlLatency": 0,
        "pipelineWrapperFilteredLines": 0,
    })
}

/// Loki's `stats` object for a query that read `counters`, ran for
/// `exec`, returned `result` and was cut into `splits` slices.
pub(crate) fn stats(
    counters: &Counters,
    exec: Duration,
    result: &QueryResult,
    splits: u64,
) -> Value {
    let lines = counters.lines.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    let metadata = counters.metadata_bytes.load(Ordering::Relaxed);
    let secs = exec.as_secs_f64();
    let per_second = |n: u64| {
        if secs > 0.0 {
            (n as f64 / secs) as u64
        } else {
            0
        }
    };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_second(bytes + metadata),
            "linesProcessedPerSecond": per_second(lines),
            "totalBytesProcessed": bytes + metadata,
            "totalLinesProcessed": lines,
            "execTime": secs,
            "queueTime": 0,
            "subqueries": splits,
            "totalEntriesReturned": entries_returned(result),
            "splits": splits,
            "shards": 0,
            "totalPostFilterLines": 0,
            "totalStructuredMetadataBytesProcessed": metadata,
        },
        "querier": { "store": store(lines, bytes, metadata) },
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": store(0, 0, 0),
        },
        "cache": {
            "chunk": cache(),
            "index": cache(),
            "result": cache(),
            "statsResult": cache(),
            "volumeResult": cache(),
            "seriesResult": cache(),
            "labelResult": cache(),
            "instantMetricResult": cache(),
        },
        "index": {
            "totalChunks": 0,
            "postFilterChunks": 0,
            "shardsDuration": 0,
            "usedBloomFilters": false,
        },
    })
}
