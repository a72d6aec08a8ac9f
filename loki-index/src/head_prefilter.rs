//! A prefix prefilter over the head's values, standing in for the sorted
//! dictionary the head does not keep.
//!
//! For each label name the head keeps, next to the ids of its values in
//! insertion order, a *key* per value: its first [`KEY_BYTES`] bytes as a
//! big-endian `u32`, zero padded. A regex whose matches all start with one of
//! a few literal prefixes ([`crate::regex_plan::Plan::Prefixes`], or
//! [`crate::regex_plan::required_prefixes`]) is resolved by scanning these
//! keys — 4 bytes per value, contiguous, compared branch-free in blocks — and
//! testing only the values whose key agrees with a prefix.
//!
//! ```text
//! value       "checkout-7f9c"   "cart-1"        "ab"
//! key         63 68 65 63       63 61 72 74     61 62 00 00
//! prefix      "checkout-" -> mask FF FF FF FF, want 63 68 65 63
//!             "ca"        -> mask FF FF 00 00, want 63 61 00 00
//! ```
//!
//! A value starting with a prefix always passes (its first bytes equal the
//! prefix's); a value passing may still not start with it (keys are only 4
//! bytes, and padding zeros may equal `\0` bytes of a prefix), so callers
//! always confirm candidates against the value itself.

/// Bytes of a value kept in its key.
pub(crate) const KEY_BYTES: usize = 4;

/// Keys compared per block before looking at single hits.
const BLOCK: usize = 32;

/// Prefix sets up to this size are checked linearly; larger ones by binary
/// search per key length.
const LINEAR_MAX: usize = 8;

/// The key of a value: its first [`KEY_BYTES`] bytes, big-endian, zero padded.
pub(crate) fn value_key(value: &[u8]) -> u32 {
    let mut b = [0u8; KEY_BYTES];
    let n = value.len().min(KEY_BYTES);
    b[..n].copy_from_slice(&value[..n]);
    u32::from_be_bytes(b)
}

/// The key test for one prefix: `key & mask == want`.
fn mask_want(prefix: &[u8]) -> (u32, u32) {
    let n = prefix.len().min(KEY_BYTES);
    let mask = match n {
        0 => 0,
        n => u32::MAX << (8 * (KEY_BYTES - n)),
    };
    (mask, value_key(prefix) & mask)
}

/// Which keys may belong to values starting with one of a set of prefixes.
#[derive(Debug)]
pub(crate) enum KeyFilter {
    /// Every key passes (a prefix is empty).
    All,
    /// No key passes (no prefixes).
    Nothing,
    /// A few `(mask, want)` tests.
    Few(Vec<(u32, u32)>),
    /// Sorted wanted keys per prefix length `1..=KEY_BYTES` (index `len - 1`).
    Many([Vec<u32>; KEY_BYTES]),
}

impl KeyFilter {
    /// The filter for values starting with any of `prefixes`.
    pub(crate) fn new<P: AsRef<[u8]>>(prefixes: &[P]) -> KeyFilter {
        if prefixes.is_empty() {
            return KeyFilter::Nothing;
        }
        if prefixes.iter().any(|p| p.as_ref().is_empty()) {
            return KeyFilter::All;
        }
        let mut tests: Vec<(u32, u32)> = prefixes.iter().map(|p| mask_want(p.as_ref())).collect();
        tests.sort_unstable();
        tests.dedup();
        if tests.len() <= LINEAR_MAX {
            return KeyFilter::Few(tests);
        }
        let mut by_len: [Vec<u32>; KEY_BYTES] = Default::default();
        for (mask, want) in tests {
            let len = (mask.count_ones() / 8) as usize;
            by_len[len - 1].push(want);
        }
        // `tests` was sorted by mask first, then want: each list is sorted.
        KeyFilter::Many(by_len)
    }

    /// Whether a value with key `key` may start with one of the prefixes.
    pub(crate) fn accepts(&self, key: u32) -> bool {
        match self {
            KeyFilter::All => true,
            KeyFilter::Nothing => false,
            KeyFilter::Few(tests) => tests.iter().any(|&(mask, want)| key & mask == want),
            KeyFilter::Many(by_len) => by_len.iter().enumerate().any(|(i, wants)| {
                let (mask, _) = mask_want(&[0; KEY_BYTES][..=i]);
                !wants.is_empty() && wants.binary_search(&(key & mask)).is_ok()
            }),
        }
    }

