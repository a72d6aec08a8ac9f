//! The segment cache: what is known of each index segment (path, period,
//! size) stays resident; segment bytes are loaded from the object store on
//! demand into one least-recently-used cache with a byte budget, shared by
//! every tenant. Queries, label APIs, stats and the compactor all read
//! segments through it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use loki_index::{HeadIndex, Segment, TimeRange};
use object_store::path::Path;
use parking_lot::Mutex;

use crate::objects::Objects;
use crate::store::{Store, Tenant};
use crate::{Error, Result};

/// An index segment as the engine keeps it resident: where it is, not what
/// it holds.
#[derive(Debug)]
pub(crate) struct SegmentMeta {
    /// Where the segment is stored.
    pub(crate) path: Path,
    /// Its period's start (ms), from the path.
    pub(crate) period_start: i64,
    /// Its size in bytes when listed or written; a different size read
    /// back means the object was replaced or cut short.
    pub(crate) size: u64,
    /// Its period, once the segment has been read (or when it was written).
    period: OnceLock<TimeRange>,
}

impl SegmentMeta {
    pub(crate) fn new(path: Path, period_start: i64, size: u64) -> SegmentMeta {
        SegmentMeta {
            path,
            period_start,
            size,
            period: OnceLock::new(),
        }
    }

    /// A segment just written: its period is known.
    pub(crate) fn written(path: Path, period: TimeRange, size: u64) -> SegmentMeta {
        let meta = SegmentMeta::new(path, period.start, size);
        let _ = meta.period.set(period);
        meta
    }

    /// Whether the segment can hold chunks overlapping `range` (ms,
    /// inclusive): chunks are indexed in every period they overlap, so a
    /// segment whose period misses the range holds none of them.
    fn may_overlap(&self, range: TimeRange) -> bool {
        if self.period_start > range.end {
            return false;
        }
        self.period.get().is_none_or(|p| p.end >= range.start)
    }
}

/// What the segment cache holds and has done since the engine opened.
///
/// ```
/// use loki_store::{Store, StoreConfig};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let mut config = StoreConfig::in_memory();
/// config.segment_cache_bytes = 64 << 20;
/// let store = Store::open(config).await?;
/// let stats = store.segment_cache_stats();
/// assert_eq!((stats.budget, stats.bytes, stats.segments), (64 << 20, 0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentCacheStats {
    /// The byte budget.
    pub budget: usize,
    /// Bytes of segments held now (never above the budget).
    pub bytes: usize,
    /// Segments held now.
    pub segments: usize,
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that loaded the segment from the object store.
    pub misses: u64,
    /// Segments evicted to stay within the budget.
    pub evictions: u64,
}

#[derive(Debug)]
struct Lru {
    entries: lru::LruCache<Path, Bytes>,
    bytes: usize,
}

