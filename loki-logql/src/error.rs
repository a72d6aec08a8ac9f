//! The crate's error type.
//!
//! Every failure to parse a query or a label set is an [`Error::Parse`]
//! holding a [`ParseError`]: the [`ParseErrorKind`], the query text and the
//! byte [`Span`] of the problem. Its `Display` prints Loki's one-line message
//! followed by the offending line and a caret under the problem:
//!
//! ```text
//! parse error at line 1, col 15: unexpected "|", expected a string
//!   {app="foo"} |= | json
//!                 ^
//! ```

use std::fmt;

use crate::syntax::span::Span;

/// The crate-wide result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query (or label-set) text is not valid LogQL. Maps to HTTP 400.
    #[error("{0}")]
    Parse(Box<ParseError>),
    /// A metric query produced a series that still carries `__error__`
    /// (Loki's `pipeline error`). Maps to HTTP 400.
    #[error("pipeline error: '{error_type}' for series: '{series}'. Use a label filter to intentionally skip this error. (e.g | __error__!=\"{error_type}\"). To skip all potential errors you can match empty errors.(e.g __error__=\"\") The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )")]
    Pipeline {
        /// The `__error__` value, e.g. `JSONParserErr`.
        error_type: String,
        /// The series' labels.
        series: String,
    },
    /// Vector matching found several series for one match group, or
    /// another evaluation-time rule of binary operators failed. HTTP 400.
    #[error("{0}")]
    Evaluation(String),
    /// Query parameters that make no sense (`end < start`, `step <= 0` on
    /// a range query, …). HTTP 400.
    #[error("invalid query parameters: {0}")]
    InvalidParams(String),
    /// The result would hold more series than allowed. HTTP 400.
    #[error("maximum number of series ({limit}) reached for a single query")]
    MaxSeries {
        /// The limit.
        limit: usize,
    },
    /// The query asked for more entries than allowed. HTTP 400.
    #[error(
        "max entries limit per query exceeded, limit > max_entries_limit ({requested} > {limit})"
    )]
    MaxEntries {
        /// The query's `limit`.
        requested: usize,
        /// The limit.
        limit: usize,
    },
    /// The query read more line bytes from storage than allowed. HTTP 400.
    #[error("the query would read too many bytes (limit: {limit} bytes)")]
    MaxBytes {
        /// The limit.
        limit: u64,
    },
    /// The query ran past its timeout. HTTP 504.
    #[error("query timed out")]
    Timeout,
    /// The caller cancelled the query. HTTP 499.
    #[error("query cancelled")]
    Cancelled,
    /// Storage failed. HTTP 500 (or 503 when retryable).
    #[error("storage error: {0}")]
    Storage(crate::storage::StorageError),
    /// A parsed query that the evaluator cannot compile (a bug: the parser
    /// accepts only what the evaluator runs). HTTP 500.
    #[error("cannot plan query: {0}")]
    Plan(String),
}

impl Error {
    /// The parse error, if this is one.
    pub fn as_parse(&self) -> Option<&ParseError> {
        match self {
            Error::Parse(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the caller sent a bad request (as opposed to a server fault):
    /// parse errors, pipeline errors, bad parameters and exceeded limits.
    ///
    /// ```
    /// let e = loki_logql::parse("{").unwrap_err();
    /// assert!(e.is_client_error());
    /// assert!(!loki_logql::Error::Timeout.is_client_error());
    /// ```
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::Parse(_)
                | Error::Pipeline { .. }
                | Error::Evaluation(_)
                | Error::InvalidParams(_)
                | Error::MaxSeries { .. }
                | Error::MaxEntries { .. }
                | Error::MaxBytes { .. }
        )
    }

    /// Whether retrying the same query may succeed (timeouts and
    /// retryable storage failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout => true,
            Error::Storage(e) => e.retryable,
            _ => false,
        }
    }
}

