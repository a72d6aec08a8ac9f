//! Queries over the head plus any number of segments.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::error::Result;
use crate::head::HeadIndex;
use crate::labels::Labels;
use crate::matcher::Selector;
use crate::segment::Segment;
use crate::source::{covers, select, select_live, SeriesVisitor, Source};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One chunk ref of a stream, as returned by [`Querier::chunk_refs`] (like
/// Loki's index `ChunkRef`, which carries the stream fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesChunkRef {
    /// The stream fingerprint.
    pub fingerprint: u64,
    /// The chunk.
    pub chunk: ChunkRef,
}

/// Totals for Loki's `/index/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct streams with at least one chunk in range.
    pub streams: u64,
    /// Distinct chunks in range.
    pub chunks: u64,
    /// Sum of the chunks' uncompressed bytes.
    pub bytes: u64,
    /// Sum of the chunks' entries.
    pub entries: u64,
}

/// How [`Querier::volume`] groups series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AggregateBy {
    /// One group per distinct combination of the target labels' values.
    #[default]
    Series,
    /// One group per target label name (value `""`).
    Labels,
}

/// Parameters of [`Querier::volume`] (Loki's `/index/volume`).
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    /// Label names to group by; empty means the names used in the selector.
    pub target_labels: Vec<String>,
    /// Grouping mode.
    pub aggregate_by: AggregateBy,
    /// Most groups returned (largest first); `0` means Loki's default of 100.
    pub limit: usize,
}

/// One group of [`Querier::volume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The group's labels (`[(name, "")]` when aggregating by label).
    pub labels: Vec<(String, String)>,
    /// Uncompressed bytes of the group's chunks in range.
    pub bytes: u64,
}

/// Bytes per group, counted as [`Querier::volume`] counts them: for callers
/// that add streams the index does not hold (data still in memory) to an
/// index answer, or merge several answers.
///
/// ```
/// use loki_index::{Labels, MatchOp, Matcher, Selector, Volume, VolumeRequest, VolumeTally};
///
/// let selector = Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+")?])?;
/// let mut tally = VolumeTally::new(&selector, &VolumeRequest::default());
/// tally.add(&Labels::new([("app", "shop"), ("env", "prod")])?, 10);
/// tally.add_volume(Volume { labels: vec![("app".into(), "shop".into())], bytes: 5 });
/// tally.add(&Labels::new([("app", "db")])?, 3);
/// let volumes = tally.finish();
/// assert_eq!(volumes[0], Volume { labels: vec![("app".into(), "shop".into())], bytes: 15 });
/// assert_eq!(volumes[1].bytes, 3);
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug)]
pub struct VolumeTally {
    targets: Vec<String>,
    aggregate_by: AggregateBy,
    limit: usize,
    groups: BTreeMap<Vec<(String, String)>, u64>,
}

impl VolumeTally {
    /// An empty tally grouping by `request`'s target labels (default: the
    /// names `selector` uses), keeping at most `request.limit` groups (0:
    /// Loki's 100).
    pub fn new(selector: &Selector, request: &VolumeRequest) -> VolumeTally {
        let mut targets = request.target_labels.clone();
        if targets.is_empty() {
            targets = selector
                .matchers()
                .iter()
                .map(|m| m.name().to_owned())
                .collect();
        }
        targets.sort_unstable();
        targets.dedup();
        VolumeTally {
            targets,
            aggregate_by: request.aggregate_by,
            limit: if request.limit == 0 {
                100
            } else {
                request.limit
            },
            groups: BTreeMap::new(),
        }
    }

    /// The label names groups are made of.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Adds one stream's bytes to its group (or, aggregating by labels, to
    /// each of its target label names). A stream with none of the target
    /// labels counts nowhere.
    pub fn add(&mut self, labels: &Labels, bytes: u64) {
        let Some(labels) = labels.project(&self.targets) else {
            return;
        };
        match self.aggregate_by {
            AggregateBy::Series => {
                let key = labels
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                *self.groups.entry(key).or_default() += bytes;
            }
            AggregateBy::Labels => {
                for (n, _) in labels.iter() {
                    *self
                        .groups
                        .entry(vec![(n.to_owned(), String::new())])
                        .or_default() += bytes;
                }
            }
        }
    }

