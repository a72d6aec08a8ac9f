//! The engine: tenants and their streams, the WAL, flushing to the object
//! store, and opening it all again after a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use loki_chunk::ChunkKey;
use loki_index::{HeadIndex, Labels, TimeRange};
use parking_lot::{Mutex, RwLock};

use crate::config::StoreConfig;
use crate::flush::LoggedStream;
use crate::ingest::{
    check_entry, check_labels, labels_text, too_far_behind, PushStream, PushSummary, RateLimiter,
    Refusal, RefusalKind,
};
use crate::objects::Objects;
use crate::query::ChunkCache;
use crate::retention::DeleteRequest;
use crate::segments::{SegmentCache, SegmentMeta};
use crate::stream::{PushEntry, Refusal as StreamRefusal, Stream};
use crate::tenant::validate_tenant;
use crate::wal::{Record, ReplayReport, StreamBatch, Wal};
use crate::{Error, Result};

/// A tenant's index: the head being filled, one being written out, and
/// what is known of the segments in the object store (their bytes are read
/// through the segment cache).
#[derive(Debug, Default, Clone)]
pub(crate) struct TenantIndex {
    pub(crate) head: Arc<HeadIndex>,
    pub(crate) sealing: Option<Arc<HeadIndex>>,
    pub(crate) segments: Arc<Vec<Arc<SegmentMeta>>>,
}

#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) id: Arc<str>,
    pub(crate) streams: RwLock<HashMap<Labels, Arc<Mutex<Stream>>>>,
    pub(crate) index: RwLock<TenantIndex>,
    pub(crate) deletes: RwLock<Vec<DeleteRequest>>,
    rate: Mutex<RateLimiter>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: StoreConfig,
    pub(crate) objects: Objects,
    pub(crate) wal: Option<Arc<Mutex<Wal>>>,
    /// Pushes hold it shared from logging to applying; a checkpoint takes it
    /// exclusively to mark a point where memory holds everything logged.
    pub(crate) gate: tokio::sync::RwLock<()>,
    pub(crate) tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    next_stream: AtomicU64,
    /// Flushes and compactor passes run one at a time.
    pub(crate) flushing: tokio::sync::Mutex<()>,
    /// Everything flushed since the engine opened.
    pub(crate) flushed: Mutex<FlushSummary>,
    /// Delete request updates run one at a time.
    pub(crate) deletes_lock: tokio::sync::Mutex<()>,
    pub(crate) cache: Mutex<ChunkCache>,
    /// Index segment bytes, shared by every tenant.
    pub(crate) segment_cache: SegmentCache,
    pub(crate) tail: crate::tail::TailHub,
    /// Bytes of chunks closed by pushes since the last upload (an estimate
    /// that only decides when to upload early).
    pub(crate) sealed_pending: AtomicUsize,
    /// Line bytes ingested since memory was last checked against the limit.
    pub(crate) ingested_since_check: AtomicUsize,
    /// Wakes the maintenance loop to upload closed chunks early.
    pub(crate) upload_soon: tokio::sync::Notify,
    /// [`WalStats::bytes`](crate::wal::WalStats::bytes) when the last
    /// checkpoint began: what the log held beyond it is logged since.
    pub(crate) logged_at_checkpoint: AtomicU64,
    /// Set once pushes asked for a checkpoint, until the maintenance loop
    /// takes the request.
    pub(crate) checkpoint_requested: AtomicBool,
    /// Wakes the maintenance loop to checkpoint the WAL early.
    pub(crate) checkpoint_soon: tokio::sync::Notify,
}

