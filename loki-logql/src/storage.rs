//! The seam between the evaluator and storage.
//!
//! The evaluator asks a [`Storage`] for the entries of the streams that
//! match a selector within a time range, and gets back an async stream of
//! [`EntryBatch`]es. `loki-store` implements the trait over chunks and the
//! index; [`MemoryStorage`] implements it over vectors for tests and
//! embedding.
//!
//! # Contract
//!
//! A call to [`Storage::select`] with a [`SelectRequest`] returns a stream of
//! batches such that:
//!
//! 1. **Selection.** Every batch belongs to one stream whose labels match
//!    *all* of [`SelectRequest::matchers`] (regexes fully anchored, as in
//!    Loki; a missing label has the value `""`). Every entry of a matching
//!    stream with `start <= ts < end` is yielded exactly once (unless a
//!    pushed-down filter removed it, see 4); no entry outside the range is.
//! 2. **Order.** Within one stream, entries come in time order for
//!    [`SelectRequest::direction`]: ascending timestamps for
//!    [`Direction::Forward`], descending for [`Direction::Backward`], across
//!    all of that stream's batches. The order of one stream's entries with
//!    equal timestamps is the storage's, but stable: [`MemoryStorage`]
//!    keeps push order (reversed backward); `loki-store` keeps chunk order
//!    and orders by line where chunks overlap.
//!    Batches of different streams may interleave in any order.
//! 3. **Duplicates.** Storage removes exact duplicates (same stream, same
//!    timestamp, same line) before yielding; the evaluator does not.
//! 4. **Pushdown.** [`SelectRequest::line_filters`] are the query's leading
//!    line filters. Storage *may* apply them: by setting
//!    [`EntryBatch::mask`] (then the evaluator trusts the mask and does not
//!    run those filters again, so the mask must be exactly
//!    [`LineFilterSet::matches`] / [`LineFilterSet::batch_mask`]), or by
//!    not yielding rejected entries and leaving the mask `None` (the
//!    evaluator then runs the filters again, which is harmless). It may
//!    also ignore them. The time range is pushed down by definition (1).
//!    [`SelectRequest::limit`] is only a hint (the number of entries the
//!    query may return); storage may ignore it and must never truncate a
//!    stream because of it.
//! 5. **Early stop.** A log query with a limit passes a [`Cutoff`] in
//!    [`SelectRequest::cutoff`]. Once the evaluator holds `limit` entries it
//!    tightens the cutoff to the worst one held; from then on an entry for
//!    which [`Cutoff::wants`] is `false` cannot change the answer. Storage
//!    *may* skip such entries, and since a stream's entries come in
//!    direction order, it may stop reading a stream at its first unwanted
//!    entry and skip whole chunks or streams that hold none it wants. The
//!    cutoff only ever tightens, so a stale read is safe.
//! 6. **Samples.** For metric queries that need no line content beyond the
//!    pushed-down line filters (`count_over_time`, `rate`,
//!    `bytes_over_time`, `bytes_rate`, `absent_over_time` over a selector
//!    and leading line filters), the evaluator calls
//!    [`Storage::select_samples`] instead of [`Storage::select`]. Storage
//!    must apply [`SampleRequest::line_filters`] and yields per stream, in
//!    ascending time order, the timestamps of the entries that pass (with
//!    their line lengths when [`SampleRequest::bytes`] is set, and their
//!    structured metadata), deduplicated as in 3. The default
//!    implementation does this over [`Storage::select`]; an implementation
//!    that can produce timestamps straight from its encoded form (without
//!    copying lines) should override it.
//! 7. **Batches.** An entry batch holds at least one entry (a sample batch
//!    may be empty). Batch size is up to the storage; results do not depend
//!    on it.
//! 8. **Errors and cancellation.** An `Err` item ends the query with
//!    [`Error::Storage`](crate::Error::Storage). The evaluator may drop the
//!    stream at any point (limit reached, timeout, cancellation); storage
//!    must release its resources on drop.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};

use crate::pipeline::LineFilterSet;
use crate::syntax::ast::{MatchOp, Matcher};
use crate::LabelSet;

/// The order of entries within a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default for log queries).
    #[default]
    Backward,
}

