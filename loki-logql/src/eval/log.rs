//! Log queries: entries in `[start, end)` through the pipeline, the best
//! `limit` of them in the query's direction, grouped into streams by their
//! final labels (or, with categorized labels, by their stream labels
//! alone, each entry carrying its structured metadata and parsed labels).
//!
//! Work stops early: once `limit` entries are held, a batch whose first
//! entry cannot beat the worst one held is skipped whole (a stream's later
//! entries are no better than its earlier ones), and so are its remaining
//! entries when one of them cannot. The worst entry held is published to
//! storage through the request's [`Cutoff`], so storage stops reading a
//! stream (or skips it) once it can no longer change the answer.
//!
//! With an `interval` (Loki's `query_range` parameter for log queries),
//! the answer is Loki's thinned sequence: in direction order across all
//! streams, the first entry, then each entry at least `interval` after
//! the last one kept, up to `limit` entries. One candidate per timestamp
//! is held (ties go to the entry seen first), and candidates past the
//! `limit`-th entry of the sequence so far are dropped: a later entry can
//! only pull the sequence earlier, never later.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use futures::StreamExt;

use super::{Ctx, Entry, EntryLabels, Stream};
use crate::error::{Error, Result};
use crate::pipeline::{LineFilterSet, Pipeline};
use crate::storage::{Cutoff, Direction, SelectRequest};
use crate::syntax::ast::LogExpr;
use crate::LabelSet;

/// A kept entry, ordered so that the heap's top is the worst one.
struct Kept {
    key: (i64, u64),
    labels: Arc<LabelSet>,
    entry: Entry,
    backward: bool,
}

impl Kept {
    /// Lower is better.
    fn rank(&self) -> (i64, u64) {
        if self.backward {
            (-self.key.0, self.key.1)
        } else {
            self.key
        }
    }
}

impl PartialEq for Kept {
    fn eq(&self, o: &Self) -> bool {
        self.rank() == o.rank()
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Kept {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&o.rank())
    }
}

/// Which entries are kept: the `limit` best (a heap whose top is the
/// worst held), or, with an `interval`, Loki's thinned sequence.
enum Keeper {
    Heap(BinaryHeap<Kept>),
    /// One candidate per timestamp (the first seen), pruned past the
    /// `limit`-th entry of the thinned sequence.
    Interval {
        interval: i64,
        candidates: BTreeMap<i64, Kept>,
        bound: Option<i64>,
    },
}

impl Keeper {
    /// Whether an entry at `ts` may still enter the answer.
    fn wants(&self, ts: i64, limit: usize, backward: bool) -> bool {
        let beats = |worst: i64| if backward { ts > worst } else { ts < worst };
        match self {
            Keeper::Heap(heap) => heap.len() < limit || heap.peek().is_some_and(|k| beats(k.key.0)),
            // An entry at a timestamp already held loses the tie; `offer`
            // keeps the first.
            Keeper::Interval { bound, .. } => bound.is_none_or(beats),
        }
    }

    fn offer(&mut self, k: Kept, limit: usize) {
        match self {
            Keeper::Heap(heap) => {
                heap.push(k);
                if heap.len() > limit {
                    heap.pop();
                }
            }
            Keeper::Interval { candidates, .. } => {
                candidates.entry(k.key.0).or_insert(k);
            }
        }
    }

    /// Recomputes the bound after a batch and publishes it to storage.
    fn settle(&mut self, limit: usize, backward: bool, cutoff: &Cutoff) {
        match self {
            Keeper::Heap(heap) => {
                if heap.len() >= limit {
                    if let Some(worst) = heap.peek() {
                        cutoff.tighten(worst.key.0);
                    }
                }
            }
            Keeper::Interval {
                interval,
                candidates,
                bound,
            } => {
                let Some(last) = thinned(candidates, *interval, backward).nth(limit - 1) else {
                    return;
                };
                // A later entry can only pull the sequence earlier, so
                // nothing past its `limit`-th entry can return.
                if backward {
                    *candidates = candidates.split_off(&last);
                } else {
                    candidates.split_off(&(last + 1));
                }
                *bound = Some(last);
                cutoff.tighten(last);
            }
        }
    }

    /// The kept entries, best first.
    fn finish(self, limit: usize, backward: bool) -> Vec<Kept> {
        match self {
            Keeper::Heap(heap) => {
                let mut kept = heap.into_vec();
                kept.sort();
                kept
            }
            Keeper::Interval {
                interval,
                mut candidates,
                ..
            } => {
                let chosen: Vec<i64> = thinned(&candidates, interval, backward)
                    .take(limit)
                    .collect();
                chosen
                    .iter()
                    .filter_map(|ts| candidates.remove(ts))
                    .collect()
            }
        }
    }
}

