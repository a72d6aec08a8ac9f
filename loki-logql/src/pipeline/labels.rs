//! The per-line label state: stream labels, structured metadata, labels
//! added by parsers and formatters, and the `__error__` pair.
//!
//! Buffers are reused from line to line: once warmed up, setting labels
//! does not allocate.

use std::sync::Arc;

use crate::LabelSet;

/// `__error__`.
pub(crate) const ERROR_LABEL: &str = "__error__";
/// `__error_details__`.
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Loki's error types, the values of `__error__`.
pub(crate) mod errors {
    pub(crate) const JSON: &str = "JSONParserErr";
    pub(crate) const LOGFMT: &str = "LogfmtParserErr";
    pub(crate) const LABEL_FILTER: &str = "LabelFilterErr";
    pub(crate) const SAMPLE_EXTRACTION: &str = "SampleExtractionErr";
    pub(crate) const TEMPLATE_FORMAT: &str = "TemplateFormatErr";
}

/// Where a label of a line came from, as Loki categorises them for the
/// `categorize-labels` response encoding.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelKind {
    /// The stream's labels (and labels renamed from them).
    #[default]
    Stream,
    /// The entry's structured metadata (and labels renamed from it).
    Metadata,
    /// Set by a parser or a `label_format` template; the error pair.
    Parsed,
}

/// A line's labels split by [`LabelKind`], each part sorted by name.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CategorizedLabels {
    pub(crate) stream: LabelSet,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) parsed: Vec<(String, String)>,
}

/// Labels of the line being processed.
#[derive(Debug, Default, Clone)]
pub(crate) struct LabelsBuilder {
    base: Arc<LabelSet>,
    /// A one-word filter of the stream's label names (see `name_bit`).
    base_bits: u64,
    slots: Vec<(String, String)>,
    /// Per slot, the stamp of the parser run that set it (0: anything
    /// else), so a parser can keep the first value of a repeated key.
    owners: Vec<u32>,
    /// Per slot, where the label came from.
    kinds: Vec<LabelKind>,
    /// The last stamp handed out.
    stamp: u32,
    live: usize,
    /// `name_bit`s of the live slots (stale bits only cost a search).
    slot_bits: u64,
    init: bool,
    /// Slots `..base_len` were filled from the stream's labels.
    base_len: usize,
    /// A stage changed or removed one of those slots.
    base_changed: bool,
    meta: Vec<(String, String)>,
    err: Option<&'static str>,
    err_details: String,
    has_details: bool,
}

impl LabelsBuilder {
    /// Starts a new line of stream `base` with structured metadata `meta`.
    pub(crate) fn reset(&mut self, base: &Arc<LabelSet>, meta: &[(String, String)]) {
        if !Arc::ptr_eq(&self.base, base) {
            self.base = base.clone();
            self.base_bits = base.iter().fold(0, |m, (k, _)| m | name_bit(k));
        }
        self.meta.clear();
        for (k, v) in meta {
            // As Loki's builder adds structured metadata: a name the
            // stream's labels hold gets the `_extracted` suffix.
            let name = if self.base_has(k) {
                format!("{k}_extracted")
            } else {
                k.clone()
            };
            self.meta.push((name, v.clone()));
        }
        self.live = 0;
        self.init = false;
        self.base_len = 0;
        self.base_changed = false;
        self.err = None;
        self.has_details = false;
        self.err_details.clear();
    }

    fn ensure(&mut self) {
        if self.init {
            return;
        }
        self.init = true;
        self.live = 0;
        self.slot_bits = 0;
        let base = self.base.clone();
        for (k, v) in base.iter() {
            self.push_slot(k, v, 0, LabelKind::Stream);
        }
        self.base_len = self.live;
        self.base_changed = false;
        let meta = std::mem::take(&mut self.meta);
        for (k, v) in &meta {
            self.set_as(k, v, LabelKind::Metadata);
        }
        self.meta = meta;
    }

