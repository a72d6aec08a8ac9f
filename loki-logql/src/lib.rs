//! LogQL for the `loki` crate family: the complete language of Grafana
//! Loki's queries, as a lexer, a parser producing an AST with byte spans,
//! Loki's parse-time semantic checks, a canonical printer and the
//! multi-line `format_query` printer; and the evaluator that runs queries
//! against any [`Storage`] (log pipelines, range and vector aggregations,
//! binary operators) with Loki's results. It is also the one place that
//! parses label-set text (`{a="b", c="d"}`) for the push path.
//!
//! ```
//! use loki_logql::{parse, ast::{Expr, MetricExpr}};
//!
//! let q = parse(r#"sum by (app) (rate({env="prod"} |= "error" | json [5m]))"#)?;
//! assert!(matches!(q, Expr::Metric(MetricExpr::VectorAggregation(_))));
//! // The canonical form re-parses to the same tree.
//! assert_eq!(parse(&q.to_string())?, q);
//!
//! let err = parse(r#"{app="foo"} |= | json"#).unwrap_err();
//! assert!(err.to_string().starts_with("parse error at line 1, col 16: unexpected \"|\""));
//! # Ok::<(), loki_logql::Error>(())
//! ```
//!
//! Errors carry the query and a span, and print a caret under the problem
//! (see [`ParseError`]).
//!
//! Evaluation goes through an [`Engine`] over a [`Storage`]:
//!
//! ```
//! use loki_logql::{Engine, MemoryStorage, QueryParams, QueryResult, parse_labels};
//!
//! let mut store = MemoryStorage::new();
//! let api = parse_labels(r#"{app="api"}"#)?;
//! store.push(&api, 1_000_000_000, r#"{"level":"error","took":"1.5s"}"#);
//! store.push(&api, 2_000_000_000, r#"{"level":"info","took":"20ms"}"#);
//! let engine = Engine::new(store);
//!
//! let q = r#"sum by (level) (count_over_time({app="api"} | json [1m]))"#;
//! let r = futures::executor::block_on(engine.query(q, &QueryParams::instant(60_000_000_000)))?;
//! let QueryResult::Vector(v) = r else { unreachable!() };
//! assert_eq!(v[0].labels.to_string(), r#"{level="error"}"#);
//! assert_eq!(v[0].samples[0].value, 1.0);
//! # Ok::<(), loki_logql::Error>(())
//! ```
//!
//! # Layout
//!
//! | item | what |
//! |---|---|
//! | [`parse`], [`Expr`], [`ast`] | queries and their tree; `Display` is the canonical form, [`Expr::pretty`] the `format_query` form |
//! | [`parse_labels`], [`LabelSet`] | label-set text of push requests |
//! | [`Error`], [`ParseError`], [`ParseErrorKind`] | what went wrong, where |
//! | [`Engine`], [`QueryParams`], [`Limits`] | running queries, with resource limits |
//! | [`QueryResult`], [`Stream`], [`Series`], [`Sample`], [`Entry`], [`EntryLabels`] | results (serde: Loki's JSON `data` shape) |
//! | [`storage`]: [`Storage`], [`SelectRequest`], [`EntryBatch`], [`SampleRequest`], [`SampleBatch`], [`Cutoff`], [`LineFilterSet`], [`MemoryStorage`] | the seam storage implements |
//!
//! Internally `syntax/` holds the lexer, one parser file per construct,
//! the semantic checks, the Go-template and pattern parsers, and the two
//! printers. Beside it: `pipeline/` (one file per log pipeline stage, the
//! per-line label state), `template/` (Go `text/template` execution and
//! Loki's template functions), `eval/` (log queries, range and vector
//! aggregations, binary operators, limits, results) and `storage.rs` (the
//! seam and the in-memory store).
//!
//! # Semantics worth knowing
//!
//! - Log queries return entries with `start <= ts < end`, the `limit`
//!   best in `direction` order, grouped into streams by their final labels
//!   (sorted by labels).
//! - Range aggregations use windows `(t - offset - range, t - offset]`,
//!   stamped `t`; matrices and (unsorted-op) vectors are sorted by labels.
//! - A metric series that still carries `__error__` fails the query with
//!   [`Error::Pipeline`]. Division and modulo by zero give NaN.
//! - Templates run in UTC; `toDateInZone` knows `UTC`/`Local` (as UTC) and
//!   fixed offsets (`+02:00`), not the tz database. `approx_topk` is
//!   computed exactly (a valid answer of the approximate one), with Loki's
//!   restrictions: no grouping, instant queries only, outermost
//!   aggregation only.
//! - Sample pushdown: `count_over_time`, `rate`, `bytes_over_time`,
//!   `bytes_rate` and `absent_over_time` over a selector and line filters
//!   read timestamps (and line lengths) through
//!   [`Storage::select_samples`] instead of entries.
//! - Parser label hints: a parser followed (before any template) by a
//!   `keep` adds only the labels later stages can see, as Loki's parser
//!   hints do; lines are still parsed whole, so errors are unchanged.
//!
//! # Crate features
//!
//! None. Parsing is synchronous; evaluation is `async` over the
//! [`Storage`] stream and runs on any executor.
//!
//! # Dependencies
//!
//! - `regex-syntax`: checks at parse time that every regex (matchers, `|~`,
//!   `regexp`, `label_replace`) is valid RE2-compatible syntax, and tells
//!   whether a selector regex can match the empty string.
//! - `regex`: compiles the few regexes whose empty-match or named-group
//!   answer needs a real matcher (and, later, evaluation).
//! - `thiserror`: the [`Error`] and [`ParseErrorKind`] displays.
//! - `futures`: the async [`Storage`] stream type (`BoxStream`) and its
//!   combinators; no runtime (the crate does not depend on tokio; tests
//!   use `futures::executor`).
//! - `memchr`: `memmem` substring search for line filters, the pattern
//!   matcher and the JSON scanner.
//! - `serde`: serialising results in Loki's JSON shape.
//! - `serde_json`: the template function `fromJson`.