/// What the evaluator asks storage for.
#[derive(Debug, Clone)]
pub struct SelectRequest {
    /// Label matchers, all of which a stream must satisfy.
    pub matchers: Vec<Matcher>,
    /// Inclusive lower bound, Unix nanoseconds.
    pub start: i64,
    /// Exclusive upper bound, Unix nanoseconds.
    pub end: i64,
    /// Order of entries within each stream.
    pub direction: Direction,
    /// How many entries the query returns at most (a hint, see the contract).
    pub limit: Option<usize>,
    /// The query's leading line filters, which storage may apply early.
    pub line_filters: LineFilterSet,
    /// For log queries with a limit: which entries can still change the
    /// answer (see the contract, point 5). `None` for metric queries.
    pub cutoff: Option<Arc<Cutoff>>,
}

impl SelectRequest {
    /// A request for every entry of the matching streams in
    /// `[start, end)`, forward, with no filters, limit or cutoff.
    ///
    /// ```
    /// use loki_logql::{parse, Expr, SelectRequest};
    /// let Expr::Log(q) = parse(r#"{app="a"}"#)? else { unreachable!() };
    /// let req = SelectRequest::new(q.selector.matchers, 0, 10);
    /// assert!(req.line_filters.is_empty() && req.cutoff.is_none());
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn new(matchers: Vec<Matcher>, start: i64, end: i64) -> SelectRequest {
        SelectRequest {
            matchers,
            start,
            end,
            direction: Direction::Forward,
            limit: None,
            line_filters: LineFilterSet::default(),
            cutoff: None,
        }
    }

    /// Whether the evaluator can still use an entry at `ts` (always, without
    /// a cutoff).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use loki_logql::{storage::Cutoff, Direction, SelectRequest};
    /// let mut req = SelectRequest::new(Vec::new(), 0, 100);
    /// assert!(req.wants(50));
    /// let cutoff = Arc::new(Cutoff::new(Direction::Forward));
    /// cutoff.tighten(40);
    /// req.cutoff = Some(cutoff);
    /// assert!(req.wants(39) && !req.wants(50));
    /// ```
    pub fn wants(&self, ts: i64) -> bool {
        self.cutoff.as_ref().is_none_or(|c| c.wants(ts))
    }
}

/// The bound a limited log query puts on the timestamps it can still use,
/// shared between the evaluator (which tightens it) and storage (which may
/// stop reading at it). See the [contract](self), point 5.
///
/// Forward, entries at or after the bound are not wanted; backward,
/// entries at or before it. (An entry at the bound itself would tie with
/// the worst entry held and lose the tie, since that one came first.)
///
/// ```
/// use loki_logql::{storage::Cutoff, Direction};
/// let c = Cutoff::new(Direction::Backward);
/// assert!(c.wants(5));
/// c.tighten(10);
/// assert!(c.wants(11) && !c.wants(10) && !c.wants(5));
/// c.tighten(3); // a looser bound is ignored
/// assert_eq!(c.bound(), Some(10));
/// ```
#[derive(Debug)]
pub struct Cutoff {
    direction: Direction,
    set: AtomicBool,
    bound: AtomicI64,
}

impl Cutoff {
    /// A cutoff that still wants everything.
    pub fn new(direction: Direction) -> Cutoff {
        Cutoff {
            direction,
            set: AtomicBool::new(false),
            bound: AtomicI64::new(0),
        }
    }

    /// The direction the bound applies in.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The current bound, if any.
    pub fn bound(&self) -> Option<i64> {
        self.set
            .load(Ordering::Acquire)
            .then(|| self.bound.load(Ordering::Acquire))
    }

    /// Whether an entry at `ts` can still change the answer.
    pub fn wants(&self, ts: i64) -> bool {
        match self.bound() {
            None => true,
            Some(b) => match self.direction {
                Direction::Forward => ts < b,
                Direction::Backward => ts > b,
            },
        }
    }

    /// Narrows the bound to `ts` (ignored unless tighter than the current
    /// one).
    pub fn tighten(&self, ts: i64) {
        let tighter = match self.bound() {
            None => true,
            Some(b) => match self.direction {
                Direction::Forward => ts < b,
                Direction::Backward => ts > b,
            },
        };
        if tighter {
            self.bound.store(ts, Ordering::Release);
            self.set.store(true, Ordering::Release);
        }
    }
}

