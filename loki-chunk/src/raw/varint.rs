//! Go's `binary.PutUvarint` / `binary.PutVarint` encodings.
//!
//! Hand-written because entry decoding calls these twice per line: the
//! one-byte fast path matters more than anything a general crate offers.

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zig-zag mapped, as Go's `PutVarint`.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// The number of bytes [`put_uvarint`] writes for `v`.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads an unsigned varint from `buf[*pos..]`, advancing `pos`.
///
/// Returns `None` when the input ends inside the varint or the value
/// overflows 64 bits (Go's `Uvarint` rejects the same inputs).
#[inline(always)]
pub(crate) fn get_uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    match buf.get(*pos..).and_then(|rest| rest.first_chunk::<2>()) {
        Some(&[low, _]) if low < 0x80 => {
            *pos += 1;
            Some(u64::from(low))
        }
        // Two bytes: a line length of 128 bytes to 16 KiB, the usual case.
        Some(&[low, high]) if high < 0x80 => {
            *pos += 2;
            Some(u64::from(low & 0x7f) | u64::from(high) << 7)
        }
        _ => get_uvarint_slow(buf, pos),
    }
}

/// The longer cases of [`get_uvarint`] (and a one-byte varint that ends
/// the input), kept out of line so the short ones inline into entry
/// decoding. Up to nine bytes are read as one word and the ninth byte,
/// without a loop: a nanosecond timestamp, zig-zag mapped, takes nine
/// bytes, and every entry starts with one.
#[inline(never)]
fn get_uvarint_slow(buf: &[u8], pos: &mut usize) -> Option<u64> {
    if let Some(&bytes) = buf.get(*pos..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(bytes);
        // High bit clear: the varint's last byte.
        let last = !word & 0x8080_8080_8080_8080;
        if last != 0 {
            let len = last.trailing_zeros() as usize / 8 + 1;
            let kept = if len == 8 {
                word
            } else {
                word & ((1u64 << (len * 8)) - 1)
            };
            *pos += len;
            return Some(seven_bit_groups(kept));
        }
        if let Some(&ninth) = buf.get(*pos + 8) {
            if ninth < 0x80 {
                *pos += 9;
                return Some(seven_bit_groups(word) | u64::from(ninth) << 56);
            }
        }
    }
    get_uvarint_bytewise(buf, pos)
}

/// The low seven bits of each of `word`'s eight bytes, packed: pairs of
/// groups into 14 bits, pairs of those into 28, then the two halves.
#[inline(always)]
fn seven_bit_groups(word: u64) -> u64 {
    let groups = word & 0x7f7f_7f7f_7f7f_7f7f;
    let pairs = (groups & 0x007f_007f_007f_007f) | (groups & 0x7f00_7f00_7f00_7f00) >> 1;
    let quads = (pairs & 0x0000_3fff_0000_3fff) | (pairs & 0x3fff_0000_3fff_0000) >> 2;
    (quads & 0x0fff_ffff) | (quads & 0x0fff_ffff_0000_0000) >> 4
}

/// [`get_uvarint`] a byte at a time: ten-byte varints, and varints near
/// the end of the input.
fn get_uvarint_bytewise(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    let mut i = *pos;
    loop {
        let byte = *buf.get(i)?;
        i += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            *pos = i;
            return Some(value);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Reads a zig-zag signed varint from `buf[*pos..]`, advancing `pos`.
#[inline(always)]
pub(crate) fn get_varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let u = get_uvarint(buf, pos)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_go_encodings() {
        let mut out = Vec::new();
        put_uvarint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        put_varint(&mut out, -1);
        assert_eq!(out, [0x01]);
        out.clear();
        put_varint(&mut out, 1);
        assert_eq!(out, [0x02]);
        out.clear();
        put_uvarint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        assert_eq!(out[9], 0x01);
    }

    #[test]
    fn rejects_overflow_and_truncation() {
        let mut pos = 0;
        assert_eq!(get_uvarint(&[0x80, 0x80], &mut pos), None);
        let eleven = [0xffu8; 11];
        assert_eq!(get_uvarint(&eleven, &mut pos), None);
        let mut too_big = vec![0xffu8; 9];
        too_big.push(0x02);
        assert_eq!(get_uvarint(&too_big, &mut pos), None);
        assert_eq!(pos, 0);
    }

    proptest! {
        /// The word-at-a-time reader agrees with the bytewise one on any
        /// bytes at any position: value, position, refusal.
        #[test]
        fn fast_and_bytewise_readers_agree(
            bytes in proptest::collection::vec(prop_oneof![any::<u8>(), 0x80u8..=0xff], 0..24),
            at in 0usize..24,
        ) {
            let (mut fast, mut bytewise) = (at, at);
            prop_assert_eq!(
                get_uvarint(&bytes, &mut fast),
                get_uvarint_bytewise(&bytes, &mut bytewise)
            );
            prop_assert_eq!(fast, bytewise);
        }

        #[test]
        fn round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            prop_assert_eq!(out.len(), uvarint_len(u));
            put_varint(&mut out, i);
            let mut pos = 0;
            prop_assert_eq!(get_uvarint(&out, &mut pos), Some(u));
            prop_assert_eq!(get_varint(&out, &mut pos), Some(i));
            prop_assert_eq!(pos, out.len());
        }
    }
}
