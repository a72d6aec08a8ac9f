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
        if is_label_name(key) && !lbs.base_has(key) {
            // Already a valid name and no clash: no copy.
            self.add(lbs, key, value);
            return;
        }
        sanitize_key(key, &mut self.buf);
        self.set_sanitized(lbs, value);
    }

    /// Adds the final name `name` unless this line already set it.
    fn add(&mut self, lbs: &mut LabelsBuilder, name: &str, value: &str) {
        let bit = super::labels::name_bit(name);
        if self.bits & bit != 0 && self.names[..self.live].iter().any(|n| n == name) {
            return;
        }
        self.bits |= bit;
        if self.live < self.names.len() {
            self.names[self.live].clear();
            self.names[self.live].push_str(name);
        } else {
            self.names.push(name.to_owned());
        }
        self.live += 1;
        lbs.set(name, value);
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
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}