/// What the evaluator asks storage for when it needs only samples (see
/// the [contract](self), point 6).
///
/// ```
/// use loki_logql::{parse, Expr, storage::SampleRequest};
/// let Expr::Log(q) = parse(r#"{app="a"} |= "err""#)? else { unreachable!() };
/// let req = SampleRequest::new(q.selector.matchers, 0, 10)
///     .with_line_filters(loki_logql::LineFilterSet::leading(&q.pipeline))
///     .with_bytes(true);
/// assert_eq!(req.line_filters.len(), 1);
/// assert!(req.bytes);
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// Label matchers, all of which a stream must satisfy.
    pub matchers: Vec<Matcher>,
    /// Inclusive lower bound, Unix nanoseconds.
    pub start: i64,
    /// Exclusive upper bound, Unix nanoseconds.
    pub end: i64,
    /// Line filters storage must apply.
    pub line_filters: LineFilterSet,
    /// Whether to report each entry's line length in bytes.
    pub bytes: bool,
}

impl SampleRequest {
    /// Samples of every entry of the matching streams in `[start, end)`.
    pub fn new(matchers: Vec<Matcher>, start: i64, end: i64) -> SampleRequest {
        SampleRequest {
            matchers,
            start,
            end,
            line_filters: LineFilterSet::default(),
            bytes: false,
        }
    }

    /// Sets the line filters.
    pub fn with_line_filters(mut self, filters: LineFilterSet) -> SampleRequest {
        self.line_filters = filters;
        self
    }

    /// Asks for line lengths.
    pub fn with_bytes(mut self, bytes: bool) -> SampleRequest {
        self.bytes = bytes;
        self
    }

    /// The equivalent entry request (what the default
    /// [`Storage::select_samples`] reads).
    pub fn to_select(&self) -> SelectRequest {
        SelectRequest {
            line_filters: self.line_filters.clone(),
            ..SelectRequest::new(self.matchers.clone(), self.start, self.end)
        }
    }
}

/// Samples of one stream: the timestamps of entries that passed the line
/// filters, in ascending order.
///
/// ```
/// use loki_logql::{EntryBatch, LineFilterSet, parse_labels, storage::SampleBatch};
/// let mut e = EntryBatch::new(parse_labels(r#"{app="a"}"#)?.into());
/// e.push(10, "hello", &[]);
/// e.push(20, "world!", &[]);
/// let s = SampleBatch::from_entries(&e, &LineFilterSet::default(), true);
/// assert_eq!(s.timestamps, [10, 20]);
/// assert_eq!(s.bytes, [5, 6]);
/// assert_eq!(s.scanned_bytes, 11);
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SampleBatch {
    /// The stream's labels.
    pub labels: Arc<LabelSet>,
    /// Entry timestamps, Unix nanoseconds.
    pub timestamps: Vec<i64>,
    /// Line length in bytes per entry when [`SampleRequest::bytes`] was
    /// set; empty otherwise.
    pub bytes: Vec<u64>,
    /// Structured metadata per entry; may be shorter than the batch (down
    /// to empty) when the trailing entries have none.
    pub structured_metadata: Vec<Vec<(String, String)>>,
    /// Line bytes read to produce the batch, filtered-out lines included
    /// (charged against [`Limits::max_bytes`](crate::Limits::max_bytes)).
    pub scanned_bytes: u64,
}

impl SampleBatch {
    /// An empty batch for a stream.
    pub fn new(labels: Arc<LabelSet>) -> SampleBatch {
        SampleBatch {
            labels,
            timestamps: Vec::new(),
            bytes: Vec::new(),
            structured_metadata: Vec::new(),
            scanned_bytes: 0,
        }
    }

    /// The samples of an entry batch: entries passing its mask (or, without
    /// one, `filters`), with line lengths when `bytes`.
    pub fn from_entries(batch: &EntryBatch, filters: &LineFilterSet, bytes: bool) -> SampleBatch {
        let mut out = SampleBatch::new(batch.labels.clone());
        out.scanned_bytes = batch.line_data.len() as u64;
        let mut mask_buf = Vec::new();
        let mask = batch.filter_mask(filters, &mut mask_buf);
        for i in 0..batch.len() {
            if mask.get(i) == Some(&false) {
                continue;
            }
            out.push(
                batch.timestamps[i],
                bytes.then(|| batch.line(i).len() as u64),
                batch.metadata(i).to_vec(),
            );
        }
        out
    }

