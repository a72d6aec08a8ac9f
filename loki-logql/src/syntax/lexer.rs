//! The LogQL lexer: query text to tokens with byte spans.
//!
//! Whitespace and `#` comments are skipped. Keywords are not distinguished
//! here: they are identifiers whose meaning the parser decides from context
//! (case-insensitively), which is how Loki lets labels be named `count` or
//! `rate`.

use crate::error::ParseErrorKind;
use crate::syntax::literal::{self, UnquoteError};
use crate::syntax::span::Span;

/// A token kind; identifier and number text is read back through the span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident,
    Str(String),
    Number(f64),
    /// A duration literal in nanoseconds (`5m`, `1.5h`).
    Duration(i64),
    /// A bytes literal (`20KB`).
    Bytes(u64),
    /// A `[range]` in nanoseconds.
    Range(i64),
    /// `--strict` or `--keep-empty`.
    Flag,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `==`
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Pipe,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// A lexing failure.
pub(crate) type LexError = (ParseErrorKind, Span);

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::with_capacity(src.len() / 3 + 2);
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = memchr_nl(b, i);
                continue;
            }
            b'"' => {
                let (s, end) = lex_string(src, i)?;
                i = end;
                Tok::Str(s)
            }
            b'`' => {
                let end = src[i + 1..]
                    .find('`')
                    .ok_or((ParseErrorKind::UnterminatedString, Span::new(i, src.len())))?;
                let body = &src[i + 1..i + 1 + end];
                i += end + 2;
                Tok::Str(body.replace('\r', ""))
            }
            b'0'..=b'9' => {
                let (t, end) = lex_number(src, i)?;
                i = end;
                t
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (t, end) = lex_number(src, i)?;
                i = end;
                t
            }
            b'[' => {
                let end = src[i..]
                    .find(']')
                    .ok_or((ParseErrorKind::UnterminatedRange, Span::new(i, i + 1)))?;
                let text = &src[i + 1..i + end];
                i += end + 1;
                match literal::parse_prom_duration(text) {
                    Some(d) => Tok::Range(d),
                    None => {
                        return Err((
                            ParseErrorKind::InvalidDuration(text.to_owned()),
                            Span::new(start, i),
                        ))
                    }
                }
            }
            b'{' => one(&mut i, Tok::LBrace),
            b'}' => one(&mut i, Tok::RBrace),
            b'(' => one(&mut i, Tok::LParen),
            b')' => one(&mut i, Tok::RParen),
            b',' => one(&mut i, Tok::Comma),
            b'+' => one(&mut i, Tok::Add),
            b'*' => one(&mut i, Tok::Mul),
            b'/' => one(&mut i, Tok::Div),
            b'%' => one(&mut i, Tok::Mod),
            b'^' => one(&mut i, Tok::Pow),
            b'|' => two(
                b,
                &mut i,
                &[
                    (b'=', Tok::PipeExact),
                    (b'~', Tok::PipeMatch),
                    (b'>', Tok::PipePattern),
                ],
                Tok::Pipe,
            ),
            b'=' => two(b, &mut i, &[(b'~', Tok::Re), (b'=', Tok::CmpEq)], Tok::Eq),
            b'>' => two(b, &mut i, &[(b'=', Tok::Gte)], Tok::Gt),
            b'<' => two(b, &mut i, &[(b'=', Tok::Lte)], Tok::Lt),
            b'!' => match b.get(i + 1) {
                Some(b'=') => two(b, &mut i, &[(b'=', Tok::Neq)], Tok::Eof),
                Some(b'~') => two(b, &mut i, &[(b'~', Tok::Nre)], Tok::Eof),
                Some(b'>') => two(b, &mut i, &[(b'>', Tok::NotPattern)], Tok::Eof),
                _ => return Err((ParseErrorKind::InvalidCharacter('!'), Span::new(i, i + 1))),
            },
            b'-' => {
                if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
                {
                    let mut j = i + 2;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
                        j += 1;
                    }
                    let flag = &src[i..j];
                    if flag != "--strict" && flag != "--keep-empty" {
                        return Err((
                            ParseErrorKind::UnknownFlag(flag.to_owned()),
                            Span::new(i, j),
                        ));
                    }
                    i = j;
                    Tok::Flag
                } else {
                    one(&mut i, Tok::Sub)
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                if ch == '\'' {
                    let kind = ParseErrorKind::Unexpected {
                        found: "\"'\"".to_owned(),
                        expected: "a string in double quotes or backticks".to_owned(),
                    };
                    return Err((kind, Span::new(i, i + 1)));
                }
                if ch == '_' || ch.is_alphabetic() {
                    i += src[i..]
                        .char_indices()
                        .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
                        .map_or(src.len() - i, |(n, _)| n);
                    Tok::Ident
                } else {
                    return Err((
                        ParseErrorKind::InvalidCharacter(ch),
                        Span::new(i, i + ch.len_utf8()),
                    ));
                }
            }
        };
        out.push(Token {
            tok,
            span: Span::new(start, i),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(src.len(), src.len()),
    });
    Ok(out)
}

fn memchr_nl(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

fn one(i: &mut usize, t: Tok) -> Tok {
    *i += 1;
    t
}

fn two(b: &[u8], i: &mut usize, pairs: &[(u8, Tok)], single: Tok) -> Tok {
    if let Some(next) = b.get(*i + 1) {
        for (c, t) in pairs {
            if c == next {
                *i += 2;
                return t.clone();
            }
        }
    }
    *i += 1;
    single
}

/// Lexes a double-quoted string starting at `start`; returns the decoded
/// value and the end offset.
fn lex_string(src: &str, start: usize) -> Result<(String, usize), LexError> {
    let b = src.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let body = &src[start + 1..i];
                return match literal::unquote_body(body) {
                    Ok(s) => Ok((s, i + 1)),
                    Err(UnquoteError::Escape(at, esc)) => {
                        let s = start + 1 + at;
                        Err((
                            ParseErrorKind::InvalidEscape(esc.clone()),
                            Span::new(s, s + esc.len()),
                        ))
                    }
                    Err(UnquoteError::Utf8) => {
                        Err((ParseErrorKind::InvalidUtf8, Span::new(start, i + 1)))
                    }
                };
            }
            b'\\' => i += 2,
            b'\n' => break,
            _ => i += 1,
        }
    }
    Err((
        ParseErrorKind::UnterminatedString,
        Span::new(start, i.min(src.len())),
    ))
}

