//! Log queries: entries in `[start, end)` through the pipeline, the best
//! `limit` of them in the query's direction, grouped into streams by their
//! final labels.
//!
//! Work stops early: once `limit` entries are held, a batch whose first
//! entry cannot beat the worst one held is skipped whole (a stream's later
//! entries are no better than its earlier ones), and so are its remaining
//! entries when one of them cannot.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use futures::StreamExt;

use super::{Ctx, Entry, Stream};
use crate::error::{Error, Result};
use crate::pipeline::{LineFilterSet, Pipeline};
use crate::storage::{Direction, SelectRequest};
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

pub(crate) async fn eval_log(ctx: &mut Ctx<'_>, q: &LogExpr) -> Result<Vec<Stream>> {
    let p = ctx.params;
    let limit = p.limit;
    if limit == 0 || p.end <= p.start {
        return Ok(Vec::new());
    }
    let mut pipeline = Pipeline::new(&q.pipeline)?;
    let req = SelectRequest {
        matchers: q.selector.matchers.clone(),
        start: p.start,
        end: p.end,
        direction: p.direction,
        limit: Some(limit),
        line_filters: LineFilterSet::leading(&q.pipeline),
    };
    let filters = req.line_filters.clone();
    let mut mask_buf: Vec<bool> = Vec::new();
    let backward = p.direction == Direction::Backward;
    let beats = |ts: i64, worst: i64| if backward { ts > worst } else { ts < worst };
    let mut heap: BinaryHeap<Kept> = BinaryHeap::with_capacity(limit.min(1 << 16) + 1);
    let mut seq = 0u64;
    let mut stream = ctx.storage.select(&req);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::Storage)?;
        ctx.budget.charge(batch.line_data.len())?;
        if batch.is_empty() {
            continue;
        }
        if heap.len() >= limit {
            let worst = heap.peek().map_or(0, |k| k.key.0);
            if !beats(batch.timestamps[0], worst) {
                continue;
            }
        }
        let mask: &[bool] = match &batch.mask {
            Some(m) => m,
            None if filters.is_empty() => &[],
            None => {
                filters.batch_mask(&batch.line_data, &batch.line_ends, &mut mask_buf);
                &mask_buf
            }
        };
        let mut interned: Option<(LabelSet, Arc<LabelSet>)> = None;
        for i in 0..batch.len() {
            let ts = batch.timestamps[i];
            if ts < p.start || ts >= p.end || mask.get(i) == Some(&false) {
                continue;
            }
            if heap.len() >= limit {
                let worst = heap.peek().map_or(0, |k| k.key.0);
                if !beats(ts, worst) {
                    break;
                }
            }
            let line = batch.line(i);
            if !pipeline.process(ts, line, &batch.labels, batch.metadata(i), true) {
                continue;
            }
            let labels = if pipeline.lbs.untouched() {
                batch.labels.clone()
            } else {
                let ls = pipeline.lbs.build_label_set();
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
            heap.push(Kept {
                key: (ts, seq),
                labels,
                entry: Entry {
                    timestamp: ts,
                    line: pipeline.line(line).to_owned(),
                },
                backward,
            });
            if heap.len() > limit {
                heap.pop();
            }
        }
    }
    let mut kept = heap.into_vec();
    kept.sort();
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
