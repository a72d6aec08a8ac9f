//! Reading chunks: open from bytes, inspect, verify, iterate.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::consts::MAX_DECOMPRESSED_BLOCK;
use crate::iter::{Entries, Samples};
use crate::raw::{
    BlockEntry, BlockEntryIter, BlockMeta, Codec, Decompressor, RawChunk, Symbols, Version,
};
use crate::{Direction, Entry, Error, Result};

/// Counts and sizes of a chunk (or of a builder's contents).
///
/// ```
/// # use loki_chunk::{Chunk, ChunkBuilder};
/// let mut builder = ChunkBuilder::new();
/// builder.append(10, b"hello", &[])?;
/// builder.append(20, b"world", &[])?;
/// let stats = Chunk::open(builder.encode()?)?.stats();
/// assert_eq!((stats.entries, stats.uncompressed_bytes), (2, 10));
/// assert_eq!((stats.min_time, stats.max_time, stats.blocks), (Some(10), Some(20), 1));
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChunkStats {
    /// Number of entries.
    pub entries: u64,
    /// Loki's uncompressed accounting: line bytes plus 8 per metadata pair
    /// (0 for v2 chunks, which do not record it).
    pub uncompressed_bytes: u64,
    /// Compressed block bytes, excluding CRCs and tables.
    pub compressed_bytes: u64,
    /// Smallest entry timestamp, if any entry.
    pub min_time: Option<i64>,
    /// Largest entry timestamp, if any entry.
    pub max_time: Option<i64>,
    /// Number of cut blocks.
    pub blocks: usize,
}

impl ChunkStats {
    /// Sums `(entries, uncompressed, min, max)` per block.
    pub(crate) fn from_blocks(blocks: impl Iterator<Item = (u64, u64, i64, i64)>) -> ChunkStats {
        let mut stats = ChunkStats::default();
        for (entries, uncompressed, min, max) in blocks {
            stats.entries += entries;
            stats.uncompressed_bytes += uncompressed;
            stats.min_time = Some(stats.min_time.map_or(min, |m| m.min(min)));
            stats.max_time = Some(stats.max_time.map_or(max, |m| m.max(max)));
            stats.blocks += 1;
        }
        stats
    }
}

/// An encoded chunk opened for reading.
///
/// Opening reads only the header, footer and block table, in O(blocks);
/// block checksums are checked the first time each block is read (once
/// for a chunk and all its clones), and all at once by
/// [`verify`](Self::verify). Lines handed out borrow the decompressed block.
///
/// ```
/// use loki_chunk::{Chunk, ChunkBuilder, Direction};
///
/// let mut builder = ChunkBuilder::new();
/// for i in 0..1000 {
///     builder.append(i, format!("line {i}").as_bytes(), &[])?;
/// }
/// let chunk = Chunk::open(builder.encode()?)?;
/// chunk.verify()?;
///
/// // Entries in [100, 200), newest first.
/// let mut entries = chunk.entries(100, 200, Direction::Backward);
/// let mut seen = 0;
/// while let Some(entry) = entries.next()? {
///     assert_eq!(entry.timestamp, 199 - seen);
///     seen += 1;
/// }
/// assert_eq!(seen, 100);
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Chunk {
    raw: RawChunk,
    /// The structured-metadata symbol table, decoded on first use and
    /// shared by every clone (a chunk cache hands out clones).
    symbols: Arc<OnceLock<Symbols>>,
    /// Each block's compressed bytes once their checksum has passed,
    /// shared by every clone: a cached chunk is checked once, not on every
    /// read (its bytes cannot change).
    checked_blocks: Arc<[OnceLock<Range<usize>>]>,
    /// Every block decompressed, in a copy made by
    /// [`decompressed`](Self::decompressed): reads take them as they are.
    decompressed: Option<Arc<[Bytes]>>,
    overlapping: bool,
}

impl Chunk {
    /// Opens an encoded chunk (a bare `MemChunk`, not a stored object; see
    /// [`ChunkObject`](crate::ChunkObject) for those).
    ///
    /// # Errors
    /// Any decoding error of [`RawChunk::parse`].
    pub fn open(data: Bytes) -> Result<Chunk> {
        Ok(Chunk::from_raw(RawChunk::parse(data)?))
    }

