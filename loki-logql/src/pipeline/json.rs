//! The `json` parser stage.
//!
//! Without parameters every scalar member becomes a label; nested objects
//! are flattened with `_`; arrays are skipped. With parameters
//! (`| json a="b.c", d`) only those paths are looked up, each by a scan
//! that skips everything else without decoding it; objects and arrays are
//! stored as their JSON text, a missing path gives `""`.

use super::extract::Extractor;
use super::json_scan::{
    each_member, kind_at, push_string, scan_string, skip_value, skip_ws, Kind, ScanError,
    ScanResult,
};
use super::labels::{errors, LabelsBuilder};
use crate::syntax::ast::Extraction;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// A compiled `json` stage.
#[derive(Debug, Clone)]
pub(crate) struct JsonParser {
    paths: Vec<(String, Vec<Step>)>,
    pub(crate) ex: Extractor,
    val: String,
    key: String,
    prefix: String,
}

impl JsonParser {
    pub(crate) fn new(params: &[Extraction]) -> JsonParser {
        let paths = params
            .iter()
            .map(|e| {
                let expr = e.expr.as_deref().unwrap_or(&e.label);
                (e.label.clone(), parse_path(expr))
            })
            .collect();
        JsonParser {
            paths,
            ex: Extractor::default(),
            val: String::new(),
            key: String::new(),
            prefix: String::new(),
        }
    }

    pub(crate) fn process(&mut self, line: &str, lbs: &mut LabelsBuilder) {
        self.ex.begin(lbs);
        let b = line.as_bytes();
        if self.paths.is_empty() {
            let start = skip_ws(b, 0);
            let mut prefix = std::mem::take(&mut self.prefix);
            prefix.clear();
            if let Err(e) = self.object(line, start, &mut prefix, lbs) {
                lbs.set_err(errors::JSON, e);
            }
            self.prefix = prefix;
            return;
        }
        let start = skip_ws(b, 0);
        if !matches!(b.get(start), Some(b'{' | b'[')) {
            lbs.set_err(
                errors::JSON,
                "Value looks like object, but can't find closing '}' symbol",
            );
            return;
        }
        let paths = std::mem::take(&mut self.paths);
        for (label, steps) in &paths {
            self.val.clear();
            if let Ok(Some((s, e))) = lookup(b, start, steps) {
                let _ = value_text(b, s, e, &mut self.val);
            }
            self.ex.set(lbs, label, &self.val);
        }
        self.paths = paths;
    }

    /// Adds every scalar member of the object at `line[at]` (and, flattened
    /// under `prefix`, of nested objects). Keys and values without escapes
    /// are borrowed from the line; nothing is copied before the label
    /// builder stores it.
    fn object(
        &mut self,
        line: &str,
        at: usize,
        prefix: &mut String,
        lbs: &mut LabelsBuilder,
    ) -> ScanResult<usize> {
        let b = line.as_bytes();
        if b.get(at) != Some(&b'{') {
            return Err(ScanError(NOT_CLOSED));
        }
        let mut j = skip_ws(b, at + 1);
        if b.get(j) == Some(&b'}') {
            return Ok(j + 1);
        }
        loop {
            if b.get(j) != Some(&b'"') {
                return Err(ScanError("Malformed object key"));
            }
            let (kend, kesc) = scan_string(b, j)?;
            let key_at = (j + 1, kend - 1);
            j = skip_ws(b, kend);
            if b.get(j) != Some(&b':') {
                return Err(ScanError("Malformed object: missing ':'"));
            }
            let vs = skip_ws(b, j + 1);
            // The value is scanned (and, for objects and arrays, matched to
            // its end) before any label of it is added.
            let (ve, vesc) = match b.get(vs) {
                Some(b'"') => scan_string(b, vs)?,
                _ => (skip_value(b, vs)?, false),
            };
            let kind = kind_at(b, vs)?;
            if kesc {
                // Decoded (and so checked) even when the value is skipped.
                self.key.clear();
                push_string(&b[key_at.0..key_at.1], true, &mut self.key)?;
            }
            if kind != Kind::Array {
                let key: &str = if kesc {
                    &self.key
                } else {
                    slice(line, key_at.0, key_at.1)
                };
                let plen = prefix.len();
                let name: &str = if prefix.is_empty() && kind != Kind::Object {
                    key
                } else {
                    if !prefix.is_empty() {
                        prefix.push('_');
                    }
                    prefix.push_str(key);
                    prefix
                };
                match kind {
                    Kind::Object => {
                        self.object(line, vs, prefix, lbs)?;
                    }
                    Kind::Str if vesc => {
                        self.val.clear();
                        push_string(&b[vs + 1..ve - 1], true, &mut self.val)?;
                        self.ex.set(lbs, name, &self.val);
                    }
                    Kind::Str => self.ex.set(lbs, name, slice(line, vs + 1, ve - 1)),
                    Kind::Null => self.ex.set(lbs, name, ""),
                    _ => self.ex.set(lbs, name, slice(line, vs, ve)),
                }
                prefix.truncate(plen);
            }
            j = skip_ws(b, ve);
            match b.get(j) {
                Some(b',') => j = skip_ws(b, j + 1),
                Some(b'}') => return Ok(j + 1),
                _ => return Err(ScanError(NOT_CLOSED)),
            }
        }
    }
}

