//! The `line_format` stage: the line becomes the template's rendering; on
//! a template error the line is unchanged and marked `TemplateFormatErr`.

use super::labels::{errors, LabelsBuilder};
use crate::template::{Compiled, Ctx};

/// Renders into `out`; returns whether `out` holds the new line.
pub(crate) fn line_format(
    t: &Compiled,
    ts: i64,
    line: &str,
    lbs: &mut LabelsBuilder,
    out: &mut String,
) -> bool {
    match t.render(lbs, Ctx { line, ts }, out) {
        Ok(()) => true,
        Err(e) => {
            lbs.set_err(errors::TEMPLATE_FORMAT, e);
            false
        }
    }
}