/// The storage engine. Cheap to clone; every clone is the same engine.
///
/// ```
/// use loki_store::{PushEntry, PushStream, Store, StoreConfig, Selector};
/// use loki_index::{Labels, Matcher, MatchOp};
/// use loki_chunk::Direction;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let store = Store::open(StoreConfig::in_memory()).await?;
/// let now = 1_700_000_000_000_000_000;
/// let labels = Labels::new([("app", "shop")])?;
/// store.push_at("tenant-a", vec![PushStream { labels, entries: vec![PushEntry::new(now, "GET /cart 200")] }], now).await?;
/// store.flush(true).await?; // to the object store, and indexed
///
/// let selector = Selector::new(vec![Matcher::new("app", MatchOp::Equal, "shop")?])?;
/// let streams = store.select("tenant-a", &selector, now, now + 1, Direction::Forward, 100).await?;
/// assert_eq!(streams[0].entries[0].line, "GET /cart 200");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushSummary {
    /// Chunks written to the object store.
    pub chunks: usize,
    /// Bytes of those chunk objects.
    pub bytes: u64,
    /// Index segments written.
    pub segments: usize,
}

impl Tenant {
    fn new(id: &str) -> Tenant {
        Tenant {
            id: Arc::from(id),
            streams: RwLock::new(HashMap::new()),
            index: RwLock::new(TenantIndex::default()),
            deletes: RwLock::new(Vec::new()),
            rate: Mutex::new(RateLimiter::new()),
        }
    }
}

impl Inner {
    pub(crate) fn tenant_for_delete(&self, id: &str) -> Arc<Tenant> {
        self.tenant(id)
    }

