//! Query splitting: a range query cut into time slices that can be
//! evaluated independently (in parallel) and merged into exactly the
//! answer of the whole query (Loki's `split_queries_by_interval`).
//!
//! - Metric queries: every step is evaluated from its own window, so the
//!   steps are grouped into slices of at most `interval`, aligned on the
//!   step grid; the merged matrix concatenates each series' points.
//! - Log queries: `[start, end)` is cut into slices; they are read in the
//!   query's direction and reading stops once `limit` entries are found.
//!   Each slice asks only for the entries still missing.
//!
//! ```
//! use loki_logql::split::{split_range, Slice};
//! use loki_logql::QueryParams;
//!
//! let p = QueryParams::range(0, 100, 10);
//! let slices = split_range(&p, 50, true);
//! assert_eq!(slices.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), vec![(0, 40), (50, 90), (100, 100)]);
//! ```

use std::collections::BTreeMap;
use std::future::Future;

use futures::stream::{self, StreamExt};

use crate::storage::Direction;
use crate::{
    Engine, Error, Expr, LabelSet, QueryParams, QueryResult, Result, Series, Storage, Stream,
};

/// Most slices one query is cut into.
pub const MAX_SLICES: usize = 1024;

/// One time slice of a split query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// First step (metric) or first nanosecond (log), inclusive.
    pub start: i64,
    /// Last step (metric, inclusive) or the end (log, exclusive).
    pub end: i64,
}

/// Cuts `params`' range into slices of at most `interval` ns. For metric
/// queries (`metric == true`) slices hold whole steps of the step grid
/// `start + k·step` and `end` is the slice's last step; for log queries
/// slices are half-open `[start, end)` and come in the order they must be
/// read (newest first for [`Direction::Backward`]). An `interval` ≤ 0, an
/// instant query, or a range shorter than `interval` gives one slice. The
/// interval is widened so there are never more than [`MAX_SLICES`].
pub fn split_range(params: &QueryParams, interval: i64, metric: bool) -> Vec<Slice> {
    let whole = vec![Slice {
        start: params.start,
        end: params.end,
    }];
    let Some(length) = params.end.checked_sub(params.start) else {
        return whole;
    };
    if interval <= 0 || length <= 0 {
        return whole;
    }
    let interval = interval.max(length / MAX_SLICES as i64 + 1);
    if metric {
        if params.step <= 0 {
            return whole;
        }
        let per_slice = (interval / params.step).max(1);
        let steps = length / params.step + 1;
        let mut out = Vec::new();
        let mut k = 0;
        while k < steps {
            let last = (k + per_slice - 1).min(steps - 1);
            out.push(Slice {
                start: params.start + k * params.step,
                end: params.start + last * params.step,
            });
            k = last + 1;
        }
        return out;
    }
    let mut out = Vec::new();
    let mut t = params.start;
    while t < params.end {
        let end = t.saturating_add(interval).min(params.end);
        out.push(Slice { start: t, end });
        t = end;
    }
    if params.direction == Direction::Backward {
        out.reverse();
    }
    out
}

/// Merges the results of metric slices (in time order) into one matrix:
/// series by labels, points concatenated.
///
/// ```
/// use loki_logql::split::merge_matrices;
/// use loki_logql::{LabelSet, QueryResult, Sample, Series};
/// let part = |t: i64| QueryResult::Matrix(vec![Series {
///     labels: LabelSet::default(),
///     samples: vec![Sample { timestamp: t, value: 1.0 }],
/// }]);
/// let QueryResult::Matrix(m) = merge_matrices(vec![part(1), part(2)])? else { unreachable!() };
/// assert_eq!(m[0].samples.len(), 2);
/// # Ok::<(), loki_logql::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParams`] if a part is not a matrix.
pub fn merge_matrices(parts: Vec<QueryResult>) -> Result<QueryResult> {
    let mut series: BTreeMap<LabelSet, Series> = BTreeMap::new();
    for part in parts {
        // A slice of one step is evaluated as an instant query.
        let part = match part {
            QueryResult::Matrix(part) | QueryResult::Vector(part) => part,
            QueryResult::Scalar(sample) => vec![Series {
                labels: LabelSet::default(),
                samples: vec![sample],
            }],
            QueryResult::Streams(_) => {
                return Err(Error::InvalidParams(
                    "a slice of a metric range query returned streams".to_owned(),
                ))
            }
        };
        for s in part {
            match series.get_mut(&s.labels) {
                Some(existing) => existing.samples.extend(s.samples),
                None => {
                    series.insert(s.labels.clone(), s);
                }
            }
        }
    }
    Ok(QueryResult::Matrix(series.into_values().collect()))
}

