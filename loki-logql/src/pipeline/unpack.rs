//! The `unpack` stage: the string members of a JSON object become labels
//! and the `_entry` member replaces the line (Promtail's `pack` format).

use super::extract::Extractor;
use super::json_scan::{each_member, kind_at, push_string, scan_string, skip_ws, Kind};
use super::labels::{errors, LabelsBuilder};

/// A compiled `unpack` stage.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unpacker {
    pub(crate) ex: Extractor,
    key: String,
    val: String,
}

impl Unpacker {
    /// Returns true when `out` holds a replacement line.
    pub(crate) fn process(
        &mut self,
        line: &str,
        lbs: &mut LabelsBuilder,
        out: &mut String,
    ) -> bool {
        self.ex.begin(lbs);
        let b = line.as_bytes();
        let mut entry = false;
        out.clear();
        let res = each_member(b, skip_ws(b, 0), |k, kesc, vs, _| {
            if kind_at(b, vs)? != Kind::Str {
                return Ok(true);
            }
            self.key.clear();
            push_string(k, kesc, &mut self.key)?;
            let (end, esc) = scan_string(b, vs)?;
            if self.key == "_entry" {
                push_string(&b[vs + 1..end - 1], esc, out)?;
                entry = true;
                return Ok(true);
            }
            self.val.clear();
            push_string(&b[vs + 1..end - 1], esc, &mut self.val)?;
            let (key, val) = (std::mem::take(&mut self.key), std::mem::take(&mut self.val));
            self.ex.set(lbs, &key, &val);
            (self.key, self.val) = (key, val);
            Ok(true)
        });
        if let Err(e) = res {
            lbs.set_err(errors::JSON, e);
            return false;
        }
        entry
    }
}
