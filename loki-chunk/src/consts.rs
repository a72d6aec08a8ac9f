//! Every constant that shapes the bytes this crate writes or accepts.
//!
//! The chunk layout is Loki's, so these values are fixed by compatibility:
//! changing any of them makes our chunks unreadable to Loki (and Loki's to
//! us). A new layout would need a new format version byte, a sibling decoder
//! module and a golden file, never an edit here.

/// The four bytes every chunk starts with (big-endian `0x012EE56A`).
pub(crate) const MAGIC: u32 = 0x012E_E56A;

/// Bytes before the first block or the symbol section: magic, version, codec.
pub(crate) const HEADER_LEN: usize = 6;

/// Bytes of a big-endian CRC-32C that follows the bytes it covers.
pub(crate) const CRC_LEN: usize = 4;

/// Bytes of the version 4 footer: `(smLen, smOffset, metasLen, metasOffset)`.
pub(crate) const V4_FOOTER_LEN: usize = 32;

/// Bytes of the version 2/3 footer: `metasOffset`.
pub(crate) const V3_FOOTER_LEN: usize = 8;

/// Default uncompressed head size at which a block is cut (Loki's
/// `ingester.chunks-block-size`).
pub const DEFAULT_BLOCK_SIZE: usize = 256 * 1024;

/// Default compressed chunk size at which a chunk is full (Loki's
/// `ingester.chunk-target-size`).
pub const DEFAULT_TARGET_SIZE: usize = 1_572_864;

/// The zstd level new blocks are written at by default
/// ([`ChunkOptions::zstd_level`](crate::ChunkOptions::zstd_level) has the
/// measurements). The level is not stored: any zstd reader decodes every
/// level, so changing it changes no format.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// The zstd levels accepted: zstd's fastest "negative" levels up to its
/// slowest (`ZSTD_minCLevel()` to `ZSTD_maxCLevel()`).
pub(crate) const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = -(1 << 17)..=22;

/// Cut blocks per chunk when the target size is 0.
pub(crate) const BLOCKS_PER_CHUNK_WITHOUT_TARGET: usize = 10;

/// The longest line the reader accepts (Loki's block reader guard), and so
/// the longest line the writer accepts.
pub const MAX_LINE_LEN: usize = 1 << 30;

/// The largest block size a builder accepts (1 GiB): a head holds a block
/// and its last line, and its offsets are 32 bits.
pub(crate) const MAX_BLOCK_SIZE: usize = 1 << 30;

/// The largest decompressed block the reader accepts. Loki never writes a
/// block larger than the block size plus one line.
pub(crate) const MAX_DECOMPRESSED_BLOCK: usize = MAX_LINE_LEN + 64 * 1024 * 1024;

/// Bytes the unordered head accounts for each structured-metadata pair
/// (two symbol references), as in Loki's `UncompressedSize`.
pub(crate) const HEAD_BYTES_PER_METADATA_PAIR: usize = 8;

/// The `encoding` value Loki writes in a stored chunk object's metadata
/// ("LogChunk"); 128 is an older alias.
pub(crate) const OBJECT_ENCODING_LOG_CHUNK: u8 = 129;

/// The older alias of [`OBJECT_ENCODING_LOG_CHUNK`].
pub(crate) const OBJECT_ENCODING_LOG_CHUNK_OLD: u8 = 128;

/// The metric name Loki adds to a chunk object's labels.
pub(crate) const OBJECT_METRIC_NAME: &str = "logs";
