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

    /// Evaluates the filters over a whole batch of lines stored back to
    /// back (`data`, with `ends[i]` the end of line `i`), writing one flag
    /// per line into `mask`. A single positive substring is searched once
    /// over the whole buffer rather than line by line.
    ///
    /// ```
    /// use loki_logql::{parse, Expr, LineFilterSet};
    /// let Expr::Log(q) = parse(r#"{a="b"} |= "err""#)? else { unreachable!() };
    /// let mut mask = Vec::new();
    /// LineFilterSet::leading(&q.pipeline).batch_mask("okerr!e|rr", &[2, 6, 8, 10], &mut mask);
    /// assert_eq!(mask, [false, true, false, false]);
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn batch_mask(&self, data: &str, ends: &[usize], mask: &mut Vec<bool>) {
        mask.clear();
        mask.resize(ends.len(), true);
        let b = data.as_bytes();
        for f in &self.filters {
            if let (false, [Term::Substring(fd)]) = (f.negated, f.terms.as_slice()) {
                if !fd.needle().is_empty() {
                    substring_mask(fd, b, ends, mask);
                    continue;
                }
            }
            let mut start = 0;
            for (i, &end) in ends.iter().enumerate() {
                if mask[i] && !f.matches(&b[start..end]) {
                    mask[i] = false;
                }
                start = end;
            }
        }
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

/// ANDs into `mask` whether each line contains the needle, searching
/// the buffer once and restarting at the next line after a hit.
fn substring_mask(f: &memmem::Finder<'_>, b: &[u8], ends: &[usize], mask: &mut [bool]) {
    let n = f.needle().len();
    let mut hit = vec![false; ends.len()];
    let mut pos = 0;
    let mut line = 0;
    while line < ends.len() {
        let Some(at) = f.find(&b[pos..]) else { break };
        let at = pos + at;
        // The line holding `at`.
        while line < ends.len() && ends[line] <= at {
            line += 1;
        }
        if line >= ends.len() {
            break;
        }
        if at + n <= ends[line] {
            hit[line] = true;
        }
        // Either way the next candidate starts in the next line (a hit
        // settles this line; a match across the boundary is no match).
        pos = if at + n <= ends[line] {
            ends[line]
        } else {
            at + 1
        };
        if at + n <= ends[line] {
            line += 1;
        }
    }
    for (m, h) in mask.iter_mut().zip(hit) {
        *m &= h;
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

    #[test]
    fn batch_masks_match_line_by_line() {
        let lines = ["aab", "a", "ab", "", "xaby", "b", "aabab"];
        let mut data = String::new();
        let mut ends = Vec::new();
        for l in lines {
            data.push_str(l);
            ends.push(data.len());
        }
        for needle in ["ab", "a", "b", "ba", "aab", "zz"] {
            let set = LineFilterSet {
                filters: vec![f(LineFilterOp::Contains, vec![Text(needle.into())])],
            };
            let mut mask = Vec::new();
            set.batch_mask(&data, &ends, &mut mask);
            let want: Vec<bool> = lines.iter().map(|l| l.contains(needle)).collect();
            assert_eq!(mask, want, "{needle}");
        }
    }
}
