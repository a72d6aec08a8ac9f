//! The LogQL seam: the store as a [`loki_logql::Storage`], so the LogQL
//! evaluator reads tenants' data straight from chunks in memory and in the
//! object store.
//!
//! Per selected stream, chunks are taken in time order and grouped into
//! runs whose time ranges overlap (a flushed chunk still in memory, chunks
//! written out of order). A run of one chunk is walked as it is; a larger
//! run is merged and deduplicated. One run is decoded at a time, so memory
//! holds one run's entries, not the stream's. Pushed-down line filters are
//! applied before a line is copied into a batch.
//!
//! A limited log query's [`Cutoff`](loki_logql::Cutoff) is honoured: a run
//! that starts past it is not fetched, and neither are the stream's later
//! runs; a walk stops at its first entry past it.
//!
//! Metric queries that need only samples ([`Storage::select_samples`]) get
//! timestamps (and line lengths) straight from the chunk walk: lines are
//! never copied, and without line filters or `bytes` not even checked as
//! UTF-8.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use loki_chunk::{Chunk, ChunkKey};
use loki_index::{Labels, MatchOp as IndexOp, Matcher as IndexMatcher, Selector};
use loki_logql::ast::{MatchOp, Matcher};
use loki_logql::{
    Direction, EntryBatch, LabelSet, SampleBatch, SampleRequest, SelectRequest, Storage,
    StorageError,
};

use crate::query::{line_text, with_queriers};
use crate::retention::{is_deleted, Deletions};
use crate::store::{chunk_key, ms_range, Store};
use crate::Error;

/// Entries per batch handed to the evaluator.
const BATCH: usize = 1024;

/// One or more tenants of a [`Store`], read by the LogQL evaluator.
///
/// ```
/// use loki_logql::{Engine, QueryParams, QueryResult};
/// use loki_store::{PushEntry, PushStream, Store, StoreConfig};
/// use loki_index::Labels;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let store = Store::open(StoreConfig::in_memory()).await?;
/// let now = 1_700_000_000_000_000_000;
/// let labels = Labels::new([("app", "shop")])?;
/// let entries = vec![PushEntry::new(now, "level=error msg=boom"), PushEntry::new(now + 1, "level=info msg=ok")];
/// store.push_at("tenant-a", vec![PushStream { labels, entries }], now).await?;
///
/// let engine = Engine::new(store.logql_storage(&["tenant-a"]));
/// let params = QueryParams::range(now, now + 10, 0);
/// let QueryResult::Streams(streams) = engine.query(r#"{app="shop"} | logfmt | level="error""#, &params).await? else {
///     unreachable!()
/// };
/// assert_eq!(streams[0].entries[0].line, "level=error msg=boom");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TenantStorage {
    store: Store,
    tenants: Vec<String>,
}

