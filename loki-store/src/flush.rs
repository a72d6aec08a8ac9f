//! Flushing: sealing chunks that are full, idle or old, uploading them,
//! writing the index segments that point at them, and checkpointing the
//! WAL down to what memory still holds; and the maintenance loop that does
//! it periodically.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;
use futures::StreamExt;
use loki_index::Labels;
use parking_lot::Mutex;

use crate::segments::SegmentMeta;
use crate::store::{FlushSummary, Store, Tenant};
use crate::stream::{SealedChunk, Stream};
use crate::wal::{CheckpointStream, CheckpointWriter, EntryRef, StreamBatch};
use crate::{Error, Result};
use loki_chunk::ChunkBuilder;

impl Store {
    /// Writes data to the object store: closes chunks that are idle or old
    /// (every open chunk when `force`), uploads closed chunks, writes the
    /// index segments for them, then checkpoints the WAL so it holds only
    /// what is still in memory. A flush that uploads nothing, with nothing
    /// logged since the last checkpoint, leaves the WAL as it is: an idle
    /// store does not rewrite it at every flush check.
    ///
    /// # Errors
    /// The first upload or WAL error; chunks that failed stay in memory and
    /// are tried again by the next flush.
    pub async fn flush(&self, force: bool) -> Result<FlushSummary> {
        self.flush_with(if force { Seal::All } else { Seal::Due })
            .await
    }