    fn tenant(&self, id: &str) -> Arc<Tenant> {
        if let Some(t) = self.tenants.read().get(id) {
            return t.clone();
        }
        self.tenants
            .write()
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Tenant::new(id)))
            .clone()
    }

    /// Appends logged entries to their streams' open chunks (after telling
    /// tail subscribers); returns the bytes of chunks that closed.
    fn apply(
        &self,
        tenant_id: &str,
        work: Vec<(Arc<Mutex<Stream>>, Vec<PushEntry>)>,
    ) -> Result<usize> {
        self.tail.publish(tenant_id, &work);
        let max_age = self.max_age_ns();
        let wall = self.config.clock.now();
        let mut sealed = 0;
        for (stream, entries) in work {
            let mut s = stream.lock();
            for e in entries {
                sealed += s.append(
                    e.timestamp,
                    e.line.as_bytes(),
                    &e.metadata,
                    wall,
                    &self.config.chunk,
                    max_age,
                )?;
            }
        }
        Ok(sealed)
    }

    pub(crate) fn max_age_ns(&self) -> i64 {
        self.config.max_chunk_age.as_nanos().min(i64::MAX as u128) as i64
    }

    /// Applies a replayed record; streams are found by WAL reference.
    fn replay(&self, record: Record, by_ref: &mut HashMap<u64, Arc<Mutex<Stream>>>) -> Result<()> {
        match record {
            Record::Series {
                stream,
                tenant,
                labels,
            } => {
                self.next_stream.fetch_max(stream + 1, Ordering::Relaxed);
                let labels = Labels::new(labels)?;
                let tenant = self.tenant(&tenant);
                let existing = tenant
                    .streams
                    .write()
                    .entry(labels.clone())
                    .or_insert_with(|| {
                        Arc::new(Mutex::new(Stream::new(stream, tenant.id.clone(), labels)))
                    })
                    .clone();
                by_ref.insert(stream, existing);
            }
            Record::Entries { stream, entries } => {
                let Some(target) = by_ref.get(&stream) else {
                    return Err(Error::WalRecord(
                        "entries for a stream with no series record",
                    ));
                };
                let now = self.config.clock.now();
                let mut s = target.lock();
                for e in entries {
                    s.append(
                        e.timestamp,
                        &e.line,
                        &e.metadata,
                        now,
                        &self.config.chunk,
                        self.max_age_ns(),
                    )?;
                }
            }
            Record::Chunk {
                stream,
                open,
                chunk,
            } => {
                let Some(target) = by_ref.get(&stream) else {
                    return Err(Error::WalRecord(
                        "a chunk for a stream with no series record",
                    ));
                };
                let mut s = target.lock();
                if open {
                    s.restore_open(chunk, self.config.clock.now(), &self.config.chunk)?;
                } else {
                    s.restore_closed(chunk)?;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Opens the engine: the object store (listing its index segments, not
    /// reading them), and the WAL, replaying what it holds.
    ///
    /// # Errors
    /// An unusable configuration, I/O errors, or a WAL record that replays
    /// into invalid labels.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        Ok(Store::open_with_report(config).await?.0)
    }

    /// [`open`](Self::open), also returning what WAL replay found.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with_report(config: StoreConfig) -> Result<(Store, ReplayReport)> {
        // Chunk options the writer refuses are refused here, not at the
        // first push.
        loki_chunk::ChunkBuilder::with_options(config.chunk)
            .map_err(|e| Error::Config(format!("chunk options: {e}")))?;
        let objects = Objects::open(
            &config.storage_url,
            &config.storage_options,
            config.object_store.as_ref(),
        )?
        .with_segment_owner(config.segment_owner.as_deref())?;
        let cache = Mutex::new(ChunkCache::new(
            config.chunk_cache_bytes,
            config.decompressed_cache_bytes,
        ));
        let segment_cache_bytes = config.segment_cache_bytes;
        let wal_dir = config.wal_dir.clone();
        let wal_options = config.wal;
        let inner = Arc::new(Inner {
            config,
            objects,
            wal: None,
            gate: tokio::sync::RwLock::new(()),
            tenants: RwLock::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
            flushing: tokio::sync::Mutex::new(()),
            flushed: Mutex::new(FlushSummary::default()),
            deletes_lock: tokio::sync::Mutex::new(()),
            cache,
            segment_cache: SegmentCache::new(segment_cache_bytes),
            tail: Default::default(),
            sealed_pending: AtomicUsize::new(0),
            ingested_since_check: AtomicUsize::new(0),
            upload_soon: tokio::sync::Notify::new(),
            logged_at_checkpoint: AtomicU64::new(0),
            checkpoint_requested: AtomicBool::new(false),
            checkpoint_soon: tokio::sync::Notify::new(),
        });
        load_segments(&inner).await?;
        load_deletes(&inner).await?;
        let mut report = ReplayReport::default();
        let wal = match wal_dir {
            Some(dir) => {
                let replaying = inner.clone();
                let (wal, replayed) = tokio::task::spawn_blocking(move || {
                    let mut by_ref = HashMap::new();
                    Wal::open(&dir, wal_options, |record| {
                        replaying.replay(record, &mut by_ref)
                    })
                })
                .await
                .map_err(|e| Error::Config(format!("WAL replay task failed: {e}")))??;
                report = replayed;
                for damage in &report.damage {
                    tracing::warn!(segment = %damage.segment.display(), offset = damage.offset, reason = damage.reason, truncated = damage.truncated, "WAL damage found on replay");
                }
                Some(Arc::new(Mutex::new(wal)))
            }
            None => None,
        };
        let mut inner = Arc::into_inner(inner)
            .ok_or_else(|| Error::Config("engine still shared after replay".into()))?;
        inner.wal = wal;
        Ok((
            Store {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// Pushes streams for `tenant`, now.
    ///
    /// # Errors
    /// [`Error::InvalidTenant`], [`Error::RateLimited`] (nothing stored), or
    /// a WAL or chunk error (the push must be treated as failed).
    pub async fn push(&self, tenant: &str, streams: Vec<PushStream>) -> Result<PushSummary> {
        let now = self.inner.config.clock.now();
        self.push_at(tenant, streams, now).await
    }

    /// Pushes as if the time were `now` (Unix ns): the reference point for
    /// the age limits and rate limiting.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub async fn push_at(
        &self,
        tenant_id: &str,
        streams: Vec<PushStream>,
        now: i64,
    ) -> Result<PushSummary> {
        validate_tenant(tenant_id)?;
        let inner = &self.inner;
        let limits = inner.config.limits_for(tenant_id);
        let bytes: usize = streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum();
        let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
        let tenant = inner.tenant(tenant_id);
        if !tenant.rate.lock().try_take(
            bytes,
            limits.ingestion_rate_bytes,
            limits.ingestion_burst_bytes,
            now,
        ) {
            return Err(Error::RateLimited {
                tenant: tenant_id.to_owned(),
                limit_bytes_per_second: limits.ingestion_rate_bytes as u64,
                lines,
                bytes,
            });
        }

        let _gate = inner.gate.read().await;
        let mut summary = PushSummary::default();
        let window = inner.max_age_ns() / 2;
        // Decide what each stream accepts.
        let mut work: Vec<(Arc<Mutex<Stream>>, Vec<PushEntry>)> = Vec::new();
        for PushStream { labels, entries } in streams {
            if let Some(message) = check_labels(&labels, limits) {
                summary.refusals.push(Refusal {
                    kind: RefusalKind::InvalidLabels,
                    entries: entries.len(),
                    message,
                });
                continue;
            }
            // Usually every entry passes: then the push's own vector is
            // kept, not rebuilt.
            let valid = if entries
                .iter()
                .all(|e| check_entry(e, &labels, limits, now).is_none())
            {
                entries
            } else {
                let mut valid = Vec::with_capacity(entries.len());
                for entry in entries {
                    match check_entry(&entry, &labels, limits, now) {
                        Some((kind, message)) => push_refusal(&mut summary, kind, message),
                        None => valid.push(entry),
                    }
                }
                valid
            };
            if valid.is_empty() {
                continue;
            }
            let Some(stream) = self.stream_for(&tenant, &labels, limits.max_streams_per_tenant)
            else {
                let message = format!(
                    "Maximum active stream limit exceeded, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant_id}'"
                );
                summary.refusals.push(Refusal {
                    kind: RefusalKind::StreamLimit,
                    entries: valid.len(),
                    message,
                });
                continue;
            };
            let (accepted, duplicates, refused) = stream.lock().admit(&valid, window);
            summary.duplicates += duplicates;
            for (i, StreamRefusal::TooFarBehind { oldest_acceptable }) in refused {
                push_refusal(
                    &mut summary,
                    RefusalKind::OutOfOrder,
                    too_far_behind(&valid[i], &labels, oldest_acceptable),
                );
            }
            if accepted.len() == valid.len() {
                work.push((stream, valid));
            } else {
                let mut keep = accepted.into_iter().peekable();
                let kept = valid
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| keep.next_if_eq(i).is_some())
                    .map(|(_, e)| e)
                    .collect();
                work.push((stream, kept));
            }
        }
        work.retain(|(_, entries)| !entries.is_empty());
        summary.accepted = work.iter().map(|(_, e)| e.len()).sum();
        if work.is_empty() {
            return Ok(summary);
        }

        // Log, then apply: an acknowledged entry is on disk before it is
        // in memory.
        if let Some(wal) = &inner.wal {
            let wal = wal.clone();
            let (logged_work, logged) = run_blocking(move || {
                let described: Vec<LoggedStream> = work
                    .iter()
                    .map(|(s, entries)| {
                        let entries = entries
                            .iter()
                            .map(|e| (e.timestamp, &e.line.as_bytes()[..], e.metadata.as_slice()));
                        LoggedStream::new(&s.lock(), entries)
                    })
                    .collect();
                let batch: Vec<StreamBatch<'_>> =
                    described.iter().map(LoggedStream::batch).collect();
                // Written under the log's lock, synced outside it: pushes
                // arriving while an fsync is in flight share the next one.
                let (commit, logged) = {
                    let mut wal = wal.lock();
                    let commit = wal.write(&batch);
                    (commit, wal.stats().bytes)
                };
                drop(batch);
                commit?.wait().map(|()| (work, logged))
            })
            .await?;
            work = logged_work;
            if let Some(limit) = inner.config.wal_checkpoint_bytes {
                let since =
                    logged.saturating_sub(inner.logged_at_checkpoint.load(Ordering::Relaxed));
                if since > limit && !inner.checkpoint_requested.swap(true, Ordering::Relaxed) {
                    inner.checkpoint_soon.notify_one();
                }
            }
        }
        let sealed = inner.apply(tenant_id, work)?;
        let mut wake = false;
        if sealed > 0 {
            let pending = inner.sealed_pending.fetch_add(sealed, Ordering::Relaxed) + sealed;
            wake |= pending > inner.config.max_sealed_bytes;
        }
        if let Some(limit) = inner.config.max_memory_bytes {
            let since = inner
                .ingested_since_check
                .fetch_add(bytes, Ordering::Relaxed)
                + bytes;
            if since > limit / 8 {
                inner.ingested_since_check.store(0, Ordering::Relaxed);
                wake = true;
            }
        }
        if wake {
            inner.upload_soon.notify_one();
        }
        Ok(summary)
    }

    /// The stream with these labels, created if the tenant may have more.
    fn stream_for(
        &self,
        tenant: &Tenant,
        labels: &Labels,
        max_streams: usize,
    ) -> Option<Arc<Mutex<Stream>>> {
        if let Some(s) = tenant.streams.read().get(labels) {
            return Some(s.clone());
        }
        let mut streams = tenant.streams.write();
        if let Some(s) = streams.get(labels) {
            return Some(s.clone());
        }
        if max_streams > 0 && streams.len() >= max_streams {
            return None;
        }
        let id = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(Mutex::new(Stream::new(
            id,
            tenant.id.clone(),
            labels.clone(),
        )));
        streams.insert(labels.clone(), stream.clone());
        Some(stream)
    }

    /// Everything flushed since the engine opened: chunks and their
    /// bytes, and index segments, by every flush, early upload and the
    /// maintenance loop alike (what a server exports as counters).
    ///
    /// ```
    /// # use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let labels = loki_index::Labels::new([("app", "shop")])?;
    /// let stream = PushStream { labels, entries: vec![PushEntry::new(1, "hello")] };
    /// store.push_at("tenant-a", vec![stream], 1).await?;
    /// store.flush(true).await?;
    /// assert_eq!(store.flushed_totals().chunks, 1);
    /// assert_eq!(store.flushed_totals().segments, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flushed_totals(&self) -> FlushSummary {
        *self.inner.flushed.lock()
    }

    /// Bytes of log data held in memory (open and sealed chunks).
    pub fn memory_bytes(&self) -> usize {
        let tenants: Vec<Arc<Tenant>> = self.inner.tenants.read().values().cloned().collect();
        tenants
            .iter()
            .flat_map(|t| t.streams.read().values().cloned().collect::<Vec<_>>())
            .map(|s| s.lock().memory_bytes())
            .sum()
    }

    /// Streams held in memory, per tenant.
    pub fn active_streams(&self, tenant: &str) -> usize {
        self.inner
            .tenants
            .read()
            .get(tenant)
            .map_or(0, |t| t.streams.read().len())
    }

    /// The WAL's append and fsync counters since the engine opened (`None`
    /// without a WAL). Under concurrent pushes, fsyncs fall below appends:
    /// pushes share them.
    ///
    /// ```
    /// # use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// # use loki_index::Labels;
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::filesystem(dir.path())).await?;
    /// let now = 1_700_000_000_000_000_000;
    /// let labels = Labels::new([("app", "shop")])?;
    /// store.push_at("t", vec![PushStream { labels, entries: vec![PushEntry::new(now, "x")] }], now).await?;
    /// assert_eq!(store.wal_stats().unwrap().appends, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wal_stats(&self) -> Option<crate::wal::WalStats> {
        self.inner.wal.as_ref().map(|wal| wal.lock().stats())
    }

    /// Bytes the WAL takes on disk (0 without a WAL).
    ///
    /// # Errors
    /// I/O errors.
    pub fn wal_bytes(&self) -> Result<u64> {
        match &self.inner.wal {
            Some(wal) => wal.lock().disk_size(),
            None => Ok(0),
        }
    }
}

/// Runs a push's blocking part (logging its batch and waiting for the
/// fsync) for the async caller.
///
/// Called from a future that a multi-threaded runtime's `block_on` drives
/// (the body of `#[tokio::main]`, say) rather than from a spawned task, it
/// runs right here, under [`block_in_place`](tokio::task::block_in_place),
/// which on such a thread has no worker to hand over. This thread would
/// only wait for the blocking pool anyway, and that wait (sleeping through
/// the fsync on one thread, waking on another) cost about a tenth of
/// ingest's CPU over six alternating pairs of in-process runs (the store
/// benchmark's medians, noisier, differ by less). Everywhere else the job
/// goes to the blocking pool: a current-thread runtime's one thread must
/// not block, and a worker of a multi-threaded runtime would have to hand
/// its core to another thread for every push (measured with the example
/// server: more CPU per GB and more memory, as the pushes then move from
/// thread to thread).
async fn run_blocking<R, F>(job: F) -> Result<R>
where
    F: FnOnce() -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_threaded = Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_threaded && tokio::task::try_id().is_none() {
        tokio::task::block_in_place(job)
    } else {
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::Config(format!("WAL task failed: {e}")))?
    }
}

