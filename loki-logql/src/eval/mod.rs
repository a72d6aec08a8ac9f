//! Query evaluation: log queries to streams, metric queries to vectors,
//! matrices and scalars, over a [`Storage`].
//!
//! | file | what |
//! |---|---|
//! | `types.rs` | results and their Loki JSON shape |
//! | `limits.rs` | resource limits and cancellation, checked while streaming |
//! | `log.rs` | log queries: pipeline, limit, direction, early stop |
//! | `range.rs` | range aggregations: windows per step, unwrap |
//! | `acc.rs` | per-window accumulators and their final values |
//! | `vector.rs` | vector aggregations, `label_replace`, `vector()` |
//! | `binary.rs` | binary operators and vector matching |

mod acc;
mod binary;
mod limits;
mod log;
mod range;
mod types;
mod vector;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use limits::Limits;
pub use types::{Entry, EntryLabels, QueryResult, Sample, Series, Stream};

use crate::error::{Error, Result};
use crate::storage::{Direction, Storage};
use crate::syntax::ast::{Expr, Grouping, MetricExpr, RangeAggregation, VectorAggregation};
use crate::LabelSet;
use limits::Budget;

/// Time range, step, limit and direction of a query.
///
/// ```
/// use loki_logql::{QueryParams, Direction};
/// let p = QueryParams::range(0, 60_000_000_000, 15_000_000_000).with_limit(10);
/// assert_eq!(p.limit, 10);
/// assert_eq!(p.direction, Direction::Backward);
/// assert_eq!(QueryParams::instant(5).start, 5);
/// ```
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// Start, Unix ns (inclusive for log queries; the first step).
    pub start: i64,
    /// End, Unix ns (exclusive for log queries; the last step if aligned).
    pub end: i64,
    /// Step in ns for metric range queries; 0 means an instant query at `end`.
    pub step: i64,
    /// Most entries a log query returns.
    pub limit: usize,
    /// Order of log query results.
    pub direction: Direction,
    /// Loki's `interval` for log queries, in ns: in direction order across
    /// all streams, return the first entry and then only entries at least
    /// this far from the last one returned. 0 returns every entry.
    pub interval: i64,
    /// Set to `true` from elsewhere to cancel the query.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Log queries group entries by their stream labels alone and give
    /// each entry its structured metadata and parsed labels apart
    /// ([`Entry::categorized`]), as Loki does for the
    /// `X-Loki-Response-Encoding-Flags: categorize-labels` header.
    pub categorize_labels: bool,
}

impl QueryParams {
    /// An instant query at `time`.
    pub fn instant(time: i64) -> Self {
        QueryParams {
            start: time,
            end: time,
            step: 0,
            limit: 100,
            direction: Direction::Backward,
            interval: 0,
            cancel: None,
            categorize_labels: false,
        }
    }

    /// A range query; for log queries `step` is ignored.
    pub fn range(start: i64, end: i64, step: i64) -> Self {
        QueryParams {
            start,
            end,
            step,
            ..QueryParams::instant(end)
        }
    }

    /// Sets the entry limit of log queries.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the direction of log queries.
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Sets the `interval` of log queries (ns; 0 for none).
    ///
    /// ```
    /// use loki_logql::{Engine, MemoryStorage, QueryParams, QueryResult, parse_labels};
    /// let mut s = MemoryStorage::new();
    /// let l = parse_labels(r#"{app="a"}"#)?;
    /// for t in 1..=6 {
    ///     s.push(&l, t * 1_000_000_000, &format!("line {t}"));
    /// }
    /// let p = QueryParams::range(0, 10_000_000_000, 0).with_interval(2_000_000_000);
    /// let r = futures::executor::block_on(Engine::new(s).query(r#"{app="a"}"#, &p))?;
    /// let QueryResult::Streams(st) = r else { unreachable!() };
    /// let lines: Vec<&str> = st[0].entries.iter().map(|e| e.line.as_str()).collect();
    /// assert_eq!(lines, ["line 6", "line 4", "line 2"]);
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn with_interval(mut self, interval: i64) -> Self {
        self.interval = interval.max(0);
        self
    }

