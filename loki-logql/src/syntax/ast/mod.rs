//! The LogQL abstract syntax tree.
//!
//! Every node carries the byte [`Span`] of the text it was parsed from
//! (spans never take part in `==`, see [`Span`]). Parentheses are not kept:
//! the printer adds them where precedence needs them. Durations are
//! nanoseconds (`i64`). Binary operations on two number literals are folded
//! at parse time, as Loki does, so `1 + 1` is the literal `2`.

mod metric;

pub use self::metric::*;
pub use crate::syntax::span::Span;

/// A whole query: a log query or a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A selector with a pipeline, returning log lines.
    Log(LogExpr),
    /// An expression returning samples.
    Metric(MetricExpr),
}

impl Expr {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            Expr::Log(e) => e.span,
            Expr::Metric(e) => e.span(),
        }
    }
}

/// `{…} | stage | stage …`
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream selector.
    pub selector: Selector,
    /// The pipeline stages, in order.
    pub pipeline: Vec<Stage>,
    /// Source span.
    pub span: Span,
}

/// A stream selector `{a="b", c=~"d"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The label matchers, in source order.
    pub matchers: Vec<Matcher>,
    /// Source span.
    pub span: Span,
}

/// A label matcher `name op "value"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or (for `=~`, `!~`) the fully anchored regex.
    pub value: String,
    /// Source span.
    pub span: Span,
}

/// Label matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// What the stage does.
    pub kind: StageKind,
    /// Source span.
    pub span: Span,
}

/// The pipeline stages.
#[derive(Debug, Clone, PartialEq)]
pub enum StageKind {
    /// `|= "a" or "b"` and the other line filters.
    LineFilter(LineFilter),
    /// `| json` or `| json a="b.c", d`.
    Json(Vec<Extraction>),
    /// `| logfmt --strict --keep-empty a="b", c`.
    Logfmt(Logfmt),
    /// `| regexp "(?P<name>…)"`.
    Regexp(String),
    /// `| pattern "<ip> - <_>"`.
    Pattern(String),
    /// `| unpack`.
    Unpack,
    /// `| level="error" or duration > 1s`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{.msg}}"`.
    LineFormat(String),
    /// `| label_format a=b, c="{{.d}}"`.
    LabelFormat(Vec<LabelFmt>),
    /// `| decolorize`.
    Decolorize,
    /// `| drop a, b="c"`.
    Drop(Vec<LabelSelection>),
    /// `| keep a, b="c"`.
    Keep(Vec<LabelSelection>),
}

/// A line filter: an operator and one or more values joined with `or`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The operands (at least one); `|= "a" or "b"` has two.
    pub values: Vec<LineFilterValue>,
}

/// Line filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=` contains.
    Contains,
    /// `!=` does not contain.
    NotContains,
    /// `|~` matches regex.
    Match,
    /// `!~` does not match regex.
    NotMatch,
    /// `|>` matches pattern.
    Pattern,
    /// `!>` does not match pattern.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }
}

/// One operand of a line filter.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFilterValue {
    /// A string, regex or pattern, per the operator.
    Text(String),
    /// `ip("…")`: an address, range or CIDR.
    Ip(String),
}

/// A `json`/`logfmt` extraction `label="expr"` or bare `label`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// The label to create.
    pub label: String,
    /// The expression (JSON path or logfmt key); `None` when written bare,
    /// which means the label name itself.
    pub expr: Option<String>,
    /// Source span.
    pub span: Span,
}

/// `logfmt` options.
#[derive(Debug, Clone, PartialEq)]
pub struct Logfmt {
    /// `--strict`.
    pub strict: bool,
    /// `--keep-empty`.
    pub keep_empty: bool,
    /// Extractions; empty means all keys.
    pub params: Vec<Extraction>,
}

/// One `label_format` assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelFmt {
    /// The label written.
    pub target: String,
    /// Where the value comes from.
    pub source: LabelFmtSource,
    /// Source span.
    pub span: Span,
}

/// The right-hand side of a `label_format` assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmtSource {
    /// `a=b`: rename label `b` to `a`.
    Rename(String),
    /// `a="{{…}}"`: render a template.
    Template(String),
}

/// A `drop`/`keep` operand.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelection {
    /// A bare label name.
    Name {
        /// The label.
        name: String,
        /// Source span.
        span: Span,
    },
    /// A matcher: only labels whose value matches.
    Matcher(Matcher),
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// A string matcher `a="b"`, `a=~"re"`.
    Matcher(Matcher),
    /// `a = ip("…")` or `a != ip("…")`.
    Ip {
        /// The label.
        name: String,
        /// `!=`.
        negated: bool,
        /// Address, range or CIDR.
        value: String,
        /// Source span.
        span: Span,
    },
    /// A typed comparison `a > 5`, `a <= 1s`, `a == 20KB`.
    Compare {
        /// The label.
        name: String,
        /// The comparison.
        op: CmpOp,
        /// The typed literal.
        value: CompareValue,
        /// Source span.
        span: Span,
    },
    /// Both hold (`and`, `,` or juxtaposition).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds.
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

impl LabelFilter {
    /// The span of the whole filter.
    pub fn span(&self) -> Span {
        match self {
            LabelFilter::Matcher(m) => m.span,
            LabelFilter::Ip { span, .. } | LabelFilter::Compare { span, .. } => *span,
            LabelFilter::And(a, b) | LabelFilter::Or(a, b) => a.span().to(b.span()),
        }
    }
}

/// Label-filter comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==` (also written `=`).
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl CmpOp {
    /// The operator as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }
}

/// The typed literal of a label-filter comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompareValue {
    /// A finite float.
    Number(f64),
    /// A duration in nanoseconds.
    Duration(i64),
    /// A byte count.
    Bytes(u64),
}

/// `| unwrap label` with an optional conversion and trailing label filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label whose value becomes the sample.
    pub label: String,
    /// `bytes(…)`, `duration(…)`, `duration_seconds(…)`.
    pub conversion: Option<UnwrapConversion>,
    /// `| label_filter` stages after the unwrap.
    pub post_filters: Vec<LabelFilter>,
    /// Source span.
    pub span: Span,
}

/// Unwrap conversion functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnwrapConversion {
    /// `bytes(x)`: human byte sizes.
    Bytes,
    /// `duration(x)`: Go duration to seconds.
    Duration,
    /// `duration_seconds(x)`: same as `duration`.
    DurationSeconds,
}

impl UnwrapConversion {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnwrapConversion::Bytes => "bytes",
            UnwrapConversion::Duration => "duration",
            UnwrapConversion::DurationSeconds => "duration_seconds",
        }
    }
}