/// A parse failure: what went wrong, in which text, where.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    kind: ParseErrorKind,
    query: String,
    span: Span,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, query: &str, span: Span) -> Self {
        let end = span.end.min(query.len());
        let start = span.start.min(end);
        Self {
            kind,
            query: query.to_owned(),
            span: Span::new(start, end),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The complete text that was parsed.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The byte span of the problem in [`ParseError::query`].
    pub fn span(&self) -> Span {
        self.span
    }

    /// 1-based line and column (in characters) of the start of the span.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.query[..floor_char(&self.query, self.span.start)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// The one-line message Loki returns, without the caret snippet:
    /// `parse error at line 1, col 23: unexpected "|", expected …`.
    pub fn message(&self) -> String {
        let (line, col) = self.line_col();
        format!("parse error at line {line}, col {col}: {}", self.kind)
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        let start = floor_char(&self.query, self.span.start);
        let line_start = self.query[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.query[start..]
            .find('\n')
            .map_or(self.query.len(), |i| start + i);
        let line = &self.query[line_start..line_end];
        let pad: String = self.query[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let end = floor_char(&self.query, self.span.end.min(line_end)).max(start);
        let width = self.query[start..end].chars().count().max(1);
        write!(f, "\n  {line}\n  {pad}{}", "^".repeat(width))
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(Box::new(e))
    }
}

/// The reason a query or label set failed to parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A token that the grammar does not allow here.
    #[error("unexpected {found}, expected {expected}")]
    Unexpected {
        /// The token found, quoted (`"|"`), or `end of query`.
        found: String,
        /// What the grammar allows here.
        expected: String,
    },
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    InvalidCharacter(char),
    /// A string without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A bad backslash escape in a double-quoted string.
    #[error(
        "invalid escape sequence {0} in string (write \\\\ for a backslash, or use a `raw` string)"
    )]
    InvalidEscape(String),
    /// A string whose escapes decode to invalid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A malformed number literal.
    #[error("invalid number {0:?}")]
    InvalidNumber(String),
    /// A malformed duration, range or bytes literal.
    #[error("invalid duration or bytes literal {0:?}")]
    InvalidDuration(String),
    /// A `[` without its `]`.
    #[error("unterminated range, expected \"]\"")]
    UnterminatedRange,
    /// A `--flag` other than `--strict` and `--keep-empty`.
    #[error("unknown parser flag {0:?}, expected --strict or --keep-empty")]
    UnknownFlag(String),
    /// The query exceeds Loki's length limit.
    #[error("query too long: {len} bytes, the limit is {max} bytes")]
    QueryTooLong {
        /// Length of the query in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Parentheses, aggregations or operator chains nested deeper than the
    /// parser allows (a guard against stack exhaustion).
    #[error("query is nested too deeply (more than {max} levels)")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A selector where every matcher also matches the empty value.
    #[error("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will")]
    EmptyCompatibleSelector,
    /// A regular expression that does not compile.
    #[error("invalid regex {regex:?}: {message}")]
    InvalidRegex {
        /// The regex text.
        regex: String,
        /// Why it does not compile.
        message: String,
    },
    /// A `pattern` parser or `|>`/`!>` filter pattern that is not allowed.
    #[error("invalid pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// The pattern text.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `line_format`/`label_format` template that does not parse, or uses
    /// an unknown function.
    #[error("invalid template {template:?}: {message}")]
    InvalidTemplate {
        /// The template text.
        template: String,
        /// What is wrong with it.
        message: String,
    },
    /// An `ip("…")` argument that is no address, range or CIDR.
    #[error("invalid IP filter {value:?}: {message}")]
    InvalidIp {
        /// The argument.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// `ip()` used with a line-filter operator other than `|=` and `!=`.
    #[error("ip() line filters only support |= and !=, not {0}")]
    IpFilterOperator(String),
    /// A `json` extraction expression that does not parse.
    #[error("invalid JSON expression {expr:?}: {message}")]
    InvalidJsonExpression {
        /// The expression.
        expr: String,
        /// What is wrong with it.
        message: String,
    },
    /// `by`/`without` on an aggregation that does not allow grouping.
    #[error("grouping not allowed for {op} aggregation")]
    GroupingNotAllowed {
        /// The aggregation.
        op: String,
    },
    /// `unwrap` in a range aggregation that counts lines.
    #[error("invalid aggregation {op} with unwrap")]
    UnwrapNotAllowed {
        /// The aggregation.
        op: String,
    },
    /// A range aggregation over values that has no `unwrap`.
    #[error("invalid aggregation {op} without unwrap")]
    UnwrapRequired {
        /// The aggregation.
        op: String,
    },
    /// `unwrap` outside a range aggregation.
    #[error("unwrap is only allowed inside a range aggregation")]
    UnwrapOutsideRange,
    /// An aggregation that needs a parameter got none.
    #[error("parameter required for operation {op}")]
    ParameterRequired {
        /// The aggregation.
        op: String,
    },
    /// An aggregation that takes no parameter got one.
    #[error("parameter {param} not supported for operation {op}")]
    ParameterNotSupported {
        /// The aggregation.
        op: String,
        /// The parameter text.
        param: String,
    },
    /// A parameter of the wrong form (`topk` needs an integer > 0).
    #[error("invalid parameter {param} for operation {op}: {reason}")]
    InvalidParameter {
        /// The aggregation.
        op: String,
        /// The parameter text.
        param: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A number literal on either side of `and`, `or`, `unless`.
    #[error("unexpected literal for {side} leg of logical/set binary operation ({op})")]
    LiteralInSetOperation {
        /// The operator.
        op: String,
        /// `left` or `right`.
        side: &'static str,
    },
    /// `-` in front of something that is not a number literal.
    #[error("unary minus applies only to number literals; write -1 * expr")]
    UnaryMinusOnNonLiteral,
    /// A label named twice in one `label_format` stage.
    #[error("multiple label name '{name}' not allowed in a single format operation")]
    DuplicateLabelFormat {
        /// The label.
        name: String,
    },
    /// `label_format` targeting `__error__`.
    #[error("{name} cannot be formatted")]
    ErrorLabelFormat {
        /// The label.
        name: String,
    },
    /// A label name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid label name {name:?}")]
    InvalidLabelName {
        /// The name.
        name: String,
    },
    /// A label set naming the same label twice.
    #[error("duplicate label name {name:?} in label set")]
    DuplicateLabel {
        /// The name.
        name: String,
    },
    /// A label set with a matcher other than `=`.
    #[error("label sets only allow \"=\" pairs, not {op:?}")]
    LabelSetMatcher {
        /// The operator found.
        op: String,
    },
}
