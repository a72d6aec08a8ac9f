//! Writing chunks: Loki's `MemChunk` with an unordered head.

use bytes::Bytes;

use crate::consts::{
    BLOCKS_PER_CHUNK_WITHOUT_TARGET, DEFAULT_BLOCK_SIZE, DEFAULT_TARGET_SIZE, DEFAULT_ZSTD_LEVEL,
    MAX_BLOCK_SIZE, MAX_LINE_LEN, ZSTD_LEVELS,
};
use crate::head::{Appended, Head};
use crate::object;
use crate::raw::block::{decode_entry, metadata_pairs};
use crate::raw::layout::CutBlock;
use crate::raw::{
    chunk_len_bound, write_chunk, write_chunk_into, ChunkParts, Codec, Compressor, Decompressor,
    SymbolTable, Version,
};
use crate::{Chunk, ChunkObject, ChunkObjectMeta, ChunkStats, Error, Result};

thread_local! {
    /// The block serialisation buffer, shared by every builder on a thread.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The shared serialisation buffer is given back to the allocator when a
/// block larger than this passed through it.
const SCRATCH_KEEP: usize = 8 << 20;

/// How a [`ChunkBuilder`] writes.
///
/// The defaults are format version 4, zstd at level
/// [`DEFAULT_ZSTD_LEVEL`], 256 KiB blocks and a 1.5 MiB target size.
/// Loki's own code default codec is gzip; zstd compresses log lines
/// smaller than snappy and decodes about as fast.
///
/// ```
/// use loki_chunk::{ChunkOptions, Codec, Version};
///
/// let options = ChunkOptions::default()
///     .codec(Codec::Snappy)
///     .version(Version::V3)
///     .block_size(32 * 1024);
/// assert_eq!(options.codec, Codec::Snappy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkOptions {
    /// The format version written: [`Version::V3`] or [`Version::V4`].
    pub version: Version,
    /// The codec for every block.
    pub codec: Codec,
    /// Uncompressed head size at which a block is cut (at most 1 GiB).
    pub block_size: usize,
    /// Compressed size at which the chunk has no more room; 0 means "ten
    /// blocks", as in Loki.
    pub target_size: usize,
    /// The zstd level blocks are compressed at when the codec is
    /// [`Codec::Zstd`] ([`DEFAULT_ZSTD_LEVEL`] by default). Negative levels
    /// are zstd's "fast" levels: the same format (any zstd reader, Loki's
    /// included, decodes them), faster to write, somewhat larger.
    ///
    /// Measured by `cargo bench --bench store` on the generated corpus
    /// (134 MB of lines in 256 KiB blocks, the codec alone, zstd with the
    /// 256 KiB window the writer sets for such blocks; one run on a shared
    /// 2-core machine, so the speeds are rough):
    ///
    /// | codec | MB per CPU-second | ratio |
    /// |---|---|---|
    /// | zstd 1 (the default) | 504 | 3.82 |
    /// | zstd -1 | 566 | 2.87 |
    /// | zstd -2 | 622 | 2.77 |
    /// | zstd -3 | 648 | 2.67 |
    /// | zstd -5 | 680 | 2.51 |
    /// | gzip, level 6 (Go's default; Loki's default codec) | 45 | 3.87 |
    /// | snappy | 492 | 2.37 |
    ///
    /// The fast levels gain at most a third in speed and lose a quarter to
    /// a third of the ratio, ending below gzip's: level 1 stays the
    /// default, within 2 % of gzip's ratio at eleven times its speed.
    pub zstd_level: i32,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            version: Version::V4,
            codec: Codec::Zstd,
            block_size: DEFAULT_BLOCK_SIZE,
            target_size: DEFAULT_TARGET_SIZE,
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }
}

impl ChunkOptions {
    /// Sets the format version.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Sets the codec.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Sets the block size.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// Sets the target compressed size.
    pub fn target_size(mut self, bytes: usize) -> Self {
        self.target_size = bytes;
        self
    }