    /// Asks log queries for categorized labels (see
    /// [`QueryParams::categorize_labels`]).
    ///
    /// ```
    /// use loki_logql::{Engine, MemoryStorage, QueryParams, QueryResult, parse_labels};
    /// let mut s = MemoryStorage::new();
    /// let l = parse_labels(r#"{app="a"}"#)?;
    /// s.push_with_metadata(&l, 1, "level=warn msg=hi", &[("trace_id", "7f")]);
    /// let p = QueryParams::range(0, 10, 0).with_categorized_labels(true);
    /// let r = futures::executor::block_on(Engine::new(s).query(r#"{app="a"} | logfmt"#, &p))?;
    /// let QueryResult::Streams(st) = r else { unreachable!() };
    /// assert_eq!(st[0].labels.to_string(), r#"{app="a"}"#);
    /// let labels = st[0].entries[0].categorized.as_ref().unwrap();
    /// assert_eq!(labels.structured_metadata, [("trace_id".to_owned(), "7f".to_owned())]);
    /// assert_eq!(labels.parsed[0], ("level".to_owned(), "warn".to_owned()));
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn with_categorized_labels(mut self, on: bool) -> Self {
        self.categorize_labels = on;
        self
    }

    /// Sets a cancellation flag.
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// The evaluation steps of a metric query.
    pub(crate) fn steps(&self) -> Result<Vec<i64>> {
        if self.end < self.start {
            return Err(Error::InvalidParams("end is before start".to_owned()));
        }
        if self.step <= 0 || self.start == self.end {
            return Ok(vec![self.end]);
        }
        let n = (self.end - self.start) / self.step + 1;
        if n > 11_000 {
            return Err(Error::InvalidParams(format!(
                "exceeded maximum resolution of 11,000 points per time series ({n} steps)"
            )));
        }
        Ok((0..n).map(|i| self.start + i * self.step).collect())
    }

    fn is_instant(&self) -> bool {
        self.step <= 0 || self.start == self.end
    }
}

/// The evaluator: runs parsed queries against a [`Storage`].
///
/// ```
/// use loki_logql::{Engine, MemoryStorage, QueryParams, QueryResult, parse_labels};
/// let mut s = MemoryStorage::new();
/// let l = parse_labels(r#"{app="a"}"#)?;
/// for i in 1..=4 {
///     s.push(&l, i * 1_000_000_000, "GET /x 200");
/// }
/// let engine = Engine::new(s);
/// let r = futures::executor::block_on(
///     engine.query(r#"count_over_time({app="a"}[10s])"#, &QueryParams::instant(10_000_000_000)),
/// )?;
/// let QueryResult::Vector(v) = r else { unreachable!() };
/// assert_eq!(v[0].samples[0].value, 4.0);
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Engine<S> {
    storage: S,
    limits: Limits,
    sample_pushdown: bool,
}

/// Per-step instant vectors: `steps[i]` holds the samples at step `i`.
pub(crate) type StepVectors = Vec<Vec<(LabelSet, f64)>>;

/// An evaluated metric sub-expression.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// One number per step.
    Scalar(Vec<f64>),
    /// One instant vector per step.
    Vector(StepVectors),
}

/// What evaluation functions share.
pub(crate) struct Ctx<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) params: &'a QueryParams,
    pub(crate) steps: Vec<i64>,
    pub(crate) budget: Budget,
    /// The range aggregation whose series decide the result's series
    /// count, so that `max_series` is checked while it streams.
    pub(crate) watch: Option<SeriesWatch>,
    /// Whether eligible range aggregations ask storage for samples.
    pub(crate) sample_pushdown: bool,
}

/// A range aggregation (by address) whose new series are counted against
/// `max_series` as they appear: each is a result series (`grouping` is
/// `None`), or feeds the result series of its group under an enclosing
/// aggregation (`Some(by/without)`; `Some(None)` is one group).
#[derive(Debug, Clone)]
pub(crate) struct SeriesWatch {
    pub(crate) range: usize,
    pub(crate) grouping: Option<Option<crate::syntax::ast::Grouping>>,
}