impl Store {
    /// The tenants' data as LogQL storage. Several tenants are read as one
    /// (Loki's `a|b` multi-tenant queries).
    pub fn logql_storage(&self, tenants: &[&str]) -> TenantStorage {
        TenantStorage {
            store: self.clone(),
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

impl TenantStorage {
    fn start(&self, req: SelectRequest) -> Select {
        Select {
            store: self.store.clone(),
            tenants: self.tenants.clone(),
            req,
            streams: None,
            run: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }
}

impl Storage for TenantStorage {
    fn select_samples(
        &self,
        req: &SampleRequest,
    ) -> BoxStream<'static, Result<SampleBatch, StorageError>> {
        let state = (self.start(req.to_select()), req.bytes);
        stream::unfold(state, |(mut state, bytes)| async move {
            match state.next_samples(bytes).await {
                Ok(Some(batch)) => Some((Ok(batch), (state, bytes))),
                Ok(None) => None,
                Err(err) => {
                    state.streams = Some(VecDeque::new());
                    state.run.clear();
                    Some((Err(to_storage_error(err)), (state, bytes)))
                }
            }
        })
        .boxed()
    }

    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let state = self.start(req.clone());
        stream::unfold(state, |mut state| async move {
            match state.next_batch().await {
                Ok(Some(batch)) => Some((Ok(batch), state)),
                Ok(None) => None,
                Err(err) => {
                    // One error ends the stream.
                    state.streams = Some(VecDeque::new());
                    state.run.clear();
                    state.ready.clear();
                    Some((Err(to_storage_error(err)), state))
                }
            }
        })
        .boxed()
    }
}

fn to_storage_error(err: Error) -> StorageError {
    StorageError {
        retryable: err.is_retryable(),
        message: err.to_string(),
    }
}

/// A stream still to read: its labels, deletions and chunks in time order.
struct PendingStream {
    labels: Arc<LabelSet>,
    index_labels: Labels,
    deletions: Arc<Deletions>,
    chunks: Vec<Source>,
}

/// Where a chunk comes from.
enum Source {
    Memory(Chunk),
    Stored(ChunkKey, i64, i64),
}

impl Source {
    fn bounds(&self) -> (i64, i64) {
        match self {
            Source::Memory(chunk) => {
                let stats = chunk.stats();
                (
                    stats.min_time.unwrap_or(i64::MAX),
                    stats.max_time.unwrap_or(i64::MIN),
                )
            }
            // Keys are in milliseconds: widen to cover every nanosecond.
            Source::Stored(_, from_ms, through_ms) => {
                (from_ms * 1_000_000, through_ms * 1_000_000 + 999_999)
            }
        }
    }
}

/// The entries of overlapping chunks, gathered to be put in one order
/// with one copy of each: every line's text goes into one buffer (not an
/// allocation per line), and entries refer to it.
#[derive(Default)]
struct Gathered {
    text: String,
    entries: Vec<GatheredEntry>,
}

/// An entry of [`Gathered`]: timestamp, its line's place in the text, and
/// structured metadata.
struct GatheredEntry {
    timestamp: i64,
    line: std::ops::Range<usize>,
    metadata: Vec<(String, String)>,
}

impl Gathered {
    fn push(&mut self, timestamp: i64, line: &str, metadata: Vec<(String, String)>) {
        let start = self.text.len();
        self.text.push_str(line);
        self.entries.push(GatheredEntry {
            timestamp,
            line: start..self.text.len(),
            metadata,
        });
    }

    fn line(&self, entry: &GatheredEntry) -> &str {
        &self.text[entry.line.clone()]
    }

    /// Orders the entries by timestamp, then line text (then metadata), and
    /// keeps one of each set of exact duplicates (timestamp, line and
    /// metadata), as a chunk's head and the store's own reads do: replicas
    /// and rewrites of an entry are one entry. Each chunk's entries come in
    /// time order, so the sort merges a few sorted runs.
    fn order_and_dedup(&mut self) {
        let text = &self.text;
        let line = |e: &GatheredEntry| &text[e.line.clone()];
        self.entries.sort_by(|a, b| {
            a.timestamp
                .cmp(&b.timestamp)
                .then_with(|| line(a).cmp(line(b)))
                .then_with(|| a.metadata.cmp(&b.metadata))
        });
        self.entries.dedup_by(|a, b| {
            a.timestamp == b.timestamp && line(a) == line(b) && a.metadata == b.metadata
        });
    }
}

/// Overlapping chunks of one stream, read together.
struct Run {
    labels: Arc<LabelSet>,
    index_labels: Labels,
    deletions: Arc<Deletions>,
    sources: Vec<Source>,
}

struct Select {
    store: Store,
    tenants: Vec<String>,
    req: SelectRequest,
    /// Resolved on first use.
    streams: Option<VecDeque<PendingStream>>,
    /// Runs of the stream being read, in order.
    run: VecDeque<Run>,
    /// Batches of the run being handed out.
    ready: VecDeque<EntryBatch>,
}

impl Select {
    async fn next_batch(&mut self) -> crate::Result<Option<EntryBatch>> {
        if self.streams.is_none() {
            self.streams = Some(self.resolve().await?);
        }
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Ok(Some(batch));
            }
            if let Some(run) = self.run.pop_front() {
                if !self.wanted(&run) {
                    // Runs come in direction order: the stream's later runs
                    // are past the cutoff too.
                    self.run.clear();
                    continue;
                }
                self.ready = self.read_run(run).await?;
                continue;
            }
            if !self.next_stream() {
                return Ok(None);
            }
        }
    }