    /// Wraps an already parsed raw chunk.
    pub fn from_raw(raw: RawChunk) -> Chunk {
        let overlapping = raw
            .blocks()
            .windows(2)
            .any(|w| w[1].min_time < w[0].max_time);
        Chunk {
            checked_blocks: raw.blocks().iter().map(|_| OnceLock::new()).collect(),
            raw,
            symbols: Arc::default(),
            decompressed: None,
            overlapping,
        }
    }

    /// The raw layer under this chunk.
    pub fn as_raw(&self) -> &RawChunk {
        &self.raw
    }

    /// Gives back the raw layer.
    pub fn into_raw(self) -> RawChunk {
        self.raw
    }

    /// The format version.
    pub fn version(&self) -> Version {
        self.raw.version()
    }

    /// The codec of every block.
    pub fn codec(&self) -> Codec {
        self.raw.codec()
    }

    /// The block table.
    pub fn blocks(&self) -> &[BlockMeta] {
        self.raw.blocks()
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &Bytes {
        self.raw.data()
    }

    /// Entry counts, sizes and time bounds, from the block table alone.
    pub fn stats(&self) -> ChunkStats {
        let blocks = self
            .blocks()
            .iter()
            .map(|b| (b.entries, b.uncompressed_size, b.min_time, b.max_time));
        let mut stats = ChunkStats::from_blocks(blocks);
        stats.compressed_bytes = self.blocks().iter().map(|b| b.compressed_len as u64).sum();
        stats
    }

    /// Whether block time ranges overlap (never for chunks Loki or this
    /// crate flushed; iteration then merges blocks).
    pub fn has_overlapping_blocks(&self) -> bool {
        self.overlapping
    }

    /// The v4 symbol table (empty for v2/v3), decoded on first use.
    ///
    /// # Errors
    /// A decompression or [`Error::Corrupt`] error if
    /// the table is damaged.
    pub fn symbols(&self) -> Result<&Symbols> {
        if let Some(symbols) = self.symbols.get() {
            return Ok(symbols);
        }
        let symbols = match self.raw.symbols_section() {
            Some(section) => Symbols::decode(&section, self.codec(), self.raw.symbols_offset())?,
            None => Symbols::default(),
        };
        Ok(self.symbols.get_or_init(|| symbols))
    }

    /// A copy of this chunk that holds every block decompressed, for a
    /// cache of chunks read again and again: its walks read the blocks in
    /// place instead of decompressing them. It shares the encoded bytes
    /// and the symbol table (decoded once, by whichever reads it first)
    /// with this chunk; each block's checksum is
    /// checked as it is decompressed here, and its entries on every walk,
    /// as always.
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder, Direction};
    /// let mut builder = ChunkBuilder::new();
    /// for ts in 0..1000 {
    ///     builder.append(ts, b"GET /cart 200", &[])?;
    /// }
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let hot = chunk.decompressed()?;
    /// assert!(hot.is_decompressed() && !chunk.is_decompressed());
    /// // The lines, with each entry's timestamp and length, decompressed.
    /// assert!(hot.memory_bytes() > chunk.memory_bytes() + 1000 * 13);
    /// let mut count = 0;
    /// hot.entries(0, 1000, Direction::Forward).for_each(|_| count += 1)?;
    /// assert_eq!(count, 1000);
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The first checksum or decompression error of a block.
    pub fn decompressed(&self) -> Result<Chunk> {
        if self.decompressed.is_some() {
            return Ok(self.clone());
        }
        let mut decompressor = Decompressor::new();
        let mut buf = Vec::new();
        let blocks = (0..self.blocks().len())
            .map(|index| {
                self.decompress_block_into(index, &mut decompressor, &mut buf)?;
                // Copied out at its exact length: the cache charges it so.
                Ok(Bytes::copy_from_slice(&buf))
            })
            .collect::<Result<Arc<[Bytes]>>>()?;
        Ok(Chunk {
            decompressed: Some(blocks),
            ..self.clone()
        })
    }