/// Merges log slices read in direction order: streams by labels, entries
/// concatenated, at most `limit` in all.
///
/// ```
/// use loki_logql::split::merge_streams;
/// use loki_logql::{parse_labels, Entry, QueryResult, Stream};
/// let labels = parse_labels(r#"{app="a"}"#)?;
/// let part = |ts: i64| QueryResult::Streams(vec![Stream {
///     labels: labels.clone(),
///     entries: vec![Entry::new(ts, ts.to_string())],
/// }]);
/// let QueryResult::Streams(merged) = merge_streams(vec![part(9), part(5)], 2)? else { unreachable!() };
/// assert_eq!(merged[0].entries.iter().map(|e| e.timestamp).collect::<Vec<_>>(), [9, 5]);
/// assert!(merge_streams(vec![part(9), part(5)], 1).is_err());
/// # Ok::<(), loki_logql::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParams`] if a part is not a streams result.
pub fn merge_streams(parts: Vec<QueryResult>, limit: usize) -> Result<QueryResult> {
    let mut streams: BTreeMap<LabelSet, Stream> = BTreeMap::new();
    let mut total = 0;
    for part in parts {
        let QueryResult::Streams(part) = part else {
            return Err(Error::InvalidParams(
                "a slice of a log query did not return streams".to_owned(),
            ));
        };
        for s in part {
            total += s.entries.len();
            match streams.get_mut(&s.labels) {
                Some(existing) => existing.entries.extend(s.entries),
                None => {
                    streams.insert(s.labels.clone(), s);
                }
            }
        }
    }
    if total > limit {
        return Err(Error::InvalidParams(format!(
            "log slices returned {total} entries for a limit of {limit}"
        )));
    }
    Ok(QueryResult::Streams(streams.into_values().collect()))
}

fn entries(result: &QueryResult) -> usize {
    match result {
        QueryResult::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
        _ => 0,
    }
}