/// Finds the range aggregation whose series count bounds the result's
/// from below: the expression itself, under arithmetic (or `bool`
/// comparison) with a scalar literal, or directly under an aggregation
/// that yields one series per group. Filters (`>` without `bool`,
/// `topk`, set operators) can shrink the result, so nothing is watched
/// under them.
fn watch_for(e: &MetricExpr) -> Option<SeriesWatch> {
    use crate::syntax::ast::{BinaryOp, VectorOp};
    match e {
        MetricExpr::RangeAggregation(r) => Some(SeriesWatch {
            range: std::ptr::from_ref(r) as usize,
            grouping: None,
        }),
        MetricExpr::Binary(b) => {
            let keeps_all = matches!(
                b.op,
                BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Mod
                    | BinaryOp::Pow
            ) || (b.return_bool
                && matches!(
                    b.op,
                    BinaryOp::Eq
                        | BinaryOp::Neq
                        | BinaryOp::Gt
                        | BinaryOp::Gte
                        | BinaryOp::Lt
                        | BinaryOp::Lte
                ));
            if !keeps_all {
                return None;
            }
            match (b.lhs.as_ref(), b.rhs.as_ref()) {
                (MetricExpr::Literal(_), v) | (v, MetricExpr::Literal(_)) => watch_for(v),
                _ => None,
            }
        }
        MetricExpr::VectorAggregation(v)
            if matches!(
                v.op,
                VectorOp::Sum
                    | VectorOp::Avg
                    | VectorOp::Min
                    | VectorOp::Max
                    | VectorOp::Count
                    | VectorOp::Stddev
                    | VectorOp::Stdvar
            ) =>
        {
            match v.expr.as_ref() {
                MetricExpr::RangeAggregation(r) => Some(SeriesWatch {
                    range: std::ptr::from_ref(r) as usize,
                    grouping: Some(v.grouping.clone()),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

impl<S: Storage> Engine<S> {
    /// An engine with default [`Limits`].
    pub fn new(storage: S) -> Self {
        Engine {
            storage,
            limits: Limits::default(),
            sample_pushdown: true,
        }
    }

    /// Whether metric queries that need only timestamps (and line lengths)
    /// ask storage for samples ([`Storage::select_samples`]); on by
    /// default. Off, they read entries like every other query; results are
    /// the same either way.
    ///
    /// ```
    /// use loki_logql::{Engine, MemoryStorage};
    /// let engine = Engine::new(MemoryStorage::new()).with_sample_pushdown(false);
    /// # let _ = engine;
    /// ```
    pub fn with_sample_pushdown(mut self, on: bool) -> Self {
        self.sample_pushdown = on;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Parses and runs a query.
    pub async fn query(&self, query: &str, params: &QueryParams) -> Result<QueryResult> {
        let expr = crate::parse(query)?;
        self.eval(&expr, params).await
    }

    /// Runs a parsed query.
    pub async fn eval(&self, expr: &Expr, params: &QueryParams) -> Result<QueryResult> {
        let mut ctx = Ctx {
            storage: &self.storage,
            params,
            steps: Vec::new(),
            budget: Budget::new(&self.limits, params.cancel.clone()),
            watch: None,
            sample_pushdown: self.sample_pushdown,
        };
        match expr {
            Expr::Log(l) => {
                if params.limit > self.limits.max_entries {
                    return Err(Error::MaxEntries {
                        requested: params.limit,
                        limit: self.limits.max_entries,
                    });
                }
                log::eval_log(&mut ctx, l).await.map(QueryResult::Streams)
            }
            Expr::Metric(m) => {
                check_approx_topk(m, true, params.is_instant())?;
                ctx.steps = params.steps()?;
                ctx.watch = watch_for(m);
                let v = eval_metric(&mut ctx, m).await?;
                finish(&ctx, v, m)
            }
        }
    }
}

/// Evaluates a metric expression at every step.
pub(crate) fn eval_metric<'a>(
    ctx: &'a mut Ctx<'_>,
    e: &'a MetricExpr,
) -> futures::future::BoxFuture<'a, Result<Value>> {
    Box::pin(async move {
        Ok(match e {
            MetricExpr::Literal(l) => Value::Scalar(vec![l.value; ctx.steps.len()]),
            MetricExpr::Vector(l) => Value::Vector(
                (0..ctx.steps.len())
                    .map(|_| vec![(LabelSet::default(), l.value)])
                    .collect(),
            ),
            MetricExpr::RangeAggregation(r) => {
                Value::Vector(range::eval_range(ctx, r, None).await?)
            }
            MetricExpr::VectorAggregation(v) => {
                let inner = match summed_range(v) {
                    Some((r, by)) => Value::Vector(range::eval_range(ctx, r, Some(&by)).await?),
                    None => eval_metric(ctx, &v.expr).await?,
                };
                Value::Vector(vector::aggregate(v, inner)?)
            }
            MetricExpr::LabelReplace(l) => {
                let inner = eval_metric(ctx, &l.expr).await?;
                Value::Vector(vector::label_replace(l, inner)?)
            }
            MetricExpr::Binary(b) => {
                let lhs = eval_metric(ctx, &b.lhs).await?;
                let rhs = eval_metric(ctx, &b.rhs).await?;
                binary::eval_binary(b, lhs, rhs)?
            }
        })
    })
}

/// A `sum` straight over a range aggregation whose value adds up across
/// series (`count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`,
/// without `unwrap` or a grouping of its own), with the sum's grouping
/// (`by ()` for a bare `sum`): the range aggregation can keep its series
/// per group from the start. The sum then adds up the same counts, but no
/// series is ever made per label the sum drops, such as a trace id in
/// every line's structured metadata (which, as in Loki, joins the line's
/// labels), where there would otherwise be one series per line.
fn summed_range(v: &VectorAggregation) -> Option<(&RangeAggregation, Grouping)> {
    use crate::syntax::ast::{RangeOp, VectorOp};
    let MetricExpr::RangeAggregation(r) = v.expr.as_ref() else {
        return None;
    };
    let adds_up = matches!(
        r.op,
        RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate
    );
    if v.op != VectorOp::Sum || !adds_up || r.grouping.is_some() || r.range.unwrap.is_some() {
        return None;
    }
    let by = v.grouping.clone().unwrap_or(Grouping {
        without: false,
        labels: Vec::new(),
        span: v.span,
    });
    Some((r, by))
}

/// Loki's restrictions on `approx_topk` (besides no `by`/`without`, which
/// the parser enforces): instant queries only, and only as the outermost
/// aggregation (the one Loki's query sharding rewrites into a count-min
/// sketch per shard). Within them it is computed exactly, a valid answer
/// of the approximation.
fn check_approx_topk(e: &MetricExpr, top: bool, instant: bool) -> Result<()> {
    use crate::syntax::ast::VectorOp;
    match e {
        MetricExpr::VectorAggregation(v) => {
            if v.op == VectorOp::ApproxTopk {
                if !instant {
                    return Err(Error::Evaluation(
                        "approx_topk error: count min sketches are only supported on instant queries"
                            .to_owned(),
                    ));
                }
                if !top {
                    return Err(Error::Evaluation(
                        "approx_topk is only supported as the outermost aggregation".to_owned(),
                    ));
                }
            }
            check_approx_topk(&v.expr, false, instant)
        }
        MetricExpr::LabelReplace(l) => check_approx_topk(&l.expr, false, instant),
        MetricExpr::Binary(b) => {
            check_approx_topk(&b.lhs, false, instant)?;
            check_approx_topk(&b.rhs, false, instant)
        }
        _ => Ok(()),
    }
}

/// Whether the outermost aggregation orders the result itself.
fn ordered_by_value(e: &MetricExpr) -> Option<bool> {
    use crate::syntax::ast::VectorOp;
    match e {
        MetricExpr::VectorAggregation(v) => match v.op {
            VectorOp::Sort | VectorOp::Bottomk => Some(false),
            VectorOp::SortDesc | VectorOp::Topk | VectorOp::ApproxTopk => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn finish(ctx: &Ctx<'_>, v: Value, e: &MetricExpr) -> Result<QueryResult> {
    let steps = &ctx.steps;
    let ms = |t: i64| t - t.rem_euclid(1_000_000);
    match v {
        Value::Scalar(xs) => {
            if ctx.params.is_instant() {
                Ok(QueryResult::Scalar(Sample {
                    timestamp: ms(steps[0]),
                    value: xs[0],
                }))
            } else {
                let samples = steps
                    .iter()
                    .zip(xs)
                    .map(|(&t, value)| Sample {
                        timestamp: ms(t),
                        value,
                    })
                    .collect();
                Ok(QueryResult::Matrix(vec![Series {
                    labels: LabelSet::default(),
                    samples,
                }]))
            }
        }
        Value::Vector(vs) => {
            if ctx.params.is_instant() {
                let mut out: Vec<Series> = vs
                    .into_iter()
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(labels, value)| Series {
                        labels,
                        samples: vec![Sample {
                            timestamp: ms(steps[0]),
                            value,
                        }],
                    })
                    .collect();
                ctx.budget.series(out.len())?;
                if ordered_by_value(e).is_none() {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Ok(QueryResult::Vector(out))
            } else {
                let mut map: std::collections::BTreeMap<LabelSet, Vec<Sample>> = Default::default();
                for (i, v) in vs.into_iter().enumerate() {
                    for (labels, value) in v {
                        map.entry(labels).or_default().push(Sample {
                            timestamp: ms(steps[i]),
                            value,
                        });
                    }
                    ctx.budget.series(map.len())?;
                }
                Ok(QueryResult::Matrix(
                    map.into_iter()
                        .map(|(labels, samples)| Series { labels, samples })
                        .collect(),
                ))
            }
        }
    }
}