fn push_refusal(summary: &mut PushSummary, kind: RefusalKind, message: String) {
    match summary.refusals.iter_mut().find(|r| r.kind == kind) {
        Some(existing) => existing.entries += 1,
        None => summary.refusals.push(Refusal {
            kind,
            entries: 1,
            message,
        }),
    }
}

/// Loads every tenant's delete requests.
async fn load_deletes(inner: &Inner) -> Result<()> {
    for path in inner
        .objects
        .list(&inner.objects.plain_path("deletes"))
        .await?
    {
        let Some(tenant_id) = path
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .map(|f| f.to_owned())
        else {
            continue;
        };
        if validate_tenant(&tenant_id).is_err() {
            continue;
        }
        let Some(bytes) = inner.objects.get(&path).await? else {
            continue;
        };
        let requests: Vec<DeleteRequest> =
            serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                what: "delete requests",
                detail: format!("{path}: {e}"),
            })?;
        *inner.tenant(&tenant_id).deletes.write() = requests;
    }
    Ok(())
}

/// Lists every index segment in the object store. Only what the listing
/// tells (path, period start, size) is kept; segments are read on demand.
async fn load_segments(inner: &Inner) -> Result<()> {
    for (tenant_id, period_start, path, size) in inner.objects.list_segments().await? {
        if validate_tenant(&tenant_id).is_err() {
            continue;
        }
        let tenant = inner.tenant(&tenant_id);
        let mut index = tenant.index.write();
        let mut segments = (*index.segments).clone();
        segments.push(Arc::new(SegmentMeta::new(path, period_start, size)));
        index.segments = Arc::new(segments);
    }
    Ok(())
}

