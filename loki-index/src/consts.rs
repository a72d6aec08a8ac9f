//! Format-shaping constants of the segment format.
//!
//! **Changing any value here changes what is written to disk: bump
//! [`FORMAT_VERSION`], keep a decoder for the old version, and commit a
//! golden segment of the new version under `tests/data/`.**

/// The segment format version written by this build (the only one it reads).
///
/// History: 1 — first version (see the `raw` module for the layout).
pub const FORMAT_VERSION: u16 = 1;

/// Magic bytes at the start and at the very end of every segment.
pub(crate) const MAGIC: [u8; 4] = *b"LKIX";

/// Size of the fixed header: magic, version, reserved.
pub(crate) const HEADER_LEN: usize = 8;

/// Size of the fixed footer (see the `raw` module).
pub(crate) const FOOTER_LEN: usize = 32;

/// Every `SERIES_STRIDE`-th row of the series table has its offset stored,
/// rows in between are reached by decoding forward.
pub(crate) const SERIES_STRIDE: u32 = 16;

/// Same as [`SERIES_STRIDE`] for the chunk-ref table.
pub(crate) const CHUNK_STRIDE: u32 = 8;

/// Postings directory entries with this bit set hold a single series id
/// inline instead of an offset into the postings blob.
pub(crate) const INLINE_POSTING_BIT: u32 = 1 << 31;

/// Series ids (and postings offsets) must stay below this.
pub(crate) const MAX_SERIES: u32 = INLINE_POSTING_BIT;

/// Longest label value (and name) accepted, in bytes.
pub(crate) const MAX_LABEL_LEN: usize = 64 * 1024;

/// Longest tenant id accepted, in bytes.
pub(crate) const MAX_TENANT_LEN: usize = 1024;

/// Default index period, like Loki's 24h index tables, in milliseconds.
pub const DEFAULT_PERIOD_MS: i64 = 24 * 60 * 60 * 1000;
