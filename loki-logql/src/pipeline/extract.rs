//! How parsers add labels: sanitised names, `_extracted` on a clash with a
//! stream label, and the first value winning when a key repeats in a line.
//!
//! Like Loki's parser label hints, a parser can be told which names the
//! rest of the query can observe (when a later `keep` discards all
//! others, see [`wanted_after`]); it then skips adding the rest. Lines are
//! still parsed whole, so errors are the same.

use crate::syntax::ast::{LabelFilter, LabelSelection, Stage, StageKind};

use super::labels::{sanitize_key, LabelsBuilder};

/// Reusable per-stage state for adding extracted labels.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extractor {
    /// This run's stamp in the label builder.
    stamp: u32,
    buf: String,
    /// `Some`: only these final names can matter; others are not added.
    pub(crate) wanted: Option<Vec<String>>,
}

impl Extractor {
    /// Starts a new line.
    pub(crate) fn begin(&mut self, lbs: &mut LabelsBuilder) {
        self.stamp = lbs.new_stamp();
    }

    /// Adds `key` (raw, unsanitised) = `value` unless this line already set it.
    pub(crate) fn set(&mut self, lbs: &mut LabelsBuilder, key: &str, value: &str) {
        if is_label_name(key) {
            // The final name is `key` or `key_extracted`.
            if let Some(w) = &self.wanted {
                let may_want = |n: &String| {
                    n.strip_prefix(key)
                        .is_some_and(|rest| rest.is_empty() || rest == "_extracted")
                };
                if !w.iter().any(may_want) {
                    return;
                }
            }
            if !lbs.base_has(key) {
                // Already a valid name and no clash: no copy.
                self.add(lbs, key, value);
                return;
            }
        }
        sanitize_key(key, &mut self.buf);
        self.set_sanitized(lbs, value);
    }

    /// Adds the final name `name` unless this line already set it.
    fn add(&mut self, lbs: &mut LabelsBuilder, name: &str, value: &str) {
        if let Some(w) = &self.wanted {
            if !w.iter().any(|n| n == name) {
                return;
            }
        }
        lbs.set_once(name, value, self.stamp);
    }

    /// Adds the name already sanitised into the buffer.
    pub(crate) fn set_sanitized(&mut self, lbs: &mut LabelsBuilder, value: &str) {
        if self.buf.is_empty() {
            return;
        }
        if lbs.base_has(&self.buf) {
            self.buf.push_str("_extracted");
        }
        let name = std::mem::take(&mut self.buf);
        self.add(lbs, &name, value);
        self.buf = name;
    }
}

/// Whether `key` is already a label name as sanitising would leave it:
/// non-empty, `[A-Za-z0-9_]` only, not starting with a digit.
fn is_label_name(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty() && !b[0].is_ascii_digit() && b.iter().all(|&c| NAME_BYTE[usize::from(c)])
}

/// `[A-Za-z0-9_]`.
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_';
        c += 1;
    }
    t
};

/// The label names that stages after a parser can observe, if a `keep`
/// bounds them: the names of that `keep` and of every label filter, `drop`
/// before it. `None` (everything matters) without a `keep`, or when a
/// template (`line_format`, `label_format`), which may read any label,
/// comes first.
pub(crate) fn wanted_after(stages: &[Stage]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let selection = |s: &LabelSelection| match s {
        LabelSelection::Name { name, .. } => name.clone(),
        LabelSelection::Matcher(m) => m.name.clone(),
    };
    for s in stages {
        match &s.kind {
            StageKind::LineFilter(_)
            | StageKind::Json(_)
            | StageKind::Logfmt(_)
            | StageKind::Regexp(_)
            | StageKind::Pattern(_)
            | StageKind::Unpack
            | StageKind::Decolorize => {}
            StageKind::LabelFilter(f) => filter_names(f, &mut names),
            StageKind::Drop(sel) => names.extend(sel.iter().map(selection)),
            StageKind::Keep(sel) => {
                names.extend(sel.iter().map(selection));
                return Some(names);
            }
            StageKind::LineFormat(_) | StageKind::LabelFormat(_) => return None,
        }
    }
    None
}

fn filter_names(f: &LabelFilter, out: &mut Vec<String>) {
    match f {
        LabelFilter::Matcher(m) => out.push(m.name.clone()),
        LabelFilter::Ip { name, .. } | LabelFilter::Compare { name, .. } => out.push(name.clone()),
        LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
            filter_names(a, out);
            filter_names(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::Expr;

    fn wanted(q: &str) -> Option<Vec<String>> {
        let Ok(Expr::Log(l)) = crate::parse(q) else {
            panic!("{q}")
        };
        wanted_after(&l.pipeline[1..])
    }

    #[test]
    fn first_value_of_a_repeated_key_wins_within_a_run() {
        let labels = |q: &str, line: &str| {
            let Ok(Expr::Log(l)) = crate::parse(q) else {
                panic!("{q}")
            };
            let mut p = crate::pipeline::Pipeline::new(&l.pipeline).unwrap();
            let base = std::sync::Arc::new(crate::parse_labels(r#"{app="x"}"#).unwrap());
            assert!(p.process(0, line, &base, &[], false));
            p.lbs.build_label_set().to_string()
        };
        let line = r#"{"a":"1","a":"2","app":"y","app":"z"}"#;
        let want = r#"{a="1", app="x", app_extracted="y"}"#;
        assert_eq!(labels(r#"{app="x"} | json"#, line), want);
        // A value set before the parser runs is replaced by its first one.
        assert_eq!(
            labels(r#"{app="x"} | label_format a="z" | json"#, line),
            want
        );
        assert_eq!(
            labels(r#"{app="x"} | logfmt"#, "a=1 a=2"),
            r#"{a="1", app="x"}"#
        );
    }

    #[test]
    fn hints() {
        assert_eq!(
            wanted(r#"{a="b"} | json | x > 1 | drop y | keep z, w="v""#),
            Some(vec!["x".into(), "y".into(), "z".into(), "w".into()])
        );
        assert_eq!(wanted(r#"{a="b"} | json | x > 1"#), None);
        assert_eq!(
            wanted(r#"{a="b"} | json | line_format "{{.q}}" | keep z"#),
            None
        );
        assert_eq!(
            wanted(r#"{a="b"} | json | label_format q=r | keep z"#),
            None
        );
    }
}