    /// Calls `f(i)` for each index `i` of `keys` that passes, in order.
    pub(crate) fn for_each_candidate(&self, keys: &[u32], mut f: impl FnMut(usize)) {
        match self {
            KeyFilter::Nothing => {}
            KeyFilter::All => (0..keys.len()).for_each(f),
            // The common case, one prefix: blocks of keys are tested without
            // branches (the compiler vectorises the fold), and only blocks
            // with a hit are looked at key by key.
            KeyFilter::Few(tests) if tests.len() == 1 => {
                let (mask, want) = tests[0];
                for (b, block) in keys.chunks(BLOCK).enumerate() {
                    let hit = block.iter().fold(false, |acc, &k| acc | (k & mask == want));
                    if hit {
                        for (j, &k) in block.iter().enumerate() {
                            if k & mask == want {
                                f(b * BLOCK + j);
                            }
                        }
                    }
                }
            }
            _ => {
                for (i, &k) in keys.iter().enumerate() {
                    if self.accepts(k) {
                        f(i);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(prefixes: &[&str], values: &[&str]) -> Vec<usize> {
        let keys: Vec<u32> = values.iter().map(|v| value_key(v.as_bytes())).collect();
        let filter = KeyFilter::new(prefixes);
        let mut out = Vec::new();
        filter.for_each_candidate(&keys, |i| out.push(i));
        let one_by_one: Vec<usize> = (0..keys.len())
            .filter(|&i| filter.accepts(keys[i]))
            .collect();
        assert_eq!(out, one_by_one);
        out
    }

    #[test]
    fn keys() {
        assert_eq!(value_key(b""), 0);
        assert_eq!(value_key(b"ab"), 0x6162_0000);
        assert_eq!(value_key(b"abcdef"), 0x6162_6364);
        assert_eq!(mask_want(b"ab"), (0xFFFF_0000, 0x6162_0000));
        assert_eq!(mask_want(b"abcdef"), (u32::MAX, 0x6162_6364));
    }

    #[test]
    fn never_misses_a_prefix() {
        let values = [
            "checkout-1",
            "check",
            "chec",
            "che",
            "cart",
            "",
            "é-x",
            "é",
            "a\0",
            "a",
            "zz",
        ];
        // Exact: prefixes within the key, and values distinct in the key.
        assert_eq!(candidates(&["checkout-"], &values), [0, 1, 2]);
        assert_eq!(candidates(&["ca"], &values), [4]);
        assert_eq!(candidates(&["é"], &values), [6, 7]);
        // Padding: "a" is keyed like "a\0", so both pass for "a\0".
        assert_eq!(candidates(&["a\0"], &values), [8, 9]);
        assert_eq!(candidates(&["a", "zz"], &values), [8, 9, 10]);
        assert_eq!(candidates(&[""], &values).len(), values.len());
        assert!(candidates(&[] as &[&str], &values).is_empty());
    }

    #[test]
    fn many_prefixes_match_few() {
        let values: Vec<String> = (0..300).map(|i| format!("v{i}-{}", i % 7)).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let prefixes: Vec<String> = (0..40).map(|i| format!("v{}", i * 7)).collect();
        let mut prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        prefixes.push("v29");
        let many = candidates(&prefixes, &values);
        assert!(matches!(KeyFilter::new(&prefixes), KeyFilter::Many(_)));
        let want: Vec<usize> = (0..values.len())
            .filter(|&i| {
                let k = value_key(values[i].as_bytes());
                prefixes.iter().any(|p| {
                    let (mask, want) = mask_want(p.as_bytes());
                    k & mask == want
                })
            })
            .collect();
        assert_eq!(many, want);
        // Every value starting with a prefix is a candidate.
        for (i, v) in values.iter().enumerate() {
            if prefixes.iter().any(|p| v.starts_with(p)) {
                assert!(many.contains(&i), "{v}");
            }
        }
    }
}
