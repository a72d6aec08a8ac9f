//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, `ip()` and `or` chains.
//!
//! Substrings use `memchr::memmem` finders built once per query. Regexes
//! that are plain literals (the common `|~ "error"`) become substring
//! searches; the rest run on `regex::bytes`, whose own literal prefilters
//! (memchr, Teddy) skip most lines without entering the automaton. No
//! filter allocates per line.

use memchr::memmem;
use regex::bytes::Regex;

use super::ip::IpMatcher;
use super::line_pattern::LinePattern;
use crate::syntax::ast::{LineFilter, LineFilterOp, LineFilterValue};
use crate::syntax::regex::go_to_rust;

/// One operand of a filter.
#[derive(Debug, Clone)]
enum Term {
    Substring(Box<memmem::Finder<'static>>),
    Regex(Regex),
    Pattern(LinePattern),
    Ip(IpMatcher),
}

impl Term {
    fn matches(&self, line: &[u8]) -> bool {
        match self {
            Term::Substring(f) => f.needle().is_empty() || f.find(line).is_some(),
            Term::Regex(r) => r.is_match(line),
            Term::Pattern(p) => p.matches(line),
            Term::Ip(m) => m.matches_line(line),
        }
    }
}

/// One line filter with its `or` alternatives.
#[derive(Debug, Clone)]
pub(crate) struct CompiledLineFilter {
    negated: bool,
    terms: Vec<Term>,
}

impl CompiledLineFilter {
    /// Compiles a parsed filter; `None` if a regex or ip argument does not
    /// compile (the parser has already rejected those).
    pub(crate) fn new(f: &LineFilter) -> Option<Self> {
        let negated = matches!(
            f.op,
            LineFilterOp::NotContains | LineFilterOp::NotMatch | LineFilterOp::NotPattern
        );
        let mut terms = Vec::with_capacity(f.values.len());
        for v in &f.values {
            terms.push(match v {
                LineFilterValue::Ip(s) => Term::Ip(IpMatcher::new(s)?),
                LineFilterValue::Text(s) => match f.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        Term::Substring(Box::new(memmem::Finder::new(s.as_bytes()).into_owned()))
                    }
                    LineFilterOp::Match | LineFilterOp::NotMatch => regex_term(s)?,
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        Term::Pattern(LinePattern::new(s))
                    }
                },
            });
        }
        Some(CompiledLineFilter { negated, terms })
    }

    /// Whether the line passes. For negated filters the `or` list means
    /// "none of them", as in Loki.
    pub(crate) fn matches(&self, line: &[u8]) -> bool {
        let any = self.terms.iter().any(|t| t.matches(line));
        any != self.negated
    }
}

fn regex_term(re: &str) -> Option<Term> {
    let is_plain = !re.is_empty()
        && re
            .bytes()
            .all(|c| !b"\\.+*?()|[]{}^$".contains(&c) && c.is_ascii() && c != b'#');
    if is_plain {
        return Some(Term::Substring(Box::new(
            memmem::Finder::new(re.as_bytes()).into_owned(),
        )));
    }
    Regex::new(&go_to_rust(re)).ok().map(Term::Regex)
}

/// The query's leading line filters, in an evaluable form, so that storage
/// can apply them per line (see [`SelectRequest`](crate::SelectRequest)).
///
/// ```
/// use loki_logql::{parse, Expr, LineFilterSet};
/// let Expr::Log(q) = parse(r#"{app="a"} |= "error" != "debug" | json"#)? else { unreachable!() };
/// let f = LineFilterSet::leading(&q.pipeline);
/// assert_eq!(f.len(), 2);
/// assert!(f.matches("an error"));
/// assert!(!f.matches("a debug error"));
/// assert!(!f.matches("fine"));
/// # Ok::<(), loki_logql::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineFilterSet {
    filters: Vec<CompiledLineFilter>,
}

impl LineFilterSet {
    /// The line filters at the head of `pipeline`, before any other stage.
    pub fn leading(pipeline: &[crate::ast::Stage]) -> LineFilterSet {
        let mut filters = Vec::new();
        for s in pipeline {
            match &s.kind {
                crate::ast::StageKind::LineFilter(f) => match CompiledLineFilter::new(f) {
                    Some(c) => filters.push(c),
                    None => break,
                },
                _ => break,
            }
        }
        LineFilterSet { filters }
    }

    /// Whether every filter keeps `line`.
    pub fn matches(&self, line: &str) -> bool {
        self.filters.iter().all(|f| f.matches(line.as_bytes()))
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether there are none (every line matches).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::LineFilterValue::{Ip, Text};

    fn f(op: LineFilterOp, vals: Vec<LineFilterValue>) -> CompiledLineFilter {
        CompiledLineFilter::new(&LineFilter { op, values: vals }).unwrap()
    }

    #[test]
    fn ops() {
        let c = f(
            LineFilterOp::Contains,
            vec![Text("a".into()), Text("b".into())],
        );
        assert!(c.matches(b"xbx"));
        assert!(!c.matches(b"xyz"));
        let n = f(
            LineFilterOp::NotContains,
            vec![Text("a".into()), Text("b".into())],
        );
        assert!(!n.matches(b"xbx"));
        assert!(n.matches(b"xyz"));
        let r = f(LineFilterOp::Match, vec![Text("(?i)ERR".into())]);
        assert!(r.matches(b"an error"));
        let p = f(LineFilterOp::Match, vec![Text("error".into())]);
        assert!(matches!(p.terms[0], Term::Substring(_)));
        let ip = f(LineFilterOp::Contains, vec![Ip("10.0.0.0/8".into())]);
        assert!(ip.matches(b"client 10.2.3.4"));
        let e = f(LineFilterOp::Contains, vec![Text(String::new())]);
        assert!(e.matches(b""));
    }
}
