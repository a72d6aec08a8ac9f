//! LogQL for the `loki` crate family: the complete language of Grafana
//! Loki's queries, as a lexer, a parser producing an AST with byte spans,
//! Loki's parse-time semantic checks, a canonical printer and the
//! multi-line `format_query` printer. It is also the one place that parses
//! label-set text (`{a="b", c="d"}`) for the push path.
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
//! # Layout
//!
//! | item | what |
//! |---|---|
//! | [`parse`], [`Expr`], [`ast`] | queries and their tree; `Display` is the canonical form, [`Expr::pretty`] the `format_query` form |
//! | [`parse_labels`], [`LabelSet`] | label-set text of push requests |
//! | [`Error`], [`ParseError`], [`ParseErrorKind`] | what went wrong, where |
//!
//! Internally `syntax/` holds the lexer, one parser file per construct,
//! the semantic checks, the Go-template and pattern parsers, and the two
//! printers; the evaluator will live beside it.
//!
//! # Crate features
//!
//! None. The crate is synchronous and has no optional parts.
//!
//! # Dependencies
//!
//! - `regex-syntax`: checks at parse time that every regex (matchers, `|~`,
//!   `regexp`, `label_replace`) is valid RE2-compatible syntax, and tells
//!   whether a selector regex can match the empty string.
//! - `regex`: compiles the few regexes whose empty-match or named-group
//!   answer needs a real matcher (and, later, evaluation).
//! - `thiserror`: the [`Error`] and [`ParseErrorKind`] displays.

mod error;
pub mod eval;
mod pipeline;
pub mod storage;
mod syntax;
mod template;

pub use error::{Error, ParseError, ParseErrorKind, Result};
pub use eval::{Engine, Entry, Limits, QueryParams, QueryResult, Sample, Series, Stream};
pub use pipeline::LineFilterSet;
pub use storage::{Direction, EntryBatch, MemoryStorage, SelectRequest, Storage, StorageError};
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