/// The key of a chunk ref of a stream.
pub(crate) fn chunk_key(tenant: &str, fingerprint: u64, chunk: &loki_index::ChunkRef) -> ChunkKey {
    ChunkKey {
        tenant: tenant.to_owned(),
        fingerprint,
        from_ms: chunk.from,
        through_ms: chunk.through,
        checksum: chunk.checksum,
    }
}

/// The inclusive millisecond range covering `[from, through)` nanoseconds.
pub(crate) fn ms_range(from: i64, through: i64) -> TimeRange {
    TimeRange::new(
        from.div_euclid(1_000_000),
        (through - 1).div_euclid(1_000_000),
    )
}

/// For messages about a stream.
pub(crate) fn describe(labels: &Labels) -> String {
    labels_text(labels)
}

#[cfg(test)]
mod tests {
    use super::run_blocking;
    use std::thread::{self, ThreadId};

    fn thread_of_job() -> impl FnOnce() -> crate::Result<ThreadId> + Send + 'static {
        || Ok(thread::current().id())
    }

    #[test]
    fn the_blocking_part_runs_in_place_only_under_a_multi_threaded_block_on() {
        let caller = thread::current().id();
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let ran_on = multi.block_on(run_blocking(thread_of_job())).unwrap();
        assert_eq!(ran_on, caller, "block_on's own thread runs it");

        let (worker, ran_on) = multi
            .block_on(multi.spawn(async {
                let worker = thread::current().id();
                (worker, run_blocking(thread_of_job()).await.unwrap())
            }))
            .unwrap();
        assert_ne!(ran_on, worker, "a worker keeps its core; the pool runs it");

        let single = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ran_on = single.block_on(run_blocking(thread_of_job())).unwrap();
        assert_ne!(ran_on, caller, "a current-thread runtime is never blocked");
    }
}
