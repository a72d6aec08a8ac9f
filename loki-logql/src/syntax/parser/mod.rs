//! The recursive-descent parser (Pratt for binary operators).
//!
//! One file per construct: [`selector`] (stream selectors, label sets),
//! [`pipeline`] (stages and line filters), [`label_filter`], [`metric`]
//! (aggregations, binary operators, log ranges). Parse-time semantic checks
//! live in [`crate::syntax::check`].

mod label_filter;
mod metric;
mod pipeline;
mod selector;

use crate::error::{ParseError, ParseErrorKind, Result};
use crate::syntax::ast::Expr;
use crate::syntax::lexer::{self, Tok, Token};
use crate::syntax::span::Span;

pub(crate) use selector::parse_label_set;

/// Loki rejects queries of this many bytes or more.
pub(crate) const MAX_QUERY_LEN: usize = 131_072;

/// Tallest AST the parser builds (operator chains count one level per
/// operator). Keeps every recursive walk of the tree (printing, comparing,
/// dropping) far from the stack limit.
pub(crate) const MAX_DEPTH: usize = 512;

/// Deepest nesting of parentheses and aggregations (the parser's own
/// recursion, whose frames are larger than a tree walk's).
pub(crate) const MAX_NESTING: usize = 128;

/// A located failure inside the parser; turned into a [`ParseError`] with
/// the query text at the boundary.
pub(crate) type PResult<T> = std::result::Result<T, (ParseErrorKind, Span)>;

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// Current recursion depth of the parser.
    depth: usize,
    /// Height of the AST node the last metric / label-filter parse built.
    height: usize,
}

/// Parses a complete query.
pub(crate) fn parse_query(src: &str) -> Result<Expr> {
    if src.len() >= MAX_QUERY_LEN {
        let kind = ParseErrorKind::QueryTooLong {
            len: src.len(),
            max: MAX_QUERY_LEN,
        };
        return Err(ParseError::new(kind, src, Span::new(0, 0)).into());
    }
    Parser::new(src)
        .and_then(|mut p| p.query())
        .map_err(|(kind, span)| ParseError::new(kind, src, span).into())
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> PResult<Self> {
        Ok(Parser {
            src,
            toks: lexer::tokenize(src)?,
            pos: 0,
            depth: 0,
            height: 0,
        })
    }

    fn query(&mut self) -> PResult<Expr> {
        let mut i = self.pos;
        while self.toks[i].tok == Tok::LParen {
            i += 1;
        }
        let expr = if self.toks[i].tok == Tok::LBrace {
            Expr::Log(self.log_expr()?)
        } else {
            Expr::Metric(self.metric_expr()?)
        };
        if self.peek() != &Tok::Eof {
            let expected = match &expr {
                Expr::Log(_) => "a pipeline stage or end of query",
                Expr::Metric(_) => "a binary operator or end of query",
            };
            return Err(self.unexpected(expected));
        }
        Ok(expr)
    }

    // ---- depth guard ---------------------------------------------------

    /// Enters `levels` more levels of nesting, failing past [`MAX_NESTING`].
    pub(crate) fn deeper(&mut self, levels: usize) -> PResult<()> {
        self.depth += levels;
        if self.depth > MAX_NESTING {
            return Err((ParseErrorKind::TooDeep { max: MAX_NESTING }, self.span()));
        }
        Ok(())
    }

    /// Leaves `levels` levels entered with [`Parser::deeper`].
    pub(crate) fn shallower(&mut self, levels: usize) {
        self.depth -= levels;
    }

    /// Records the height of a node built from children of heights `a` and
    /// `b`, failing past [`MAX_DEPTH`].
    pub(crate) fn join_height(&mut self, a: usize, b: usize) -> PResult<()> {
        self.height = 1 + a.max(b);
        if self.height > MAX_DEPTH {
            return Err((ParseErrorKind::TooDeep { max: MAX_DEPTH }, self.prev_span()));
        }
        Ok(())
    }

    // ---- token helpers -------------------------------------------------

    pub(crate) fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    pub(crate) fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    pub(crate) fn span(&self) -> Span {
        self.toks[self.pos].span
    }

    /// The span of the previously consumed token.
    pub(crate) fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    /// Consumes the current token and returns its span.
    pub(crate) fn bump(&mut self) -> Span {
        let s = self.toks[self.pos].span;
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        s
    }

    pub(crate) fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, tok: &Tok, expected: &str) -> PResult<Span> {
        if self.peek() == tok {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// The text of the token at `pos + n`.
    pub(crate) fn text_at(&self, n: usize) -> &'a str {
        let s = self.toks[(self.pos + n).min(self.toks.len() - 1)].span;
        &self.src[s.start..s.end]
    }

    /// Whether the next token is the identifier `kw` (case-insensitive).
    pub(crate) fn at_keyword(&self, kw: &str) -> bool {
        self.peek() == &Tok::Ident && self.text_at(0).eq_ignore_ascii_case(kw)
    }

    pub(crate) fn eat_keyword(&mut self, kw: &str) -> bool {
        let at = self.at_keyword(kw);
        if at {
            self.pos += 1;
        }
        at
    }

    /// Consumes an identifier and returns its text.
    pub(crate) fn ident(&mut self, expected: &str) -> PResult<(String, Span)> {
        if self.peek() == &Tok::Ident {
            let span = self.bump();
            Ok((self.src[span.start..span.end].to_owned(), span))
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Consumes a string token and returns its value.
    pub(crate) fn string(&mut self, expected: &str) -> PResult<(String, Span)> {
        if let Tok::Str(s) = &mut self.toks[self.pos].tok {
            let s = std::mem::take(s);
            Ok((s, self.bump()))
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// An "unexpected token" error at the current token.
    pub(crate) fn unexpected(&self, expected: &str) -> (ParseErrorKind, Span) {
        let found = match self.peek() {
            Tok::Eof => "end of query".to_owned(),
            Tok::Str(_) => {
                let text = self.text_at(0);
                let short: String = text.chars().take(40).collect();
                let dots = if short.len() < text.len() { "…" } else { "" };
                format!("string {short}{dots}")
            }
            _ => format!("{:?}", self.text_at(0)),
        };
        (
            ParseErrorKind::Unexpected {
                found,
                expected: expected.to_owned(),
            },
            self.span(),
        )
    }

    /// A comma-separated list of identifiers in parentheses: `(a, b)`.
    pub(crate) fn label_list(&mut self) -> PResult<Vec<String>> {
        self.expect(&Tok::LParen, "\"(\"")?;
        let mut out = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(out);
        }
        loop {
            out.push(self.ident("a label name")?.0);
            if self.eat(&Tok::RParen) {
                return Ok(out);
            }
            self.expect(&Tok::Comma, "\",\" or \")\"")?;
        }
    }
}

#[cfg(test)]
mod tests;