    fn push_slot(&mut self, k: &str, v: &str, owner: u32, kind: LabelKind) {
        self.slot_bits |= name_bit(k);
        if self.live < self.slots.len() {
            let s = &mut self.slots[self.live];
            s.0.clear();
            s.0.push_str(k);
            s.1.clear();
            s.1.push_str(v);
            self.owners[self.live] = owner;
            self.kinds[self.live] = kind;
        } else {
            self.slots.push((k.to_owned(), v.to_owned()));
            self.owners.push(owner);
            self.kinds.push(kind);
        }
        self.live += 1;
    }

    /// A stamp for one parser run over one line (see [`Self::set_once`]).
    pub(crate) fn new_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1).max(1);
        self.stamp
    }

    /// Sets `name` unless the run with this `stamp` already set it (the
    /// first value of a repeated key wins).
    pub(crate) fn set_once(&mut self, name: &str, value: &str, stamp: u32) {
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            return;
        }
        self.ensure();
        if self.slot_bits & name_bit(name) != 0 {
            if let Some(i) = self.slots[..self.live].iter().position(|(k, _)| k == name) {
                if self.owners[i] != stamp {
                    self.base_changed |= i < self.base_len;
                    self.owners[i] = stamp;
                    self.kinds[i] = LabelKind::Parsed;
                    let v = &mut self.slots[i].1;
                    v.clear();
                    v.push_str(value);
                }
                return;
            }
        }
        self.push_slot(name, value, stamp, LabelKind::Parsed);
    }

    /// Whether the stream labels hold `name` (for the `_extracted` suffix).
    pub(crate) fn base_has(&self, name: &str) -> bool {
        let bit = name_bit(name);
        self.base_bits & bit != 0 && self.base.get(name).is_some()
    }

    /// The current value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        if name == ERROR_LABEL {
            return self.err;
        }
        if name == ERROR_DETAILS_LABEL {
            return self.has_details.then_some(self.err_details.as_str());
        }
        if !self.init {
            // Metadata overrides a stream label of the same name (one
            // named `<x>_extracted` when the stream holds both).
            if let Some((_, v)) = self.meta.iter().find(|(k, _)| k == name) {
                return Some(v.as_str());
            }
            return self.base.get(name);
        }
        if self.slot_bits & name_bit(name) == 0 {
            return None;
        }
        self.slots[..self.live]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Where the current `name` came from, if it is set.
    pub(crate) fn kind_of(&self, name: &str) -> Option<LabelKind> {
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            return Some(LabelKind::Parsed);
        }
        if !self.init {
            if self.meta.iter().any(|(k, _)| k == name) {
                return Some(LabelKind::Metadata);
            }
            return self.base.get(name).map(|_| LabelKind::Stream);
        }
        self.slots[..self.live]
            .iter()
            .position(|(k, _)| k == name)
            .map(|i| self.kinds[i])
    }

    /// Sets `name` to `value`, replacing any current value, as a label of
    /// kind `kind`.
    pub(crate) fn set_as(&mut self, name: &str, value: &str, kind: LabelKind) {
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            return;
        }
        self.ensure();
        if self.slot_bits & name_bit(name) != 0 {
            if let Some(i) = self.slots[..self.live].iter().position(|(k, _)| k == name) {
                self.base_changed |= i < self.base_len;
                self.owners[i] = 0;
                self.kinds[i] = kind;
                let v = &mut self.slots[i].1;
                v.clear();
                v.push_str(value);
                return;
            }
        }
        self.push_slot(name, value, 0, kind);
    }

    /// Removes `name`.
    pub(crate) fn delete(&mut self, name: &str) {
        if name == ERROR_LABEL {
            self.err = None;
            return;
        }
        if name == ERROR_DETAILS_LABEL {
            self.has_details = false;
            return;
        }
        self.ensure();
        if let Some(i) = self.slots[..self.live].iter().position(|(k, _)| k == name) {
            self.base_changed |= i < self.base_len;
            self.live -= 1;
            self.slots.swap(i, self.live);
            self.owners.swap(i, self.live);
            self.kinds.swap(i, self.live);
        }
    }

    /// Keeps only the labels for which `keep(name, value)` holds.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.ensure();
        let mut i = 0;
        while i < self.live {
            if keep(&self.slots[i].0, &self.slots[i].1) {
                i += 1;
            } else {
                self.base_changed |= i < self.base_len;
                self.live -= 1;
                self.slots.swap(i, self.live);
                self.owners.swap(i, self.live);
                self.kinds.swap(i, self.live);
            }
        }
    }

    /// Every label without the error pair, without materialising them.
    pub(crate) fn for_each_ref(&self, f: &mut dyn FnMut(&str, &str)) {
        if self.init {
            for (k, v) in &self.slots[..self.live] {
                f(k, v);
            }
            return;
        }
        for (k, v) in self.base.iter() {
            if !self.meta.iter().any(|(m, _)| m == k) {
                f(k, v);
            }
        }
        for (k, v) in &self.meta {
            f(k, v);
        }
    }

    /// Sets `__error__` (the first error wins, as in Loki).
    pub(crate) fn set_err(&mut self, err: &'static str, details: impl std::fmt::Display) {
        if self.err.is_some() {
            return;
        }
        self.err = Some(err);
        use std::fmt::Write as _;
        self.err_details.clear();
        let _ = write!(self.err_details, "{details}");
        self.has_details = true;
    }

    /// Whether `__error__` is set.
    pub(crate) fn has_err(&self) -> bool {
        self.err.is_some()
    }

    /// Whether no stage changed the labels (they are the stream's, plus
    /// any metadata).
    pub(crate) fn untouched(&self) -> bool {
        !self.init && self.meta.is_empty() && self.err.is_none()
    }

    /// Whether the stream's labels are all there, unchanged: the line's
    /// labels are then the stream's plus those [`Self::for_each_added`]
    /// gives. (A removed slot's place is taken by the last one, which is an
    /// added label unless a stream label was removed, so the stream's
    /// labels stay the first `base_len` slots while this holds.)
    pub(crate) fn base_intact(&self) -> bool {
        if self.init {
            return !self.base_changed;
        }
        // Metadata of a stream label's name (past the `_extracted`
        // suffix) overrides it.
        self.meta.iter().all(|(k, _)| !self.base_has(k))
    }

    /// The labels besides the stream's (metadata, parsed and formatted
    /// labels, the error pair), when [`Self::base_intact`] holds.
    pub(crate) fn for_each_added(&self, f: &mut dyn FnMut(&str, &str)) {
        if self.init {
            for (k, v) in &self.slots[self.base_len..self.live] {
                f(k, v);
            }
        } else {
            for (k, v) in &self.meta {
                f(k, v);
            }
        }
        if let Some(e) = self.err {
            f(ERROR_LABEL, e);
        }
        if self.has_details {
            f(ERROR_DETAILS_LABEL, &self.err_details);
        }
    }

    /// An order-independent hash of the labels (with the error pair) for
    /// which `keep(name)` holds; equal sets hash equally. No allocation.
    pub(crate) fn key_hash(&self, keep: &dyn Fn(&str) -> bool) -> u64 {
        let mut h = 0u64;
        let mut add = |k: &str, v: &str| {
            if keep(k) {
                h = h.wrapping_add(pair_hash(k, v));
            }
        };
        self.for_each_ref(&mut add);
        if let Some(e) = self.err {
            add(ERROR_LABEL, e);
        }
        if self.has_details {
            add(ERROR_DETAILS_LABEL, &self.err_details);
        }
        h
    }

    /// Whether the kept labels equal `ls`. No allocation.
    pub(crate) fn key_eq(&self, ls: &LabelSet, keep: &dyn Fn(&str) -> bool) -> bool {
        let mut n = 0usize;
        let mut ok = true;
        let mut check = |k: &str, v: &str| {
            if keep(k) {
                n += 1;
                ok &= ls.get(k) == Some(v);
            }
        };
        self.for_each_ref(&mut check);
        if let Some(e) = self.err {
            check(ERROR_LABEL, e);
        }
        if self.has_details {
            check(ERROR_DETAILS_LABEL, &self.err_details);
        }
        ok && n == ls.len()
    }

    /// The kept labels as a set.
    pub(crate) fn build_filtered(&mut self, keep: &dyn Fn(&str) -> bool) -> LabelSet {
        let mut ls = self.build_label_set();
        ls.pairs.retain(|(k, _)| keep(k));
        ls
    }

    /// The final label set, sorted, with the error pair.
    pub(crate) fn build_label_set(&mut self) -> LabelSet {
        if self.untouched() {
            return (*self.base).clone();
        }
        self.ensure();
        let mut pairs: Vec<(String, String)> = self.slots[..self.live].to_vec();
        if let Some(e) = self.err {
            pairs.push((ERROR_LABEL.to_owned(), e.to_owned()));
            if self.has_details {
                pairs.push((ERROR_DETAILS_LABEL.to_owned(), self.err_details.clone()));
            }
        } else if self.has_details {
            pairs.push((ERROR_DETAILS_LABEL.to_owned(), self.err_details.clone()));
        }
        pairs.sort();
        LabelSet { pairs }
    }

    /// The final labels split by where they came from: stream labels,
    /// structured metadata, and parsed labels (with the error pair), as
    /// Loki's `categorize-labels` encoding returns them.
    pub(crate) fn categorized(&mut self) -> CategorizedLabels {
        let mut out = CategorizedLabels::default();
        if self.untouched() {
            out.stream = (*self.base).clone();
            return out;
        }
        self.ensure();
        for ((k, v), kind) in self.slots[..self.live].iter().zip(&self.kinds) {
            let pair = (k.clone(), v.clone());
            match kind {
                LabelKind::Stream => out.stream.pairs.push(pair),
                LabelKind::Metadata => out.metadata.push(pair),
                LabelKind::Parsed => out.parsed.push(pair),
            }
        }
        if let Some(e) = self.err {
            out.parsed.push((ERROR_LABEL.to_owned(), e.to_owned()));
        }
        if self.has_details {
            out.parsed
                .push((ERROR_DETAILS_LABEL.to_owned(), self.err_details.clone()));
        }
        out.stream.pairs.sort();
        out.metadata.sort();
        out.parsed.sort();
        out
    }
}