    /// The next batch of samples, forward, one per run of chunks.
    async fn next_samples(&mut self, bytes: bool) -> crate::Result<Option<SampleBatch>> {
        if self.streams.is_none() {
            self.streams = Some(self.resolve().await?);
        }
        loop {
            if let Some(run) = self.run.pop_front() {
                return self.read_run_samples(run, bytes).await.map(Some);
            }
            if !self.next_stream() {
                return Ok(None);
            }
        }
    }

    /// Queues the runs of the next stream; `false` when none is left.
    fn next_stream(&mut self) -> bool {
        let Some(stream) = self.streams.as_mut().and_then(VecDeque::pop_front) else {
            return false;
        };
        for sources in runs(stream.chunks, self.req.direction) {
            self.run.push_back(Run {
                labels: stream.labels.clone(),
                index_labels: stream.index_labels.clone(),
                deletions: stream.deletions.clone(),
                sources,
            });
        }
        true
    }

    /// Whether a run may hold an entry the query still wants: its first
    /// possible entry in direction order is not past the cutoff.
    fn wanted(&self, run: &Run) -> bool {
        let (min, max) = run
            .sources
            .iter()
            .map(Source::bounds)
            .fold((i64::MAX, i64::MIN), |(lo, hi), (a, b)| {
                (lo.min(a), hi.max(b))
            });
        match self.req.direction {
            Direction::Forward => self.req.wants(min.max(self.req.start)),
            Direction::Backward => self.req.wants(max.min(self.req.end.saturating_sub(1))),
        }
    }

    /// Samples of one run of chunks: timestamps of the entries in range,
    /// not deleted and passing the line filters, with line lengths when
    /// `bytes`; overlapping chunks merged and deduplicated like entries.
    async fn read_run_samples(&self, run: Run, bytes: bool) -> crate::Result<SampleBatch> {
        let Run {
            labels,
            index_labels,
            deletions,
            sources,
        } = run;
        let chunks = self.fetch(sources).await?;
        let filters = &self.req.line_filters;
        let chunk_error = |source| Error::Chunk {
            key: crate::store::describe(&index_labels),
            source,
        };
        let mut batch = SampleBatch::new(labels);
        // Whether a line passes the filters and, with `bytes`, its length
        // as the entry path reads it: the line is checked as UTF-8 once,
        // and not at all when neither needs its text.
        let kept = |line: &[u8]| -> Option<Option<u64>> {
            if filters.is_empty() && !bytes {
                return Some(None);
            }
            let text = line_text(line);
            (filters.is_empty() || filters.matches(&text))
                .then(|| bytes.then_some(text.len() as u64))
        };
        if let [chunk] = chunks.as_slice() {
            // Room for every entry of the blocks in range, so the batch
            // does not grow (and copy) as it fills; a damaged block table
            // claiming more is not believed past a million.
            let in_range: u64 = chunk
                .blocks()
                .iter()
                .filter(|b| b.overlaps(self.req.start, self.req.end))
                .map(|b| b.entries)
                .fold(0, u64::saturating_add);
            batch.timestamps.reserve(in_range.min(1 << 20) as usize);
            chunk
                .entries(self.req.start, self.req.end, loki_chunk::Direction::Forward)
                .for_each(|e| {
                    batch.scanned_bytes += e.line.len() as u64;
                    if !deletions.is_empty() && is_deleted(&deletions, &index_labels, e.timestamp) {
                        return;
                    }
                    let Some(len) = kept(e.line) else {
                        return;
                    };
                    let metadata = if e.metadata.is_empty() {
                        Vec::new()
                    } else {
                        e.metadata
                            .iter()
                            .map(|(n, v)| (n.to_owned(), v.to_owned()))
                            .collect()
                    };
                    batch.push(e.timestamp, len, metadata);
                })
                .map_err(chunk_error)?;
            return Ok(batch);
        }
        // Overlapping chunks: one copy of each entry, in time order.
        let mut merged = Gathered::default();
        for chunk in &chunks {
            let mut walk =
                chunk.entries(self.req.start, self.req.end, loki_chunk::Direction::Forward);
            while let Some(e) = walk.next().map_err(chunk_error)? {
                batch.scanned_bytes += e.line.len() as u64;
                if !deletions.is_empty() && is_deleted(&deletions, &index_labels, e.timestamp) {
                    continue;
                }
                let text = line_text(e.line);
                if !filters.is_empty() && !filters.matches(&text) {
                    continue;
                }
                let metadata = e
                    .metadata
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                merged.push(e.timestamp, &text, metadata);
            }
        }
        merged.order_and_dedup();
        for entry in merged.entries {
            // Gathered as text: its length is the entry path's.
            let len = bytes.then_some(entry.line.len() as u64);
            batch.push(entry.timestamp, len, entry.metadata);
        }
        Ok(batch)
    }

