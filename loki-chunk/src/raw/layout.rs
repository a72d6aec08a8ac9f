//! Header, block table and footer: opening a chunk without decompressing
//! anything, and writing one.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::consts::{CRC_LEN, HEADER_LEN, MAGIC, V3_FOOTER_LEN, V4_FOOTER_LEN};
use crate::raw::varint::{get_uvarint, get_varint, put_uvarint, put_varint};
use crate::raw::Codec;
use crate::{Error, Result};

/// A chunk format version (the byte at offset 4).
///
/// ```
/// use loki_chunk::Version;
///
/// assert_eq!(Version::from_byte(4)?, Version::V4);
/// assert!(Version::V4.has_structured_metadata());
/// assert!(!Version::V2.has_uncompressed_size());
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Version {
    /// Ordered head, no uncompressed size in block metas (read only).
    V2,
    /// Written by Loki for schema v12 and older.
    V3,
    /// Written by Loki for schema v13+: structured metadata and a symbol table.
    V4,
}

impl Version {
    /// The version byte.
    pub fn byte(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
            Version::V4 => 4,
        }
    }

    /// The version for a version byte.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] for anything but 2, 3 and 4.
    pub fn from_byte(byte: u8) -> Result<Version> {
        match byte {
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            4 => Ok(Version::V4),
            got => Err(Error::UnsupportedVersion {
                got,
                supported: "2, 3, 4",
            }),
        }
    }

    /// Whether block metas record the head's uncompressed size (v3+).
    pub fn has_uncompressed_size(self) -> bool {
        self >= Version::V3
    }

    /// Whether entries carry structured metadata (v4).
    pub fn has_structured_metadata(self) -> bool {
        self >= Version::V4
    }
}

/// One entry of a chunk's block table.
///
/// ```
/// # use loki_chunk::{ChunkBuilder, Chunk};
/// let mut builder = ChunkBuilder::new();
/// builder.append(10, b"a", &[])?;
/// let chunk = Chunk::open(builder.encode()?)?;
/// let meta = chunk.blocks()[0];
/// assert_eq!((meta.entries, meta.min_time, meta.max_time), (1, 10, 10));
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Number of entries in the block.
    pub entries: u64,
    /// Smallest entry timestamp, Unix nanoseconds.
    pub min_time: i64,
    /// Largest entry timestamp, Unix nanoseconds.
    pub max_time: i64,
    /// Offset of the block's first byte from the start of the chunk.
    pub offset: usize,
    /// The head's accounted size when the block was cut: the sum of line
    /// lengths plus 8 bytes per metadata pair. Always 0 in v2 chunks, which
    /// do not record it.
    pub uncompressed_size: u64,
    /// Length of the compressed block, excluding its 4-byte CRC.
    pub compressed_len: usize,
}

impl BlockMeta {
    /// Whether the block may hold entries in `[from, through)`.
    ///
    /// ```
    /// # use loki_chunk::{ChunkBuilder, Chunk};
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(10, b"a", &[])?;
    /// let meta = Chunk::open(builder.encode()?)?.blocks()[0];
    /// assert!(meta.overlaps(10, 11) && !meta.overlaps(0, 10) && !meta.overlaps(11, 20));
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn overlaps(&self, from: i64, through: i64) -> bool {
        self.max_time >= from && self.min_time < through
    }
}

/// A chunk's bytes with its header and block table parsed, nothing
/// decompressed.
///
/// ```
/// # use loki_chunk::{ChunkBuilder, raw::RawChunk};
/// let mut builder = ChunkBuilder::new();
/// builder.append(10, b"a", &[])?;
/// let raw = RawChunk::parse(builder.encode()?)?;
/// let block = raw.block_bytes(0)?; // checksum verified
/// assert!(!block.is_empty());
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RawChunk {
    data: Bytes,
    version: Version,
    codec: Codec,
    /// Shared by clones (a chunk cache hands out clones).
    blocks: Arc<[BlockMeta]>,
    /// The v4 symbol section, excluding its CRC.
    symbols: Option<Range<usize>>,
    /// Where the first block starts when every recorded offset is right.
    first_block: usize,
    metas_offset: usize,
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn be64(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Checks the BE32 CRC-32C stored right after `range`.
fn check_crc(data: &[u8], range: Range<usize>, what: &'static str) -> Result<()> {
    let stored = be32(data, range.end);
    let computed = crc32c::crc32c(&data[range.clone()]);
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            what,
            offset: range.start,
            stored,
            computed,
        });
    }
    Ok(())
}

/// Turns a footer's `(offset, len)` into a range that, with its CRC, ends at
/// or before `end`.
fn section(offset: u64, len: u64, end: usize, what: &'static str) -> Result<Range<usize>> {
    let bad = || {
        Error::corrupt(
            what,
            end,
            format!("footer places it at {offset}+{len}, past {end}"),
        )
    };
    let start = usize::try_from(offset).map_err(|_| bad())?;
    let len = usize::try_from(len).map_err(|_| bad())?;
    let stop = start.checked_add(len).ok_or_else(bad)?;
    if start < HEADER_LEN || stop.checked_add(CRC_LEN).is_none_or(|e| e > end) {
        return Err(bad());
    }
    Ok(start..stop)
}