    /// Whether this is a copy made by [`decompressed`](Self::decompressed).
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder};
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(1, b"hello", &[])?;
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// assert!(!chunk.is_decompressed());
    /// assert!(chunk.decompressed()?.is_decompressed());
    /// assert!(chunk.decompressed()?.clone().is_decompressed());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn is_decompressed(&self) -> bool {
        self.decompressed.is_some()
    }

    /// The bytes this chunk keeps in memory: the encoded chunk and, in a
    /// [`decompressed`](Self::decompressed) copy, every block decompressed.
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder};
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(1, b"hello", &[])?;
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// assert_eq!(chunk.memory_bytes(), chunk.bytes().len());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn memory_bytes(&self) -> usize {
        let blocks = self.decompressed.iter().flat_map(|blocks| blocks.iter());
        self.bytes().len() + blocks.map(Bytes::len).sum::<usize>()
    }

    /// About what [`memory_bytes`](Self::memory_bytes) of a
    /// [`decompressed`](Self::decompressed) copy would be, read from the
    /// block table without decompressing anything (for a cache deciding
    /// whether to make the copy): the encoded chunk, and per block its
    /// lines and metadata (Loki's uncompressed size) with room for each
    /// entry's timestamp and length varints, or eight times the compressed
    /// block where the table does not record that size (format v2).
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder};
    /// let mut builder = ChunkBuilder::new();
    /// for ts in 0..1000 {
    ///     builder.append(ts, b"GET /cart 200", &[])?;
    /// }
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let estimate = chunk.decompressed_memory_estimate();
    /// let exact = chunk.decompressed()?.memory_bytes();
    /// assert!(estimate >= exact && estimate < exact * 2);
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn decompressed_memory_estimate(&self) -> usize {
        let blocks = self.blocks().iter().map(|b| match b.uncompressed_size {
            0 => b.compressed_len.saturating_mul(8),
            size => usize::try_from(size).unwrap_or(usize::MAX).saturating_add(
                usize::try_from(b.entries)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(12),
            ),
        });
        blocks.fold(self.bytes().len(), usize::saturating_add)
    }

    /// Block `index` as a [`decompressed`](Self::decompressed) copy holds it.
    pub(crate) fn decompressed_block(&self, index: usize) -> Option<&[u8]> {
        Some(self.decompressed.as_ref()?.get(index)?)
    }

    /// Checks every checksum, decompresses every block and decodes every
    /// entry: a full pass that proves the chunk readable.
    ///
    /// # Errors
    /// The first problem found.
    pub fn verify(&self) -> Result<()> {
        self.symbols()?;
        let mut decompressor = Decompressor::new();
        let mut buf = Vec::new();
        for index in 0..self.blocks().len() {
            self.decompress_block_into(index, &mut decompressor, &mut buf)?;
            let mut check = BlockCheck::new(&self.blocks()[index]);
            for entry in self.block_entries(&buf) {
                check.entry(entry?.timestamp)?;
            }
            check.finish()?;
        }
        Ok(())
    }

    /// Decompresses block `index` (checksum checked) into a new buffer.
    ///
    /// # Errors
    /// A checksum or decompression error naming the block's offset.
    pub fn decompress_block(&self, index: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.decompress_block_into(index, &mut Decompressor::new(), &mut buf)?;
        Ok(buf)
    }

    pub(crate) fn decompress_block_into(
        &self,
        index: usize,
        decompressor: &mut Decompressor,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(block) = self.decompressed_block(index) {
            buf.clear();
            buf.extend_from_slice(block);
            return Ok(());
        }
        let range = match self.checked_blocks.get(index).and_then(OnceLock::get) {
            Some(range) => range.clone(),
            None => {
                let range = self.raw.block_range(index)?;
                self.checked_blocks[index]
                    .get_or_init(|| range.clone())
                    .clone()
            }
        };
        let offset = self.blocks()[index].offset;
        decompressor.decompress_into(
            self.codec(),
            &self.bytes()[range],
            buf,
            MAX_DECOMPRESSED_BLOCK,
            "block",
            offset,
        )
    }

    /// The entries of a block decompressed by
    /// [`decompress_block`](Self::decompress_block), in stored order.
    pub fn block_entries<'a>(&self, block: &'a [u8]) -> BlockEntryIter<'a> {
        BlockEntryIter::new(block, self.version().has_structured_metadata())
    }

    /// Entries with timestamps in `[from, through)`, in `direction`.
    ///
    /// The returned [`Entries`] lends each entry until the next call; see
    /// there for line filters pushed down into the walk.
    pub fn entries(&self, from: i64, through: i64, direction: Direction) -> Entries<'_> {
        Entries::new(self, from, through, direction)
    }

    /// Samples for metric queries: `extract` turns each entry in
    /// `[from, through)` into a value, or skips it with `None`. Forward
    /// order.
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder};
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(1, b"latency=12", &[])?;
    /// builder.append(2, b"no number", &[])?;
    /// builder.append(3, b"latency=30", &[])?;
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let samples: Vec<_> = chunk
    ///     .samples(0, 10, |e| std::str::from_utf8(e.line).ok()?.strip_prefix("latency=")?.parse().ok())
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(samples.iter().map(|s| s.value).sum::<f64>(), 42.0);
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn samples<F>(&self, from: i64, through: i64, extract: F) -> Samples<'_, F>
    where
        F: FnMut(&Entry<'_>) -> Option<f64>,
    {
        Samples::new(self.entries(from, through, Direction::Forward), extract)
    }

    /// Resolves a raw block entry against this chunk's symbol table.
    ///
    /// # Errors
    /// As [`symbols`](Self::symbols).
    pub fn resolve<'a>(&'a self, entry: BlockEntry<'a>) -> Result<Entry<'a>> {
        Ok(Entry::new(entry, self.symbols()?))
    }
}