/// Runs `expr` over `params` split by `interval`, with `run` evaluating
/// one slice: at most `parallelism` metric slices at once (the caller's
/// `run` may spawn them on other cores); log slices one after the other in
/// direction order, stopping once `limit` entries are found. Instant
/// queries, single slices and log queries with an
/// [`interval`](QueryParams::with_interval) (whose thinning runs across the
/// whole range) run whole.
///
/// The answer equals the unsplit evaluation's.
///
/// ```
/// use loki_logql::split::query_split;
/// use loki_logql::{parse, parse_labels, Engine, MemoryStorage, QueryParams, QueryResult};
/// let mut s = MemoryStorage::new();
/// let l = parse_labels(r#"{app="a"}"#)?;
/// for i in 0..10 {
///     s.push(&l, i * 1_000_000_000, &format!("line {i}"));
/// }
/// let engine = Engine::new(s);
/// let expr = parse(r#"{app="a"}"#)?;
/// let p = QueryParams::range(0, 10_000_000_000, 0).with_limit(3);
/// // Backward: the newest slice already holds 3 entries, so it is the only one read.
/// let r = futures::executor::block_on(query_split(&expr, &p, 4_000_000_000, 2, |p| {
///     let (engine, expr) = (&engine, &expr);
///     async move { engine.eval(expr, &p).await }
/// }))?;
/// let QueryResult::Streams(streams) = r else { unreachable!() };
/// assert_eq!(streams[0].entries[0].line, "line 9");
/// assert_eq!(streams[0].entries.len(), 3);
/// # Ok::<(), loki_logql::Error>(())
/// ```
///
/// # Errors
/// The first slice's error.
pub async fn query_split<F, Fut>(
    expr: &Expr,
    params: &QueryParams,
    interval: i64,
    parallelism: usize,
    run: F,
) -> Result<QueryResult>
where
    F: Fn(QueryParams) -> Fut,
    Fut: Future<Output = Result<QueryResult>>,
{
    let metric = matches!(expr, Expr::Metric(_));
    let instant = params.step <= 0 || params.start == params.end;
    if (metric && instant) || (!metric && params.interval > 0) {
        return run(params.clone()).await;
    }
    let slices = split_range(params, interval, metric);
    if slices.len() <= 1 {
        return run(params.clone()).await;
    }
    let slice_params = |s: Slice| {
        let mut p = params.clone();
        p.start = s.start;
        p.end = s.end;
        p
    };
    if metric {
        let parts: Vec<Result<QueryResult>> = stream::iter(slices)
            .map(|s| run(slice_params(s)))
            .buffered(parallelism.max(1))
            .collect()
            .await;
        return merge_matrices(parts.into_iter().collect::<Result<Vec<_>>>()?);
    }
    let mut parts = Vec::new();
    let mut found = 0;
    for s in slices {
        if found >= params.limit {
            break;
        }
        let mut p = slice_params(s);
        p.limit = params.limit - found;
        let part = run(p).await?;
        found += entries(&part);
        parts.push(part);
    }
    merge_streams(parts, params.limit)
}

