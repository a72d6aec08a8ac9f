//! Label filters: string matchers, typed comparisons (number, duration,
//! bytes), `ip()`, combined with `and`/`or`.
//!
//! Typed comparisons skip lines that already carry `__error__` (only string
//! matchers can test those), reject lines without the label, and keep a
//! line whose value does not convert, marking it `LabelFilterErr`.

use regex::Regex;

use super::ip::IpMatcher;
use super::labels::{errors, LabelsBuilder};
use crate::syntax::ast::{CmpOp, CompareValue, LabelFilter, MatchOp, Matcher};
use crate::syntax::literal::{parse_bytes, parse_go_duration};

/// A compiled string matcher (`=`, `!=`, `=~`, `!~`; regexes anchored).
#[derive(Debug, Clone)]
pub(crate) enum StringMatcher {
    Eq(String),
    Neq(String),
    Re(Regex),
    Nre(Regex),
}

impl StringMatcher {
    pub(crate) fn new(m: &Matcher) -> Option<StringMatcher> {
        Some(match m.op {
            MatchOp::Eq => StringMatcher::Eq(m.value.clone()),
            MatchOp::Neq => StringMatcher::Neq(m.value.clone()),
            MatchOp::Re => StringMatcher::Re(super::anchored_regex(&m.value)?),
            MatchOp::Nre => StringMatcher::Nre(super::anchored_regex(&m.value)?),
        })
    }

    pub(crate) fn matches(&self, v: &str) -> bool {
        match self {
            StringMatcher::Eq(s) => v == s,
            StringMatcher::Neq(s) => v != s,
            StringMatcher::Re(r) => r.is_match(v),
            StringMatcher::Nre(r) => !r.is_match(v),
        }
    }
}

/// A compiled label filter.
#[derive(Debug, Clone)]
pub(crate) enum LabelFilterExpr {
    Str(String, StringMatcher),
    Ip(String, bool, IpMatcher),
    Cmp(String, CmpOp, CompareValue),
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
}

fn cmp<T: PartialOrd>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Neq => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Gte => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Lte => a <= b,
    }
}

impl LabelFilterExpr {
    pub(crate) fn new(f: &LabelFilter) -> Option<LabelFilterExpr> {
        Some(match f {
            LabelFilter::Matcher(m) => LabelFilterExpr::Str(m.name.clone(), StringMatcher::new(m)?),
            LabelFilter::Ip {
                name,
                negated,
                value,
                ..
            } => LabelFilterExpr::Ip(name.clone(), *negated, IpMatcher::new(value)?),
            LabelFilter::Compare {
                name, op, value, ..
            } => LabelFilterExpr::Cmp(name.clone(), *op, *value),
            LabelFilter::And(a, b) => {
                LabelFilterExpr::And(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
            LabelFilter::Or(a, b) => {
                LabelFilterExpr::Or(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
        })
    }

    /// Whether the line is kept; may set `__error__`.
    pub(crate) fn process(&self, lbs: &mut LabelsBuilder) -> bool {
        match self {
            LabelFilterExpr::Str(name, m) => m.matches(lbs.get(name).unwrap_or("")),
            LabelFilterExpr::Ip(name, neg, m) => {
                let hit = m.matches_str(lbs.get(name).unwrap_or(""));
                hit != *neg
            }
            LabelFilterExpr::Cmp(name, op, value) => {
                if lbs.has_err() {
                    return true;
                }
                let Some(v) = lbs.get(name) else {
                    return false;
                };
                let res = match value {
                    CompareValue::Number(n) => v
                        .trim()
                        .parse::<f64>()
                        .map(|x| cmp(*op, x, *n))
                        .map_err(|_| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax")),
                    CompareValue::Duration(d) => parse_go_duration(v)
                        .map(|x| cmp(*op, x, *d))
                        .ok_or_else(|| format!("time: invalid duration {v:?}")),
                    CompareValue::Bytes(n) => parse_bytes(v)
                        .map(|x| cmp(*op, x, *n))
                        .ok_or_else(|| format!("invalid bytes value {v:?}")),
                };
                match res {
                    Ok(b) => b,
                    Err(msg) => {
                        lbs.set_err(errors::LABEL_FILTER, msg);
                        true
                    }
                }
            }
            LabelFilterExpr::And(a, b) => {
                let l = a.process(lbs);
                let r = b.process(lbs);
                l && r
            }
            LabelFilterExpr::Or(a, b) => {
                let l = a.process(lbs);
                if l {
                    return true;
                }
                b.process(lbs)
            }
        }
    }
}