/// Segment bytes by path, least recently used evicted past the budget.
#[derive(Debug)]
pub(crate) struct SegmentCache {
    lru: Mutex<Lru>,
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl SegmentCache {
    pub(crate) fn new(budget: usize) -> SegmentCache {
        SegmentCache {
            lru: Mutex::new(Lru {
                entries: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            budget,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> SegmentCacheStats {
        let lru = self.lru.lock();
        SegmentCacheStats {
            budget: self.budget,
            bytes: lru.bytes,
            segments: lru.entries.len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Holds `bytes` for `path`, evicting the least recently used past the
    /// budget; a segment larger than the whole budget is not held.
    pub(crate) fn insert(&self, path: Path, bytes: Bytes) {
        if bytes.len() > self.budget {
            return;
        }
        let mut lru = self.lru.lock();
        lru.bytes += bytes.len();
        if let Some(old) = lru.entries.put(path, bytes) {
            lru.bytes -= old.len();
        }
        while lru.bytes > self.budget {
            match lru.entries.pop_lru() {
                Some((_, old)) => {
                    lru.bytes -= old.len();
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }

    /// Forgets a segment that was deleted.
    pub(crate) fn remove(&self, path: &Path) {
        let mut lru = self.lru.lock();
        if let Some(old) = lru.entries.pop(path) {
            lru.bytes -= old.len();
        }
    }

    /// The segment at `meta.path`, from the cache or the object store.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (`what: "index segment"`) for a segment that does
    /// not open or has vanished; object store errors.
    pub(crate) async fn load(&self, objects: &Objects, meta: &SegmentMeta) -> Result<Segment> {
        let cached = self.lru.lock().entries.get(&meta.path).cloned();
        let (bytes, loaded) = match cached {
            Some(bytes) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                (bytes, false)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let bytes = objects
                    .get(&meta.path)
                    .await?
                    .ok_or_else(|| Error::Corrupt {
                        what: "index segment",
                        detail: format!("{}: listed but not in the object store", meta.path),
                    })?;
                if bytes.len() as u64 != meta.size {
                    return Err(Error::Corrupt {
                        what: "index segment",
                        detail: format!(
                            "{}: {} bytes, {} when listed",
                            meta.path,
                            bytes.len(),
                            meta.size
                        ),
                    });
                }
                (bytes, true)
            }
        };
        let segment = Segment::open(bytes.clone()).map_err(|e| {
            tracing::error!(path = %meta.path, error = %e, "index segment does not open");
            Error::Corrupt {
                what: "index segment",
                detail: format!("{}: {e}", meta.path),
            }
        })?;
        let _ = meta.period.set(segment.period());
        if loaded {
            self.insert(meta.path.clone(), bytes);
        }
        Ok(segment)
    }
}

/// A tenant's index for one read: the heads, and the segments that may
/// hold data of the range read, loaded.
#[derive(Debug)]
pub(crate) struct IndexView {
    pub(crate) head: Arc<HeadIndex>,
    pub(crate) sealing: Option<Arc<HeadIndex>>,
    pub(crate) segments: Vec<Segment>,
}

impl Store {
    /// The tenant's index for reading `range` (ms, inclusive), its segments
    /// loaded through the segment cache.
    ///
    /// # Errors
    /// A segment that does not load (see [`SegmentCache::load`]).
    pub(crate) async fn index_view(&self, tenant: &Tenant, range: TimeRange) -> Result<IndexView> {
        let index = tenant.index.read().clone();
        let mut segments = Vec::new();
        for meta in index.segments.iter().filter(|m| m.may_overlap(range)) {
            segments.push(
                self.inner
                    .segment_cache
                    .load(&self.inner.objects, meta)
                    .await?,
            );
        }
        Ok(IndexView {
            head: index.head,
            sealing: index.sealing,
            segments,
        })
    }

    /// The index segments in the object store that `keep` accepts, per
    /// tenant (valid tenant IDs only), with every tenant the engine knows
    /// present, if only with none listed.
    ///
    /// # Errors
    /// Object store errors of the listing.
    pub(crate) async fn listed_segments(
        &self,
        keep: impl Fn(&Path) -> bool,
    ) -> Result<std::collections::HashMap<String, Vec<(i64, Path, u64)>>> {
        let mut by_tenant: std::collections::HashMap<String, Vec<(i64, Path, u64)>> =
            std::collections::HashMap::new();
        for (tenant, start, path, size) in self.inner.objects.list_segments().await? {
            if crate::validate_tenant(&tenant).is_ok() && keep(&path) {
                by_tenant
                    .entry(tenant)
                    .or_default()
                    .push((start, path, size));
            }
        }
        let known: Vec<String> = self.inner.tenants.read().keys().cloned().collect();
        for tenant in known {
            by_tenant.entry(tenant).or_default();
        }
        Ok(by_tenant)
    }

    /// What the index segment cache holds, and its hits, misses and
    /// evictions so far.
    ///
    /// ```
    /// # use loki_store::{Store, StoreConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// assert!(store.segment_cache_stats().bytes <= store.segment_cache_stats().budget);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn segment_cache_stats(&self) -> SegmentCacheStats {
        self.inner.segment_cache.stats()
    }

    /// Lists the object store's index segments again: adopts segments
    /// other writers sharing the store wrote since this engine opened (or
    /// last refreshed) and forgets those no longer listed. Returns how
    /// many were adopted. A reader of a store that ingesters write (a
    /// querier) calls it before reading.
    ///
    /// ```
    /// use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// use loki_index::Labels;
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let shared: std::sync::Arc<dyn object_store::ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let open = || { let mut c = StoreConfig::in_memory(); c.object_store = Some(shared.clone()); Store::open(c) };
    /// let (writer, reader) = (open().await?, open().await?);
    /// let now = 1_700_000_000_000_000_000;
    /// let labels = Labels::new([("app", "shop")])?;
    /// writer.push_at("t", vec![PushStream { labels, entries: vec![PushEntry::new(now, "x")] }], now).await?;
    /// writer.flush(true).await?;
    /// assert_eq!(reader.refresh_segments().await?, 1);
    /// assert_eq!(reader.refresh_segments().await?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Object store errors of the listing.
    pub async fn refresh_segments(&self) -> Result<usize> {
        let by_tenant = self.listed_segments(|_| true).await?;
        let mut adopted = 0;
        for (tenant_id, listed) in by_tenant {
            let tenant = self.inner.tenant_for_delete(&tenant_id);
            let mut index = tenant.index.write();
            let mut kept: Vec<Arc<SegmentMeta>> = index
                .segments
                .iter()
                .filter(|m| listed.iter().any(|(_, p, _)| *p == m.path))
                .cloned()
                .collect();
            for (start, path, size) in listed {
                if !kept.iter().any(|m| m.path == path) {
                    kept.push(Arc::new(SegmentMeta::new(path, start, size)));
                    adopted += 1;
                }
            }
            if kept.len() != index.segments.len() || adopted > 0 {
                index.segments = Arc::new(kept);
            }
        }
        Ok(adopted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_stays_within_its_budget_evicting_the_least_recent() {
        let cache = SegmentCache::new(100);
        cache.insert(Path::from("a"), Bytes::from(vec![0; 40]));
        cache.insert(Path::from("b"), Bytes::from(vec![0; 40]));
        assert!(cache.lru.lock().entries.get(&Path::from("a")).is_some());
        cache.insert(Path::from("c"), Bytes::from(vec![0; 40]));
        let stats = cache.stats();
        assert_eq!((stats.bytes, stats.segments, stats.evictions), (80, 2, 1));
        assert!(
            cache.lru.lock().entries.peek(&Path::from("b")).is_none(),
            "b was least recently used"
        );
        cache.insert(Path::from("huge"), Bytes::from(vec![0; 101]));
        assert_eq!(cache.stats().bytes, 80, "larger than the budget: not held");
        cache.remove(&Path::from("a"));
        assert_eq!(cache.stats().bytes, 40);
    }

    #[test]
    fn period_filter_is_conservative_until_the_period_is_known() {
        let meta = SegmentMeta::new(Path::from("x"), 1_000, 10);
        assert!(meta.may_overlap(TimeRange::new(0, 1_000)));
        assert!(!meta.may_overlap(TimeRange::new(0, 999)));
        assert!(
            meta.may_overlap(TimeRange::new(5_000, 6_000)),
            "end unknown"
        );
        let _ = meta.period.set(TimeRange::new(1_000, 1_999));
        assert!(!meta.may_overlap(TimeRange::new(5_000, 6_000)));
        assert!(meta.may_overlap(TimeRange::new(1_999, 6_000)));
    }

    #[tokio::test]
    async fn replicas_flushing_to_one_store_keep_their_segments_and_read_once() {
        use crate::{PushEntry, PushStream, StoreConfig};
        let shared: Arc<dyn object_store::ObjectStore> =
            Arc::new(object_store::memory::InMemory::new());
        let open = |owner: Option<&str>| {
            let mut config = StoreConfig::in_memory();
            config.object_store = Some(shared.clone());
            config.segment_owner = owner.map(str::to_owned);
            Store::open(config)
        };
        let now = 1_700_000_000_000_000_000;
        let labels = loki_index::Labels::new([("app", "shop")]).unwrap();
        let entries: Vec<PushEntry> = (0..10)
            .map(|i| PushEntry::new(now + i, format!("line {i}")))
            .collect();
        let reader = open(None).await.unwrap();
        for owner in ["ingester-a", "ingester-b"] {
            let writer = open(Some(owner)).await.unwrap();
            let stream = PushStream {
                labels: labels.clone(),
                entries: entries.clone(),
            };
            writer.push_at("t", vec![stream], now).await.unwrap();
            writer.flush(true).await.unwrap();
        }
        let paths: Vec<String> = reader
            .inner
            .objects
            .list_segments()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, p, _)| p.to_string())
            .collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(
            paths.iter().any(|p| p.contains("/ingester-a.")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.contains("/ingester-b.")),
            "{paths:?}"
        );
        assert_eq!(reader.refresh_segments().await.unwrap(), 2);
        let selector = loki_index::Selector::new(vec![loki_index::Matcher::new(
            "app",
            loki_index::MatchOp::Equal,
            "shop",
        )
        .unwrap()])
        .unwrap();
        let got = reader
            .select(
                "t",
                &selector,
                now,
                now + 100,
                loki_chunk::Direction::Forward,
                1000,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        let lines: Vec<&str> = got[0].entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(
            lines.len(),
            10,
            "identical chunks of two replicas read once: {lines:?}"
        );
    }
}
