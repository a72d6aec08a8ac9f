//! Entries inside a decompressed block: decoding them in place and
//! encoding them.

use crate::consts::MAX_LINE_LEN;
use crate::raw::varint::{get_uvarint, get_varint, put_uvarint, put_varint, uvarint_len};
use crate::{Error, Result};

/// One entry of a decompressed block, borrowing from the block's bytes.
///
/// `metadata` is the v4 metadata section after its length prefix: a pair
/// count then `(name, value)` symbol ids, all uvarints; it has been checked
/// to parse. It is empty for v2/v3 blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry<'a> {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The log line.
    pub line: &'a [u8],
    /// The encoded metadata pairs (v4), possibly empty.
    pub metadata: &'a [u8],
}

/// Decodes the entry starting at `*pos`, advancing `pos` past it.
#[inline(always)]
pub(crate) fn decode_entry<'a>(
    block: &'a [u8],
    pos: &mut usize,
    structured: bool,
) -> Result<BlockEntry<'a>> {
    let start = *pos;
    let bad = |detail: &str| Error::corrupt("block entry", start, detail);
    let timestamp = get_varint(block, pos).ok_or_else(|| bad("unreadable timestamp"))?;
    let len = get_uvarint(block, pos).ok_or_else(|| bad("unreadable line length"))?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_LINE_LEN && l <= block.len() - *pos)
        .ok_or_else(|| bad("line length runs past the block"))?;
    let line = &block[*pos..*pos + len];
    *pos += len;
    let metadata = if structured {
        let section = get_uvarint(block, pos).ok_or_else(|| bad("unreadable metadata length"))?;
        let section = usize::try_from(section)
            .ok()
            .filter(|&l| l <= block.len() - *pos)
            .ok_or_else(|| bad("metadata runs past the block"))?;
        let metadata = &block[*pos..*pos + section];
        *pos += section;
        if !pairs_are_well_formed(metadata) {
            return Err(bad("malformed metadata pairs"));
        }
        metadata
    } else {
        // Empty, but inside the block, so callers may take its offset.
        &block[*pos..*pos]
    };
    Ok(BlockEntry {
        timestamp,
        line,
        metadata,
    })
}

#[inline]
fn pairs_are_well_formed(section: &[u8]) -> bool {
    if section == [0] {
        return true; // no pairs: the common case
    }
    let mut pos = 0;
    let Some(count) = get_uvarint(section, &mut pos) else {
        return false;
    };
    for _ in 0..count.min(section.len() as u64) * 2 {
        if get_uvarint(section, &mut pos).is_none() {
            return false;
        }
    }
    count <= section.len() as u64 && pos == section.len()
}

/// Iterates the `(name, value)` symbol ids of a checked metadata section.
pub(crate) fn metadata_pairs(section: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut pos = 0;
    let count = get_uvarint(section, &mut pos).unwrap_or(0);
    (0..count).map_while(move |_| {
        let name = get_uvarint(section, &mut pos)?;
        let value = get_uvarint(section, &mut pos)?;
        Some((name, value))
    })
}

/// Iterates the entries of a decompressed block in stored order.
///
/// ```
/// # use loki_chunk::{Chunk, ChunkBuilder};
/// let mut builder = ChunkBuilder::new();
/// builder.append(5, b"five", &[])?;
/// let chunk = Chunk::open(builder.encode()?)?;
/// let block = chunk.decompress_block(0)?;
/// let entries: Vec<_> = chunk.block_entries(&block).collect::<Result<_, _>>()?;
/// assert_eq!(entries[0].line, b"five");
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BlockEntryIter<'a> {
    block: &'a [u8],
    pos: usize,
    structured: bool,
}

impl<'a> BlockEntryIter<'a> {
    /// Entries of `block`; `structured` for v4 blocks.
    pub fn new(block: &'a [u8], structured: bool) -> BlockEntryIter<'a> {
        BlockEntryIter {
            block,
            pos: 0,
            structured,
        }
    }
}

impl<'a> Iterator for BlockEntryIter<'a> {
    type Item = Result<BlockEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.block.len() {
            return None;
        }
        let entry = decode_entry(self.block, &mut self.pos, self.structured);
        if entry.is_err() {
            self.pos = self.block.len();
        }
        Some(entry)
    }
}

/// Appends one entry in block encoding; `pairs` are `(name, value)` symbol
/// ids, written only when `structured`. Returns where the line starts in
/// the bytes appended (after the timestamp and length varints).
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    timestamp: i64,
    line: &[u8],
    pairs: &[u32],
    structured: bool,
) -> usize {
    let start = out.len();
    put_varint(out, timestamp);
    put_uvarint(out, line.len() as u64);
    let line_at = out.len() - start;
    out.extend_from_slice(line);
    if structured {
        let count = (pairs.len() / 2) as u64;
        let section = uvarint_len(count)
            + pairs
                .iter()
                .map(|&p| uvarint_len(u64::from(p)))
                .sum::<usize>();
        put_uvarint(out, section as u64);
        put_uvarint(out, count);
        for &p in pairs {
            put_uvarint(out, u64::from(p));
        }
    }
    line_at
}

/// At most the bytes [`encode_entry`] appends for a line of `line_len`
/// bytes with `pair_ids` symbol ids: two varints of at most 10 bytes before
/// the line and, when `structured`, the metadata section's length, count
/// and 32-bit ids after it, at most 5 bytes each.
pub(crate) fn encoded_entry_bound(line_len: usize, pair_ids: usize, structured: bool) -> usize {
    let section = if structured { 10 + 5 * pair_ids } else { 0 };
    line_len + 20 + section
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_without_metadata_ends_with_01_00() {
        let mut out = Vec::new();
        encode_entry(&mut out, 1, b"x", &[], true);
        assert_eq!(out, [0x02, 0x01, b'x', 0x01, 0x00]);
        let mut pos = 0;
        let entry = decode_entry(&out, &mut pos, true).unwrap();
        assert_eq!(
            (entry.timestamp, entry.line, entry.metadata),
            (1, &b"x"[..], &[0u8][..])
        );
    }

    #[test]
    fn the_bound_holds_and_the_line_is_where_encode_entry_says() {
        let pairs = [u32::MAX; 6];
        for (timestamp, structured) in [(i64::MIN, true), (i64::MAX, false), (0, true)] {
            let line = [b'l'; 200];
            let mut out = vec![9];
            let line_at = encode_entry(&mut out, timestamp, &line, &pairs, structured);
            let written = out.len() - 1;
            assert!(written <= encoded_entry_bound(line.len(), pairs.len(), structured));
            assert_eq!(out[1 + line_at..1 + line_at + line.len()], line);
        }
    }

    #[test]
    fn metadata_round_trips() {
        let mut out = Vec::new();
        encode_entry(&mut out, -5, b"line", &[0, 1, 200, 3], true);
        let entry = BlockEntryIter::new(&out, true).next().unwrap().unwrap();
        assert_eq!(entry.timestamp, -5);
        assert_eq!(
            metadata_pairs(entry.metadata).collect::<Vec<_>>(),
            [(0, 1), (200, 3)]
        );
    }

    #[test]
    fn damaged_entries_are_errors() {
        let mut out = Vec::new();
        encode_entry(&mut out, 7, b"hello", &[1, 2], true);
        for cut in 1..out.len() {
            let mut it = BlockEntryIter::new(&out[..cut], true);
            assert!(it.next().unwrap().is_err(), "cut at {cut}");
            assert!(it.next().is_none());
        }
    }
}
