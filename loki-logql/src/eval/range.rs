//! Range aggregations: per series and step, the samples in
//! `(t − offset − range, t − offset]`.
//!
//! Storage is read once over the union of all windows. Each sample is
//! folded into the accumulators of the steps whose windows hold it, so
//! memory is one accumulator per series and step, not per sample (except
//! for `quantile_over_time` and `rate_counter`, which need the values).

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::acc::{keeps_samples, Acc};
use super::limits::Budget;
use super::{Ctx, StepVectors};
use crate::error::{Error, Result};
use crate::pipeline::labels::{errors, pair_hash, LabelsBuilder, ERROR_LABEL};
use crate::pipeline::{LabelFilterExpr, LineFilterSet, Pipeline};
use crate::storage::{Direction, SampleRequest, SelectRequest};
use crate::syntax::ast::{Grouping, MatchOp, RangeAggregation, RangeOp, UnwrapConversion};
use crate::syntax::literal::{parse_bytes, parse_go_duration};
use crate::LabelSet;

/// Whether `by`/`without` keeps label `k`.
pub(crate) fn keeps(g: &Grouping, k: &str) -> bool {
    g.labels.iter().any(|l| l == k) != g.without
}

/// Keeps or drops labels per `by`/`without` (vector aggregations).
pub(crate) fn group_labels(ls: &LabelSet, g: &Grouping) -> LabelSet {
    let pairs = ls
        .iter()
        .filter(|(k, _)| keeps(g, k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    LabelSet { pairs }
}

/// Converts an unwrapped label value.
fn convert(v: &str, conv: Option<UnwrapConversion>) -> std::result::Result<f64, String> {
    match conv {
        None => v
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax")),
        Some(UnwrapConversion::Bytes) => parse_bytes(v.trim())
            .map(|b| b as f64)
            .ok_or_else(|| format!("invalid bytes value {v:?}")),
        Some(UnwrapConversion::Duration | UnwrapConversion::DurationSeconds) => {
            parse_go_duration(v.trim())
                .map(|d| d as f64 / 1e9)
                .ok_or_else(|| format!("time: invalid duration {v:?}"))
        }
    }
}

/// The steps whose windows hold a sample at `ts` (as an index range).
fn step_span(steps: &[i64], ts: i64, offset: i64, range: i64) -> std::ops::Range<usize> {
    // t − offset − range < ts ≤ t − offset  ⇔  ts + offset ≤ t < ts + offset + range
    let lo_t = ts.saturating_add(offset);
    let hi_t = lo_t.saturating_add(range);
    let lo = steps.partition_point(|&t| t < lo_t);
    let hi = steps.partition_point(|&t| t < hi_t);
    lo..hi.max(lo)
}

struct SeriesState {
    labels: LabelSet,
    accs: Vec<Option<Acc>>,
}

/// Counts the result series a watched range aggregation feeds (see
/// [`SeriesWatch`](super::SeriesWatch)), failing as soon as there are more
/// than `max_series` rather than after reading everything.
struct SeriesCounter {
    /// `None`: not watched.
    grouping: Option<Option<Option<Grouping>>>,
    groups: HashSet<LabelSet>,
}

impl SeriesCounter {
    fn new(ctx: &Ctx<'_>, r: &RangeAggregation) -> SeriesCounter {
        let grouping = ctx
            .watch
            .as_ref()
            .filter(|w| w.range == std::ptr::from_ref(r) as usize)
            .map(|w| w.grouping.clone());
        SeriesCounter {
            grouping,
            groups: HashSet::new(),
        }
    }

    /// A new series `labels` appeared; `total` series exist now.
    fn add(&mut self, labels: &LabelSet, total: usize, budget: &Budget) -> Result<()> {
        match &self.grouping {
            None => Ok(()),
            Some(None) => budget.series(total),
            Some(Some(g)) => {
                if self.groups.len() <= budget.max_series() {
                    let key = match g {
                        Some(g) => group_labels(labels, g),
                        None => LabelSet::default(),
                    };
                    self.groups.insert(key);
                }
                budget.series(self.groups.len())
            }
        }
    }
}

/// Evaluates a range aggregation. `summed_by` is the grouping of a `sum`
/// around it that the caller pushed down (see
/// [`summed_range`](super::summed_range)): series are kept per that group
/// from the start, so labels the sum drops (a trace id in structured
/// metadata, say) never make series of their own.
pub(crate) async fn eval_range(
    ctx: &mut Ctx<'_>,
    r: &RangeAggregation,
    summed_by: Option<&Grouping>,
) -> Result<StepVectors> {
    let grouping = r.grouping.clone().or_else(|| summed_by.cloned());
    let steps = ctx.steps.clone();
    let lr = &r.range;
    let (first, last) = (steps[0], steps[steps.len() - 1]);
    let mut pipeline = Pipeline::new(&lr.pipeline)?;
    let post: Vec<LabelFilterExpr> = match &lr.unwrap {
        Some(u) => u
            .post_filters
            .iter()
            .map(|f| LabelFilterExpr::new(f).ok_or_else(|| Error::Plan("label filter".to_owned())))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let req = SelectRequest {
        matchers: lr.selector.matchers.clone(),
        start: first
            .saturating_sub(lr.offset)
            .saturating_sub(lr.range)
            .saturating_add(1),
        end: last.saturating_sub(lr.offset).saturating_add(1),
        direction: Direction::Forward,
        limit: None,
        line_filters: LineFilterSet::leading(&lr.pipeline),
        cutoff: None,
    };
    let filters = req.line_filters.clone();
    let mut mask_buf: Vec<bool> = Vec::new();
    // Only line filters and no unwrap: a kept line without metadata has
    // its stream's series (or its stream's group's).
    let trivial = pipeline.only_leading_filters() && lr.unwrap.is_none();
    let keep = keeps_samples(r.op);
    let nsteps = steps.len();
    let mut series: Vec<SeriesState> = Vec::new();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let label_kept = {
        let grouping = grouping.clone();
        move |k: &str| grouping.as_ref().is_none_or(|g| keeps(g, k))
    };
    if ctx.sample_pushdown
        && pipeline.only_leading_filters()
        && lr.unwrap.is_none()
        && matches!(
            r.op,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::AbsentOverTime
        )
    {
        return eval_samples(ctx, r, grouping.as_ref(), pipeline, req).await;
    }
    let mut counter = SeriesCounter::new(ctx, r);
    let mut any_at: Vec<bool> = vec![false; nsteps];
    let mut added = AddedLabelsMemo::default();
    let mut stream = ctx.storage.select(&req);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::Storage)?;
        ctx.budget.charge(batch.line_data.len())?;
        let mask = batch.filter_mask(&filters, &mut mask_buf);
        let mut batch_idx: Option<usize> = None;
        added.clear();
        for i in 0..batch.len() {
            let ts = batch.timestamps[i];
            if mask.get(i) == Some(&false) {
                continue;
            }
            let span = step_span(&steps, ts, lr.offset, lr.range);
            if span.is_empty() {
                continue;
            }
            let line = batch.line(i);
            let fast = trivial && batch_idx.is_some() && batch.metadata(i).is_empty();
            if !fast && !pipeline.process(ts, line, &batch.labels, batch.metadata(i), true) {
                continue;
            }
            let value = match &lr.unwrap {
                None => match r.op {
                    RangeOp::BytesOverTime | RangeOp::BytesRate => pipeline.line(line).len() as f64,
                    _ => 1.0,
                },
                Some(u) => {
                    let lbs = &mut pipeline.lbs;
                    let raw = lbs.get(&u.label).map(str::to_owned);
                    let v = match raw.as_deref() {
                        None | Some("") => continue,
                        Some(raw) => match convert(raw, u.conversion) {
                            Ok(v) => v,
                            Err(e) => {
                                lbs.set_err(errors::SAMPLE_EXTRACTION, e);
                                0.0
                            }
                        },
                    };
                    if !post.iter().all(|f| f.process(lbs)) {
                        continue;
                    }
                    lbs.delete(&u.label);
                    v
                }
            };
            for s in span.clone() {
                any_at[s] = true;
            }
            if r.op == RangeOp::AbsentOverTime {
                continue;
            }
            let lbs = &mut pipeline.lbs;
            if let Some(e) = lbs.get(ERROR_LABEL) {
                let e = e.to_owned();
                return Err(Error::Pipeline {
                    error_type: e,
                    series: lbs.build_label_set().to_string(),
                });
            }
            // A line of the stream's own labels has the batch's series; one
            // whose stream labels are intact, the series remembered for the
            // labels stages added; any other is looked up in full.
            let per_batch = fast || lbs.untouched();
            let intact = !per_batch && lbs.base_intact();
            let (hash, known) = if per_batch {
                (0, batch_idx)
            } else if intact {
                added.find(lbs, &label_kept)
            } else {
                (0, None)
            };
            let idx = match known {
                Some(i) => i,
                None => {
                    let i = lookup(
                        &mut series,
                        &mut index,
                        nsteps,
                        lbs,
                        &label_kept,
                        &mut counter,
                        &ctx.budget,
                    )?;
                    if per_batch {
                        batch_idx = Some(i);
                    } else if intact {
                        added.insert(hash, lbs, &label_kept, i);
                    }
                    i
                }
            };
            let st = &mut series[idx];
            for s in span {
                st.accs[s].get_or_insert_with(Acc::new).add(ts, value, keep);
            }
        }
    }
    let mut out: StepVectors = vec![Vec::new(); nsteps];
    if r.op == RangeOp::AbsentOverTime {
        let labels = absent_labels(lr);
        for (s, any) in any_at.iter().enumerate() {
            if !any {
                out[s].push((labels.clone(), 1.0));
            }
        }
        return Ok(out);
    }
    for st in &mut series {
        for (s, acc) in st.accs.iter_mut().enumerate() {
            if let Some(acc) = acc.as_mut().filter(|a| !a.is_empty()) {
                let end = steps[s] - lr.offset;
                let v = acc.value(r.op, r.param, lr.unwrap.is_some(), end - lr.range, end);
                out[s].push((st.labels.clone(), v));
            }
        }
        ctx.budget.check()?;
    }
    Ok(out)
}

/// A series of the sample path: per step, the count and the byte sum of
/// the samples in its window.
struct SampleSeries {
    labels: LabelSet,
    counts: Vec<u64>,
    sums: Vec<f64>,
}

/// A range aggregation over samples from [`Storage::select_samples`]
/// (`count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`,
/// `absent_over_time` with only line filters): timestamps, and line
/// lengths for the bytes functions, folded into per-step counts and sums.
/// Values are computed exactly as the entry path's accumulators do.
///
/// [`Storage::select_samples`]: crate::Storage::select_samples
async fn eval_samples(
    ctx: &mut Ctx<'_>,
    r: &RangeAggregation,
    grouping: Option<&Grouping>,
    mut pipeline: Pipeline,
    entries: SelectRequest,
) -> Result<StepVectors> {
    let steps = ctx.steps.clone();
    let nsteps = steps.len();
    let lr = &r.range;
    let bytes = matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let req = SampleRequest {
        matchers: entries.matchers,
        start: entries.start,
        end: entries.end,
        line_filters: entries.line_filters,
        bytes,
    };
    let mut counter = SeriesCounter::new(ctx, r);
    let mut series: Vec<SampleSeries> = Vec::new();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut any_at: Vec<bool> = vec![false; nsteps];
    let absent = r.op == RangeOp::AbsentOverTime;
    // The labels a series keeps: all of them, or those of the grouping.
    let kept = |k: &str| grouping.is_none_or(|g| keeps(g, k));
    let mut find = |labels: &std::sync::Arc<LabelSet>,
                    meta: &[(String, String)],
                    series: &mut Vec<SampleSeries>,
                    budget: &Budget|
     -> Result<usize> {
        // Only leading filters, already applied by storage: the series is
        // the stream's labels with the entry's structured metadata (those
        // the grouping keeps).
        pipeline.process(0, "", labels, meta, true);
        let lbs = &mut pipeline.lbs;
        let h = lbs.key_hash(&kept);
        let slot = index.entry(h).or_default();
        if let Some(&i) = slot.iter().find(|&&i| lbs.key_eq(&series[i].labels, &kept)) {
            return Ok(i);
        }
        series.push(SampleSeries {
            labels: lbs.build_filtered(&kept),
            counts: vec![0; nsteps],
            sums: vec![0.0; nsteps],
        });
        slot.push(series.len() - 1);
        let i = series.len() - 1;
        counter.add(&series[i].labels, series.len(), budget)?;
        Ok(i)
    };
    let mut stream = ctx.storage.select_samples(&req);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::Storage)?;
        ctx.budget
            .charge(usize::try_from(batch.scanned_bytes).unwrap_or(usize::MAX))?;
        if batch.is_empty() {
            continue;
        }
        let mut stream_idx: Option<usize> = None;
        for (i, &ts) in batch.timestamps.iter().enumerate() {
            let span = step_span(&steps, ts, lr.offset, lr.range);
            if span.is_empty() {
                continue;
            }
            if absent {
                any_at[span].iter_mut().for_each(|a| *a = true);
                continue;
            }
            let meta = batch.metadata(i);
            let idx = if meta.is_empty() {
                match stream_idx {
                    Some(x) => x,
                    None => {
                        let x = find(&batch.labels, meta, &mut series, &ctx.budget)?;
                        stream_idx = Some(x);
                        x
                    }
                }
            } else {
                find(&batch.labels, meta, &mut series, &ctx.budget)?
            };
            let st = &mut series[idx];
            if bytes {
                let b = batch.bytes.get(i).copied().unwrap_or(0) as f64;
                for s in span {
                    st.counts[s] += 1;
                    st.sums[s] += b;
                }
            } else {
                for c in &mut st.counts[span] {
                    *c += 1;
                }
            }
        }
    }
    let mut out: StepVectors = vec![Vec::new(); nsteps];
    if absent {
        let labels = absent_labels(lr);
        for (s, any) in any_at.iter().enumerate() {
            if !any {
                out[s].push((labels.clone(), 1.0));
            }
        }
        return Ok(out);
    }
    for st in &series {
        for s in 0..nsteps {
            let n = st.counts[s];
            if n == 0 {
                continue;
            }
            let end = steps[s] - lr.offset;
            let range_s = (end - (end - lr.range)) as f64 / 1e9;
            let v = match r.op {
                RangeOp::CountOverTime => n as f64,
                RangeOp::Rate => n as f64 / range_s,
                RangeOp::BytesOverTime => st.sums[s],
                _ => st.sums[s] / range_s,
            };
            out[s].push((st.labels.clone(), v));
        }
        ctx.budget.check()?;
    }
    Ok(out)
}