/// The timestamps Loki's `interval` keeps, in direction order: the first
/// entry, then each entry at least `interval` after (before, backward)
/// the last one kept. As in Loki, while the last kept entry is before
/// 1970 every entry is kept.
fn thinned(
    candidates: &BTreeMap<i64, Kept>,
    interval: i64,
    backward: bool,
) -> impl Iterator<Item = i64> + '_ {
    let keys: Box<dyn Iterator<Item = &i64>> = if backward {
        Box::new(candidates.keys().rev())
    } else {
        Box::new(candidates.keys())
    };
    let mut last: Option<i64> = None;
    keys.copied().filter(move |&ts| {
        let keep = match last {
            None => true,
            Some(l) if l < 0 => true,
            Some(l) if backward => ts <= l.saturating_sub(interval),
            Some(l) => ts >= l.saturating_add(interval),
        };
        if keep {
            last = Some(ts);
        }
        keep
    })
}

pub(crate) async fn eval_log(ctx: &mut Ctx<'_>, q: &LogExpr) -> Result<Vec<Stream>> {
    let p = ctx.params;
    let limit = p.limit;
    if limit == 0 || p.end <= p.start {
        return Ok(Vec::new());
    }
    let mut pipeline = Pipeline::new(&q.pipeline)?;
    let cutoff = Arc::new(Cutoff::new(p.direction));
    let req = SelectRequest {
        matchers: q.selector.matchers.clone(),
        start: p.start,
        end: p.end,
        direction: p.direction,
        limit: Some(limit),
        line_filters: LineFilterSet::leading(&q.pipeline),
        cutoff: Some(cutoff.clone()),
    };
    let filters = req.line_filters.clone();
    let mut mask_buf: Vec<bool> = Vec::new();
    let backward = p.direction == Direction::Backward;
    let mut keeper = if p.interval > 0 {
        Keeper::Interval {
            interval: p.interval,
            candidates: BTreeMap::new(),
            bound: None,
        }
    } else {
        Keeper::Heap(BinaryHeap::with_capacity(limit.min(1 << 16) + 1))
    };
    let mut seq = 0u64;
    let mut stream = ctx.storage.select(&req);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::Storage)?;
        ctx.budget.charge(batch.line_data.len())?;
        if batch.is_empty() || !keeper.wants(batch.timestamps[0], limit, backward) {
            continue;
        }
        let mask = batch.filter_mask(&filters, &mut mask_buf);
        let mut interned: Option<(LabelSet, Arc<LabelSet>)> = None;
        for i in 0..batch.len() {
            let ts = batch.timestamps[i];
            if ts < p.start || ts >= p.end || mask.get(i) == Some(&false) {
                continue;
            }
            if !keeper.wants(ts, limit, backward) {
                // The stream's later entries are no better.
                break;
            }
            let line = batch.line(i);
            if !pipeline.process(ts, line, &batch.labels, batch.metadata(i), true) {
                continue;
            }
            let mut entry = Entry::new(ts, pipeline.line(line));
            let labels = if pipeline.lbs.untouched() {
                if p.categorize_labels {
                    entry.categorized = Some(EntryLabels::default());
                }
                batch.labels.clone()
            } else {
                let ls = if p.categorize_labels {
                    let split = pipeline.lbs.categorized();
                    entry.categorized = Some(EntryLabels {
                        structured_metadata: split.metadata,
                        parsed: split.parsed,
                    });
                    split.stream
                } else {
                    pipeline.lbs.build_label_set()
                };
                match &interned {
                    Some((k, a)) if *k == ls => a.clone(),
                    _ => {
                        let a = Arc::new(ls.clone());
                        interned = Some((ls, a.clone()));
                        a
                    }
                }
            };
            seq += 1;
            keeper.offer(
                Kept {
                    key: (ts, seq),
                    labels,
                    entry,
                    backward,
                },
                limit,
            );
        }
        keeper.settle(limit, backward, &cutoff);
    }
    let kept = keeper.finish(limit, backward);
    let mut streams: BTreeMap<Arc<LabelSet>, Vec<Entry>> = BTreeMap::new();
    for k in kept {
        streams.entry(k.labels).or_default().push(k.entry);
    }
    Ok(streams
        .into_iter()
        .map(|(labels, entries)| Stream {
            labels: (*labels).clone(),
            entries,
        })
        .collect())
}