    /// Appends a sample: its timestamp, its line length when the request
    /// asked for [`SampleRequest::bytes`], and its structured metadata.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use loki_logql::{parse_labels, SampleBatch};
    ///
    /// let mut batch = SampleBatch::new(Arc::new(parse_labels(r#"{app="shop"}"#).unwrap()));
    /// batch.push(1, Some(5), Vec::new());
    /// batch.push(2, Some(7), vec![("trace_id".into(), "abc".into())]);
    /// assert_eq!(batch.timestamps, [1, 2]);
    /// assert_eq!(batch.bytes, [5, 7]);
    /// assert!(batch.metadata(0).is_empty());
    /// assert_eq!(batch.metadata(1), [("trace_id".to_string(), "abc".to_string())]);
    /// ```
    pub fn push(&mut self, timestamp: i64, bytes: Option<u64>, metadata: Vec<(String, String)>) {
        if !metadata.is_empty() {
            self.structured_metadata
                .resize(self.timestamps.len(), Vec::new());
            self.structured_metadata.push(metadata);
        }
        self.timestamps.push(timestamp);
        if let Some(bytes) = bytes {
            self.bytes.push(bytes);
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Structured metadata of entry `i`.
    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        self.structured_metadata
            .get(i)
            .map_or(&[][..], |v| v.as_slice())
    }
}

/// Entries of one stream, in the requested order.
///
/// Lines are stored back to back in one buffer; use [`EntryBatch::line`].
///
/// ```
/// use loki_logql::{EntryBatch, parse_labels};
/// let mut b = EntryBatch::new(parse_labels(r#"{app="a"}"#)?.into());
/// b.push(10, "hello", &[]);
/// b.push(20, "world", &[("trace_id", "abc")]);
/// assert_eq!(b.len(), 2);
/// assert_eq!(b.line(1), "world");
/// assert_eq!(b.metadata(1), &[("trace_id".to_owned(), "abc".to_owned())]);
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EntryBatch {
    /// The stream's labels.
    pub labels: Arc<LabelSet>,
    /// Entry timestamps, Unix nanoseconds.
    pub timestamps: Vec<i64>,
    /// All lines, concatenated.
    pub line_data: String,
    /// End offset of each line in `line_data`.
    pub line_ends: Vec<usize>,
    /// Structured metadata per entry; may be shorter than the batch (down
    /// to empty) when the trailing entries have none.
    pub structured_metadata: Vec<Vec<(String, String)>>,
    /// `Some(mask)`: storage applied the pushed-down line filters and
    /// `mask[i]` tells whether entry `i` passed. `None`: not applied.
    pub mask: Option<Vec<bool>>,
}

impl EntryBatch {
    /// An empty batch for a stream.
    pub fn new(labels: Arc<LabelSet>) -> Self {
        EntryBatch {
            labels,
            timestamps: Vec::new(),
            line_data: String::new(),
            line_ends: Vec::new(),
            structured_metadata: Vec::new(),
            mask: None,
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, ts: i64, line: &str, metadata: &[(&str, &str)]) {
        self.timestamps.push(ts);
        self.line_data.push_str(line);
        self.line_ends.push(self.line_data.len());
        if !metadata.is_empty() {
            self.structured_metadata
                .resize(self.timestamps.len() - 1, Vec::new());
            self.structured_metadata.push(
                metadata
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            );
        }
        if let Some(m) = &mut self.mask {
            m.push(true);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Which entries pass the query's leading line `filters`: the batch's
    /// own mask when storage applied them, else the filters applied into
    /// `buf`; empty when every entry passes.
    pub(crate) fn filter_mask<'a>(
        &'a self,
        filters: &LineFilterSet,
        buf: &'a mut Vec<bool>,
    ) -> &'a [bool] {
        match &self.mask {
            Some(mask) => mask,
            None if filters.is_empty() => &[],
            None => {
                filters.batch_mask(&self.line_data, &self.line_ends, buf);
                buf
            }
        }
    }

    /// Line `i`.
    pub fn line(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.line_ends[i - 1] };
        &self.line_data[start..self.line_ends[i]]
    }

    /// Structured metadata of entry `i`.
    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        self.structured_metadata
            .get(i)
            .map_or(&[][..], |v| v.as_slice())
    }

    /// Whether entry `i` survived storage's pushed-down filters.
    pub fn passed(&self, i: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m[i])
    }
}

/// A failure inside storage, carried through the evaluator as
/// [`Error::Storage`](crate::Error::Storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What went wrong.
    pub message: String,
    /// Whether retrying the query may succeed.
    pub retryable: bool,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