    /// Fetches a run's chunks (from memory or the object store).
    async fn fetch(&self, sources: Vec<Source>) -> crate::Result<Vec<Chunk>> {
        let fetches = sources.into_iter().map(|source| async move {
            match source {
                Source::Memory(chunk) => Ok(chunk),
                Source::Stored(key, _, _) => self.store.fetch_chunk(key).await,
            }
        });
        stream::iter(fetches)
            .buffered(self.store.inner.config.fetch_concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Finds every matching stream of every tenant, with its chunks.
    async fn resolve(&self) -> crate::Result<VecDeque<PendingStream>> {
        let selector = index_selector(&self.req.matchers)?;
        let (start, end) = (self.req.start, self.req.end);
        let mut out = VecDeque::new();
        if start >= end {
            return Ok(out);
        }
        for tenant in &self.tenants {
            let Some(state) = self.store.inner.tenants.read().get(tenant).cloned() else {
                continue;
            };
            let deletions = state.active_deletions()?;
            let deletions = Arc::new(deletions);
            let mut by_labels: HashMap<Labels, Vec<Source>> = HashMap::new();
            let in_memory = state.streams_matching(Some(&selector));
            for (labels, stream) in in_memory {
                let chunks = stream.lock().chunks(start, end)?;
                by_labels
                    .entry(labels)
                    .or_default()
                    .extend(chunks.into_iter().map(Source::Memory));
            }
            let range = ms_range(start, end);
            let index = self.store.index_view(&state, range).await?;
            let refs = with_queriers(&index, |q| q.chunk_refs(&selector, range))?;
            if !refs.is_empty() {
                let series = with_queriers(&index, |q| q.series(Some(&selector), range))?;
                let by_fingerprint: HashMap<u64, Labels> = series
                    .into_iter()
                    .map(|l| (loki_index::fingerprint(&l), l))
                    .collect();
                for r in refs {
                    let labels = by_fingerprint.get(&r.fingerprint).cloned().ok_or_else(|| {
                        Error::Corrupt {
                            what: "index",
                            detail: format!(
                                "chunk of fingerprint {:016x} has no series",
                                r.fingerprint
                            ),
                        }
                    })?;
                    let key = chunk_key(tenant, r.fingerprint, &r.chunk);
                    by_labels.entry(labels).or_default().push(Source::Stored(
                        key,
                        r.chunk.from,
                        r.chunk.through,
                    ));
                }
            }
            let mut streams: Vec<(Labels, Vec<Source>)> = by_labels.into_iter().collect();
            streams.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, chunks) in streams {
                out.push_back(PendingStream {
                    labels: Arc::new(to_label_set(&labels)?),
                    index_labels: labels,
                    deletions: deletions.clone(),
                    chunks,
                });
            }
        }
        Ok(out)
    }

    /// Decodes one run of chunks into batches: entries in range, not
    /// deleted, passing the pushed-down filters, ordered and deduplicated.
    /// A run of one chunk is copied straight into batches.
    async fn read_run(&self, run: Run) -> crate::Result<VecDeque<EntryBatch>> {
        let Run {
            labels,
            index_labels,
            deletions,
            sources,
        } = run;
        let single = sources.len() == 1;
        let chunks = self.fetch(sources).await?;
        let filters = &self.req.line_filters;
        let direction = match self.req.direction {
            Direction::Forward => loki_chunk::Direction::Forward,
            Direction::Backward => loki_chunk::Direction::Backward,
        };
        let chunk_error = |source| Error::Chunk {
            key: crate::store::describe(&index_labels),
            source,
        };
        // Filters are applied exactly here, so batches say so with an
        // all-true mask and the evaluator does not run them again.
        let new_batch = || {
            let mut batch = EntryBatch::new(labels.clone());
            batch.mask = (!filters.is_empty()).then(Vec::new);
            batch
        };
        let mut batches = VecDeque::new();
        let mut batch = new_batch();
        let mut merged = Gathered::default();
        for chunk in &chunks {
            let mut walk = chunk.entries(self.req.start, self.req.end, direction);
            while let Some(e) = walk.next().map_err(chunk_error)? {
                if single && !self.req.wants(e.timestamp) {
                    // In direction order: nothing after this is wanted.
                    break;
                }
                let line = line_text(e.line);
                if (!deletions.is_empty() && is_deleted(&deletions, &index_labels, e.timestamp))
                    || (!filters.is_empty() && !filters.matches(&line))
                {
                    continue;
                }
                if single {
                    let pairs: Vec<(&str, &str)> = e.metadata.iter().collect();
                    batch.push(e.timestamp, &line, &pairs);
                    if batch.len() == BATCH {
                        batches.push_back(std::mem::replace(&mut batch, new_batch()));
                    }
                } else {
                    let metadata = e
                        .metadata
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect();
                    merged.push(e.timestamp, &line, metadata);
                }
            }
        }
        if !single {
            // Overlapping chunks: one order and one copy of each entry.
            merged.order_and_dedup();
            if self.req.direction == Direction::Backward {
                merged.entries.reverse();
            }
            for entry in &merged.entries {
                if !self.req.wants(entry.timestamp) {
                    continue;
                }
                let pairs: Vec<(&str, &str)> = entry
                    .metadata
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                batch.push(entry.timestamp, merged.line(entry), &pairs);
                if batch.len() == BATCH {
                    batches.push_back(std::mem::replace(&mut batch, new_batch()));
                }
            }
        }
        if !batch.is_empty() {
            batches.push_back(batch);
        }
        Ok(batches)
    }
}

/// Groups chunks into runs of overlapping time ranges, in direction order.
fn runs(mut chunks: Vec<Source>, direction: Direction) -> Vec<Vec<Source>> {
    chunks.sort_by_key(|c| c.bounds());
    let mut runs: Vec<(i64, Vec<Source>)> = Vec::new();
    for chunk in chunks {
        let (min, max) = chunk.bounds();
        match runs.last_mut() {
            Some((end, run)) if min <= *end => {
                *end = (*end).max(max);
                run.push(chunk);
            }
            _ => runs.push((max, vec![chunk])),
        }
    }
    let mut runs: Vec<Vec<Source>> = runs.into_iter().map(|(_, run)| run).collect();
    if direction == Direction::Backward {
        runs.reverse();
    }
    runs
}

/// The index selector for a LogQL stream selector's matchers (for label,
/// series and stats queries that go to the store directly).
///
/// ```
/// let q = loki_logql::parse(r#"{app="shop", env=~"prod|dev"}"#)?;
/// let loki_logql::Expr::Log(log) = q else { unreachable!() };
/// let selector = loki_store::index_selector(&log.selector.matchers)?;
/// assert_eq!(selector.matchers().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Index`] when the selector breaks Loki's rules (e.g. every
/// matcher matches the empty string).
pub fn index_selector(matchers: &[Matcher]) -> crate::Result<Selector> {
    let matchers = matchers
        .iter()
        .map(to_index_matcher)
        .collect::<crate::Result<Vec<_>>>()?;
    Ok(Selector::new(matchers)?)
}

fn to_index_matcher(m: &Matcher) -> crate::Result<IndexMatcher> {
    let op = match m.op {
        MatchOp::Eq => IndexOp::Equal,
        MatchOp::Neq => IndexOp::NotEqual,
        MatchOp::Re => IndexOp::Regex,
        MatchOp::Nre => IndexOp::NotRegex,
    };
    Ok(IndexMatcher::new(m.name.clone(), op, m.value.clone())?)
}

/// The label set in LogQL's type, through its text form.
fn to_label_set(labels: &Labels) -> crate::Result<LabelSet> {
    let mut text = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(name);
        text.push_str("=\"");
        for c in value.chars() {
            match c {
                '"' => text.push_str("\\\""),
                '\\' => text.push_str("\\\\"),
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                c if c.is_control() => text.push_str(&format!("\\u{:04x}", c as u32)),
                c => text.push(c),
            }
        }
        text.push('"');
    }
    text.push('}');
    loki_logql::parse_labels(&text).map_err(|e| Error::Corrupt {
        what: "stream labels",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use loki_index::Labels;
    use loki_logql::{Direction, Engine, QueryParams, QueryResult};

    use crate::{Limits, PushEntry, PushStream, Store, StoreConfig};

    const BASE: i64 = 1_700_000_000_000_000_000;
    const S: i64 = 1_000_000_000;

    fn entries(app: &str, times: impl Iterator<Item = i64>) -> Vec<PushStream> {
        let entries = times
            .map(|t| {
                let kind = if t % 3 == 0 { "err" } else { "ok" };
                let mut e = PushEntry::new(BASE + t, format!("{kind} app={app} t={t}"));
                if t % 7 == 0 {
                    e.metadata = vec![("trace".into(), format!("t{}", t % 2).into())];
                }
                e
            })
            .collect();
        vec![PushStream {
            labels: Labels::new([("app", app)]).unwrap(),
            entries,
        }]
    }

    /// Two streams in small chunks; the second push overlaps the first in
    /// time (and repeats some of its entries), so runs of several chunks
    /// are merged.
    async fn store(flush_all: bool) -> Store {
        let store = store_with(StoreConfig::in_memory()).await;
        if flush_all {
            store.flush(true).await.unwrap();
        }
        store
    }

    /// [`store`]'s pushes into a store of `config`, the second push unflushed.
    async fn store_with(mut config: StoreConfig) -> Store {
        config.limits = Limits::unlimited();
        config.chunk = config.chunk.block_size(256).target_size(1024);
        let store = Store::open(config).await.unwrap();
        for app in ["a", "b"] {
            let times = (0..200).map(|i| i * S);
            store.push_at("t", entries(app, times), BASE).await.unwrap();
        }
        store.flush(false).await.unwrap();
        for app in ["a", "b"] {
            let times = (0..200)
                .step_by(5)
                .map(|i| i * S + S / 2)
                .chain((0..20).map(|i| i * S));
            store.push_at("t", entries(app, times), BASE).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn samples_match_entries() {
        for flush_all in [false, true] {
            let store = store(flush_all).await;
            let pushed = Engine::new(store.logql_storage(&["t"]));
            let read = Engine::new(store.logql_storage(&["t"])).with_sample_pushdown(false);
            for q in [
                r#"count_over_time({app=~".+"}[1m])"#,
                r#"sum by (app) (rate({app=~".+"} |= "err" [2m]))"#,
                r#"bytes_over_time({app="a"} != "err" [5m])"#,
                r#"bytes_rate({app=~".+"} |~ "t=1.*" [30s])"#,
                r#"absent_over_time({app="a"} |= "nothing" [1m])"#,
            ] {
                for p in [
                    QueryParams::instant(BASE + 250 * S),
                    QueryParams::range(BASE, BASE + 250 * S, 30 * S),
                ] {
                    let a = serde_json::to_string(&pushed.query(q, &p).await.unwrap()).unwrap();
                    let b = serde_json::to_string(&read.query(q, &p).await.unwrap()).unwrap();
                    assert_eq!(a, b, "{q}");
                }
            }
        }
    }

    /// The answers to a few log and metric queries, as JSON.
    async fn answers(store: &Store) -> Vec<String> {
        let queries = [
            r#"{app=~".+"}"#,
            r#"{app="a"} |= "err""#,
            r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#,
            r#"bytes_over_time({app="b"} != "err" [5m])"#,
        ];
        let p = QueryParams::range(BASE, BASE + 250 * S, 30 * S).with_limit(1000);
        let engine = Engine::new(store.logql_storage(&["t"]));
        let mut answers = Vec::new();
        for q in queries {
            let answer = engine.query(q, &p).await.unwrap();
            answers.push(serde_json::to_string(&answer).unwrap());
        }
        answers
    }

    #[tokio::test]
    async fn chunks_read_again_answer_the_same_decompressed() {
        let store = store(true).await;
        let cold = answers(&store).await;
        // Read again: kept decompressed; then read from there.
        assert_eq!(answers(&store).await, cold);
        assert!(store.inner.cache.lock().decompressed_len() > 0);
        assert_eq!(answers(&store).await, cold);

        let mut config = StoreConfig::in_memory();
        config.decompressed_cache_bytes = 0;
        let store = store_with(config).await;
        store.flush(true).await.unwrap();
        for _ in 0..3 {
            assert_eq!(answers(&store).await, cold);
        }
        assert_eq!(store.inner.cache.lock().decompressed_len(), 0);
    }

    #[tokio::test]
    async fn limited_log_queries_keep_the_best_entries() {
        for flush_all in [false, true] {
            let store = store(flush_all).await;
            let engine = Engine::new(store.logql_storage(&["t"]));
            for direction in [Direction::Backward, Direction::Forward] {
                for q in [r#"{app=~".+"}"#, r#"{app="a"} |= "err""#] {
                    let stamps = |limit: usize| {
                        let p = QueryParams::range(BASE, BASE + 300 * S, 0)
                            .with_limit(limit)
                            .with_direction(direction);
                        let engine = &engine;
                        async move {
                            let QueryResult::Streams(st) = engine.query(q, &p).await.unwrap()
                            else {
                                panic!("streams")
                            };
                            let mut ts: Vec<i64> = st
                                .iter()
                                .flat_map(|s| s.entries.iter().map(|e| e.timestamp))
                                .collect();
                            ts.sort_unstable();
                            if direction == Direction::Backward {
                                ts.reverse();
                            }
                            ts
                        }
                    };
                    let all = stamps(5000).await;
                    for limit in [1, 7, 50] {
                        assert_eq!(stamps(limit).await, all[..limit], "{q} {limit}");
                    }
                }
            }
        }
    }
}
