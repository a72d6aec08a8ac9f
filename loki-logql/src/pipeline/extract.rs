//! How parsers add labels: sanitised names, `_extracted` on a clash with a
//! stream label, and the first value winning when a key repeats in a line.

use super::labels::{sanitize_key, LabelsBuilder};

/// Reusable per-stage state for adding extracted labels.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extractor {
    names: Vec<String>,
    live: usize,
    bits: u64,
    buf: String,
}

impl Extractor {
    /// Starts a new line.
    pub(crate) fn begin(&mut self) {
        self.live = 0;
        self.bits = 0;
    }

    /// Adds `key` (raw, unsanitised) = `value` unless this line already set it.
    pub(crate) fn set(&mut self, lbs: &mut LabelsBuilder, key: &str, value: &str) {
        sanitize_key(key, &mut self.buf);
        self.set_sanitized(lbs, value);
    }

    /// Adds the name already sanitised into the buffer.
    pub(crate) fn set_sanitized(&mut self, lbs: &mut LabelsBuilder, value: &str) {
        if self.buf.is_empty() {
            return;
        }
        if lbs.base_has(&self.buf) {
            self.buf.push_str("_extracted");
        }
        let bit = super::labels::name_bit(&self.buf);
        if self.bits & bit != 0 && self.names[..self.live].contains(&self.buf) {
            return;
        }
        self.bits |= bit;
        if self.live < self.names.len() {
            self.names[self.live].clear();
            self.names[self.live].push_str(&self.buf);
        } else {
            self.names.push(self.buf.clone());
        }
        self.live += 1;
        lbs.set(&self.buf, value);
    }
}
