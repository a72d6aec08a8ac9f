//! Grafana Loki's compressed chunk format: a writer, a zero-copy reader and
//! every codec, byte-compatible with the chunks Loki writes.
//!
//! A chunk holds the log lines of one stream over a span of time, in
//! compressed blocks. This crate writes Loki's format versions 3 and 4,
//! reads versions 2, 3 and 4, and wraps chunks in (and unwraps them from)
//! the stored object Loki puts in its bucket, under Loki's key layout. A
//! chunk written by Loki can be read here, and the other way round.
//!
//! ```
//! use loki_chunk::{Chunk, ChunkBuilder, ChunkOptions, Codec, Direction};
//!
//! // Write: entries may come in any order; exact duplicates are dropped.
//! let mut builder = ChunkBuilder::with_options(ChunkOptions::default().codec(Codec::Snappy))?;
//! builder.append(1_700_000_000_000_000_000, b"level=info msg=started", &[])?;
//! builder.append(1_700_000_001_000_000_000, b"level=error msg=failed", &[("trace_id", "4bf92f35")])?;
//! let bytes = builder.encode()?;
//!
//! // Read: opening parses only the block table; lines borrow the
//! // decompressed block.
//! let chunk = Chunk::open(bytes)?;
//! let mut errors = chunk
//!     .entries(i64::MIN, i64::MAX, Direction::Backward)
//!     .with_line_filter(|line| memchr_like(line, b"error"));
//! while let Some(entry) = errors.next()? {
//!     assert_eq!(entry.metadata.get("trace_id"), Some("4bf92f35"));
//! }
//! # fn memchr_like(h: &[u8], n: &[u8]) -> bool { h.windows(n.len()).any(|w| w == n) }
//! # Ok::<(), loki_chunk::Error>(())
//! ```
//!
//! # Module map
//!
//! - [`ChunkBuilder`] (`builder.rs`, `head.rs`): Loki's `MemChunk` with an
//!   unordered head block; cuts blocks at the block size, answers "is there
//!   room" against the target size, reorders overlapping blocks on close.
//! - [`Chunk`] (`chunk.rs`), [`Entries`] and [`Samples`] (`iter.rs`): open
//!   from [`bytes::Bytes`] in O(blocks), verify, iterate `[from, through)`
//!   forward or backward with a pushed-down line filter, extract samples.
//! - [`ChunkObject`] (`object.rs`) and [`ChunkKey`], [`fingerprint`]
//!   (`key.rs`): the stored object wrapper, keys and stream fingerprints.
//! - [`raw`]: the byte layout itself: header, block table, footer, block
//!   entries, symbol table, codecs.
//!
//! # Crate features
//!
//! None: every codec is always built, because a reader must read whatever a
//! writer chose.
//!
//! # Dependencies, and why
//!
//! - `bytes`: readers hold the chunk as `Bytes`, so slices share the buffer
//!   an object store returned.
//! - `crc32c`: Loki's checksums are CRC-32C (hardware accelerated here);
//!   `crc32fast` only computes IEEE CRC-32.
//! - `snap`, `flate2`, `lz4_flex`, `zstd`: the codecs (snappy's framing
//!   and LZ4's frame formats are parsed here, so blocks decompress straight
//!   into the output instead of through the streaming decoders' buffers).
//! - `xxhash-rust`: stream fingerprints are xxHash64; LZ4 frame checksums
//!   are xxHash32.
//! - `hashbrown`: `HashTable`, so the v4 symbol table interns structured
//!   metadata by id over one string arena (no allocation per symbol) with
//!   a fast hasher (foldhash) rather than the standard map's SipHash.
//! - `serde`, `serde_json`: the stored object's JSON metadata.
//! - `base64`: the filesystem store's file names.
//! - `thiserror`: the error type.

mod builder;
mod chunk;
mod consts;
mod error;
mod head;
mod iter;
mod key;
mod object;
pub mod raw;

pub use builder::{ChunkBuilder, ChunkOptions};
pub use chunk::{Chunk, ChunkStats};
pub use consts::{DEFAULT_BLOCK_SIZE, DEFAULT_TARGET_SIZE, DEFAULT_ZSTD_LEVEL, MAX_LINE_LEN};
pub use error::{Error, ErrorKind, Result};
pub use head::Appended;
pub use iter::{Direction, Entries, Entry, Metadata, Sample, Samples};
pub use key::{fingerprint, ChunkKey};
pub use object::{ChunkObject, ChunkObjectMeta};
pub use raw::{Codec, Version};
