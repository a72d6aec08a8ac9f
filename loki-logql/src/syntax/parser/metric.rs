//! Metric expressions: range and vector aggregations, binary operators
//! (precedence climbing), `label_replace`, `vector`, literals, log ranges.

use super::{PResult, Parser};
use crate::error::ParseErrorKind;
use crate::syntax::ast::{
    BinaryExpr, BinaryOp, GroupModifier, Grouping, LabelReplace, Literal, LogExpr, LogRange,
    MetricExpr, RangeAggregation, RangeOp, Selector, Stage, Unwrap, VectorAggregation,
    VectorMatching, VectorOp,
};
use crate::syntax::check;
use crate::syntax::lexer::Tok;
use crate::syntax::span::Span;

const EXPECTED_METRIC: &str =
    "a metric expression (aggregation, number, vector() or label_replace())";

/// A log range being assembled; `range` is filled once `[…]` is seen.
struct Partial {
    selector: Selector,
    pipeline: Vec<Stage>,
    unwrap: Option<Unwrap>,
    range: Option<(i64, i64)>,
}

impl Parser<'_> {
    /// `selector { stage }` or `( log_expr )`.
    pub(crate) fn log_expr(&mut self) -> PResult<LogExpr> {
        if self.peek() == &Tok::LParen {
            let start = self.bump();
            self.deeper(1)?;
            let mut e = self.log_expr()?;
            self.shallower(1);
            self.expect(&Tok::RParen, "\")\" or a pipeline stage")?;
            e.span = start.to(self.prev_span());
            return Ok(e);
        }
        let selector = self.selector()?;
        let (pipeline, _) = self.pipeline(false)?;
        Ok(LogExpr {
            span: selector.span.to(self.prev_span()),
            selector,
            pipeline,
        })
    }

    /// A full metric expression.
    pub(crate) fn metric_expr(&mut self) -> PResult<MetricExpr> {
        self.binary(0)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::Add => BinaryOp::Add,
            Tok::Sub => BinaryOp::Sub,
            Tok::Mul => BinaryOp::Mul,
            Tok::Div => BinaryOp::Div,
            Tok::Mod => BinaryOp::Mod,
            Tok::Pow => BinaryOp::Pow,
            Tok::CmpEq => BinaryOp::Eq,
            Tok::Neq => BinaryOp::Neq,
            Tok::Gt => BinaryOp::Gt,
            Tok::Gte => BinaryOp::Gte,
            Tok::Lt => BinaryOp::Lt,
            Tok::Lte => BinaryOp::Lte,
            Tok::Ident if self.at_keyword("or") => BinaryOp::Or,
            Tok::Ident if self.at_keyword("and") => BinaryOp::And,
            Tok::Ident if self.at_keyword("unless") => BinaryOp::Unless,
            _ => return None,
        })
    }

    fn binary(&mut self, min_prec: u8) -> PResult<MetricExpr> {
        self.deeper(1)?;
        self.height = 0;
        let mut lhs = self.metric_primary()?;
        let mut height = self.height;
        while let Some(op) = self.binary_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump();
            let return_bool = self.eat_keyword("bool");
            let matching = self.vector_matching()?;
            let next_min = if op.is_right_assoc() { prec } else { prec + 1 };
            let rhs = self.binary(next_min)?;
            lhs = build_binary(op, return_bool, matching, lhs, rhs)?;
            // Left-leaning chains grow the tree without recursing here.
            let rhs_height = self.height;
            self.join_height(height, rhs_height)?;
            height = self.height;
        }
        self.height = height;
        self.shallower(1);
        Ok(lhs)
    }

    fn vector_matching(&mut self) -> PResult<Option<VectorMatching>> {
        let on = if self.at_keyword("on") {
            true
        } else if self.at_keyword("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.bump();
        let labels = self.label_list()?;
        let right = if self.at_keyword("group_left") {
            false
        } else if self.at_keyword("group_right") {
            true
        } else {
            return Ok(Some(VectorMatching {
                on,
                labels,
                group: None,
            }));
        };
        self.bump();
        let group_labels = if self.peek() == &Tok::LParen {
            self.label_list()?
        } else {
            Vec::new()
        };
        Ok(Some(VectorMatching {
            on,
            labels,
            group: Some(GroupModifier {
                right,
                labels: group_labels,
            }),
        }))
    }

    fn metric_primary(&mut self) -> PResult<MetricExpr> {
        match *self.peek() {
            Tok::Number(value) => Ok(MetricExpr::Literal(Literal {
                value,
                span: self.bump(),
            })),
            Tok::Add | Tok::Sub => {
                let neg = self.peek() == &Tok::Sub;
                if let Tok::Number(v) = *self.peek_at(1) {
                    let start = self.bump();
                    let span = start.to(self.bump());
                    let value = if neg { -v } else { v };
                    return Ok(MetricExpr::Literal(Literal { value, span }));
                }
                if neg {
                    return Err((ParseErrorKind::UnaryMinusOnNonLiteral, self.span()));
                }
                Err(self.unexpected(EXPECTED_METRIC))
            }
            Tok::LParen => {
                self.bump();
                let e = self.binary(0)?;
                self.expect(&Tok::RParen, "\")\" or a binary operator")?;
                Ok(e)
            }
            Tok::Ident if self.peek_at(1) == &Tok::LParen || self.peek_at(1) == &Tok::Ident => {
                let name = self.text_at(0);
                let call = self.peek_at(1) == &Tok::LParen;
                if call && name.eq_ignore_ascii_case("label_replace") {
                    return self.label_replace();
                }
                if call && name.eq_ignore_ascii_case("vector") {
                    let start = self.bump();
                    self.bump();
                    let value = match *self.peek() {
                        Tok::Number(v) if v.is_finite() => v,
                        Tok::Number(_) => {
                            let text = self.text_at(0).to_owned();
                            return Err((ParseErrorKind::InvalidNumber(text), self.span()));
                        }
                        _ => return Err(self.unexpected("a number")),
                    };
                    self.bump();
                    self.expect(&Tok::RParen, "\")\"")?;
                    let span = start.to(self.prev_span());
                    return Ok(MetricExpr::Vector(Literal { value, span }));
                }
                if let (true, Some(op)) = (call, RangeOp::from_name(name)) {
                    return self.range_aggregation(op);
                }
                if let Some(op) = VectorOp::from_name(name) {
                    let grouped = self.peek_at(1) == &Tok::Ident
                        && (self.text_at(1).eq_ignore_ascii_case("by")
                            || self.text_at(1).eq_ignore_ascii_case("without"));
                    if call || grouped {
                        return self.vector_aggregation(op);
                    }
                }
                Err(self.unexpected(EXPECTED_METRIC))
            }
            Tok::LBrace => Err(self.unexpected(
                "a metric expression (a log selector is only allowed inside a range aggregation such as rate({…}[5m]))",
            )),
            _ => Err(self.unexpected(EXPECTED_METRIC)),
        }
    }

    fn grouping(&mut self) -> PResult<Option<Grouping>> {
        let without = if self.at_keyword("by") {
            false
        } else if self.at_keyword("without") {
            true
        } else {
            return Ok(None);
        };
        let start = self.bump();
        let labels = self.label_list()?;
        Ok(Some(Grouping {
            without,
            labels,
            span: start.to(self.prev_span()),
        }))
    }

    /// A number followed by `,` as the first argument: its text and value.
    fn leading_param(&mut self) -> Option<(String, f64, Span)> {
        match *self.peek() {
            Tok::Number(v) if self.peek_at(1) == &Tok::Comma => {
                let text = self.text_at(0).to_owned();
                let span = self.bump();
                self.bump();
                Some((text, v, span))
            }
            _ => None,
        }
    }

    fn range_aggregation(&mut self, op: RangeOp) -> PResult<MetricExpr> {
        let start = self.bump();
        self.bump();
        let name = || op.as_str().to_owned();
        let param = match (self.leading_param(), op) {
            (Some((_, v, _)), RangeOp::QuantileOverTime) if v.is_finite() => Some(v),
            (Some((param, _, span)), RangeOp::QuantileOverTime) => {
                let reason = "must be a finite number".to_owned();
                let kind = ParseErrorKind::InvalidParameter {
                    op: name(),
                    param,
                    reason,
                };
                return Err((kind, span));
            }
            (Some((param, _, span)), _) => {
                return Err((
                    ParseErrorKind::ParameterNotSupported { op: name(), param },
                    span,
                ))
            }
            (None, RangeOp::QuantileOverTime) => {
                return Err((ParseErrorKind::ParameterRequired { op: name() }, start))
            }
            (None, _) => None,
        };
        let range = self.log_range()?;
        self.expect(&Tok::RParen, "\")\"")?;
        let grouping = self.grouping()?;
        let span = start.to(self.prev_span());
        if let Some(g) = &grouping {
            if !check::range_grouping_allowed(op) {
                return Err((ParseErrorKind::GroupingNotAllowed { op: name() }, g.span));
            }
        }
        check::range_unwrap(op, range.unwrap.as_ref(), start)?;
        self.height = 1;
        Ok(MetricExpr::RangeAggregation(RangeAggregation {
            op,
            param,
            range,
            grouping,
            span,
        }))
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> PResult<MetricExpr> {
        let start = self.bump();
        let before = self.grouping()?;
        self.expect(&Tok::LParen, "\"(\"")?;
        let param = self.leading_param();
        let expr = self.binary(0)?;
        let h = self.height;
        self.join_height(h, 0)?;
        self.expect(&Tok::RParen, "\")\" or a binary operator")?;
        let grouping = match before {
            Some(g) => Some(g),
            None => self.grouping()?,
        };
        let span = start.to(self.prev_span());
        let name = || op.as_str().to_owned();
        let param = match (param, op.takes_param()) {
            (Some((text, _, pspan)), true) => match text.parse::<i64>() {
                Ok(k) if k > 0 => Some(k as u64),
                Ok(_) => {
                    let reason = "must be greater than 0".to_owned();
                    let kind = ParseErrorKind::InvalidParameter {
                        op: name(),
                        param: text,
                        reason,
                    };
                    return Err((kind, pspan));
                }
                Err(_) => {
                    let reason = "must be an integer".to_owned();
                    let kind = ParseErrorKind::InvalidParameter {
                        op: name(),
                        param: text,
                        reason,
                    };
                    return Err((kind, pspan));
                }
            },
            (Some((param, _, pspan)), false) => {
                return Err((
                    ParseErrorKind::ParameterNotSupported { op: name(), param },
                    pspan,
                ))
            }
            (None, true) => return Err((ParseErrorKind::ParameterRequired { op: name() }, start)),
            (None, false) => None,
        };
        if let Some(g) = &grouping {
            if matches!(
                op,
                VectorOp::Sort | VectorOp::SortDesc | VectorOp::ApproxTopk
            ) {
                return Err((ParseErrorKind::GroupingNotAllowed { op: name() }, g.span));
            }
        }
        Ok(MetricExpr::VectorAggregation(VectorAggregation {
            op,
            param,
            expr: Box::new(expr),
            grouping,
            span,
        }))
    }

    fn label_replace(&mut self) -> PResult<MetricExpr> {
        let start = self.bump();
        self.bump();
        let expr = self.binary(0)?;
        let h = self.height;
        self.join_height(h, 0)?;
        let mut args: [(String, Span); 4] = Default::default();
        for arg in &mut args {
            self.expect(&Tok::Comma, "\",\"")?;
            *arg = self.string("a string")?;
        }
        self.expect(&Tok::RParen, "\")\"")?;
        let [(dst, dst_span), (replacement, _), (src, _), (regex, re_span)] = args;
        if !check::is_label_name(&dst) {
            return Err((ParseErrorKind::InvalidLabelName { name: dst }, dst_span));
        }
        check::regex(&regex, true, re_span)?;
        Ok(MetricExpr::LabelReplace(LabelReplace {
            expr: Box::new(expr),
            dst,
            replacement,
            src,
            regex,
            span: start.to(self.prev_span()),
        }))
    }

    /// A log range in any of its written forms.
    pub(crate) fn log_range(&mut self) -> PResult<LogRange> {
        let start = self.span();
        let p = self.range_body()?;
        let Some((range, offset)) = p.range else {
            return Err(self.unexpected("a range such as [5m]"));
        };
        Ok(LogRange {
            selector: p.selector,
            pipeline: p.pipeline,
            unwrap: p.unwrap,
            range,
            offset,
            span: start.to(self.prev_span()),
        })
    }

    fn range_body(&mut self) -> PResult<Partial> {
        if self.eat(&Tok::LParen) {
            self.deeper(1)?;
            let mut p = self.range_body()?;
            self.shallower(1);
            self.expect(&Tok::RParen, "\")\"")?;
            if p.range.is_none() {
                p.range = self.range_and_offset()?;
                // `({…})[5m] | unwrap x`: Loki allows an unwrap (only) here.
                if p.range.is_some() && p.pipeline.is_empty() && p.unwrap.is_none() {
                    p.unwrap = self.unwrap_only()?;
                }
            }
            return Ok(p);
        }
        let selector = self.selector()?;
        if let Some(r) = self.range_and_offset()? {
            let (pipeline, unwrap) = self.pipeline(true)?;
            return Ok(Partial {
                selector,
                pipeline,
                unwrap,
                range: Some(r),
            });
        }
        let (pipeline, unwrap) = self.pipeline(true)?;
        let range = self.range_and_offset()?;
        Ok(Partial {
            selector,
            pipeline,
            unwrap,
            range,
        })
    }

    fn range_and_offset(&mut self) -> PResult<Option<(i64, i64)>> {
        let Tok::Range(range) = *self.peek() else {
            return Ok(None);
        };
        self.bump();
        let mut offset = 0;
        if self.eat_keyword("offset") {
            let neg = self.eat(&Tok::Sub);
            offset = match *self.peek() {
                Tok::Duration(d) => d,
                Tok::Number(0.0) => 0,
                _ => return Err(self.unexpected("a duration such as 1h")),
            };
            self.bump();
            if neg {
                offset = -offset;
            }
        }
        Ok(Some((range, offset)))
    }
}

/// Checks a binary operation and folds literal-literal ones.
fn build_binary(
    op: BinaryOp,
    return_bool: bool,
    matching: Option<VectorMatching>,
    lhs: MetricExpr,
    rhs: MetricExpr,
) -> PResult<MetricExpr> {
    // Like Loki, `bool` on a non-comparison and group modifiers on set
    // operators are accepted (they have no effect); literals are not.
    if op.is_set() {
        for (side, e) in [("left", &lhs), ("right", &rhs)] {
            if let MetricExpr::Literal(l) = e {
                let op = op.as_str().to_owned();
                return Err((ParseErrorKind::LiteralInSetOperation { op, side }, l.span));
            }
        }
    }
    let span = lhs.span().to(rhs.span());
    if let (MetricExpr::Literal(a), MetricExpr::Literal(b)) = (&lhs, &rhs) {
        return Ok(MetricExpr::Literal(Literal {
            value: fold(op, a.value, b.value),
            span,
        }));
    }
    Ok(MetricExpr::Binary(BinaryExpr {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        return_bool,
        matching,
        span,
    }))
}

/// Evaluates `a op b` on two literals, as Loki does at parse time
/// (division and modulo by zero give NaN; comparisons give 0/1).
pub(crate) fn fold(op: BinaryOp, a: f64, b: f64) -> f64 {
    let t = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if b == 0.0 => f64::NAN,
        BinaryOp::Div => a / b,
        BinaryOp::Mod if b == 0.0 => f64::NAN,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Eq => t(a == b),
        BinaryOp::Neq => t(a != b),
        BinaryOp::Gt => t(a > b),
        BinaryOp::Gte => t(a >= b),
        BinaryOp::Lt => t(a < b),
        BinaryOp::Lte => t(a <= b),
        // Set operations on literals are rejected before folding.
        BinaryOp::Or | BinaryOp::And | BinaryOp::Unless => f64::NAN,
    }
}
