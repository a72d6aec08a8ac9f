//! The read path: find a selector's streams in memory and in the index,
//! fetch their chunks (through a byte-budgeted cache), and read entries in
//! time order, deduplicated.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use loki_chunk::{Chunk, ChunkKey, ChunkObject, Direction};
use loki_index::{Labels, Querier, Selector};
use parking_lot::Mutex;

use crate::retention::{is_deleted, DeleteStatus, Deletions};
use crate::segments::IndexView;
use crate::store::{chunk_key, describe, ms_range, Store, Tenant};
use crate::stream::Stream;
use crate::{Error, Result};

/// A stored line as text: borrowed when it is valid UTF-8 (checked with
/// the standard library's fast validation), else with each invalid
/// sequence replaced by U+FFFD, as every read returns lines.
pub(crate) fn line_text(line: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// One returned entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The log line (invalid UTF-8 replaced).
    pub line: String,
    /// Structured metadata pairs.
    pub metadata: Vec<(String, String)>,
}

/// A stream's entries in a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntries {
    /// The stream's labels.
    pub labels: Labels,
    /// Its entries, in the requested direction.
    pub entries: Vec<QueryEntry>,
}

/// Where a stored chunk goes among a stream's chunks: `(from, through,
/// checksum)` of its key.
type ChunkOrder = (i64, i64, u32);

/// Chunks read from the object store, by key, within one byte budget:
/// as stored (compressed), least recently used out first, and, in a part
/// of the budget, those read again kept decompressed
/// ([`DecompressedCache`]). A chunk is in one part or the other, so its
/// encoded bytes (which both forms hold) count once.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    entries: lru::LruCache<ChunkKey, Chunk>,
    bytes: usize,
    budget: usize,
    decompressed: DecompressedCache,
}

impl ChunkCache {
    /// A cache of `budget` bytes, at most `decompressed_budget` of them
    /// for chunks kept decompressed.
    pub(crate) fn new(budget: usize, decompressed_budget: usize) -> ChunkCache {
        ChunkCache {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            budget,
            decompressed: DecompressedCache::new(decompressed_budget.min(budget)),
        }
    }

    fn get(&mut self, key: &ChunkKey) -> Option<Chunk> {
        self.entries.get(key).cloned()
    }

    fn insert(&mut self, key: ChunkKey, chunk: Chunk) {
        let size = chunk.bytes().len();
        // Kept decompressed already (a concurrent read promoted it).
        if size > self.budget || self.decompressed.entries.contains(&key) {
            return;
        }
        if let Some(old) = self.entries.put(key, chunk) {
            self.bytes -= old.bytes().len();
        }
        self.bytes += size;
        self.evict();
    }

    /// Evicts stored chunks until they fit beside the decompressed ones.
    fn evict(&mut self) {
        while self.bytes + self.decompressed.bytes > self.budget {
            match self.entries.pop_lru() {
                Some((_, old)) => self.bytes -= old.bytes().len(),
                None => break,
            }
        }
    }

    /// Keeps `chunk` decompressed if its part of the budget lets it in;
    /// it then leaves the stored part, whose encoded bytes it holds too.
    fn insert_decompressed(&mut self, key: ChunkKey, chunk: Chunk) {
        if self.decompressed.insert(key.clone(), chunk) {
            if let Some(stored) = self.entries.pop(&key) {
                self.bytes -= stored.bytes().len();
            }
        }
        self.evict();
    }

    /// How many chunks are kept decompressed.
    #[cfg(test)]
    pub(crate) fn decompressed_len(&self) -> usize {
        self.decompressed.entries.len()
    }
}

/// Chunks read again while in the [`ChunkCache`], kept with their blocks
/// decompressed ([`Chunk::decompressed`]) so that warm queries (a dashboard
/// refreshing) read them without the codec; least recently used out first
/// past their part of the cache's budget.
///
/// An entry read since it came in (or since it was last spared) is spared
/// once when it reaches the cold end: moved to the warm end, and the
/// chunk asking for room turned away. A working set larger than the budget
/// so keeps a stable part of itself here, instead of cycling every chunk
/// through a decompression that is evicted before it is read again.
#[derive(Debug)]
struct DecompressedCache {
    /// Each chunk, and whether it was read since it came in or was spared.
    entries: lru::LruCache<ChunkKey, (Chunk, bool)>,
    bytes: usize,
    budget: usize,
}