    /// Sets the zstd level (from zstd's fastest, -131072, to 22; checked
    /// when a builder is made).
    ///
    /// ```
    /// use loki_chunk::{Chunk, ChunkBuilder, ChunkOptions, Direction};
    ///
    /// let mut builder = ChunkBuilder::with_options(ChunkOptions::default().zstd_level(-3))?;
    /// builder.append(1, b"GET /cart 200", &[])?;
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
    /// assert_eq!(entries.next()?.unwrap().line, b"GET /cart 200");
    /// assert!(ChunkBuilder::with_options(ChunkOptions::default().zstd_level(23)).is_err());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }
}

/// Builds one chunk: accepts entries in any order, drops exact duplicates,
/// cuts compressed blocks as the head fills, and encodes Loki's bytes.
///
/// ```
/// use loki_chunk::{Appended, Chunk, ChunkBuilder, Direction};
///
/// let mut builder = ChunkBuilder::new();
/// builder.append(2_000, b"second", &[])?;
/// builder.append(1_000, b"first", &[("trace_id", "4bf92f35")])?;
/// assert_eq!(builder.append(2_000, b"second", &[])?, Appended::Duplicate);
///
/// let chunk = Chunk::open(builder.encode()?)?;
/// let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
/// let first = entries.next()?.unwrap();
/// assert_eq!(first.line, b"first");
/// assert_eq!(first.metadata.get("trace_id"), Some("4bf92f35"));
/// # Ok::<(), loki_chunk::Error>(())
/// ```
///
/// Cloning is cheap in compressed data: cut blocks are shared, only the
/// head (at most a block of lines) and the symbol table are copied.
#[derive(Debug, Clone)]
pub struct ChunkBuilder {
    options: ChunkOptions,
    head: Head,
    blocks: Vec<CutBlock>,
    symbols: SymbolTable,
    compressor: Compressor,
    /// The entries of the last cut block that share its newest timestamp:
    /// a new entry with that timestamp is checked against them too.
    tail: Head,
    /// An entry older than the last cut block arrived: blocks will overlap,
    /// and `close` must reorder them (dropping duplicates across blocks).
    needs_reorder: bool,
    /// Reused symbol-id buffer for the entry being appended.
    pairs: Vec<u32>,
}

impl Default for ChunkBuilder {
    fn default() -> Self {
        ChunkBuilder::new()
    }
}

impl ChunkBuilder {
    /// A builder with the default [`ChunkOptions`].
    pub fn new() -> ChunkBuilder {
        Self::build(ChunkOptions::default())
    }

    /// A builder with the given options.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] for versions other than 3 and 4, and
    /// [`Error::InvalidOptions`] for a block size of zero or over 1 GiB, or
    /// a zstd level zstd does not have.
    pub fn with_options(options: ChunkOptions) -> Result<ChunkBuilder> {
        if !matches!(options.version, Version::V3 | Version::V4) {
            return Err(Error::UnsupportedVersion {
                got: options.version.byte(),
                supported: "3, 4 (for writing)",
            });
        }
        if options.block_size == 0 || options.block_size > MAX_BLOCK_SIZE {
            return Err(Error::InvalidOptions(
                "block size must be positive and at most 1 GiB",
            ));
        }
        if !ZSTD_LEVELS.contains(&options.zstd_level) {
            return Err(Error::InvalidOptions(
                "zstd level must be between -131072 and 22",
            ));
        }
        Ok(Self::build(options))
    }

    fn build(options: ChunkOptions) -> ChunkBuilder {
        ChunkBuilder {
            options,
            head: Self::empty_head(options),
            blocks: Vec::new(),
            tail: Self::empty_head(options),
            needs_reorder: false,
            symbols: SymbolTable::default(),
            compressor: Compressor::for_blocks(
                options.codec,
                options.zstd_level,
                options.block_size,
            ),
            pairs: Vec::new(),
        }
    }