    /// Adds a group of another answer made with the same request.
    pub fn add_volume(&mut self, volume: Volume) {
        *self.groups.entry(volume.labels).or_default() += volume.bytes;
    }

    /// The groups, largest first (ties by labels), at most the limit.
    pub fn finish(self) -> Vec<Volume> {
        let mut out: Vec<Volume> = self
            .groups
            .into_iter()
            .map(|(labels, bytes)| Volume { labels, bytes })
            .collect();
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.labels.cmp(&b.labels)));
        out.truncate(self.limit);
        out
    }
}

/// Answers queries over an optional head and any number of segments; results
/// are the union over all of them, deduplicated.
///
/// Series and chunks present in several places (for example in the head and
/// in a segment flushed from it) are reported once. A series is visible in a
/// time range only if it has a chunk overlapping that range.
///
/// ```
/// use loki_index::{ChunkRef, HeadIndex, Labels, MatchOp, Matcher, Querier, Selector, TimeRange};
///
/// let head = HeadIndex::new();
/// let chunk = ChunkRef { from: 0, through: 99, checksum: 7, compressed_size: 10, entries: 3, uncompressed_size: 60 };
/// head.insert(&Labels::new([("app", "cart"), ("env", "prod")])?, chunk)?;
/// head.insert(&Labels::new([("app", "shop"), ("env", "dev")])?, chunk)?;
///
/// let q = Querier::new(Some(&head), &[]);
/// let sel = Selector::new(vec![Matcher::new("env", MatchOp::Regex, "prod|staging")?])?;
/// let refs = q.chunk_refs(&sel, TimeRange::new(50, 60))?;
/// assert_eq!(refs.len(), 1);
/// assert_eq!(q.label_values("app", None, TimeRange::ALL)?, ["cart", "shop"]);
/// assert_eq!(q.stats(&sel, TimeRange::ALL)?.entries, 3);
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Querier<'a> {
    head: Option<&'a HeadIndex>,
    segments: &'a [Segment],
}