/// Most distinct added label sets one batch remembers.
const ADDED_MEMO_MAX: usize = 32;

/// The series of the batch's lines whose stream labels are intact, by the
/// labels stages added (a parser's few distinct results, say): such a line
/// finds its series by comparing those alone, not by hashing and comparing
/// every stream label as [`lookup`] does. A batch is one stream's lines, so
/// the stream's labels and an added set make one full label set; the memo
/// is cleared for each batch.
#[derive(Default)]
struct AddedLabelsMemo {
    seen: Vec<AddedLabels>,
}

/// One remembered set of added labels.
struct AddedLabels {
    /// Order-independent hash of `pairs`.
    hash: u64,
    /// The kept added labels.
    pairs: Vec<(String, String)>,
    /// Their series.
    series: usize,
}

impl AddedLabelsMemo {
    fn clear(&mut self) {
        self.seen.clear();
    }

    /// The hash of the kept added labels and the series remembered for
    /// exactly them (in any order), if any.
    fn find(&self, lbs: &LabelsBuilder, keep: &dyn Fn(&str) -> bool) -> (u64, Option<usize>) {
        let (mut hash, mut count) = (0u64, 0usize);
        lbs.for_each_added(&mut |k, v| {
            if keep(k) {
                hash = hash.wrapping_add(pair_hash(k, v));
                count += 1;
            }
        });
        let found = self.seen.iter().find(|seen| {
            if seen.hash != hash || seen.pairs.len() != count {
                return false;
            }
            // Names are unique in a label set: equal counts and every
            // pair present make equal sets.
            let mut all = true;
            lbs.for_each_added(&mut |k, v| {
                if all && keep(k) {
                    all = seen.pairs.iter().any(|(pk, pv)| pk == k && pv == v);
                }
            });
            all
        });
        (hash, found.map(|seen| seen.series))
    }

