//! What of a query the querier sends to ingesters, so they filter, stop
//! at the limit and answer samples instead of lines, as Loki's ingesters
//! run the query they are sent.
//!
//! The evaluator hands storage a [`SelectRequest`](LogqlSelect) with the
//! selector, the query's *leading line filters* (compiled), direction,
//! limit and cutoff. The querier sends the filters back as LogQL text,
//! which it finds in the query itself: the log expressions of the query
//! whose selector is the request's and whose leading filters are as many
//! as the request's (when two such expressions disagree, no filter is
//! sent and the ingester returns every entry; the querier filters).
//!
//! The limit is sent only when it cannot cut an entry the answer needs:
//! a log query whose whole pipeline is line filters, without `interval`.
//! Then the answer is the first `limit` entries in direction order of
//! all streams together, each of which is among the first `limit` of the
//! ingester that holds it; the ingester returns those and every entry
//! tying with the last (ties are broken at the querier). Later stages
//! (parsers, label filters, formatting) run at the querier.
//!
//! Sample queries (`count_over_time`, `rate`, `bytes_*` over filters)
//! get per entry its time, line length, structured metadata and a hash
//! of the line: replicas' copies of one entry count once without moving
//! lines.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures_util::StreamExt;
use loki_logql::ast::{LogExpr, Matcher, MetricExpr, Stage, StageKind};
use loki_logql::storage::{Cutoff, SelectRequest as LogqlSelect};
use loki_logql::{Direction, Expr, LabelSet, LineFilterSet, Storage};

use crate::server::proto::{
    EntryAdapter, LabelPairAdapter, SampleMetadata, SampleStream, SelectRequest, SelectResponse,
    StreamAdapter, Timestamp,
};
use crate::server::ApiError;

/// The query a querier's storage serves, for pushdown.
#[derive(Debug)]
pub(crate) struct QueryPlan {
    expr: Expr,
    interval: i64,
}

impl QueryPlan {
    pub(crate) fn new(expr: &Expr, interval: i64) -> QueryPlan {
        QueryPlan {
            expr: expr.clone(),
            interval,
        }
    }

    /// The leading line filters of the query's log expression over
    /// `matchers` with `count` leading filters, as LogQL stages; `None`
    /// when no such expression or several that differ.
    pub(crate) fn line_filters(&self, matchers: &[Matcher], count: usize) -> Option<String> {
        let mut found: Option<String> = None;
        let mut visit = |m: &[Matcher], pipeline: &[Stage]| {
            if !same_matchers(m, matchers) || LineFilterSet::leading(pipeline).len() != count {
                return true;
            }
            let text = filters_text(&pipeline[..count]);
            match &found {
                Some(f) if *f != text => false,
                _ => {
                    found = Some(text);
                    true
                }
            }
        };
        let agreed = match &self.expr {
            Expr::Log(l) => visit(&l.selector.matchers, &l.pipeline),
            Expr::Metric(m) => walk_metric(m, &mut visit),
        };
        if agreed {
            found
        } else {
            None
        }
    }

    /// Whether the ingesters may stop at the query's limit: a log query
    /// whose pipeline is only (compiled) line filters, without `interval`.
    pub(crate) fn limit_applies(&self) -> bool {
        match &self.expr {
            Expr::Log(l) => {
                self.interval == 0 && LineFilterSet::leading(&l.pipeline).len() == l.pipeline.len()
            }
            Expr::Metric(_) => false,
        }
    }
}

/// Visits every log range of `m`; stops when `visit` returns `false`.
fn walk_metric(m: &MetricExpr, visit: &mut dyn FnMut(&[Matcher], &[Stage]) -> bool) -> bool {
    match m {
        MetricExpr::RangeAggregation(r) => visit(&r.range.selector.matchers, &r.range.pipeline),
        MetricExpr::VectorAggregation(v) => walk_metric(&v.expr, visit),
        MetricExpr::Binary(b) => walk_metric(&b.lhs, visit) && walk_metric(&b.rhs, visit),
        MetricExpr::LabelReplace(l) => walk_metric(&l.expr, visit),
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => true,
    }
}

fn same_matchers(a: &[Matcher], b: &[Matcher]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.op == y.op && x.value == y.value)
}

fn filters_text(stages: &[Stage]) -> String {
    let mut out = String::new();
    for stage in stages {
        if let StageKind::LineFilter(_) = stage.kind {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&stage.to_string());
        }
    }
    out
}