impl RawChunk {
    /// Parses the header, footer and block table of `data`, checking the
    /// block table's CRC. Reads O(blocks) bytes; decompresses nothing.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::UnknownCodec`], [`Error::Truncated`],
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`], naming the offset.
    pub fn parse(data: Bytes) -> Result<RawChunk> {
        let len = data.len();
        if len < HEADER_LEN {
            return Err(Error::truncated("chunk header", 0, HEADER_LEN, len));
        }
        let magic = be32(&data, 0);
        if magic != MAGIC {
            return Err(Error::BadMagic { got: magic });
        }
        let version = Version::from_byte(data[4])?;
        let codec = Codec::from_byte(data[5])?;

        let (metas, symbols, first_block) = if version == Version::V4 {
            if len < HEADER_LEN + V4_FOOTER_LEN {
                return Err(Error::truncated(
                    "v4 footer",
                    HEADER_LEN,
                    V4_FOOTER_LEN,
                    len - HEADER_LEN,
                ));
            }
            let footer = len - V4_FOOTER_LEN;
            let symbols = section(
                be64(&data, footer + 8),
                be64(&data, footer),
                footer,
                "symbol section",
            )?;
            let metas = section(
                be64(&data, footer + 24),
                be64(&data, footer + 16),
                footer,
                "block metas",
            )?;
            check_crc(&data, symbols.clone(), "symbol section")?;
            let first_block = symbols.end + CRC_LEN;
            (metas, Some(symbols), first_block)
        } else {
            if len < HEADER_LEN + V3_FOOTER_LEN + CRC_LEN {
                return Err(Error::truncated(
                    "chunk footer",
                    HEADER_LEN,
                    V3_FOOTER_LEN + CRC_LEN,
                    len - HEADER_LEN,
                ));
            }
            let footer = len - V3_FOOTER_LEN;
            let offset = be64(&data, footer);
            let metas_len = (footer - CRC_LEN) as u64;
            let metas = section(
                offset,
                metas_len.saturating_sub(offset),
                footer,
                "block metas",
            )?;
            (metas, None, HEADER_LEN)
        };
        check_crc(&data, metas.clone(), "block metas")?;
        let blocks = parse_metas(&data, metas.clone(), version)?.into();
        Ok(RawChunk {
            version,
            codec,
            blocks,
            symbols,
            first_block,
            metas_offset: metas.start,
            data,
        })
    }

    /// The chunk's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The format version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The codec every block (and the v4 symbol table) is compressed with.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The block table, in file order.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// The compressed bytes of block `index`, after checking its CRC.
    ///
    /// As Loki does, a block whose recorded offset fails the check is tried
    /// again where it should be (right after the previous block's CRC).
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] when neither place holds the block, and
    /// [`Error::Corrupt`] for an index past the table.
    pub fn block_bytes(&self, index: usize) -> Result<Bytes> {
        Ok(self.data.slice(self.block_range(index)?))
    }

    /// Where block `index`'s compressed bytes are in [`data`](Self::data),
    /// checksum checked (as [`block_bytes`](Self::block_bytes) finds them).
    pub(crate) fn block_range(&self, index: usize) -> Result<Range<usize>> {
        let meta = self
            .blocks
            .get(index)
            .ok_or_else(|| Error::corrupt("block index", index, "no such block"))?;
        let recorded = meta.offset..meta.offset + meta.compressed_len;
        let Err(err) = check_crc(&self.data, recorded.clone(), "block") else {
            return Ok(recorded);
        };
        let expected = match index {
            0 => self.first_block,
            _ => {
                let prev = &self.blocks[index - 1];
                prev.offset + prev.compressed_len + CRC_LEN
            }
        };
        let retry = expected..expected + meta.compressed_len;
        if expected != meta.offset
            && retry.end + CRC_LEN <= self.metas_offset
            && check_crc(&self.data, retry.clone(), "block").is_ok()
        {
            return Ok(retry);
        }
        Err(err)
    }

    /// The v4 symbol section (symbol count varint, then the compressed
    /// symbol stream); `None` for v2 and v3. Its CRC was checked on open.
    pub fn symbols_section(&self) -> Option<Bytes> {
        self.symbols.clone().map(|range| self.data.slice(range))
    }

    /// Byte offset of the symbol section, for error messages.
    pub(crate) fn symbols_offset(&self) -> usize {
        self.symbols.as_ref().map_or(0, |r| r.start)
    }
}

fn parse_metas(data: &[u8], range: Range<usize>, version: Version) -> Result<Vec<BlockMeta>> {
    let metas = &data[range.clone()];
    let mut pos = 0;
    let bad = |pos: usize, detail: &str| Error::corrupt("block metas", range.start + pos, detail);
    let count = get_uvarint(metas, &mut pos).ok_or_else(|| bad(pos, "unreadable block count"))?;
    // Each meta takes at least five bytes, which bounds the allocation.
    let capacity = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(metas.len() / 5);
    let mut blocks = Vec::with_capacity(capacity);
    for _ in 0..count {
        let start = pos;
        let mut field = |signed: bool| -> Result<u64> {
            let v = if signed {
                get_varint(metas, &mut pos).map(|v| v as u64)
            } else {
                get_uvarint(metas, &mut pos)
            };
            v.ok_or_else(|| bad(start, "block meta cut short"))
        };
        let entries = field(false)?;
        let min_time = field(true)? as i64;
        let max_time = field(true)? as i64;
        let offset = field(false)?;
        let uncompressed_size = if version.has_uncompressed_size() {
            field(false)?
        } else {
            0
        };
        let compressed_len = field(false)?;
        let offset = usize::try_from(offset).map_err(|_| bad(start, "block offset overflows"))?;
        let compressed_len =
            usize::try_from(compressed_len).map_err(|_| bad(start, "block length overflows"))?;
        let fits = offset
            .checked_add(compressed_len)
            .and_then(|end| end.checked_add(CRC_LEN))
            .is_some_and(|end| end <= range.start);
        if !fits || offset < HEADER_LEN {
            return Err(bad(
                start,
                &format!("block at {offset} of {compressed_len} bytes overruns the block area ending at {}", range.start),
            ));
        }
        if min_time > max_time {
            return Err(bad(start, "block min time after its max time"));
        }
        blocks.push(BlockMeta {
            entries,
            min_time,
            max_time,
            offset,
            uncompressed_size,
            compressed_len,
        });
    }
    Ok(blocks)
}

/// A compressed block ready to be laid out.
#[derive(Debug, Clone)]
pub(crate) struct CutBlock {
    pub(crate) entries: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) uncompressed_size: u64,
    /// Shared, so cloning a builder copies no compressed bytes.
    pub(crate) data: Bytes,
}

/// Everything [`write_chunk`] lays out.
#[derive(Debug)]
pub(crate) struct ChunkParts<'a> {
    pub(crate) version: Version,
    pub(crate) codec: Codec,
    /// v4: the symbol count and the compressed symbol stream.
    pub(crate) symbols: Option<(u64, Vec<u8>)>,
    pub(crate) blocks: &'a [CutBlock],
    /// One more block after `blocks` (a snapshot's head).
    pub(crate) extra: Option<&'a CutBlock>,
}

/// Lays out a chunk: header, (v4) symbols, blocks, metas, footer.
pub(crate) fn write_chunk(parts: &ChunkParts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk_len_bound(parts));
    write_chunk_into(&mut out, parts);
    out
}

/// At least the bytes [`write_chunk`] lays out (for reserving them).
pub(crate) fn chunk_len_bound(parts: &ChunkParts<'_>) -> usize {
    let blocks = parts.blocks.iter().chain(parts.extra);
    let symbols = parts.symbols.as_ref().map_or(0, |(_, s)| s.len() + 16);
    HEADER_LEN + symbols + blocks.map(|b| b.data.len() + CRC_LEN + 32).sum::<usize>() + 64
}

/// Appends the chunk [`write_chunk`] lays out to `out`: offsets in it count
/// from where it starts, so it can follow a stored object's header. The
/// caller reserves the room ([`chunk_len_bound`]).
pub(crate) fn write_chunk_into(out: &mut Vec<u8>, parts: &ChunkParts<'_>) {
    let base = out.len();
    let blocks: Vec<&CutBlock> = parts.blocks.iter().chain(parts.extra).collect();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.push(parts.version.byte());
    out.push(parts.codec.byte());

    let symbols = parts.symbols.as_ref().map(|(count, stream)| {
        let start = out.len();
        put_uvarint(out, *count);
        out.extend_from_slice(stream);
        let range = start..out.len();
        push_crc(out, range.clone());
        range
    });

    let mut offsets = Vec::with_capacity(blocks.len());
    for block in &blocks {
        offsets.push(out.len() - base);
        out.extend_from_slice(&block.data);
        let end = out.len();
        push_crc(out, end - block.data.len()..end);
    }

    let metas_start = out.len();
    put_uvarint(out, blocks.len() as u64);
    for (block, offset) in blocks.iter().zip(offsets) {
        put_uvarint(out, block.entries);
        put_varint(out, block.min_time);
        put_varint(out, block.max_time);
        put_uvarint(out, offset as u64);
        if parts.version.has_uncompressed_size() {
            put_uvarint(out, block.uncompressed_size);
        }
        put_uvarint(out, block.data.len() as u64);
    }
    let metas = metas_start..out.len();
    push_crc(out, metas.clone());

    match symbols {
        Some(symbols) => {
            for (len, offset) in [(symbols.len(), symbols.start), (metas.len(), metas.start)] {
                out.extend_from_slice(&(len as u64).to_be_bytes());
                out.extend_from_slice(&((offset - base) as u64).to_be_bytes());
            }
        }
        None => out.extend_from_slice(&((metas.start - base) as u64).to_be_bytes()),
    }
}

fn push_crc(out: &mut Vec<u8>, range: Range<usize>) {
    let crc = crc32c::crc32c(&out[range]);
    out.extend_from_slice(&crc.to_be_bytes());
}
