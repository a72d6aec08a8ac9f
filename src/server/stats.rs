//! The `stats` object of query responses, with Loki's key names: what this
//! server measures (lines and bytes read from storage, execution time,
//! entries returned, splits) and zeros for what it has no counterpart of.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use loki_logql::{
    EntryBatch, QueryResult, SampleBatch, SampleRequest, SelectRequest, Storage, StorageError,
};
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

impl Counters {
    fn add(&self, lines: usize, bytes: u64, metadata: &[Vec<(String, String)>]) {
        self.lines.fetch_add(lines as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let metadata: usize = metadata
            .iter()
            .flatten()
            .map(|(n, v)| n.len() + v.len())
            .sum();
        self.metadata_bytes
            .fetch_add(metadata as u64, Ordering::Relaxed);
    }
}

/// Both reads are forwarded as they are: a metric query keeps the inner
/// storage's sample pushdown (samples read without building entries).
impl<S: Storage> Storage for Counted<S> {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let counters = self.counters.clone();
        self.inner
            .select(req)
            .inspect(move |batch| {
                if let Ok(batch) = batch {
                    counters.add(
                        batch.len(),
                        batch.line_data.len() as u64,
                        &batch.structured_metadata,
                    );
                }
            })
            .boxed()
    }

    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        let counters = self.counters.clone();
        self.inner
            .select_samples(req)
            .inspect(move |batch| {
                if let Ok(batch) = batch {
                    // Every line read counts, as Loki's decompressed bytes:
                    // those the pushed-down filters dropped too.
                    counters.add(batch.len(), batch.scanned_bytes, &batch.structured_metadata);
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

#[cfg(test)]
mod tests {
    use super::*;
    use loki_logql::LabelSet;

    /// Answers sample reads only: reading samples through entries fails.
    #[derive(Debug)]
    struct SamplesOnly;

    impl Storage for SamplesOnly {
        fn select(
            &self,
            _: &SelectRequest,
        ) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
            futures_util::stream::iter([Err(StorageError {
                message: "entries read for a metric query".into(),
                retryable: false,
            })])
            .boxed()
        }

        fn select_samples(
            &self,
            _: &SampleRequest,
        ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
            let mut batch = SampleBatch::new(Arc::new(LabelSet::default()));
            batch.push(1, Some(5), vec![("trace".into(), "ab".into())]);
            batch.push(2, Some(7), Vec::new());
            batch.scanned_bytes = 30;
            futures_util::stream::iter([Ok(batch)]).boxed()
        }
    }

    #[test]
    fn sample_reads_keep_the_pushdown_and_are_counted() {
        let counted = Counted::new(SamplesOnly);
        let req = SampleRequest::new(Vec::new(), 0, 10).with_bytes(true);
        let batches: Vec<_> = futures::executor::block_on(counted.select_samples(&req).collect());
        let batch = batches[0].as_ref().expect("samples read as samples");
        assert_eq!(batch.timestamps, [1, 2]);
        let counters = &counted.counters;
        assert_eq!(counters.lines.load(Ordering::Relaxed), 2);
        assert_eq!(counters.bytes.load(Ordering::Relaxed), 30);
        assert_eq!(counters.metadata_bytes.load(Ordering::Relaxed), 7);
    }
}