    /// Uploads chunks already closed, after closing the largest open ones
    /// if memory is over `max_memory_bytes`, without writing index
    /// segments or checkpointing: what the maintenance loop does between
    /// flush checks when closed chunks or memory pile up. Their entries
    /// stay in the WAL until the next checkpoint; the head index points at
    /// them meanwhile. For programs that run their own loop instead of
    /// [`run_maintenance`](Self::run_maintenance), with
    /// [`upload_wanted`](Self::upload_wanted).
    ///
    /// ```
    /// # use loki_store::{Store, StoreConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// assert_eq!(store.upload_closed().await?.chunks, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub async fn upload_closed(&self) -> Result<FlushSummary> {
        self.flush_with(Seal::OverBudget).await
    }

    /// Completes once pushes have closed more than `max_sealed_bytes` of
    /// chunks, or ingested enough that memory may be over
    /// `max_memory_bytes`: the moment [`run_maintenance`](Self::run_maintenance)
    /// calls [`upload_closed`](Self::upload_closed).
    ///
    /// ```
    /// # use loki_store::{Store, StoreConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let waiting = tokio::time::timeout(std::time::Duration::from_millis(10), store.upload_wanted());
    /// assert!(waiting.await.is_err(), "nothing pushed, nothing to upload");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn upload_wanted(&self) {
        self.inner.upload_soon.notified().await;
    }

    /// Closes the open chunks of the streams holding the most memory until
    /// the engine holds at most three quarters of `max_memory_bytes`, when
    /// it holds more than that limit.
    fn seal_largest(&self, tenants: &[Arc<Tenant>]) -> Result<()> {
        let Some(limit) = self.inner.config.max_memory_bytes else {
            return Ok(());
        };
        let mut streams: Vec<(usize, Arc<Mutex<Stream>>)> = Vec::new();
        for tenant in tenants {
            for stream in tenant.streams.read().values() {
                let held = stream.lock().memory_bytes();
                streams.push((held, stream.clone()));
            }
        }
        let mut total: usize = streams.iter().map(|(held, _)| held).sum();
        if total <= limit {
            return Ok(());
        }
        streams.sort_unstable_by_key(|(held, _)| std::cmp::Reverse(*held));
        for (_, stream) in streams {
            if total <= limit / 4 * 3 {
                break;
            }
            let mut s = stream.lock();
            let held = s.memory_bytes();
            s.seal_head()?;
            // Everything the stream holds is now closed, and freed by the
            // upload that follows.
            total = total.saturating_sub(held);
        }
        Ok(())
    }

    async fn flush_with(&self, seal: Seal) -> Result<FlushSummary> {
        let inner = &self.inner;
        let _one_at_a_time = inner.flushing.lock().await;
        let now = inner.config.clock.now();
        let idle = inner
            .config
            .chunk_idle_period
            .as_nanos()
            .min(i64::MAX as u128) as i64;
        let max_age = inner.max_age_ns();
        let tenants: Vec<Arc<Tenant>> = inner.tenants.read().values().cloned().collect();
        if seal != Seal::All {
            self.seal_largest(&tenants)?;
        }

        let mut sealed: Vec<Upload> = Vec::new();
        for tenant in &tenants {
            let streams: Vec<Arc<Mutex<Stream>>> =
                tenant.streams.read().values().cloned().collect();
            for stream in streams {
                let mut s = stream.lock();
                match seal {
                    Seal::All => s.seal_head()?,
                    Seal::Due => {
                        s.seal_if_due(now, idle, max_age)?;
                    }
                    Seal::OverBudget => {}
                }
                for chunk in &s.sealed {
                    sealed.push(Upload {
                        tenant: tenant.clone(),
                        stream: stream.clone(),
                        labels: s.labels.clone(),
                        chunk: chunk.clone(),
                    });
                }
            }
        }

        let mut summary = FlushSummary::default();
        let mut first_error = None;
        let uploads = futures::stream::iter(sealed.into_iter().map(|upload| async move {
            let path = inner.objects.chunk_path(&upload.chunk.key);
            let result = inner.objects.put(&path, upload.chunk.object.clone()).await;
            (upload, result)
        }))
        .buffer_unordered(inner.config.fetch_concurrency.max(1));
        let done: Vec<_> = uploads.collect().await;
        let uploaded: usize = done
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(upload, _)| upload.chunk.object.len())
            .sum();
        // Chunks closed here were never counted: saturate at zero.
        let _ = inner
            .sealed_pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(uploaded))
            });
        for (
            Upload {
                tenant,
                stream,
                labels,
                chunk,
            },
            result,
        ) in done
        {
            match result {
                Ok(()) => {
                    tenant.index.read().head.insert(&labels, chunk.chunk_ref)?;
                    stream.lock().forget_sealed(&chunk.key);
                    summary.chunks += 1;
                    summary.bytes += chunk.object.len() as u64;
                    let mut totals = inner.flushed.lock();
                    totals.chunks += 1;
                    totals.bytes += chunk.object.len() as u64;
                }
                Err(err) => {
                    tracing::warn!(key = %chunk.key, error = %err, "chunk upload failed; kept for the next flush");
                    first_error.get_or_insert(err);
                }
            }
        }

        if seal != Seal::OverBudget {
            for tenant in &tenants {
                let segments = self.write_index(tenant).await?;
                summary.segments += segments;
                inner.flushed.lock().segments += segments;
            }
            self.checkpoint(summary.chunks > 0).await?;
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(summary),
        }
    }

    /// Writes the tenant's index head out as segments, one per period.
    async fn write_index(&self, tenant: &Tenant) -> Result<usize> {
        let inner = &self.inner;
        let sealing = {
            let mut index = tenant.index.write();
            if index.head.series_count() == 0 {
                return Ok(0);
            }
            let head = std::mem::take(&mut index.head);
            index.sealing = Some(head.clone());
            head
        };
        let period_ms = inner
            .config
            .index_period
            .as_millis()
            .clamp(1, i64::MAX as u128) as i64;
        let parts = sealing.write_segments(&tenant.id, period_ms)?;
        let mut written = Vec::with_capacity(parts.len());
        for (period, bytes) in parts {
            let sequence = format!("{:020}-{:08x}", inner.config.clock.now(), fastrand_u32());
            let path = inner
                .objects
                .segment_path(&tenant.id, period.start, &sequence);
            let bytes = bytes::Bytes::from(bytes);
            inner.objects.put(&path, bytes.clone()).await?;
            written.push(Arc::new(SegmentMeta::written(
                path.clone(),
                period,
                bytes.len() as u64,
            )));
            // Just written, likely read soon.
            inner.segment_cache.insert(path, bytes);
        }
        let count = written.len();
        let mut index = tenant.index.write();
        let mut segments = (*index.segments).clone();
        segments.extend(written);
        index.segments = Arc::new(segments);
        index.sealing = None;
        Ok(count)
    }

    /// Rewrites the WAL as one checkpoint of what memory holds, and drops
    /// streams that hold nothing; unless nothing was `uploaded` and nothing
    /// logged since the last checkpoint, when the WAL on disk already
    /// holds exactly what memory does. (Sealing an open chunk without
    /// uploading it changes no entry; a push racing this check is in the
    /// log, and the next flush checkpoints it.)
    async fn checkpoint(&self, uploaded: bool) -> Result<()> {
        let inner = &self.inner;
        let Some(wal) = &inner.wal else {
            self.drop_empty_streams().await;
            return Ok(());
        };
        let logged = wal.lock().stats().bytes;
        if !uploaded && logged == inner.logged_at_checkpoint.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Under the gate, memory holds exactly what was logged before the
        // new segment: take each stream's state then (cheap: chunk bytes are
        // shared, only open heads are copied), so that nothing logged from
        // the new segment on is also in the checkpoint.
        let (segment, states) = {
            let _exclusive = inner.gate.write().await;
            let segment = {
                let wal = wal.clone();
                let (segment, logged) = tokio::task::spawn_blocking(move || {
                    let mut wal = wal.lock();
                    wal.rotate().map(|segment| (segment, wal.stats().bytes))
                })
                .await
                .map_err(|e| Error::Config(format!("WAL task failed: {e}")))??;
                // Everything logged so far is in the checkpoint begun here.
                inner.logged_at_checkpoint.store(logged, Ordering::Relaxed);
                segment
            };
            let mut states = Vec::new();
            for tenant in inner.tenants.read().values() {
                tenant.streams.write().retain(|_, s| !s.lock().is_empty());
                for stream in tenant.streams.read().values() {
                    let s = stream.lock();
                    let (closed, open) = s.checkpoint_state();
                    states.push(CheckpointState {
                        id: s.id,
                        tenant: s.tenant.clone(),
                        pairs: s.pairs.clone(),
                        closed,
                        open,
                    });
                }
            }
            (segment, states)
        };
        let wal = wal.clone();
        tokio::task::spawn_blocking(move || {
            // Written stream by stream, without holding the log: pushes go
            // on, and each stream's copy is freed once written.
            let mut checkpoint = wal.lock().begin_checkpoint(segment)?;
            for state in states {
                state.write(&mut checkpoint)?;
            }
            checkpoint.finish()
        })
        .await
        .map_err(|e| Error::Config(format!("WAL task failed: {e}")))?
    }

    async fn drop_empty_streams(&self) {
        let _exclusive = self.inner.gate.write().await;
        for tenant in self.inner.tenants.read().values() {
            tenant.streams.write().retain(|_, s| !s.lock().is_empty());
        }
    }

    /// Flushes due chunks every `flush_check_period` (and whenever the WAL
    /// has grown by `wal_checkpoint_bytes` since its last checkpoint) and
    /// runs the compactor every `compaction_interval` until `shutdown`
    /// completes, then flushes everything. In between, once closed chunks
    /// waiting for upload pass `max_sealed_bytes`, or memory may be over
    /// `max_memory_bytes`, closes the largest open chunks if needed and
    /// uploads closed ones at once. Errors are logged and retried on the
    /// next tick.
    ///
    /// ```
    /// # use loki_store::{Store, StoreConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let maintenance = tokio::spawn(store.clone().run_maintenance(async { let _ = stopped.await; }));
    /// // … serve pushes and queries …
    /// stop.send(()).unwrap();
    /// maintenance.await??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The final flush's error.
    pub async fn run_maintenance(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<FlushSummary> {
        let mut flush_tick = tokio::time::interval(self.inner.config.flush_check_period);
        // A zero interval turns the compactor off: its branch below is
        // disabled (the interval needs a non-zero period all the same).
        let compaction = self.inner.config.compaction_interval;
        let mut compact_tick = tokio::time::interval(compaction.max(Duration::from_secs(1)));
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        compact_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = flush_tick.tick() => {
                    if let Err(err) = self.flush(false).await {
                        tracing::error!(error = %err, "periodic flush failed");
                    }
                }
                () = self.inner.checkpoint_soon.notified() => {
                    // The WAL passed `wal_checkpoint_bytes`: a flush check
                    // now, which ends with a checkpoint.
                    self.inner.checkpoint_requested.store(false, Ordering::Relaxed);
                    if let Err(err) = self.flush(false).await {
                        tracing::error!(error = %err, "flush for a WAL checkpoint failed");
                    }
                }
                () = self.inner.upload_soon.notified() => {
                    if let Err(err) = self.upload_closed().await {
                        tracing::error!(error = %err, "early upload of closed chunks failed");
                    }
                }
                _ = compact_tick.tick(), if !compaction.is_zero() => {
                    if let Err(err) = self.compact().await {
                        tracing::error!(error = %err, "compaction failed");
                    }
                }
            }
        }
        self.shutdown().await
    }

    /// Flushes everything; call before dropping the engine.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub async fn shutdown(&self) -> Result<FlushSummary> {
        self.flush(true).await
    }
}