    /// Reopens a chunk for appending, keeping its compressed blocks as they
    /// are (nothing is recompressed): the counterpart of
    /// [`encode_cut`](Self::encode_cut), for restoring an open chunk from a
    /// checkpoint. The chunk's version and codec replace those of `options`.
    ///
    /// ```
    /// use loki_chunk::{Chunk, ChunkBuilder, ChunkOptions, Direction};
    ///
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(1, b"cut", &[("k", "v")])?;
    /// builder.cut()?;
    /// builder.append(2, b"in the head", &[])?;
    /// let cut = Chunk::open(builder.encode_cut()?)?;
    /// assert_eq!(cut.stats().entries, 1);
    ///
    /// let mut resumed = ChunkBuilder::resume(&cut, ChunkOptions::default())?;
    /// for (timestamp, line, metadata) in builder.head_entries() {
    ///     resumed.append(timestamp, line, &metadata)?;
    /// }
    /// assert_eq!(resumed.encode()?, builder.encode()?);
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] for a version 2 chunk, and the errors
    /// of reading the chunk's blocks and symbol table (checksums, codec).
    pub fn resume(chunk: &Chunk, options: ChunkOptions) -> Result<ChunkBuilder> {
        let mut builder =
            ChunkBuilder::with_options(options.version(chunk.version()).codec(chunk.codec()))?;
        let structured = chunk.version().has_structured_metadata();
        if structured {
            builder.symbols = SymbolTable::from_symbols(chunk.symbols()?);
        }
        let raw = chunk.as_raw();
        builder.blocks.reserve_exact(raw.blocks().len());
        for (i, meta) in raw.blocks().iter().enumerate() {
            builder.blocks.push(CutBlock {
                entries: meta.entries,
                min_time: meta.min_time,
                max_time: meta.max_time,
                uncompressed_size: meta.uncompressed_size,
                // A slice of the chunk's bytes: nothing is copied.
                data: raw.block_bytes(i)?,
            });
        }
        builder.needs_reorder = builder
            .blocks
            .windows(2)
            .any(|w| w[1].min_time < w[0].max_time);
        if let Some(last) = raw.blocks().len().checked_sub(1) {
            // The newest run of the last block, for duplicate checks.
            let newest = raw.blocks()[last].max_time;
            let data = chunk.decompress_block(last)?;
            let mut pos = 0;
            let mut pairs = Vec::new();
            while pos < data.len() {
                let entry = decode_entry(&data, &mut pos, structured)?;
                if entry.timestamp == newest {
                    pairs.clear();
                    pairs.extend(
                        metadata_pairs(entry.metadata).flat_map(|(n, v)| [n as u32, v as u32]),
                    );
                    let _ = builder.tail.append(entry.timestamp, entry.line, &pairs);
                }
            }
        }
        Ok(builder)
    }

    /// Encodes the cut blocks only, as a chunk, without cutting the head or
    /// closing (reordering) anything: with [`head_entries`](Self::head_entries),
    /// everything appended, and cheap to take repeatedly since no block is
    /// compressed. [`resume`](Self::resume) turns it back into a builder.
    /// See [`resume`](Self::resume) for an example.
    ///
    /// # Errors
    /// [`Error::Compress`] if compressing the symbol table fails.
    pub fn encode_cut(&mut self) -> Result<Bytes> {
        self.layout(None)
    }

    /// The entries of the head (not yet cut into a block), in timestamp
    /// order, with their metadata. See [`resume`](Self::resume) for an
    /// example.
    pub fn head_entries(&self) -> impl Iterator<Item = (i64, &[u8], Vec<(&str, &str)>)> + '_ {
        self.head.iter().map(|(timestamp, line, pairs)| {
            let metadata = pairs
                .chunks_exact(2)
                .map(|p| (self.symbols.get(p[0]), self.symbols.get(p[1])))
                .collect();
            (timestamp, line, metadata)
        })
    }

    /// Heap bytes this builder holds: compressed blocks, the head's
    /// buffers, the symbol table. Compression state and the pool of
    /// reusable head pages are shared per thread and not counted.
    ///
    /// ```
    /// use loki_chunk::ChunkBuilder;
    ///
    /// let mut builder = ChunkBuilder::new();
    /// let empty = builder.memory_bytes();
    /// builder.append(1, &[b'x'; 1000], &[])?;
    /// assert!(builder.memory_bytes() >= empty + 1000);
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<CutBlock>()
            + self.blocks.iter().map(|b| b.data.len()).sum::<usize>()
            + self.head.memory_bytes()
            + self.tail.memory_bytes()
            + self.symbols.memory_bytes()
            + self.pairs.capacity() * std::mem::size_of::<u32>()
    }

    /// The options this builder writes with.
    pub fn options(&self) -> &ChunkOptions {
        &self.options
    }

    /// Adds an entry. Any timestamp order is accepted. An entry identical in
    /// timestamp, line and metadata to one already added is dropped: at once
    /// (reported as [`Appended::Duplicate`]) when the earlier one is still in
    /// the head or ends the last cut block, otherwise when the chunk is
    /// closed.
    /// Version 3 chunks drop structured metadata, as Loki does. Cuts a block
    /// when the head reaches the block size.
    ///
    /// # Errors
    /// [`Error::LineTooLong`] for lines over 1 GiB; [`Error::Compress`] if
    /// cutting a block fails.
    pub fn append(
        &mut self,
        timestamp: i64,
        line: &[u8],
        metadata: &[(&str, &str)],
    ) -> Result<Appended> {
        if line.len() > MAX_LINE_LEN {
            return Err(Error::LineTooLong {
                len: line.len(),
                max: MAX_LINE_LEN,
            });
        }
        self.pairs.clear();
        if self.options.version.has_structured_metadata() {
            for (name, value) in metadata {
                let name = self.symbols.intern(name);
                let value = self.symbols.intern(value);
                self.pairs.extend([name, value]);
            }
        }
        if let Some(cut_max) = self.blocks.last().map(|b| b.max_time) {
            if timestamp < cut_max {
                self.needs_reorder = true;
            } else if timestamp == cut_max && self.tail.contains(timestamp, line, &self.pairs) {
                return Ok(Appended::Duplicate);
            }
        }
        let appended = self.head.append(timestamp, line, &self.pairs);
        if self.head.size() >= self.options.block_size {
            self.cut()?;
        }
        Ok(appended)
    }

    /// Whether an entry with this line and metadata still fits under the
    /// target size (Loki's `SpaceFor`): the caller starts a new chunk when
    /// it does not.
    pub fn has_room_for(&self, line: &[u8], metadata: &[(&str, &str)]) -> bool {
        if self.options.target_size == 0 {
            return self.blocks.len() < BLOCKS_PER_CHUNK_WITHOUT_TARGET;
        }
        let mut size = self.compressed_block_bytes() + self.head.size() + line.len();
        if self.options.version.has_structured_metadata() {
            size += metadata
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
            size += self.symbols.encoded_len_estimate();
        }
        size < self.options.target_size
    }

    /// Compresses the head into a block, if it holds anything.
    ///
    /// # Errors
    /// [`Error::Compress`] if the codec fails.
    pub fn cut(&mut self) -> Result<()> {
        let Some((min_time, max_time)) = self.head.bounds() else {
            return Ok(());
        };
        let data = self.compress_head()?;
        self.blocks.push(CutBlock {
            entries: self.head.len() as u64,
            min_time,
            max_time,
            uncompressed_size: self.head.size() as u64,
            data: Bytes::from(data),
        });
        self.tail.keep_newest_run_of(&self.head);
        // Released rather than kept by this builder: an open chunk that
        // stops receiving entries holds no block-sized buffer. Its buffer
        // goes to the thread's pool for the next head that fills.
        self.head.recycle_buffer();
        self.head = Self::empty_head(self.options);
        Ok(())
    }

    /// An empty head for blocks of these options.
    fn empty_head(options: ChunkOptions) -> Head {
        Head::new(
            options.version.has_structured_metadata(),
            options.block_size,
        )
    }

    /// Compresses the head as a block: in place when its entries arrived in
    /// order, else written out in order into the thread's shared buffer.
    fn compress_head(&mut self) -> Result<Vec<u8>> {
        if let Some(block) = self.head.as_block() {
            return self.compressor.compress(block);
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            self.head.write_block(&mut scratch);
            let data = self.compressor.compress(&scratch);
            if scratch.capacity() > SCRATCH_KEEP {
                *scratch = Vec::new();
            }
            data
        })
    }

    /// Cuts the head and, if blocks overlap in time (possible after
    /// out-of-order appends), rewrites them so they are ascending and
    /// disjoint, as Loki does before a flush, dropping duplicates that
    /// landed in different blocks.
    ///
    /// # Errors
    /// [`Error::Compress`] if the codec fails.
    pub fn close(&mut self) -> Result<()> {
        self.cut()?;
        let overlapping = self
            .blocks
            .windows(2)
            .any(|w| w[1].min_time < w[0].max_time);
        if overlapping || self.needs_reorder {
            self.rebuild()?;
        }
        self.needs_reorder = false;
        Ok(())
    }

    /// Re-appends every entry in timestamp order into fresh blocks.
    fn rebuild(&mut self) -> Result<()> {
        let structured = self.options.version.has_structured_metadata();
        let mut decompressor = Decompressor::new();
        let mut plain = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let mut out = Vec::new();
            decompressor.decompress_into(
                self.options.codec,
                &block.data,
                &mut out,
                usize::MAX,
                "own block",
                0,
            )?;
            plain.push(out);
        }
        let mut entries: Vec<(i64, &[u8], Vec<u32>)> = Vec::new();
        for data in &plain {
            let mut pos = 0;
            while pos < data.len() {
                let entry = decode_entry(data, &mut pos, structured)?;
                let pairs: Vec<u32> = metadata_pairs(entry.metadata)
                    .flat_map(|(n, v)| [n as u32, v as u32])
                    .collect();
                entries.push((entry.timestamp, entry.line, pairs));
            }
        }
        // Stable: equal timestamps keep block order, then in-block order.
        entries.sort_by_key(|e| e.0);
        self.blocks.clear();
        let mut run_start = 0;
        for i in 0..entries.len() {
            let (timestamp, line, pairs) = &entries[i];
            if i == 0 || entries[i - 1].0 != *timestamp {
                run_start = i;
            }
            let duplicate = entries[run_start..i]
                .iter()
                .any(|(_, l, p)| l == line && p == pairs);
            if duplicate {
                continue;
            }
            let _ = self.head.append(*timestamp, line, pairs);
            if self.head.size() >= self.options.block_size {
                self.cut()?;
            }
        }
        self.cut()
    }

    /// Closes the chunk (see [`close`](Self::close)) and lays out its bytes.
    /// The builder keeps its contents and can be encoded again.
    ///
    /// # Errors
    /// [`Error::Compress`] if the codec fails.
    pub fn encode(&mut self) -> Result<Bytes> {
        self.close()?;
        self.layout(None)
    }

    /// Closes the chunk (see [`close`](Self::close)) and lays it out as the
    /// stored object of `tenant`'s stream `labels`, in one buffer: what
    /// [`encode`](Self::encode) then [`ChunkObject::encode`] give, without
    /// the chunk's bytes being laid out twice. Returns the object's bytes
    /// and the object read from them (its chunk shares those bytes).
    ///
    /// ```
    /// use loki_chunk::{ChunkBuilder, ChunkObject};
    ///
    /// let mut builder = ChunkBuilder::new();
    /// let _ = builder.append(1_700_000_000_000_000_000, b"hello", &[])?;
    /// let (bytes, object) = builder.encode_object("acme", &[("app", "shop")])?;
    /// assert_eq!(object.chunk().stats().entries, 1);
    /// let decoded = ChunkObject::decode_checked(bytes, &object.key())?;
    /// assert_eq!(decoded.meta(), object.meta());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] for a builder holding no entry, and the
    /// errors of [`close`](Self::close).
    pub fn encode_object<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        tenant: &str,
        labels: &[(N, V)],
    ) -> Result<(Bytes, ChunkObject)> {
        self.close()?;
        let stats = self.stats();
        let (Some(min), Some(max)) = (stats.min_time, stats.max_time) else {
            return Err(Error::InvalidOptions(
                "a chunk holding no entry has no object",
            ));
        };
        let meta = ChunkObjectMeta::new(tenant, labels, min, max);
        let parts = self.parts(None)?;
        let (bytes, chunk_start, checksum) =
            object::encode_with(&meta, chunk_len_bound(&parts), |out| {
                write_chunk_into(out, &parts)
            })?;
        let chunk = Chunk::open(bytes.slice(chunk_start..))?;
        Ok((bytes, ChunkObject::from_parts(meta, chunk, checksum)))
    }

    /// Encodes everything appended so far, the head included, without
    /// cutting it or closing the chunk: for reading data that is still being
    /// written. The head becomes an extra block, so blocks may overlap;
    /// [`Chunk`] merges them when iterating.
    ///
    /// ```
    /// use loki_chunk::{Chunk, ChunkBuilder, Direction};
    ///
    /// let mut builder = ChunkBuilder::new();
    /// let _ = builder.append(5, b"in the head", &[])?;
    /// let chunk = Chunk::open(builder.snapshot()?)?;
    /// assert_eq!(chunk.stats().entries, 1);
    /// assert_eq!(builder.stats().blocks, 0); // still uncut
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Compress`] if the codec fails.
    pub fn snapshot(&mut self) -> Result<Bytes> {
        let head = match self.head.bounds() {
            Some((min_time, max_time)) => Some(CutBlock {
                entries: self.head.len() as u64,
                min_time,
                max_time,
                uncompressed_size: self.head.size() as u64,
                data: Bytes::from(self.compress_head()?),
            }),
            None => None,
        };
        self.layout(head.as_ref())
    }

    fn layout(&mut self, extra: Option<&CutBlock>) -> Result<Bytes> {
        Ok(Bytes::from(write_chunk(&self.parts(extra)?)))
    }

    /// What a layout of the chunk takes: the cut blocks, `extra`, and (v4)
    /// the symbol table, compressed.
    fn parts<'a>(&'a mut self, extra: Option<&'a CutBlock>) -> Result<ChunkParts<'a>> {
        let symbols = match self.options.version {
            Version::V4 => Some(self.symbols.encode(&mut self.compressor)?),
            _ => None,
        };
        Ok(ChunkParts {
            version: self.options.version,
            codec: self.options.codec,
            symbols,
            blocks: &self.blocks,
            extra,
        })
    }

    /// Whether no entry has been added.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.blocks.is_empty()
    }

    /// Counts and sizes so far; `compressed_bytes` covers cut blocks only.
    pub fn stats(&self) -> ChunkStats {
        let blocks = self
            .blocks
            .iter()
            .map(|b| (b.entries, b.uncompressed_size, b.min_time, b.max_time));
        let head = self
            .head
            .bounds()
            .map(|(min, max)| (self.head.len() as u64, self.head.size() as u64, min, max));
        let mut stats = ChunkStats::from_blocks(blocks.chain(head));
        stats.compressed_bytes = self.compressed_block_bytes() as u64;
        stats.blocks = self.blocks.len();
        stats
    }

    /// Distinct structured-metadata strings interned so far.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    fn compressed_block_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.data.len()).sum()
    }
}
