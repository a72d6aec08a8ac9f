//! Label filters: string, numeric, duration, bytes and ip comparisons joined
//! with `and`, `,`, juxtaposition and `or`, with parentheses.

use super::{PResult, Parser};
use crate::error::ParseErrorKind;
use crate::syntax::ast::{CmpOp, CompareValue, LabelFilter};
use crate::syntax::lexer::Tok;

const EXPECTED_VALUE: &str = "a string, number, duration, bytes or ip(\"…\")";

impl Parser<'_> {
    /// `and_expr { "or" and_expr }`.
    pub(crate) fn label_filter(&mut self) -> PResult<LabelFilter> {
        self.deeper(1)?;
        let mut lhs = self.label_filter_and()?;
        let mut height = self.height;
        while self.at_keyword("or") {
            self.bump();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
            let rhs_height = self.height;
            self.join_height(height, rhs_height)?;
            height = self.height;
        }
        self.height = height;
        self.shallower(1);
        Ok(lhs)
    }

    /// `primary { ["and" | ","] primary }`.
    fn label_filter_and(&mut self) -> PResult<LabelFilter> {
        let mut lhs = self.label_filter_primary()?;
        let mut height = self.height;
        loop {
            if self.at_keyword("and") || self.peek() == &Tok::Comma {
                self.bump();
            } else if !(self.peek() == &Tok::LParen
                || (self.peek() == &Tok::Ident && !self.at_keyword("or")))
            {
                self.height = height;
                return Ok(lhs);
            }
            let rhs = self.label_filter_primary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
            let rhs_height = self.height;
            self.join_height(height, rhs_height)?;
            height = self.height;
        }
    }

    fn label_filter_primary(&mut self) -> PResult<LabelFilter> {
        self.height = 0;
        if self.eat(&Tok::LParen) {
            let inner = self.label_filter()?;
            self.expect(&Tok::RParen, "\")\" or a label filter")?;
            return Ok(inner);
        }
        let (name, start) = self.ident("a label filter")?;
        let op_span = self.span();
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::CmpEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Gte,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Lte,
            Tok::Re | Tok::Nre => return Ok(LabelFilter::Matcher(self.matcher_rest(name, start)?)),
            _ => {
                return Err(
                    self.unexpected("a comparison operator (=, !=, =~, !~, ==, >, >=, <, <=)")
                )
            }
        };
        let single_eq = matches!(self.peek(), Tok::Eq | Tok::Neq);
        self.bump();
        match self.peek() {
            Tok::Str(_) if single_eq => {
                self.pos -= 1;
                Ok(LabelFilter::Matcher(self.matcher_rest(name, start)?))
            }
            Tok::Str(_) => {
                Err(self.unexpected("a number, duration or bytes value after ==, >, >=, <, <="))
            }
            Tok::Ident if self.at_keyword("ip") && self.peek_at(1) == &Tok::LParen => {
                if !single_eq {
                    return Err((
                        ParseErrorKind::Unexpected {
                            found: format!("{:?}", op.as_str()),
                            expected: "\"=\" or \"!=\" before ip(…)".to_owned(),
                        },
                        op_span,
                    ));
                }
                self.bump();
                let value = self.ip_call_rest()?;
                Ok(LabelFilter::Ip {
                    name,
                    negated: op == CmpOp::Neq,
                    value,
                    span: start.to(self.prev_span()),
                })
            }
            _ => {
                let value = self.compare_value()?;
                Ok(LabelFilter::Compare {
                    name,
                    op,
                    value,
                    span: start.to(self.prev_span()),
                })
            }
        }
    }

    /// `[+|-] (NUMBER | DURATION | BYTES)`.
    fn compare_value(&mut self) -> PResult<CompareValue> {
        let sign_span = self.span();
        let neg = match self.peek() {
            Tok::Sub => {
                self.bump();
                true
            }
            Tok::Add => {
                self.bump();
                false
            }
            _ => false,
        };
        let v = match *self.peek() {
            Tok::Number(n) => {
                if !n.is_finite() {
                    let text = self.text_at(0).to_owned();
                    return Err((ParseErrorKind::InvalidNumber(text), self.span()));
                }
                CompareValue::Number(if neg { -n } else { n })
            }
            Tok::Duration(d) => CompareValue::Duration(if neg { -d } else { d }),
            Tok::Bytes(b) if !neg => CompareValue::Bytes(b),
            Tok::Bytes(_) => {
                let span = sign_span.to(self.span());
                let text = format!("-{}", self.text_at(0));
                return Err((ParseErrorKind::InvalidDuration(text), span));
            }
            _ => return Err(self.unexpected(EXPECTED_VALUE)),
        };
        self.bump();
        Ok(v)
    }
}