/// A stream's part of a WAL batch, owning what the batch borrows.
pub(crate) struct LoggedStream<'a> {
    pub(crate) id: u64,
    pub(crate) tenant: Arc<str>,
    pub(crate) pairs: Arc<[(String, String)]>,
    pub(crate) entries: Vec<EntryRef<'a>>,
}

impl<'a> LoggedStream<'a> {
    /// A stream's identity, copied out of its lock, with `entries`.
    pub(crate) fn new(
        stream: &Stream,
        entries: impl Iterator<Item = EntryRef<'a>>,
    ) -> LoggedStream<'a> {
        LoggedStream {
            id: stream.id,
            tenant: stream.tenant.clone(),
            pairs: stream.pairs.clone(),
            entries: entries.collect(),
        }
    }

    pub(crate) fn batch(&self) -> StreamBatch<'_> {
        StreamBatch {
            stream: self.id,
            tenant: &self.tenant,
            labels: &self.pairs,
            entries: &self.entries,
        }
    }
}

/// Structured metadata pairs, owned.
type OwnedMetadata = Vec<(ByteString, ByteString)>;

/// Which open chunks a flush closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seal {
    /// Every one.
    All,
    /// Those idle or old enough.
    Due,
    /// Only the largest, if memory is over the limit (chunks already
    /// closed are uploaded in every case).
    OverBudget,
}

