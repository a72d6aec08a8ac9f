//! Metric-query nodes: log ranges, aggregations, binary operations.

use super::{Selector, Span, Stage, Unwrap};

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
pub enum RangeOp {
    /// `count_over_time`: number of lines.
    CountOverTime,
    /// `rate`: lines (or unwrapped sum) per second.
    Rate,
    /// `rate_counter`: Prometheus-style counter rate.
    RateCounter,
    /// `bytes_over_time`: sum of line lengths.
    BytesOverTime,
    /// `bytes_rate`: line bytes per second.
    BytesRate,
    /// `avg_over_time`: mean.
    AvgOverTime,
    /// `sum_over_time`: sum.
    SumOverTime,
    /// `min_over_time`: minimum.
    MinOverTime,
    /// `max_over_time`: maximum.
    MaxOverTime,
    /// `stddev_over_time`: population standard deviation.
    StddevOverTime,
    /// `stdvar_over_time`: population variance.
    StdvarOverTime,
    /// `quantile_over_time(φ, …)`: φ-quantile.
    QuantileOverTime,
    /// `first_over_time`: earliest value.
    FirstOverTime,
    /// `last_over_time`: latest value.
    LastOverTime,
    /// `absent_over_time`: 1 when there is no sample.
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
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, …)`
    Topk,
    /// `bottomk(k, …)`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
    /// `approx_topk(k, …)`
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
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `==`
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
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
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
