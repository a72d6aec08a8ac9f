//! Parse-time semantic checks, as Loki applies them: selectors need a
//! matcher that rejects the empty value, regexes compile, patterns and IP
//! ranges are well formed, aggregations get `unwrap`/grouping only where
//! allowed.

use std::net::IpAddr;

use regex_syntax::hir::{Hir, HirKind};

use crate::error::ParseErrorKind;
use crate::syntax::ast::{MatchOp, RangeOp, Selector, Unwrap};
use crate::syntax::parser::PResult;
use crate::syntax::pattern;
use crate::syntax::regex::go_to_rust;
use crate::syntax::span::Span;

/// Whether `s` is a Prometheus label name `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// A selector must hold a matcher that cannot match the empty value.
pub(crate) fn selector(sel: &Selector) -> PResult<()> {
    let ok = sel.matchers.iter().any(|m| match m.op {
        MatchOp::Eq => !m.value.is_empty(),
        MatchOp::Re => !regex_matches_empty(&m.value),
        MatchOp::Neq | MatchOp::Nre => false,
    });
    if ok {
        Ok(())
    } else {
        Err((ParseErrorKind::EmptyCompatibleSelector, sel.span))
    }
}

fn regex_matches_empty(re: &str) -> bool {
    let Ok(hir) = regex_syntax::Parser::new().parse(&go_to_rust(re)) else {
        return true;
    };
    let props = hir.properties();
    if props.minimum_len().is_some_and(|n| n > 0) || props.minimum_len().is_none() {
        return false;
    }
    if props.look_set().is_empty() {
        return true;
    }
    regex::Regex::new(&format!("^(?:{})$", go_to_rust(re))).map_or(true, |r| r.is_match(""))
}

/// The regex must parse as RE2-compatible syntax; returns its HIR.
/// (`anchored` regexes are used as `^(?:re)$`; wrapping a valid regex that
/// way cannot make it invalid, so the plain text is checked.)
pub(crate) fn regex(re: &str, _anchored: bool, span: Span) -> PResult<Hir> {
    regex_syntax::Parser::new()
        .parse(&go_to_rust(re))
        .map_err(|e| {
            let message = e.to_string();
            let message = message.lines().last().unwrap_or_default().trim();
            let message = message
                .strip_prefix("error: ")
                .unwrap_or(message)
                .to_owned();
            (
                ParseErrorKind::InvalidRegex {
                    regex: re.to_owned(),
                    message,
                },
                span,
            )
        })
}

fn has_named_capture(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Capture(c) => c.name.is_some() || has_named_capture(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(has_named_capture),
        HirKind::Repetition(r) => has_named_capture(&r.sub),
        _ => false,
    }
}

/// `regexp` stages need a valid regex with at least one named group.
pub(crate) fn regexp_parser(re: &str, span: Span) -> PResult<()> {
    let hir = regex(re, false, span)?;
    if !has_named_capture(&hir) {
        return Err((
            ParseErrorKind::InvalidRegex {
                regex: re.to_owned(),
                message: "at least one named capture must be supplied".to_owned(),
            },
            span,
        ));
    }
    Ok(())
}

/// Checks a `pattern` parser (`filter == false`) or a `|>`/`!>` pattern.
pub(crate) fn pattern(p: &str, filter: bool, span: Span) -> PResult<()> {
    pattern::validate(p, filter).map_err(|message| {
        (
            ParseErrorKind::InvalidPattern {
                pattern: p.to_owned(),
                message,
            },
            span,
        )
    })
}

/// An `ip()` argument: address, `a-b` range (same family, ascending) or CIDR.
pub(crate) fn ip(value: &str, span: Span) -> PResult<()> {
    let err = |message: &str| {
        (
            ParseErrorKind::InvalidIp {
                value: value.to_owned(),
                message: message.to_owned(),
            },
            span,
        )
    };
    let addr = |s: &str| {
        s.trim()
            .parse::<IpAddr>()
            .map_err(|_| err("not an IP address"))
    };
    if let Some((a, prefix)) = value.split_once('/') {
        let a = addr(a)?;
        let max = if a.is_ipv4() { 32 } else { 128 };
        match prefix.trim().parse::<u8>() {
            Ok(p) if p <= max => Ok(()),
            _ => Err(err("invalid CIDR prefix length")),
        }
    } else if let Some((a, b)) = value.split_once('-') {
        match (addr(a)?, addr(b)?) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(()),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(()),
            _ => Err(err(
                "a range needs two addresses of one family, lowest first",
            )),
        }
    } else {
        addr(value).map(|_| ())
    }
}