/// The selector text of `matchers`, `{a="b", …}`.
pub(crate) fn selector_text(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(", "))
}

/// FNV-1a 64 of a line: the hash that makes replicas' samples of one
/// entry count once.
pub(crate) fn line_hash(line: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in line.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What an ingester sent the queriers' selects: entries (or samples) and
/// protobuf bytes.
#[derive(Debug, Default)]
pub(crate) struct SentCounter {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// One entry: time, line, structured metadata.
type Entry = (i64, String, Vec<(String, String)>);

/// The ingester's answer to a select: reads its store through the LogQL
/// storage with the request's filters and cutoff, keeps the first `limit`
/// entries (and ties), and encodes entries or samples.
pub(crate) async fn answer(
    store: &loki_store::Store,
    req: &SelectRequest,
) -> Result<SelectResponse, ApiError> {
    let text = format!("{} {}", req.selector, req.line_filters);
    let log = match loki_logql::parse(text.trim())? {
        Expr::Log(log) => log,
        Expr::Metric(_) => {
            return Err(ApiError::bad_request(format!(
                "{text:?} is not a stream selector with line filters"
            )))
        }
    };
    let LogExpr {
        selector, pipeline, ..
    } = log;
    let filters = LineFilterSet::leading(&pipeline);
    if filters.len() != pipeline.len() {
        return Err(ApiError::bad_request(format!(
            "{:?}: only line filters can be sent to an ingester",
            req.line_filters
        )));
    }
    let direction = if req.backward && !req.samples {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let cutoff = Arc::new(Cutoff::new(direction));
    if let Some(bound) = req.cutoff {
        cutoff.tighten(bound);
    }
    let tenants: Vec<&str> = req.tenants.iter().map(String::as_str).collect();
    let storage = store.logql_storage(&tenants);
    let select = LogqlSelect {
        matchers: selector.matchers,
        start: req.start,
        end: req.end,
        direction,
        limit: None,
        line_filters: filters.clone(),
        cutoff: Some(cutoff.clone()),
    };
    let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
    let mut best = Best::new(direction, limit);
    let mut streams: HashMap<String, (Arc<LabelSet>, Vec<Entry>)> = HashMap::new();
    let mut batches = storage.select(&select);
    while let Some(batch) = batches.next().await {
        let batch = batch
            .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
        let slot = streams
            .entry(batch.labels.to_string())
            .or_insert_with(|| (batch.labels.clone(), Vec::new()));
        for i in 0..batch.len() {
            let ts = batch.timestamps[i];
            if !cutoff.wants(ts) {
                // A stream's later entries are no better.
                break;
            }
            let line = batch.line(i);
            let passed = match &batch.mask {
                Some(mask) => mask[i],
                None => filters.matches(line),
            };
            if !passed {
                continue;
            }
            slot.1
                .push((ts, line.to_owned(), batch.metadata(i).to_vec()));
            if let Some(bound) = best.offer(ts) {
                cutoff.tighten(bound);
            }
        }
    }
    let keep = best.last_kept();
    let mut out = SelectResponse::default();
    for (labels, entries) in streams.into_values() {
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| keep.is_none_or(|last| !worse(direction, e.0, last)))
            .collect();
        if entries.is_empty() {
            continue;
        }
        if req.samples {
            out.samples.push(samples(&labels, entries));
        } else {
            out.streams.push(StreamAdapter {
                labels: labels.to_string(),
                entries: entries
                    .into_iter()
                    .map(|(ts, line, metadata)| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(ts)),
                        line,
                        structured_metadata: pairs(metadata),
                    })
                    .collect(),
                hash: 0,
            });
        }
    }
    Ok(out)
}

fn pairs(metadata: Vec<(String, String)>) -> Vec<LabelPairAdapter> {
    metadata
        .into_iter()
        .map(|(name, value)| LabelPairAdapter { name, value })
        .collect()
}

fn samples(labels: &LabelSet, entries: Vec<Entry>) -> SampleStream {
    let mut out = SampleStream {
        labels: labels.to_string(),
        ..Default::default()
    };
    for (ts, line, metadata) in entries {
        if !metadata.is_empty() {
            out.metadata
                .resize(out.timestamps.len(), SampleMetadata::default());
            out.metadata.push(SampleMetadata {
                pairs: pairs(metadata),
            });
        }
        out.timestamps.push(ts);
        out.bytes.push(line.len() as u64);
        out.hashes.push(line_hash(&line));
    }
    out
}