pub mod detect;
mod error;
mod eval;
mod pipeline;
pub mod split;
pub mod storage;
mod syntax;
mod template;

pub use error::{Error, ParseError, ParseErrorKind, Result};
pub use eval::{
    Engine, Entry, EntryLabels, Limits, QueryParams, QueryResult, Sample, Series, Stream,
};
pub use pipeline::LineFilterSet;
pub use storage::{
    Cutoff, Direction, EntryBatch, MemoryStorage, SampleBatch, SampleRequest, SelectRequest,
    Storage, StorageError,
};
pub use syntax::ast::{self, Expr, Span};
pub use syntax::labels::{parse_labels, LabelSet};

/// Parses a LogQL query (log or metric) and applies Loki's parse-time checks.
///
/// ```
/// let q = loki_logql::parse(r#"{app="api"} | logfmt | duration > 250ms"#)?;
/// assert_eq!(q.to_string(), r#"{app="api"} | logfmt | duration>250ms"#);
/// # Ok::<(), loki_logql::Error>(())
/// ```
pub fn parse(query: &str) -> Result<Expr> {
    syntax::parser::parse_query(query)
}

impl std::str::FromStr for Expr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Expr> {
        parse(s)
    }
}

impl Expr {
    /// The multi-line form of Loki's `format_query`: the canonical form
    /// when it is at most 100 bytes long, otherwise split over indented
    /// lines (aggregation arguments, binary operands and pipeline stages on
    /// their own lines). Re-parses to the same AST.
    ///
    /// ```
    /// let q = loki_logql::parse(r#"sum(rate({app="a"}[1m]))"#)?;
    /// assert_eq!(q.pretty(), q.to_string());
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn pretty(&self) -> String {
        syntax::pretty::pretty(self)
    }
}
