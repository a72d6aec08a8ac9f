//! The `json` parser stage.
//!
//! Without parameters every scalar member becomes a label; nested objects
//! are flattened with `_`; arrays are skipped. With parameters
//! (`| json a="b.c", d`) only those paths are looked up, each by a scan
//! that skips everything else without decoding it; objects and arrays are
//! stored as their JSON text, a missing path gives `""`.

use super::extract::Extractor;
use super::json_scan::{each_member, kind_at, push_string, skip_ws, Kind, ScanError, ScanResult};
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
    ex: Extractor,
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
        self.ex.begin();
        let b = line.as_bytes();
        if self.paths.is_empty() {
            let start = skip_ws(b, 0);
            let mut prefix = std::mem::take(&mut self.prefix);
            prefix.clear();
            if let Err(e) = self.object(b, start, &mut prefix, lbs) {
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

    fn object(
        &mut self,
        b: &[u8],
        at: usize,
        prefix: &mut String,
        lbs: &mut LabelsBuilder,
    ) -> ScanResult<usize> {
        each_member(b, at, |key, kesc, vs, ve| {
            let plen = prefix.len();
            self.key.clear();
            push_string(key, kesc, &mut self.key)?;
            if !prefix.is_empty() {
                prefix.push('_');
            }
            prefix.push_str(&self.key);
            match kind_at(b, vs)? {
                Kind::Object => {
                    self.object(b, vs, prefix, lbs)?;
                }
                Kind::Array => {}
                _ => {
                    self.val.clear();
                    value_text(b, vs, ve, &mut self.val)?;
                    let val = std::mem::take(&mut self.val);
                    self.ex.set(lbs, prefix, &val);
                    self.val = val;
                }
            }
            prefix.truncate(plen);
            Ok(true)
        })
    }
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