/// `a` comes after `b` in `direction`.
fn worse(direction: Direction, a: i64, b: i64) -> bool {
    match direction {
        Direction::Forward => a > b,
        Direction::Backward => a < b,
    }
}

/// The first `limit` timestamps seen, in direction order.
struct Best {
    direction: Direction,
    limit: usize,
    /// Forward: the smallest, largest on top; backward: the largest,
    /// smallest on top (as `Reverse`).
    forward: BinaryHeap<i64>,
    backward: BinaryHeap<Reverse<i64>>,
}

impl Best {
    fn new(direction: Direction, limit: usize) -> Best {
        Best {
            direction,
            limit: if limit == 0 { usize::MAX } else { limit },
            forward: BinaryHeap::new(),
            backward: BinaryHeap::new(),
        }
    }

    /// Takes `ts` in; once `limit` are held, the cutoff that still wants
    /// entries tying with the last held.
    fn offer(&mut self, ts: i64) -> Option<i64> {
        if self.limit == usize::MAX {
            return None;
        }
        match self.direction {
            Direction::Forward => {
                self.forward.push(ts);
                if self.forward.len() > self.limit {
                    self.forward.pop();
                }
            }
            Direction::Backward => {
                self.backward.push(Reverse(ts));
                if self.backward.len() > self.limit {
                    self.backward.pop();
                }
            }
        }
        self.last_kept().map(|last| match self.direction {
            Direction::Forward => last.saturating_add(1),
            Direction::Backward => last.saturating_sub(1),
        })
    }

    /// The last timestamp of the first `limit`, once that many were seen.
    fn last_kept(&self) -> Option<i64> {
        match self.direction {
            Direction::Forward if self.forward.len() == self.limit => self.forward.peek().copied(),
            Direction::Backward if self.backward.len() == self.limit => {
                self.backward.peek().map(|r| r.0)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> QueryPlan {
        QueryPlan::new(&loki_logql::parse(query).unwrap(), 0)
    }

    fn matchers(query: &str) -> Vec<Matcher> {
        match loki_logql::parse(query).unwrap() {
            Expr::Log(l) => l.selector.matchers,
            Expr::Metric(_) => unreachable!(),
        }
    }

    #[test]
    fn line_filters_are_found_in_the_query() {
        let p = plan(r#"{app="a"} |= "err" != "x" | json | level="e""#);
        let m = matchers(r#"{app="a"}"#);
        assert_eq!(p.line_filters(&m, 2).as_deref(), Some(r#"|= "err" != "x""#));
        assert!(!p.limit_applies());
        assert!(plan(r#"{app="a"} |= "err""#).limit_applies());
        assert!(!QueryPlan::new(&loki_logql::parse(r#"{app="a"}"#).unwrap(), 5).limit_applies());
    }

    #[test]
    fn disagreeing_expressions_send_no_filter() {
        let p = plan(
            r#"sum(count_over_time({app="a"} |= "x" [1m])) / sum(count_over_time({app="a"} |= "y" [1m]))"#,
        );
        assert_eq!(p.line_filters(&matchers(r#"{app="a"}"#), 1), None);
        let p = plan(r#"sum(rate({app="a"} |~ "x|z" [1m])) / sum(rate({app="a"} [1m]))"#);
        let m = matchers(r#"{app="a"}"#);
        assert_eq!(p.line_filters(&m, 1).as_deref(), Some(r#"|~ "x|z""#));
        assert_eq!(p.line_filters(&m, 0).as_deref(), Some(""));
        assert_eq!(p.line_filters(&matchers(r#"{app="b"}"#), 0), None);
    }

    #[test]
    fn best_keeps_the_first_limit_and_ties() {
        let mut best = Best::new(Direction::Forward, 2);
        assert_eq!(best.offer(5), None);
        assert_eq!(best.offer(3), Some(6));
        assert_eq!(best.offer(1), Some(4));
        assert_eq!(best.last_kept(), Some(3));
        let mut best = Best::new(Direction::Backward, 1);
        assert_eq!(best.offer(5), Some(4));
        assert_eq!(best.offer(9), Some(8));
        assert!(worse(Direction::Backward, 5, 9));
    }

    #[test]
    fn line_hash_is_fnv1a_64() {
        assert_eq!(line_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(line_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