/// One of 64 bits chosen by a name's length and first and last bytes.
pub(crate) fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let h = b
        .len()
        .wrapping_mul(31)
        .wrapping_add(usize::from(*b.first().unwrap_or(&0)))
        .wrapping_mul(31)
        .wrapping_add(usize::from(*b.last().unwrap_or(&0)));
    1u64 << (h % 64)
}

/// FNV-1a of `k`, a separator and `v`.
pub(crate) fn pair_hash(k: &str, v: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in k.as_bytes().iter().chain(&[0xff]).chain(v.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Spread the bits so that wrapping sums of pairs collide rarely.
    h ^= h >> 29;
    h.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// Sanitises an extracted key as Loki does: trims spaces, replaces every
/// character outside `[A-Za-z0-9_]` with `_`, prefixes a leading digit
/// with `_`. Writes into `out` (cleared first).
pub(crate) fn sanitize_key(key: &str, out: &mut String) {
    out.clear();
    let b = key.as_bytes();
    if !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
    {
        out.push_str(key);
        return;
    }
    let key = key.trim_matches(' ');
    if key.is_empty() {
        return;
    }
    if key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing() {
        let mut s = String::new();
        for (k, want) in [
            ("a.b", "a_b"),
            ("1x", "_1x"),
            (" y ", "y"),
            ("é", "_"),
            ("", ""),
        ] {
            sanitize_key(k, &mut s);
            assert_eq!(s, want, "{k}");
        }
    }

    #[test]
    fn builder() {
        let base = Arc::new(crate::parse_labels(r#"{app="a", env="p"}"#).unwrap());
        let mut b = LabelsBuilder::default();
        b.reset(&base, &[("t".into(), "1".into())]);
        assert_eq!(b.get("t"), Some("1"));
        assert_eq!(b.get("app"), Some("a"));
        b.set_as("x", "y", LabelKind::Parsed);
        b.delete("env");
        b.set_err("E", "d");
        b.set_err("F", "ignored");
        assert_eq!(
            b.build_label_set().to_string(),
            r#"{__error__="E", __error_details__="d", app="a", t="1", x="y"}"#
        );
        b.reset(&base, &[]);
        assert!(b.untouched());
        assert_eq!(b.get("x"), None);
    }
}