impl DecompressedCache {
    fn new(budget: usize) -> DecompressedCache {
        DecompressedCache {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, key: &ChunkKey) -> Option<Chunk> {
        let (chunk, read) = self.entries.get_mut(key)?;
        *read = true;
        Some(chunk.clone())
    }

    /// Evicts unread chunks from the cold end until `size` more bytes fit;
    /// `false` if they cannot (the chunk is too large for the budget, or a
    /// read chunk at the cold end was spared instead).
    fn make_room(&mut self, size: usize) -> bool {
        // A quarter at most: one chunk never takes the whole budget.
        if size > self.budget / 4 {
            return false;
        }
        while self.bytes + size > self.budget {
            let Some((key, (_, read))) = self.entries.peek_lru() else {
                return false;
            };
            if *read {
                let key = key.clone();
                if let Some((_, read)) = self.entries.get_mut(&key) {
                    *read = false;
                }
                return false;
            }
            if let Some((_, (old, _))) = self.entries.pop_lru() {
                self.bytes -= old.memory_bytes();
            }
        }
        true
    }

    /// Keeps `chunk` if there is room for it; whether it is kept (or
    /// already was).
    fn insert(&mut self, key: ChunkKey, chunk: Chunk) -> bool {
        if self.entries.contains(&key) {
            return true;
        }
        let size = chunk.memory_bytes();
        if !self.make_room(size) {
            return false;
        }
        self.entries.put(key, (chunk, false));
        self.bytes += size;
        true
    }
}

impl Tenant {
    /// The in-memory streams whose labels `selector` matches (all with
    /// `None`), taken out of the lock.
    pub(crate) fn streams_matching(
        &self,
        selector: Option<&Selector>,
    ) -> Vec<(Labels, Arc<Mutex<Stream>>)> {
        self.streams
            .read()
            .iter()
            .filter(|(labels, _)| selector.is_none_or(|s| s.matches(labels)))
            .map(|(labels, s)| (labels.clone(), s.clone()))
            .collect()
    }

