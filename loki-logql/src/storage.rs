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
//!    stream because of it. Sample extraction is not pushed down: metric
//!    queries read entries and extract samples in the evaluator.
//! 5. **Batches.** A batch holds at least one entry. Batch size is up to the
//!    storage; results do not depend on it.
//! 6. **Errors and cancellation.** An `Err` item ends the query with
//!    [`Error::Storage`](crate::Error::Storage). The evaluator may drop the
//!    stream at any point (limit reached, timeout, cancellation); storage
//!    must release its resources on drop.

use std::fmt;
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
    streams: Vec<MemStream>,
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
                self.streams.push(MemStream {
                    labels: Arc::new(labels.clone()),
                    entries: Vec::new(),
                });
                self.streams.len() - 1
            }
        };
        let md = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let s = &mut self.streams[idx];
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

impl Storage for MemoryStorage {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let mut out = Vec::new();
        for s in &self.streams {
            if !matches_all(&req.matchers, &s.labels) {
                continue;
            }
            let lo = s.entries.partition_point(|e| e.0 < req.start);
            let hi = s.entries.partition_point(|e| e.0 < req.end);
            let range = &s.entries[lo..hi.max(lo)];
            let ordered: Box<dyn Iterator<Item = _>> = match req.direction {
                Direction::Forward => Box::new(range.iter()),
                Direction::Backward => Box::new(range.iter().rev()),
            };
            let mut batch = EntryBatch::new(s.labels.clone());
            batch.mask = Some(Vec::new());
            for (ts, line, md) in ordered {
                let md: Vec<(&str, &str)> =
                    md.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                batch.push(*ts, line, &md);
                if let Some(m) = &mut batch.mask {
                    *m.last_mut().expect("just pushed") = req.line_filters.matches(line);
                }
                if batch.len() >= self.batch_size {
                    let next = EntryBatch {
                        mask: Some(Vec::new()),
                        ..EntryBatch::new(s.labels.clone())
                    };
                    out.push(Ok(std::mem::replace(&mut batch, next)));
                }
            }
            if !batch.is_empty() {
                out.push(Ok(batch));
            }
        }
        stream::iter(out).boxed()
    }
}