/// A `json` extraction path: `a.b`, `a["key"]`, `list[0]`, combinations.
pub(crate) fn json_expr(expr: &str, span: Span) -> PResult<()> {
    let err = |message: &str| {
        (
            ParseErrorKind::InvalidJsonExpression {
                expr: expr.to_owned(),
                message: message.to_owned(),
            },
            span,
        )
    };
    let b = expr.as_bytes();
    let field = |i: &mut usize| {
        let start = *i;
        while *i < b.len()
            && !matches!(b[*i], b'.' | b'[' | b']' | b'"')
            && !b[*i].is_ascii_whitespace()
        {
            *i += 1;
        }
        *i > start
    };
    let mut i = 0;
    if b.is_empty() {
        return Err(err("empty expression"));
    }
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'[' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    if i >= b.len() {
                        return Err(err("unterminated string"));
                    }
                    i += 1;
                } else {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if start == i {
                        return Err(err("expected a string or an index in brackets"));
                    }
                }
                if b.get(i) != Some(&b']') {
                    return Err(err("expected \"]\""));
                }
                i += 1;
            }
            b'.' if !first => {
                i += 1;
                if !field(&mut i) {
                    return Err(err("expected a field name after \".\""));
                }
            }
            _ if first => {
                if !field(&mut i) {
                    return Err(err("expected a field name"));
                }
            }
            _ => return Err(err("expected \".\" or \"[\"")),
        }
        first = false;
    }
    Ok(())
}

/// Whether `by`/`without` may follow this range aggregation.
pub(crate) fn range_grouping_allowed(op: RangeOp) -> bool {
    use RangeOp::*;
    matches!(
        op,
        AvgOverTime
            | MinOverTime
            | MaxOverTime
            | StddevOverTime
            | StdvarOverTime
            | QuantileOverTime
            | FirstOverTime
            | LastOverTime
    )
}

/// Which range aggregations take (or need) `unwrap`.
pub(crate) fn range_unwrap(op: RangeOp, unwrap: Option<&Unwrap>, at: Span) -> PResult<()> {
    use RangeOp::*;
    let name = || op.as_str().to_owned();
    match unwrap {
        Some(u) => match op {
            CountOverTime | BytesOverTime | BytesRate => {
                Err((ParseErrorKind::UnwrapNotAllowed { op: name() }, u.span))
            }
            _ => Ok(()),
        },
        None => match op {
            CountOverTime | BytesOverTime | BytesRate | Rate | AbsentOverTime => Ok(()),
            _ => Err((ParseErrorKind::UnwrapRequired { op: name() }, at)),
        },
    }
}

/// A `line_format`/`label_format` template must parse and use known functions.
pub(crate) fn template(t: &str, span: Span) -> PResult<()> {
    crate::syntax::template::Template::parse(t)
        .map(|_| ())
        .map_err(|message| {
            (
                ParseErrorKind::InvalidTemplate {
                    template: t.to_owned(),
                    message,
                },
                span,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_compatible_regexes() {
        assert!(regex_matches_empty(".*"));
        assert!(regex_matches_empty("a|"));
        assert!(!regex_matches_empty(".+"));
        assert!(!regex_matches_empty(r"\b"));
        assert!(regex_matches_empty("^$"));
    }

    #[test]
    fn ips() {
        let s = Span::default();
        for ok in [
            "192.0.2.1",
            "::1",
            "10.0.0.0/8",
            "192.0.2.1-192.0.2.9",
            "2001:db8::/32",
        ] {
            assert!(ip(ok, s).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1.2.3",
            "10.0.0.0/33",
            "192.0.2.9-192.0.2.1",
            "::1-1.2.3.4",
            "x",
        ] {
            assert!(ip(bad, s).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_paths() {
        let s = Span::default();
        for ok in [
            "a",
            "a.b",
            "a[\"k y\"]",
            "list[0]",
            "a.b[2][\"c\"].d",
            "[\"x\"]",
        ] {
            assert!(json_expr(ok, s).is_ok(), "{ok}");
        }
        for bad in ["", "a.", "a[", "a[x]", "a..b", "a]", "a b"] {
            assert!(json_expr(bad, s).is_err(), "{bad}");
        }
    }
}