    /// The delete requests queries must honour (all but cancelled ones).
    pub(crate) fn active_deletions(&self) -> Result<Deletions> {
        self.deletes
            .read()
            .iter()
            .filter(|r| r.status != DeleteStatus::Cancelled)
            .map(|r| Ok((r.selector()?, r.start, r.end)))
            .collect()
    }
}

/// Runs `f` over a querier of the head and one of the sealing head (if any),
/// both with the segments, collecting both answers.
pub(crate) fn with_queriers<T>(
    index: &IndexView,
    mut f: impl FnMut(&Querier<'_>) -> loki_index::Result<Vec<T>>,
) -> Result<Vec<T>> {
    let mut out = f(&Querier::new(Some(&index.head), &index.segments))?;
    if let Some(sealing) = &index.sealing {
        out.extend(f(&Querier::new(Some(sealing), &[]))?);
    }
    Ok(out)
}

impl Store {
    fn tenant_state(&self, tenant: &str) -> Option<Arc<Tenant>> {
        self.inner.tenants.read().get(tenant).cloned()
    }

    /// The entries of every stream matching `selector` with timestamps in
    /// `[from, through)` (Unix ns), at most `limit` in all, the first ones
    /// in `direction`. Identical entries (same time, line and metadata) in
    /// one stream are returned once.
    ///
    /// # Errors
    /// Object store errors, and corrupt chunks or segments (never silently
    /// skipped).
    pub async fn select(
        &self,
        tenant: &str,
        selector: &Selector,
        from: i64,
        through: i64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StreamEntries>> {
        let Some(state) = self.tenant_state(tenant) else {
            return Ok(Vec::new());
        };
        if from >= through || limit == 0 {
            return Ok(Vec::new());
        }
        // Per stream, its chunks in the order their entries were pushed, as
        // far as it is known: stored chunks by time range, then the ones in
        // memory (sealed, then open). Equal timestamps keep that order.
        let mut per_stream: HashMap<Labels, Vec<Chunk>> = HashMap::new();
        let mut in_memory: Vec<(Labels, Vec<Chunk>)> = Vec::new();
        for (labels, stream) in state.streams_matching(Some(selector)) {
            let chunks = stream.lock().chunks(from, through)?;
            in_memory.push((labels, chunks));
        }

        let range = ms_range(from, through);
        let index = self.index_view(&state, range).await?;
        let refs = with_queriers(&index, |q| q.chunk_refs(selector, range))?;
        if !refs.is_empty() {
            let labels: Vec<Labels> = with_queriers(&index, |q| q.series(Some(selector), range))?;
            let by_fingerprint: HashMap<u64, Labels> = labels
                .into_iter()
                .map(|l| (loki_index::fingerprint(&l), l))
                .collect();
            let keys: HashSet<(u64, ChunkKey)> = refs
                .iter()
                .map(|r| (r.fingerprint, chunk_key(tenant, r.fingerprint, &r.chunk)))
                .collect();
            let mut fetched: Vec<(u64, ChunkOrder, Result<Chunk>)> =
                futures::stream::iter(keys.into_iter().map(|(fp, key)| async move {
                    let order = (key.from_ms, key.through_ms, key.checksum);
                    (fp, order, self.fetch_chunk(key).await)
                }))
                .buffer_unordered(self.inner.config.fetch_concurrency.max(1))
                .collect()
                .await;
            fetched.sort_unstable_by_key(|(fp, order, _)| (*fp, *order));
            for (fp, _, chunk) in fetched {
                let labels = by_fingerprint
                    .get(&fp)
                    .cloned()
                    .ok_or_else(|| Error::Corrupt {
                        what: "index",
                        detail: format!("chunk of fingerprint {fp:016x} has no series"),
                    })?;
                per_stream.entry(labels).or_default().push(chunk?);
            }
        }

        for (labels, chunks) in in_memory {
            per_stream.entry(labels).or_default().extend(chunks);
        }

        let deletions = state.active_deletions()?;
        let mut picked: Vec<(i64, usize, QueryEntry)> = Vec::new();
        let mut streams: Vec<Labels> = Vec::with_capacity(per_stream.len());
        for (labels, chunks) in per_stream {
            let entries = read_stream(
                &labels, &chunks, from, through, direction, limit, &deletions,
            )?;
            let index = streams.len();
            streams.push(labels);
            picked.extend(entries.into_iter().map(|e| (e.timestamp, index, e)));
        }
        // The first `limit` entries across all streams, in direction order.
        match direction {
            Direction::Forward => {
                picked.sort_by(|a, b| a.0.cmp(&b.0).then(streams[a.1].cmp(&streams[b.1])))
            }
            Direction::Backward => {
                picked.sort_by(|a, b| b.0.cmp(&a.0).then(streams[a.1].cmp(&streams[b.1])))
            }
        }
        picked.truncate(limit);
        let mut grouped: Vec<Vec<QueryEntry>> = vec![Vec::new(); streams.len()];
        for (_, index, entry) in picked {
            grouped[index].push(entry);
        }
        let mut out: Vec<StreamEntries> = streams
            .into_iter()
            .zip(grouped)
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(labels, entries)| StreamEntries { labels, entries })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// A stored chunk, from the cache or the object store, checked against
    /// its key.
    pub(crate) async fn fetch_chunk(&self, key: ChunkKey) -> Result<Chunk> {
        let cached = {
            let mut cache = self.inner.cache.lock();
            if let Some(chunk) = cache.decompressed.get(&key) {
                return Ok(chunk);
            }
            // Read before: kept decompressed from now on, if let in.
            cache.get(&key).map(|chunk| {
                (
                    cache
                        .decompressed
                        .make_room(chunk.decompressed_memory_estimate()),
                    chunk,
                )
            })
        };
        if let Some((let_in, chunk)) = cached {
            // A damaged block fails here and again, with the chunk's key,
            // in the walk that reads it.
            let hot = match let_in.then(|| chunk.decompressed()) {
                Some(Ok(hot)) => hot,
                _ => return Ok(chunk),
            };
            self.inner
                .cache
                .lock()
                .insert_decompressed(key, hot.clone());
            return Ok(hot);
        }
        let path = self.inner.objects.chunk_path(&key);
        let bytes = self
            .inner
            .objects
            .get(&path)
            .await?
            .ok_or_else(|| Error::Corrupt {
                what: "chunk object",
                detail: format!("{path} is in the index but not in the object store"),
            })?;
        let chunk = ChunkObject::decode_checked(bytes, &key)
            .map_err(|source| Error::Chunk {
                key: key.to_string(),
                source,
            })?
            .into_chunk();
        self.inner.cache.lock().insert(key, chunk.clone());
        Ok(chunk)
    }

    /// Label names of the tenant's streams with data in `[from, through)`.
    ///
    /// # Errors
    /// Corrupt index segments.
    pub async fn label_names(
        &self,
        tenant: &str,
        selector: Option<&Selector>,
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let Some(state) = self.tenant_state(tenant) else {
            return Ok(Vec::new());
        };
        let mut names: BTreeSet<String> = self
            .memory_series(&state, selector, from, through)?
            .iter()
            .flat_map(|l| l.iter().map(|(n, _)| n.to_owned()).collect::<Vec<_>>())
            .collect();
        let range = ms_range(from, through);
        let index = self.index_view(&state, range).await?;
        names.extend(with_queriers(&index, |q| q.label_names(selector, range))?);
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` in the tenant's streams with data in
    /// `[from, through)`.
    ///
    /// # Errors
    /// Corrupt index segments.
    pub async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        selector: Option<&Selector>,
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let Some(state) = self.tenant_state(tenant) else {
            return Ok(Vec::new());
        };
        let mut values: BTreeSet<String> = self
            .memory_series(&state, selector, from, through)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        let range = ms_range(from, through);
        let index = self.index_view(&state, range).await?;
        values.extend(with_queriers(&index, |q| {
            q.label_values(name, selector, range)
        })?);
        Ok(values.into_iter().collect())
    }

    /// Label sets of the tenant's streams matching `selector` with data in
    /// `[from, through)`.
    ///
    /// # Errors
    /// Corrupt index segments.
    pub async fn series(
        &self,
        tenant: &str,
        selector: Option<&Selector>,
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>> {
        let Some(state) = self.tenant_state(tenant) else {
            return Ok(Vec::new());
        };
        let mut series: BTreeSet<Labels> = self
            .memory_series(&state, selector, from, through)?
            .into_iter()
            .collect();
        let range = ms_range(from, through);
        let index = self.index_view(&state, range).await?;
        series.extend(with_queriers(&index, |q| q.series(selector, range))?);
        Ok(series.into_iter().collect())
    }

    /// Streams, chunks, entries and bytes (uncompressed) of the tenant's
    /// streams matching `selector` with data in `[from, through)`, in memory
    /// and stored (Loki's `/index/stats`; chunks are counted whole).
    ///
    /// # Errors
    /// Corrupt index segments.
    pub async fn index_stats(
        &self,
        tenant: &str,
        selector: &Selector,
        from: i64,
        through: i64,
    ) -> Result<loki_index::Stats> {
        let mut stats = loki_index::Stats::default();
        let Some(state) = self.tenant_state(tenant) else {
            return Ok(stats);
        };
        let range = ms_range(from, through);
        let index = self.index_view(&state, range).await?;
        for part in with_queriers(&index, |q| q.stats(selector, range).map(|s| vec![s]))? {
            stats.chunks += part.chunks;
            stats.entries += part.entries;
            stats.bytes += part.bytes;
        }
        let mut streams: BTreeSet<Labels> =
            with_queriers(&index, |q| q.series(Some(selector), range))?
                .into_iter()
                .collect();
        let in_memory = state.streams_matching(Some(selector));
        for (labels, stream) in in_memory {
            let chunks = stream.lock().chunks(from, through)?;
            if chunks.is_empty() {
                continue;
            }
            streams.insert(labels);
            for chunk in chunks {
                let chunk_stats = chunk.stats();
                stats.chunks += 1;
                stats.entries += chunk_stats.entries;
                stats.bytes += chunk_stats.uncompressed_bytes;
            }
        }
        stats.streams = streams.len() as u64;
        Ok(stats)
    }

    fn memory_series(
        &self,
        state: &Tenant,
        selector: Option<&Selector>,
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>> {
        let streams = state.streams_matching(selector);
        let mut out = Vec::new();
        for (labels, stream) in streams {
            if !stream.lock().chunks(from, through)?.is_empty() {
                out.push(labels);
            }
        }
        Ok(out)
    }
}

/// A stream's entries in range from all its chunks: merged in direction
/// order, identical entries once, at most `limit`.
///
/// Entries with equal timestamps are ordered by line, then metadata, so an
/// answer does not depend on which chunks (in memory or stored) hold them.
fn read_stream(
    labels: &Labels,
    chunks: &[Chunk],
    from: i64,
    through: i64,
    direction: Direction,
    limit: usize,
    deletions: &Deletions,
) -> Result<Vec<QueryEntry>> {
    // Every chunk's entries in push order, chunk after chunk.
    let mut all: Vec<QueryEntry> = Vec::new();
    for chunk in chunks {
        let start = all.len();
        let mut entries = chunk.entries(from, through, direction);
        let mut taken = 0;
        let mut last = None;
        while let Some(e) = entries.next().map_err(|source| Error::Chunk {
            key: describe(labels),
            source,
        })? {
            // Past `limit`, only entries tied with the last one can matter.
            if taken >= limit && last != Some(e.timestamp) {
                break;
            }
            if is_deleted(deletions, labels, e.timestamp) {
                continue;
            }
            all.push(QueryEntry {
                timestamp: e.timestamp,
                line: line_text(e.line).into_owned(),
                metadata: e
                    .metadata
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            });
            taken += 1;
            last = Some(e.timestamp);
        }
        if direction == Direction::Backward {
            all[start..].reverse();
        }
    }
    // As Loki's merge: time order, entries with equal timestamps in the
    // order they were pushed, an entry identical to an earlier one of the
    // same timestamp dropped.
    all.sort_by_key(|e| e.timestamp);
    let mut kept: Vec<QueryEntry> = Vec::with_capacity(all.len());
    let mut group = 0;
    for entry in all {
        if kept
            .get(group)
            .is_none_or(|g| g.timestamp != entry.timestamp)
        {
            group = kept.len();
        }
        if !kept[group..].contains(&entry) {
            kept.push(entry);
        }
    }
    if direction == Direction::Backward {
        kept.reverse();
    }
    kept.truncate(limit);
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use loki_chunk::{Chunk, ChunkBuilder, ChunkKey};

    use super::{ChunkCache, DecompressedCache};

    fn key(n: u64) -> ChunkKey {
        ChunkKey {
            tenant: "t".into(),
            fingerprint: n,
            from_ms: 0,
            through_ms: 1,
            checksum: 0,
        }
    }

    fn chunk() -> Chunk {
        let mut builder = ChunkBuilder::new();
        for ts in 0..100 {
            let _ = builder.append(ts, b"GET /cart 200", &[]).unwrap();
        }
        Chunk::open(builder.encode().unwrap()).unwrap()
    }

    fn held(cache: &DecompressedCache) -> Vec<u64> {
        let mut held: Vec<u64> = cache.entries.iter().map(|(k, _)| k.fingerprint).collect();
        held.sort_unstable();
        held
    }

    #[test]
    fn unread_chunks_go_first_and_read_ones_are_spared_once() {
        let chunk = chunk();
        let size = chunk.memory_bytes();
        let mut cache = DecompressedCache::new(4 * size);
        for n in 0..4 {
            cache.insert(key(n), chunk.clone());
        }
        assert_eq!(cache.bytes, 4 * size);
        // Full: the coldest unread chunk makes room.
        cache.insert(key(4), chunk.clone());
        assert_eq!(held(&cache), [1, 2, 3, 4]);
        // Every chunk read: a newcomer spares the coldest and is turned
        // away, once for each, so the chunks being read stay.
        for n in 1..5 {
            assert!(cache.get(&key(n)).is_some());
        }
        for n in 5..9 {
            cache.insert(key(n), chunk.clone());
            assert_eq!(held(&cache), [1, 2, 3, 4], "newcomer {n}");
        }
        // Read again, chunk 2 stays; the others, spared and not read
        // since, make room.
        assert!(cache.get(&key(2)).is_some());
        cache.insert(key(9), chunk.clone());
        cache.insert(key(10), chunk.clone());
        cache.insert(key(11), chunk.clone());
        assert_eq!(held(&cache), [2, 9, 10, 11]);
        assert_eq!(cache.bytes, 4 * size);
        // Nothing over a quarter of the budget comes in.
        let mut small = DecompressedCache::new(4 * size - 1);
        small.insert(key(0), chunk.clone());
        assert!(held(&small).is_empty());
        assert_eq!(small.bytes, 0);
    }

    #[test]
    fn chunks_kept_decompressed_count_against_the_whole_budget() {
        let chunk = chunk();
        let stored = chunk.memory_bytes();
        let hot = chunk.decompressed().unwrap();
        let budget = 4 * hot.memory_bytes();
        let mut cache = ChunkCache::new(budget, usize::MAX);
        let fit = budget / stored;
        for n in 0..fit as u64 {
            cache.insert(key(n), chunk.clone());
        }
        assert_eq!(cache.entries.len(), fit);
        assert!(cache.decompressed.make_room(hot.memory_bytes()));
        cache.insert_decompressed(key(0), hot.clone());
        assert_eq!(cache.decompressed_len(), 1);
        // The stored chunks least recently used made room: as many stay
        // as fit beside the decompressed one.
        let stay = ((budget - hot.memory_bytes()) / stored).min(fit - 1);
        assert_eq!(cache.entries.len(), stay);
        assert_eq!(cache.bytes, stay * stored);
        assert_eq!(cache.decompressed.bytes, hot.memory_bytes());
        assert!(cache.get(&key(fit as u64 - 1)).is_some());
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.decompressed.get(&key(0)).is_some());
    }

    #[test]
    fn a_chunk_kept_decompressed_leaves_the_stored_part() {
        let chunk = chunk();
        let stored = chunk.memory_bytes();
        let hot = chunk.decompressed().unwrap();
        let mut cache = ChunkCache::new(1 << 30, 1 << 20);
        for n in 0..3 {
            cache.insert(key(n), chunk.clone());
        }
        cache.insert_decompressed(key(1), hot.clone());
        // Its encoded bytes, which the decompressed copy holds, count once.
        assert!(cache.entries.peek(&key(1)).is_none());
        assert_eq!(cache.bytes, 2 * stored);
        assert_eq!(cache.decompressed.bytes, hot.memory_bytes());
        // Read again from the object store meanwhile: not stored twice.
        cache.insert(key(1), chunk.clone());
        assert_eq!(cache.bytes, 2 * stored);
        // Turned away by its part of the budget: it stays stored.
        let mut small = ChunkCache::new(1 << 30, hot.memory_bytes() * 4 - 1);
        small.insert(key(0), chunk.clone());
        small.insert_decompressed(key(0), hot.clone());
        assert_eq!(small.decompressed_len(), 0);
        assert!(small.get(&key(0)).is_some());
        assert_eq!(small.bytes, stored);
    }
}