/// A stream as a checkpoint takes it.
struct CheckpointState {
    id: u64,
    tenant: Arc<str>,
    pairs: Arc<[(String, String)]>,
    closed: Vec<bytes::Bytes>,
    open: Option<ChunkBuilder>,
}

impl CheckpointState {
    /// Adds the stream to the checkpoint: closed chunks and the open
    /// chunk's cut blocks as encoded bytes, its head as entries.
    fn write(self, checkpoint: &mut CheckpointWriter) -> Result<()> {
        let chunk_error = |source| Error::Chunk {
            key: self
                .pairs
                .iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect::<Vec<_>>()
                .join(","),
            source,
        };
        let mut open = self.open;
        let cut = match &mut open {
            Some(builder) if builder.stats().blocks > 0 => {
                Some(builder.encode_cut().map_err(chunk_error)?)
            }
            _ => None,
        };
        let head: Vec<(i64, &[u8], OwnedMetadata)> = open
            .as_ref()
            .map(|builder| {
                builder
                    .head_entries()
                    .map(|(timestamp, line, metadata)| {
                        let metadata = metadata
                            .into_iter()
                            .map(|(n, v)| (ByteString::from(n), ByteString::from(v)))
                            .collect();
                        (timestamp, line, metadata)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let entries: Vec<EntryRef<'_>> = head
            .iter()
            .map(|(timestamp, line, metadata)| (*timestamp, *line, metadata.as_slice()))
            .collect();
        checkpoint.add(&CheckpointStream {
            head: StreamBatch {
                stream: self.id,
                tenant: &self.tenant,
                labels: &self.pairs,
                entries: &entries,
            },
            closed: &self.closed,
            open: cut.as_deref(),
        })
    }
}

/// A sealed chunk on its way to the object store.
struct Upload {
    tenant: Arc<Tenant>,
    stream: Arc<Mutex<Stream>>,
    labels: Labels,
    chunk: Arc<SealedChunk>,
}

fn fastrand_u32() -> u32 {
    // Object names need only be unique per writer and instant.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (n as u32) ^ std::process::id().rotate_left(16)
}
