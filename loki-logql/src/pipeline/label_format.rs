//! The `label_format` stage: `a=b` renames `b` to `a`; `a="tmpl"` sets `a`
//! from a template rendered against the labels as they were when the
//! stage started. A template error marks the line `TemplateFormatErr`.

use super::labels::{errors, LabelKind, LabelsBuilder};
use crate::template::{Compiled, Ctx};

/// One compiled assignment.
#[derive(Debug, Clone)]
pub(crate) enum Fmt {
    Rename(String, String),
    Template(String, Compiled),
}

/// Applies the assignments.
pub(crate) fn label_format(
    fmts: &[Fmt],
    ts: i64,
    line: &str,
    lbs: &mut LabelsBuilder,
    buf: &mut String,
) {
    // Render every template first, against the labels at stage start.
    // A failing template leaves its target alone.
    let mut rendered: Vec<(usize, String)> = Vec::new();
    for (i, f) in fmts.iter().enumerate() {
        if let Fmt::Template(_, t) = f {
            match t.render(lbs, Ctx { line, ts }, buf) {
                Ok(()) => rendered.push((i, buf.clone())),
                Err(e) => lbs.set_err(errors::TEMPLATE_FORMAT, e),
            }
        }
    }
    for f in fmts {
        if let Fmt::Rename(dst, src) = f {
            if let Some(v) = lbs.get(src).map(str::to_owned) {
                // A renamed label keeps its kind, as in Loki.
                let kind = lbs.kind_of(src).unwrap_or(LabelKind::Parsed);
                lbs.delete(src);
                lbs.set_as(dst, &v, kind);
            }
        }
    }
    for (i, v) in rendered {
        if let Fmt::Template(dst, _) = &fmts[i] {
            lbs.set_as(dst, &v, LabelKind::Parsed);
        }
    }
}