const NOT_CLOSED: &str = "Value looks like object, but can't find closing '}' symbol";

/// `line[s..e]`, where both ends sit next to ASCII delimiters (so on
/// character boundaries); empty if not.
fn slice(line: &str, s: usize, e: usize) -> &str {
    line.get(s..e).unwrap_or_default()
}

/// The label text of the value at `b[s..e]` (`e` is the end found by
/// `skip_value`, so a string's body is `b[s + 1..e - 1]`).
fn value_text(b: &[u8], s: usize, e: usize, out: &mut String) -> ScanResult<()> {
    match kind_at(b, s)? {
        Kind::Str => {
            let body = &b[s + 1..e - 1];
            push_string(body, memchr::memchr(b'\\', body).is_some(), out)
        }
        Kind::Null => Ok(()),
        _ => {
            match std::str::from_utf8(&b[s..e]) {
                Ok(t) => out.push_str(t),
                Err(_) => out.push_str(&String::from_utf8_lossy(&b[s..e])),
            }
            Ok(())
        }
    }
}

/// Finds the value at `steps` below the value at `b[at]`.
fn lookup(b: &[u8], at: usize, steps: &[Step]) -> ScanResult<Option<(usize, usize)>> {
    let Some((step, rest)) = steps.split_first() else {
        let end = super::json_scan::skip_value(b, at)?;
        return Ok(Some((at, end)));
    };
    match (step, kind_at(b, at)?) {
        (Step::Key(k), Kind::Object) => {
            let mut found = None;
            let mut tmp = String::new();
            each_member(b, at, |key, esc, vs, _| {
                let eq = if esc {
                    tmp.clear();
                    push_string(key, esc, &mut tmp)?;
                    tmp.as_bytes() == k.as_bytes()
                } else {
                    key == k.as_bytes()
                };
                if eq {
                    found = Some(vs);
                    return Ok(false);
                }
                Ok(true)
            })?;
            match found {
                Some(vs) => lookup(b, vs, rest),
                None => Ok(None),
            }
        }
        (Step::Index(n), Kind::Array) => {
            let mut j = skip_ws(b, at + 1);
            let mut idx = 0;
            while b.get(j).is_some_and(|&c| c != b']') {
                let end = super::json_scan::skip_value(b, j)?;
                if idx == *n {
                    return lookup(b, j, rest);
                }
                idx += 1;
                j = skip_ws(b, end);
                match b.get(j) {
                    Some(b',') => j = skip_ws(b, j + 1),
                    Some(b']') => break,
                    _ => return Err(ScanError("malformed array")),
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Parses `a.b`, `a["key"]`, `list[0]` (validated by the parser).
pub(crate) fn parse_path(expr: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && b[j] != b'"' {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    let raw = &expr[start..j.min(expr.len())];
                    let mut k = String::new();
                    if super::json_scan::unescape(raw.as_bytes(), &mut k).is_err() {
                        k = raw.to_owned();
                    }
                    steps.push(Step::Key(k));
                    i = j + 1;
                } else {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    steps.push(Step::Index(expr[start..i].parse().unwrap_or(usize::MAX)));
                }
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b'.' | b'[') {
                    i += 1;
                }
                steps.push(Step::Key(expr[start..i].to_owned()));
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r#"a.b["c d"][2]"#),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Key("c d".into()),
                Step::Index(2)
            ]
        );
    }
}