/// Where the evaluator gets its data. See the [module docs](self) for the
/// contract every implementation keeps.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Streams matching `req.matchers`, entries in `[req.start, req.end)`.
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>>;

    /// Samples of the streams matching `req.matchers` in
    /// `[req.start, req.end)` (contract point 6). The default reads
    /// [`Storage::select`] forward and extracts the samples from the
    /// entries.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use loki_logql::{parse, parse_labels, Expr, LineFilterSet, MemoryStorage, Storage};
    /// use loki_logql::storage::SampleRequest;
    /// let mut s = MemoryStorage::new();
    /// let l = parse_labels(r#"{app="a"}"#)?;
    /// s.push(&l, 1, "error: disk");
    /// s.push(&l, 2, "all fine");
    /// let Expr::Log(q) = parse(r#"{app="a"} |= "error""#)? else { unreachable!() };
    /// let req = SampleRequest::new(q.selector.matchers, 0, 10)
    ///     .with_line_filters(LineFilterSet::leading(&q.pipeline))
    ///     .with_bytes(true);
    /// let batches: Vec<_> = futures::executor::block_on(s.select_samples(&req).collect());
    /// let b = batches[0].as_ref().unwrap();
    /// assert_eq!((b.timestamps.as_slice(), b.bytes.as_slice()), (&[1][..], &[11][..]));
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        let filters = req.line_filters.clone();
        let bytes = req.bytes;
        self.select(&req.to_select())
            .map(move |b| b.map(|b| SampleBatch::from_entries(&b, &filters, bytes)))
            .boxed()
    }
}

/// A boxed storage is a storage (e.g. to pick one at run time).
///
/// ```
/// use loki_logql::{Engine, MemoryStorage, Storage};
/// let s: Box<dyn Storage> = Box::new(MemoryStorage::new());
/// let engine = Engine::new(s);
/// # let _ = engine;
/// ```
impl<T: Storage + ?Sized> Storage for Box<T> {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        (**self).select(req)
    }

    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        (**self).select_samples(req)
    }
}

/// A shared storage is a storage.
///
/// ```
/// use std::sync::Arc;
/// use loki_logql::{Engine, MemoryStorage};
/// let engine = Engine::new(Arc::new(MemoryStorage::new()));
/// # let _ = engine;
/// ```
impl<T: Storage + ?Sized> Storage for Arc<T> {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        (**self).select(req)
    }

    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        (**self).select_samples(req)
    }
}

/// Whether `labels` satisfy every matcher (regexes fully anchored, missing
/// labels read as `""`). Storage implementations may use this.
///
/// ```
/// use loki_logql::{parse, parse_labels, storage::matches_all, Expr};
/// let Expr::Log(q) = parse(r#"{app=~"a|b", env!="dev"}"#)? else { unreachable!() };
/// assert!(matches_all(&q.selector.matchers, &parse_labels(r#"{app="a"}"#)?));
/// assert!(!matches_all(&q.selector.matchers, &parse_labels(r#"{app="c"}"#)?));
/// # Ok::<(), loki_logql::Error>(())
/// ```
pub fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| {
        let v = labels.get(&m.name).unwrap_or("");
        match m.op {
            MatchOp::Eq => v == m.value,
            MatchOp::Neq => v != m.value,
            MatchOp::Re | MatchOp::Nre => {
                let ok = crate::pipeline::anchored_regex(&m.value).is_some_and(|r| r.is_match(v));
                ok == (m.op == MatchOp::Re)
            }
        }
    })
}

/// An in-memory [`Storage`]: streams of entries kept sorted by time.
///
/// ```
/// use loki_logql::{MemoryStorage, Engine, QueryParams, QueryResult, parse_labels};
/// let mut s = MemoryStorage::new();
/// let labels = parse_labels(r#"{app="a"}"#)?;
/// s.push(&labels, 1_000_000_000, "level=info msg=hi");
/// s.push(&labels, 2_000_000_000, "level=error msg=boom");
/// let engine = Engine::new(s);
/// let res = futures::executor::block_on(
///     engine.query(r#"{app="a"} | logfmt | level="error""#, &QueryParams::range(0, 3_000_000_000, 0)),
/// )?;
/// let QueryResult::Streams(streams) = res else { unreachable!() };
/// assert_eq!(streams[0].entries[0].line, "level=error msg=boom");
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    streams: Vec<Arc<MemStream>>,
    batch_size: usize,
}

/// Timestamp, line, structured metadata.
type MemEntry = (i64, String, Vec<(String, String)>);

#[derive(Debug, Clone)]
struct MemStream {
    labels: Arc<LabelSet>,
    entries: Vec<MemEntry>,
}