impl<'a> Querier<'a> {
    /// A querier over `head` (if any) and `segments`.
    pub fn new(head: Option<&'a HeadIndex>, segments: &'a [Segment]) -> Querier<'a> {
        Querier { head, segments }
    }

    /// Runs `f` over every source, holding the head's read lock meanwhile.
    fn with_sources<T>(&self, f: impl FnOnce(&[&dyn Source]) -> Result<T>) -> Result<T> {
        let guard = self.head.map(HeadIndex::read);
        let mut sources: Vec<&dyn Source> = Vec::with_capacity(self.segments.len() + 1);
        if let Some(g) = &guard {
            sources.push(&**g);
        }
        sources.extend(self.segments.iter().map(|s| s as &dyn Source));
        f(&sources)
    }

    /// The chunk refs of the streams matching `selector` that overlap
    /// `range`, each once. The order is unspecified (sort if needed); with
    /// one source it follows the source's series order.
    pub fn chunk_refs(&self, selector: &Selector, range: TimeRange) -> Result<Vec<SeriesChunkRef>> {
        self.with_sources(|sources| {
            let mut out = Vec::new();
            for src in sources {
                each_live(*src, selector, range, &mut |_, fingerprint, chunks| {
                    out.extend(
                        chunks
                            .iter()
                            .map(|&chunk| SeriesChunkRef { fingerprint, chunk }),
                    );
                    Ok(())
                })?;
            }
            if sources.len() > 1 {
                out.sort_unstable();
                out.dedup();
            }
            Ok(out)
        })
    }

    /// The label sets of the series matching `selector` (all series for
    /// `None`) with data in `range`, sorted and deduplicated.
    pub fn series(&self, selector: Option<&Selector>, range: TimeRange) -> Result<Vec<Labels>> {
        self.with_sources(|sources| {
            let mut out = BTreeSet::new();
            for src in sources {
                for id in &select_live(*src, selector, range)? {
                    out.insert(src.labels(id)?);
                }
            }
            Ok(out.into_iter().collect())
        })
    }

    /// Label names of the series matching `selector` (all for `None`) with
    /// data in `range`, sorted.
    pub fn label_names(
        &self,
        selector: Option<&Selector>,
        range: TimeRange,
    ) -> Result<Vec<String>> {
        self.with_sources(|sources| {
            let mut out = BTreeSet::new();
            for src in sources {
                if selector.is_none() && covers(*src, range) {
                    out.extend(src.all_names()?);
                    continue;
                }
                for id in &select_live(*src, selector, range)? {
                    src.names_of(id, &mut out)?;
                }
            }
            Ok(out.into_iter().collect())
        })
    }

    /// Values of label `name` among the series matching `selector` (all for
    /// `None`) with data in `range`, sorted.
    pub fn label_values(
        &self,
        name: &str,
        selector: Option<&Selector>,
        range: TimeRange,
    ) -> Result<Vec<String>> {
        self.with_sources(|sources| {
            let mut out = Vec::new();
            for src in sources {
                if selector.is_none() && covers(*src, range) {
                    out.extend(src.all_values(name)?);
                    continue;
                }
                let ids = select_live(*src, selector, range)?;
                if ids.len() < src.value_count(name)? {
                    for id in &ids {
                        out.extend(src.value_of(id, name)?);
                    }
                } else {
                    out.extend(src.values_in(name, &ids)?);
                }
            }
            // Sources answer sorted; only several sources or per-series
            // lookups need sorting again.
            if !out.is_sorted() {
                out.sort_unstable();
            }
            out.dedup();
            Ok(out)
        })
    }

    /// Streams, chunks, bytes and entries of the series matching `selector`
    /// in `range` (Loki's `/index/stats`). Chunks are counted whole.
    pub fn stats(&self, selector: &Selector, range: TimeRange) -> Result<Stats> {
        self.with_sources(|sources| {
            let mut seen: HashSet<(u64, ChunkRef)> = HashSet::new();
            let mut streams: HashSet<u64> = HashSet::new();
            let mut stats = Stats::default();
            for src in sources {
                each_live(*src, selector, range, &mut |_, fp, chunks| {
                    streams.insert(fp);
                    for c in chunks {
                        if sources.len() == 1 || seen.insert((fp, *c)) {
                            stats.chunks += 1;
                            stats.bytes += c.uncompressed_size;
                            stats.entries += c.entries as u64;
                        }
                    }
                    Ok(())
                })?;
            }
            stats.streams = streams.len() as u64;
            Ok(stats)
        })
    }

    /// Bytes per group of series matching `selector` in `range`, largest
    /// first, at most `request.limit` groups (Loki's `/index/volume`).
    pub fn volume(
        &self,
        selector: &Selector,
        range: TimeRange,
        request: &VolumeRequest,
    ) -> Result<Vec<Volume>> {
        let mut tally = VolumeTally::new(selector, request);
        self.with_sources(|sources| {
            let mut seen: HashSet<(u64, ChunkRef)> = HashSet::new();
            for src in sources {
                each_live(*src, selector, range, &mut |id, fp, chunks| {
                    let bytes: u64 = chunks
                        .iter()
                        .filter(|c| sources.len() == 1 || seen.insert((fp, **c)))
                        .map(|c| c.uncompressed_size)
                        .sum();
                    tally.add(&src.labels(id)?, bytes);
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        Ok(tally.finish())
    }
}

/// Calls `f(id, fingerprint, chunks in range)` for each series of `src`
/// matching `selector` that has chunks in `range`.
fn each_live(
    src: &dyn Source,
    selector: &Selector,
    range: TimeRange,
    f: &mut SeriesVisitor<'_>,
) -> Result<()> {
    if !src.time_bounds().is_some_and(|b| b.overlaps(&range)) {
        return Ok(());
    }
    let ids = select(src, Some(selector))?;
    src.for_each_series(&ids, range, &mut |id, fp, chunks| {
        if chunks.is_empty() {
            Ok(())
        } else {
            f(id, fp, chunks)
        }
    })
}