/// Checks, entry by entry, that a decoded block agrees with its table
/// entry: timestamps sorted and within the block's bounds, and as many
/// entries as recorded. Header bytes are not covered by any checksum, so a
/// damaged codec or version byte could otherwise decode garbage as entries.
#[derive(Debug, Clone)]
pub(crate) struct BlockCheck {
    meta: BlockMeta,
    previous: i64,
    seen: u64,
}

impl BlockCheck {
    pub(crate) fn new(meta: &BlockMeta) -> BlockCheck {
        BlockCheck {
            meta: *meta,
            previous: meta.min_time,
            seen: 0,
        }
    }

    #[inline]
    pub(crate) fn entry(&mut self, timestamp: i64) -> Result<()> {
        if timestamp < self.previous || timestamp > self.meta.max_time {
            return Err(Error::corrupt(
                "block",
                self.meta.offset,
                format!(
                    "entry {} has timestamp {timestamp}, out of order or outside the block's [{}, {}]",
                    self.seen, self.meta.min_time, self.meta.max_time
                ),
            ));
        }
        self.previous = timestamp;
        self.seen += 1;
        Ok(())
    }

    pub(crate) fn finish(&self) -> Result<()> {
        if self.seen != self.meta.entries {
            return Err(Error::corrupt(
                "block",
                self.meta.offset,
                format!(
                    "{} entries decoded, {} recorded",
                    self.seen, self.meta.entries
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ChunkBuilder, ChunkOptions, Version};

    #[test]
    fn clones_share_the_symbol_table_decoded_by_any_of_them() {
        let mut builder =
            ChunkBuilder::with_options(ChunkOptions::default().version(Version::V4)).unwrap();
        let _ = builder.append(1, b"line", &[("trace_id", "abc")]).unwrap();
        let chunk = super::Chunk::open(builder.encode().unwrap()).unwrap();
        let cached = chunk.clone();
        let table = chunk.symbols().unwrap();
        assert!(std::ptr::eq(table, cached.symbols().unwrap()));
        assert!(std::ptr::eq(table, cached.clone().symbols().unwrap()));
    }

    #[test]
    fn a_block_is_checked_once_for_every_clone_and_a_damaged_one_every_time() {
        let mut builder =
            ChunkBuilder::with_options(ChunkOptions::default().block_size(1 << 10)).unwrap();
        for i in 0..4000 {
            let line = format!("line {i} of a chunk with several blocks");
            let _ = builder.append(i, line.as_bytes(), &[]).unwrap();
        }
        let bytes = builder.encode().unwrap();
        let chunk = super::Chunk::open(bytes.clone()).unwrap();
        assert!(chunk.blocks().len() > 2);
        let cached = chunk.clone();
        assert!(chunk.checked_blocks.iter().all(|b| b.get().is_none()));
        let first = chunk.decompress_block(1).unwrap();
        assert_eq!(
            cached.checked_blocks[1].get(),
            Some(&chunk.as_raw().block_range(1).unwrap())
        );
        assert_eq!(cached.decompress_block(1).unwrap(), first);
        assert!(cached.checked_blocks[0].get().is_none());

        // A flipped byte inside block 1: refused on every read, never
        // remembered as checked.
        let mut damaged = bytes.to_vec();
        damaged[chunk.blocks()[1].offset + 3] ^= 0x40;
        let damaged = super::Chunk::open(damaged.into()).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                damaged.decompress_block(1),
                Err(crate::Error::ChecksumMismatch { .. })
            ));
        }
        assert!(damaged.checked_blocks[1].get().is_none());
        assert_eq!(
            damaged.decompress_block(0).unwrap(),
            chunk.decompress_block(0).unwrap()
        );
    }
}