/// Lexes a number, or a duration/bytes literal when unit letters follow.
fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), LexError> {
    let b = src.as_bytes();
    let mut i = start;
    let is_ident = |c: char| c == '_' || c.is_alphanumeric() || c == '.';
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        let end = i + src[i..]
            .find(|c: char| !is_ident(c))
            .unwrap_or(src.len() - i);
        let text = &src[start..end];
        return match u64::from_str_radix(&text[2..], 16) {
            Ok(v) if end == i => Ok((Tok::Number(v as f64), end)),
            _ => Err((
                ParseErrorKind::InvalidNumber(text.to_owned()),
                Span::new(start, end),
            )),
        };
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let num_end = i;
    // As Loki's lexer: a number directly followed by duration letters is a
    // duration if it parses as one; else, followed by byte-unit letters, a
    // byte size; else just the number (the letters start the next token).
    let run = |accept: fn(char) -> bool| {
        num_end
            + src[num_end..]
                .find(|c: char| !(c.is_numeric() || c == '.' || accept(c)))
                .unwrap_or(src.len() - num_end)
    };
    let is_ident = |c: char| c == '_' || c.is_alphanumeric();
    // Letters glued to a literal that are no unit of it are an error here
    // (Loki's grammar rejects them a token later, less clearly).
    let glued = |end: usize| {
        src[end..].starts_with(is_ident).then(|| {
            let end = end
                + src[end..]
                    .find(|c: char| !(is_ident(c) || c == '.'))
                    .unwrap_or(src.len() - end);
            (
                ParseErrorKind::InvalidDuration(src[start..end].to_owned()),
                Span::new(start, end),
            )
        })
    };
    let dur_end = run(|c| "nuµmshdwy".contains(c));
    if dur_end > num_end {
        if let Some(v) = literal::parse_duration(&src[start..dur_end]) {
            return glued(dur_end).map_or(Ok((Tok::Duration(v), dur_end)), Err);
        }
    }
    let bytes_end = run(|c| "BikKMGTP".contains(c));
    if bytes_end > num_end {
        if let Some(v) = literal::parse_bytes(&src[start..bytes_end]) {
            return glued(bytes_end).map_or(Ok((Tok::Bytes(v), bytes_end)), Err);
        }
    }
    if let Some(e) = glued(num_end) {
        return Err(e);
    }
    let text = &src[start..num_end];
    match text.parse::<f64>() {
        Ok(v) => Ok((Tok::Number(v), num_end)),
        Err(_) => Err((
            ParseErrorKind::InvalidNumber(text.to_owned()),
            Span::new(start, num_end),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators_are_greedy() {
        assert_eq!(
            kinds("|= |~ |> != !~ !> =~ == >= <= | = > <"),
            vec![
                Tok::PipeExact,
                Tok::PipeMatch,
                Tok::PipePattern,
                Tok::Neq,
                Tok::Nre,
                Tok::NotPattern,
                Tok::Re,
                Tok::CmpEq,
                Tok::Gte,
                Tok::Lte,
                Tok::Pipe,
                Tok::Eq,
                Tok::Gt,
                Tok::Lt,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            kinds("1 2.5 1e3 0x1f 5m 1.5h 20KB [1h30m] `a\\b` \"x\\ty\" # c\n--strict"),
            vec![
                Tok::Number(1.0),
                Tok::Number(2.5),
                Tok::Number(1000.0),
                Tok::Number(31.0),
                Tok::Duration(300_000_000_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Bytes(20_000),
                Tok::Range(5_400_000_000_000),
                Tok::Str("a\\b".into()),
                Tok::Str("x\ty".into()),
                Tok::Flag,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_have_spans() {
        let (k, s) = tokenize("{a=\"b} ").unwrap_err();
        assert_eq!(k, ParseErrorKind::UnterminatedString);
        assert_eq!(s.start, 3);
        let (k, s) = tokenize("x \"a\\qb\"").unwrap_err();
        assert_eq!(k, ParseErrorKind::InvalidEscape("\\q".into()));
        assert_eq!((s.start, s.end), (4, 6));
        assert!(matches!(
            tokenize("5mm").unwrap_err().0,
            ParseErrorKind::InvalidDuration(_)
        ));
        assert!(matches!(
            tokenize("5xyz").unwrap_err().0,
            ParseErrorKind::InvalidDuration(_)
        ));
        assert!(matches!(
            tokenize("5kb").unwrap_err().0,
            ParseErrorKind::InvalidDuration(_)
        ));
        assert_eq!(
            kinds("5k 2Mi"),
            vec![Tok::Bytes(5_000), Tok::Bytes(2 << 20), Tok::Eof]
        );
        assert!(matches!(
            tokenize("--nope").unwrap_err().0,
            ParseErrorKind::UnknownFlag(_)
        ));
        assert!(matches!(
            tokenize("[5m").unwrap_err().0,
            ParseErrorKind::UnterminatedRange
        ));
        assert!(matches!(
            tokenize("a ; b").unwrap_err().0,
            ParseErrorKind::InvalidCharacter(';')
        ));
    }
}
