//! Stream selectors `{a="b", c=~"d"}`, matchers, and label-set text.

use super::{PResult, Parser};
use crate::error::{ParseError, ParseErrorKind, Result};
use crate::syntax::ast::{MatchOp, Matcher, Selector};
use crate::syntax::check;
use crate::syntax::lexer::Tok;
use crate::syntax::span::Span;

impl Parser<'_> {
    /// `{ [matcher {, matcher}] }` without the non-empty check. Label-set
    /// text (Prometheus syntax) may end with a comma; LogQL may not.
    pub(crate) fn selector_unchecked(&mut self, trailing_comma: bool) -> PResult<Selector> {
        let start = self.expect(&Tok::LBrace, "\"{\"")?;
        let mut matchers = Vec::new();
        if !self.eat(&Tok::RBrace) {
            loop {
                matchers.push(self.matcher()?);
                if self.eat(&Tok::RBrace) {
                    break;
                }
                self.expect(&Tok::Comma, "\",\" or \"}\"")?;
                if trailing_comma && self.eat(&Tok::RBrace) {
                    break;
                }
            }
        }
        Ok(Selector {
            matchers,
            span: start.to(self.prev_span()),
        })
    }

    /// A selector that must contain a matcher rejecting the empty value.
    pub(crate) fn selector(&mut self) -> PResult<Selector> {
        let sel = self.selector_unchecked(false)?;
        check::selector(&sel)?;
        Ok(sel)
    }

    /// Parses the matcher operator at the current token, if any.
    pub(crate) fn match_op(&self) -> Option<MatchOp> {
        Some(match self.peek() {
            Tok::Eq => MatchOp::Eq,
            Tok::Neq => MatchOp::Neq,
            Tok::Re => MatchOp::Re,
            Tok::Nre => MatchOp::Nre,
            _ => return None,
        })
    }

    /// `name op "value"`; regexes are checked.
    pub(crate) fn matcher(&mut self) -> PResult<Matcher> {
        let (name, start) = self.ident("a label name")?;
        self.matcher_rest(name, start)
    }

    /// The operator and value of a matcher whose name was consumed.
    pub(crate) fn matcher_rest(&mut self, name: String, start: Span) -> PResult<Matcher> {
        let op = self
            .match_op()
            .ok_or_else(|| self.unexpected("one of \"=\", \"!=\", \"=~\", \"!~\""))?;
        self.bump();
        let (value, vspan) = self.string("a string")?;
        if matches!(op, MatchOp::Re | MatchOp::Nre) {
            check::regex(&value, true, vspan)?;
        }
        Ok(Matcher {
            name,
            op,
            value,
            span: start.to(vspan),
        })
    }
}

/// Parses label-set text `{a="b", c="d"}` into sorted pairs, dropping empty
/// values (as Loki's push path does).
pub(crate) fn parse_label_set(src: &str) -> Result<Vec<(String, String)>> {
    let err = |(kind, span): (ParseErrorKind, Span)| ParseError::new(kind, src, span).into();
    if src.len() > 16 << 20 {
        let kind = ParseErrorKind::QueryTooLong {
            len: src.len(),
            max: 16 << 20,
        };
        return Err(err((kind, Span::new(0, 0))));
    }
    let mut p = Parser::new(src).map_err(err)?;
    let sel = p.selector_unchecked(true).map_err(err)?;
    if p.peek() != &Tok::Eof {
        return Err(err(p.unexpected("end of label set")));
    }
    let mut pairs: Vec<(String, String, Span)> = Vec::with_capacity(sel.matchers.len());
    for m in sel.matchers {
        if m.op != MatchOp::Eq {
            let kind = ParseErrorKind::LabelSetMatcher {
                op: m.op.as_str().to_owned(),
            };
            return Err(err((kind, m.span)));
        }
        if !check::is_label_name(&m.name) {
            let kind = ParseErrorKind::InvalidLabelName { name: m.name };
            return Err(err((kind, m.span)));
        }
        pairs.push((m.name, m.value, m.span));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        let kind = ParseErrorKind::DuplicateLabel {
            name: w[1].0.clone(),
        };
        let span = if w[0].2.start > w[1].2.start {
            w[0].2
        } else {
            w[1].2
        };
        return Err(err((kind, span)));
    }
    Ok(pairs
        .into_iter()
        .filter(|(_, v, _)| !v.is_empty())
        .map(|(n, v, _)| (n, v))
        .collect())
}