    /// Remembers `series` for the kept added labels (while there is room).
    fn insert(
        &mut self,
        hash: u64,
        lbs: &LabelsBuilder,
        keep: &dyn Fn(&str) -> bool,
        series: usize,
    ) {
        if self.seen.len() >= ADDED_MEMO_MAX {
            return;
        }
        let mut pairs = Vec::new();
        lbs.for_each_added(&mut |k, v| {
            if keep(k) {
                pairs.push((k.to_owned(), v.to_owned()));
            }
        });
        self.seen.push(AddedLabels {
            hash,
            pairs,
            series,
        });
    }
}

/// The series of the line's (kept) labels, created on first sight (and
/// then counted against the series limit).
fn lookup(
    series: &mut Vec<SeriesState>,
    index: &mut HashMap<u64, Vec<usize>>,
    nsteps: usize,
    lbs: &mut LabelsBuilder,
    keep: &dyn Fn(&str) -> bool,
    counter: &mut SeriesCounter,
    budget: &Budget,
) -> Result<usize> {
    let h = lbs.key_hash(keep);
    let slot = index.entry(h).or_default();
    if let Some(&i) = slot.iter().find(|&&i| lbs.key_eq(&series[i].labels, keep)) {
        return Ok(i);
    }
    series.push(SeriesState {
        labels: lbs.build_filtered(keep),
        accs: vec![None; nsteps],
    });
    slot.push(series.len() - 1);
    counter.add(&series[series.len() - 1].labels, series.len(), budget)?;
    Ok(series.len() - 1)
}

/// `absent_over_time`'s labels: the selector's `=` matchers whose name is
/// used by no other matcher.
fn absent_labels(lr: &crate::syntax::ast::LogRange) -> LabelSet {
    let m = &lr.selector.matchers;
    let mut pairs: Vec<(String, String)> = m
        .iter()
        .filter(|x| x.op == MatchOp::Eq && m.iter().filter(|y| y.name == x.name).count() == 1)
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect();
    pairs.sort();
    LabelSet { pairs }
}