impl MemoryStorage {
    /// An empty store yielding batches of up to 1024 entries.
    pub fn new() -> Self {
        MemoryStorage {
            streams: Vec::new(),
            batch_size: 1024,
        }
    }

    /// Sets the maximum batch size (at least 1).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Appends an entry to the stream with these labels.
    pub fn push(&mut self, labels: &LabelSet, ts: i64, line: &str) {
        self.push_with_metadata(labels, ts, line, &[]);
    }

    /// Appends an entry with structured metadata.
    pub fn push_with_metadata(
        &mut self,
        labels: &LabelSet,
        ts: i64,
        line: &str,
        metadata: &[(&str, &str)],
    ) {
        let idx = match self.streams.iter().position(|s| *s.labels == *labels) {
            Some(i) => i,
            None => {
                self.streams.push(Arc::new(MemStream {
                    labels: Arc::new(labels.clone()),
                    entries: Vec::new(),
                }));
                self.streams.len() - 1
            }
        };
        let md = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let s = Arc::make_mut(&mut self.streams[idx]);
        let entry = (ts, line.to_owned(), md);
        if s.entries.contains(&entry) {
            return;
        }
        let pos = s.entries.partition_point(|e| e.0 <= ts);
        s.entries.insert(pos, entry);
    }

    /// Number of streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }
}

impl MemoryStorage {
    /// The matching streams with the index range of their entries in
    /// `[start, end)`.
    fn matching(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Vec<(Arc<MemStream>, std::ops::Range<usize>)> {
        self.streams
            .iter()
            .filter(|s| matches_all(matchers, &s.labels))
            .map(|s| {
                let lo = s.entries.partition_point(|e| e.0 < start);
                let hi = s.entries.partition_point(|e| e.0 < end);
                (s.clone(), lo..hi.max(lo))
            })
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }
}

/// A select over [`MemoryStorage`] in progress: batches are cut lazily, so
/// a dropped stream or a tightened cutoff stops the reading.
struct MemSelect {
    streams: std::collections::VecDeque<(Arc<MemStream>, std::ops::Range<usize>)>,
    req: SelectRequest,
    batch_size: usize,
}

impl MemSelect {
    fn next_batch(&mut self) -> Option<EntryBatch> {
        loop {
            let (s, range) = self.streams.front_mut()?;
            let mut batch = EntryBatch::new(s.labels.clone());
            batch.mask = Some(Vec::new());
            while batch.len() < self.batch_size && range.start < range.end {
                let i = match self.req.direction {
                    Direction::Forward => range.next(),
                    Direction::Backward => range.next_back(),
                }
                .expect("not empty");
                let (ts, line, md) = &s.entries[i];
                if !self.req.wants(*ts) {
                    // Entries come in direction order: the rest of this
                    // stream is not wanted either.
                    *range = 0..0;
                    break;
                }
                let md: Vec<(&str, &str)> =
                    md.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                batch.push(*ts, line, &md);
                if let Some(m) = &mut batch.mask {
                    *m.last_mut().expect("just pushed") = self.req.line_filters.matches(line);
                }
            }
            if range.start >= range.end {
                self.streams.pop_front();
            }
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }
}

impl Storage for MemoryStorage {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let state = MemSelect {
            streams: self.matching(&req.matchers, req.start, req.end).into(),
            req: req.clone(),
            batch_size: self.batch_size,
        };
        stream::unfold(state, |mut st| async move {
            st.next_batch().map(|b| (Ok(b), st))
        })
        .boxed()
    }

    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        let streams = self.matching(&req.matchers, req.start, req.end);
        let (filters, bytes, size) = (req.line_filters.clone(), req.bytes, self.batch_size);
        stream::iter(streams)
            .flat_map(move |(s, range)| {
                let mut out = Vec::new();
                let mut batch = SampleBatch::new(s.labels.clone());
                for (ts, line, md) in &s.entries[range] {
                    batch.scanned_bytes += line.len() as u64;
                    if !filters.matches(line) {
                        continue;
                    }
                    batch.push(*ts, bytes.then_some(line.len() as u64), md.clone());
                    if batch.len() >= size {
                        let next = SampleBatch::new(s.labels.clone());
                        out.push(Ok(std::mem::replace(&mut batch, next)));
                    }
                }
                if !batch.is_empty() || batch.scanned_bytes > 0 {
                    out.push(Ok(batch));
                }
                stream::iter(out)
            })
            .boxed()
    }
}
