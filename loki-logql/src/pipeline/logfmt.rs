//! The `logfmt` parser stage, with `--strict` and `--keep-empty`.
//!
//! Keys run to `=` or whitespace; values are bare (to the next space) or
//! double-quoted with Go escapes. By default a malformed pair is skipped;
//! with `--strict` parsing stops at it with `LogfmtParserErr`. Pairs with
//! an empty value are dropped unless `--keep-empty` is given. With an
//! extraction list only those keys are turned into labels.

use super::extract::Extractor;
use super::labels::{errors, LabelsBuilder};
use crate::syntax::ast::Logfmt;

/// A compiled `logfmt` stage.
#[derive(Debug, Clone)]
pub(crate) struct LogfmtParser {
    strict: bool,
    keep_empty: bool,
    /// `(label, key)` pairs; empty = all keys.
    params: Vec<(String, String)>,
    pub(crate) ex: Extractor,
    val: String,
}

enum Pair<'a> {
    Ok(&'a str, Value<'a>),
    Bad(&'static str),
}

enum Value<'a> {
    Raw(&'a str),
    Quoted(&'a str),
}

impl LogfmtParser {
    pub(crate) fn new(l: &Logfmt) -> LogfmtParser {
        LogfmtParser {
            strict: l.strict,
            keep_empty: l.keep_empty,
            params: l
                .params
                .iter()
                .map(|e| {
                    (
                        e.label.clone(),
                        e.expr.clone().unwrap_or_else(|| e.label.clone()),
                    )
                })
                .collect(),
            ex: Extractor::default(),
            val: String::new(),
        }
    }

    pub(crate) fn process(&mut self, line: &str, lbs: &mut LabelsBuilder) {
        self.ex.begin(lbs);
        let b = line.as_bytes();
        let mut i = 0;
        // With an extraction list, stop once every key has been seen
        // (later repeats would lose to the first value anyway).
        let mut found = 0u64;
        let all = if self.params.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.params.len()) - 1
        };
        loop {
            if !self.params.is_empty() && found == all {
                return;
            }
            let Some((pair, next)) = pair_after_space(line, i) else {
                return;
            };
            i = next;
            match pair {
                Pair::Bad(msg) => {
                    if self.strict {
                        lbs.set_err(
                            errors::LOGFMT,
                            format_args!("logfmt syntax error at pos {}: {msg}", i + 1),
                        );
                        return;
                    }
                    while i < b.len() && b[i] > b' ' {
                        i += 1;
                    }
                }
                Pair::Ok(key, value) => {
                    let idx = if self.params.is_empty() {
                        None
                    } else {
                        match self.params.iter().position(|(_, k)| k == key) {
                            Some(ix) => Some(ix),
                            None => continue,
                        }
                    };
                    // Borrowed from the line unless it has escapes.
                    let value: &str = match value {
                        Value::Raw(v) => v,
                        Value::Quoted(v) if memchr::memchr(b'\\', v.as_bytes()).is_none() => v,
                        Value::Quoted(v) => {
                            self.val.clear();
                            unquote(v, &mut self.val);
                            &self.val
                        }
                    };
                    if value.is_empty() && !self.keep_empty {
                        continue;
                    }
                    if let Some(ix) = idx.filter(|&ix| ix < 64) {
                        found |= 1 << ix;
                    }
                    let label = idx.map_or(key, |ix| self.params[ix].0.as_str());
                    self.ex.set(lbs, label, value);
                }
            }
        }
    }
}

/// The pair after the spaces from `start`, and where it ends; `None` at
/// the end of the line.
fn pair_after_space(line: &str, start: usize) -> Option<(Pair<'_>, usize)> {
    let b = line.as_bytes();
    let at = start
        + b[start.min(b.len())..]
            .iter()
            .take_while(|&&c| c <= b' ')
            .count();
    (at < b.len()).then(|| next_pair(line, at))
}

/// Parses one pair starting at a non-space byte.
fn next_pair(line: &str, start: usize) -> (Pair<'_>, usize) {
    let b = line.as_bytes();
    let mut i = start;
    while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
        i += 1;
    }
    if i == start {
        let msg = if b[i] == b'=' {
            "unexpected '='"
        } else {
            "unexpected '\"'"
        };
        return (Pair::Bad(msg), i + 1);
    }
    let key = &line[start..i];
    if i >= b.len() || b[i] <= b' ' {
        return (Pair::Ok(key, Value::Raw("")), i);
    }
    if b[i] == b'"' {
        return (Pair::Bad("unexpected '\"'"), i + 1);
    }
    i += 1; // '='
    if i >= b.len() || b[i] <= b' ' {
        return (Pair::Ok(key, Value::Raw("")), i);
    }
    if b[i] == b'"' {
        let vs = i + 1;
        let mut j = vs;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return (Pair::Ok(key, Value::Quoted(&line[vs..j])), j + 1),
                _ => j += 1,
            }
        }
        return (Pair::Bad("unterminated quoted value"), b.len());
    }
    let vs = i;
    while i < b.len() && b[i] > b' ' {
        if b[i] == b'"' || b[i] == b'=' {
            let msg = if b[i] == b'=' {
                "unexpected '='"
            } else {
                "unexpected '\"'"
            };
            return (Pair::Bad(msg), i + 1);
        }
        i += 1;
    }
    (Pair::Ok(key, Value::Raw(&line[vs..i])), i)
}

/// Decodes a quoted logfmt value body.
fn unquote(v: &str, out: &mut String) {
    if !v.contains('\\') {
        out.push_str(v);
        return;
    }
    if super::json_scan::unescape(v.as_bytes(), out).is_err() {
        out.push_str(v);
    }
}

/// Calls `f(key, value)` for each well-formed pair of `line` in order
/// (a quoted value as written between its quotes, escapes and all) until
/// `f` returns false or a malformed pair ends the line, as Loki's
/// level detection reads logfmt.
pub(crate) fn each_pair<'a>(line: &'a str, mut f: impl FnMut(&'a str, &'a str) -> bool) {
    let mut i = 0;
    while let Some((pair, next)) = pair_after_space(line, i) {
        i = next;
        match pair {
            Pair::Bad(_) => return,
            Pair::Ok(key, Value::Raw(value) | Value::Quoted(value)) => {
                if !f(key, value) {
                    return;
                }
            }
        }
    }
}