impl<S: Storage> Engine<S> {
    /// Parses and runs a query split by `interval` ns, at most
    /// `parallelism` slices at once on this task (see [`query_split`]).
    ///
    /// ```
    /// use loki_logql::{Engine, MemoryStorage, QueryParams, parse_labels};
    /// let mut s = MemoryStorage::new();
    /// let l = parse_labels(r#"{app="a"}"#)?;
    /// for i in 0..100 {
    ///     s.push(&l, i * 1_000_000_000, "GET /x 200");
    /// }
    /// let engine = Engine::new(s);
    /// let p = QueryParams::range(0, 100_000_000_000, 5_000_000_000);
    /// let q = r#"count_over_time({app="a"}[5s])"#;
    /// let split = futures::executor::block_on(engine.query_split(q, &p, 20_000_000_000, 4))?;
    /// assert_eq!(split, futures::executor::block_on(engine.query(q, &p))?);
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::query`].
    pub async fn query_split(
        &self,
        query: &str,
        params: &QueryParams,
        interval: i64,
        parallelism: usize,
    ) -> Result<QueryResult> {
        let expr = crate::parse(query)?;
        query_split(&expr, params, interval, parallelism, |p| {
            let expr = &expr;
            async move { self.eval(expr, &p).await }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_labels, MemoryStorage};

    const S: i64 = 1_000_000_000;

    fn engine() -> Engine<MemoryStorage> {
        let mut s = MemoryStorage::new();
        for (i, app) in ["a", "b", "c"].iter().enumerate() {
            let l = parse_labels(&format!(r#"{{app="{app}", env="prod"}}"#)).unwrap();
            for t in 0..600 {
                if (t + i as i64) % (i as i64 + 2) == 0 {
                    let level = if t % 7 == 0 { "error" } else { "info" };
                    s.push(
                        &l,
                        t * S + i as i64,
                        &format!("level={level} t={t} took={}ms", t % 50),
                    );
                }
            }
        }
        Engine::new(s)
    }

    fn block<T>(f: impl Future<Output = T>) -> T {
        futures::executor::block_on(f)
    }

    #[test]
    fn metric_slices_cover_the_step_grid_once() {
        let p = QueryParams::range(7, 7 + 10 * 3, 3);
        for interval in [1, 3, 4, 9, 10, 100] {
            let slices = split_range(&p, interval, true);
            let steps: Vec<i64> = slices
                .iter()
                .flat_map(|s| {
                    (0..)
                        .map(move |k| s.start + k * 3)
                        .take_while(move |t| *t <= s.end)
                })
                .collect();
            assert_eq!(steps, (0..=10).map(|k| 7 + 3 * k).collect::<Vec<_>>());
        }
        let log = QueryParams::range(0, 10, 0).with_direction(Direction::Backward);
        assert_eq!(
            split_range(&log, 4, false),
            vec![
                Slice { start: 8, end: 10 },
                Slice { start: 4, end: 8 },
                Slice { start: 0, end: 4 }
            ]
        );
        assert_eq!(split_range(&log, 0, false).len(), 1);
        let huge = QueryParams::range(0, i64::MAX, 0);
        let slices = split_range(&huge, 1, false);
        assert!(slices.len() <= MAX_SLICES);
        assert_eq!(slices.first().map(|s| s.end), Some(i64::MAX));
        assert_eq!(slices.last().map(|s| s.start), Some(0));
        let unsplittable = QueryParams::range(i64::MIN, i64::MAX, 0);
        assert_eq!(split_range(&unsplittable, 1, false).len(), 1);
    }

    #[test]
    fn split_and_whole_metric_queries_agree() {
        let e = engine();
        for q in [
            r#"count_over_time({env="prod"}[30s])"#,
            r#"sum by (app) (rate({env="prod"} |= "error" [1m]))"#,
            r#"avg_over_time({env="prod"} | logfmt | unwrap duration(took) [45s])"#,
            r#"sum(count_over_time({app="a"}[10s])) / 2"#,
        ] {
            for (step, interval) in [(10, 60), (7, 100), (60, 30), (15, 600)] {
                let p = QueryParams::range(100 * S, 500 * S, step * S);
                let whole = block(e.query(q, &p)).unwrap();
                let split = block(e.query_split(q, &p, interval * S, 3)).unwrap();
                assert_eq!(whole, split, "{q} step {step} interval {interval}");
            }
        }
    }

    #[test]
    fn split_and_whole_log_queries_agree() {
        let e = engine();
        for q in [
            r#"{env="prod"}"#,
            r#"{env="prod"} |= "error" | logfmt | took > 20ms"#,
            r#"{app=~"a|c"} | line_format "{{.t}}""#,
        ] {
            for direction in [Direction::Backward, Direction::Forward] {
                for limit in [1, 7, 100, 5000] {
                    for interval in [13, 60, 1000] {
                        let p = QueryParams::range(50 * S, 550 * S, 0)
                            .with_limit(limit)
                            .with_direction(direction);
                        let whole = block(e.query(q, &p)).unwrap();
                        let split = block(e.query_split(q, &p, interval * S, 2)).unwrap();
                        assert_eq!(
                            whole, split,
                            "{q} {direction:?} limit {limit} interval {interval}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn log_queries_with_an_interval_run_whole() {
        let e = engine();
        let q = r#"{env="prod"}"#;
        for direction in [Direction::Backward, Direction::Forward] {
            let p = QueryParams::range(50 * S, 550 * S, 0)
                .with_limit(1000)
                .with_direction(direction)
                .with_interval(7 * S);
            let whole = block(e.query(q, &p)).unwrap();
            let split = block(e.query_split(q, &p, 13 * S, 2)).unwrap();
            assert_eq!(whole, split, "{direction:?}");
        }
    }

    #[test]
    fn instant_queries_run_whole() {
        let e = engine();
        let q = r#"count_over_time({env="prod"}[1m])"#;
        let p = QueryParams::instant(300 * S);
        assert_eq!(
            block(e.query(q, &p)).unwrap(),
            block(e.query_split(q, &p, S, 4)).unwrap()
        );
    }
}
