//! The LogQL abstract syntax tree.
//!
//! Every node carries the byte [`Span`] of the text it was parsed from
//! (spans never take part in `==`, see [`Span`]). Parentheses are not kept:
//! the printer adds them where precedence needs them. Durations are
//! nanoseconds (`i64`). Binary operations on two number literals are folded
//! at parse time, as Loki does, so `1 + 1` is the literal `2`.

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

/// A log range: selector, pipeline, optional unwrap, range and offset.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The stream selector.
    pub selector: Selector,
    /// The pipeline before any unwrap.
    pub pipeline: Vec<Stage>,
    /// The unwrap stage.
    pub unwrap: Option<Unwrap>,
    /// The range in nanoseconds.
    pub range: i64,
    /// The offset in nanoseconds (0 = none).
    pub offset: i64,
    /// Source span.
    pub span: Span,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `rate({…}[5m])` and friends.
    RangeAggregation(RangeAggregation),
    /// `sum by (a) (…)` and friends.
    VectorAggregation(VectorAggregation),
    /// `a + b`, `a > bool b`, `a and on(x) b`.
    Binary(BinaryExpr),
    /// A number literal.
    Literal(Literal),
    /// `label_replace(v, "dst", "repl", "src", "regex")`.
    LabelReplace(LabelReplace),
    /// `vector(n)`.
    Vector(Literal),
}

impl MetricExpr {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            MetricExpr::RangeAggregation(e) => e.span,
            MetricExpr::VectorAggregation(e) => e.span,
            MetricExpr::Binary(e) => e.span,
            MetricExpr::Literal(e) | MetricExpr::Vector(e) => e.span,
            MetricExpr::LabelReplace(e) => e.span,
        }
    }
}

/// A number.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The value.
    pub value: f64,
    /// Source span.
    pub span: Span,
}

/// `op([param,] log_range) [grouping]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// The function.
    pub op: RangeOp,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
    /// The log range.
    pub range: LogRange,
    /// `by`/`without`.
    pub grouping: Option<Grouping>,
    /// Source span.
    pub span: Span,
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

impl RangeOp {
    /// Every range function.
    pub const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AvgOverTime,
        RangeOp::SumOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StddevOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::AbsentOverTime,
    ];

    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }

    /// Looks a function up by name (case-insensitive).
    pub fn from_name(name: &str) -> Option<RangeOp> {
        RangeOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }
}

/// `op [grouping] ([param,] expr) [grouping]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// The aggregation.
    pub op: VectorOp,
    /// `k` of `topk`, `bottomk`, `approx_topk`.
    pub param: Option<u64>,
    /// The aggregated expression.
    pub expr: Box<MetricExpr>,
    /// `by`/`without`.
    pub grouping: Option<Grouping>,
    /// Source span.
    pub span: Span,
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
    ApproxTopk,
}

impl VectorOp {
    /// Every vector aggregation.
    pub const ALL: [VectorOp; 12] = [
        VectorOp::Sum,
        VectorOp::Avg,
        VectorOp::Min,
        VectorOp::Max,
        VectorOp::Count,
        VectorOp::Stddev,
        VectorOp::Stdvar,
        VectorOp::Topk,
        VectorOp::Bottomk,
        VectorOp::Sort,
        VectorOp::SortDesc,
        VectorOp::ApproxTopk,
    ];

    /// The operator name.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }

    /// Looks an operator up by name (case-insensitive).
    pub fn from_name(name: &str) -> Option<VectorOp> {
        VectorOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the operator takes the integer parameter `k`.
    pub fn takes_param(self) -> bool {
        matches!(
            self,
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk
        )
    }
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The labels (may be empty).
    pub labels: Vec<String>,
    /// Source span.
    pub span: Span,
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<MetricExpr>,
    /// Right operand.
    pub rhs: Box<MetricExpr>,
    /// The `bool` modifier.
    pub return_bool: bool,
    /// `on`/`ignoring` and group modifiers.
    pub matching: Option<VectorMatching>,
    /// Source span.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Or,
    And,
    Unless,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Eq => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
        }
    }

    /// Binding strength, 1 (`or`) to 6 (`^`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Gt
            | BinaryOp::Gte
            | BinaryOp::Lt
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether `a op b op c` groups as `a op (b op c)`.
    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        self.precedence() <= 2
    }
}

/// `on(…)`/`ignoring(…)` with an optional group modifier.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The matching labels.
    pub labels: Vec<String>,
    /// `group_left`/`group_right`.
    pub group: Option<GroupModifier>,
}

/// `group_left(…)` or `group_right(…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupModifier {
    /// `group_right` rather than `group_left`.
    pub right: bool,
    /// Labels copied from the "one" side.
    pub labels: Vec<String>,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    /// The input.
    pub expr: Box<MetricExpr>,
    /// Destination label.
    pub dst: String,
    /// Replacement with `$1`/`${name}` expansions.
    pub replacement: String,
    /// Source label.
    pub src: String,
    /// Regex (fully anchored).
    pub regex: String,
    /// Source span.
    pub span: Span,
}
