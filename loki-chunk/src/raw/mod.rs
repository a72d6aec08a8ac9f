//! The raw layer: Loki's chunk bytes, field by field.
//!
//! The top-level [`Chunk`](crate::Chunk) and
//! [`ChunkBuilder`](crate::ChunkBuilder) are built on this module; reach for
//! it (through [`Chunk::as_raw`](crate::Chunk::as_raw)) to look at block
//! bytes and offsets directly, as `chunks-inspect` does.
//!
//! Conventions: `BE32`/`BE64` are big-endian fixed-width integers, `uvarint`
//! is Go's unsigned LEB128, `varint` is zig-zag then uvarint, and every CRC
//! is CRC-32C (Castagnoli) stored big-endian right after the bytes it covers.
//!
//! # Versions 2 and 3
//!
//! ```text
//! 0        4        5        6
//! +--------+--------+--------+----------------------------------------+
//! | magic  | version| codec  | block 0 bytes | BE32 CRC | block 1 ... |
//! | BE32   | u8 2/3 | u8     |                                        |
//! +--------+--------+--------+----------------------------------------+
//! metas_offset:
//! | uvarint N | N × block meta | BE32 CRC(metas) | BE64 metas_offset |
//!
//! block meta := uvarint entries, varint min_ts, varint max_ts,
//!               uvarint offset, uvarint uncompressed_size (v3 only),
//!               uvarint compressed_len (excluding the CRC)
//! ```
//!
//! # Version 4
//!
//! ```text
//! 0        4        5        6 = sm_offset
//! +--------+--------+--------+-------------------------------------------+
//! | magic  |   4    | codec  | uvarint S | codec stream of S × (uvarint  |
//! |        |        |        |   len, bytes) | BE32 CRC(section)         |
//! +--------+--------+--------+-------------------------------------------+
//! | block 0 bytes | BE32 CRC | block 1 ... | metas as v3 | BE32 CRC     |
//! +---------------------------------------------------------------------+
//! | BE64 sm_len | BE64 sm_offset | BE64 metas_len | BE64 metas_offset   |
//! +---------------------------------------------------------------------+
//! ```
//!
//! # Block payload (before compression)
//!
//! ```text
//! entry := varint ts_ns, uvarint line_len, line bytes
//!          [v4: uvarint section_len, uvarint P, P × (uvarint name, uvarint value)]
//! ```
//!
//! Entries are sorted by timestamp; equal timestamps keep arrival order.
//! Symbol references index the chunk's symbol table; an index past its end
//! reads as the empty string.

pub(crate) mod block;
mod codec;
pub(crate) mod layout;
mod lz4_frame;
pub(crate) mod snappy_frame;
mod symbols;
pub(crate) mod varint;

pub use block::{BlockEntry, BlockEntryIter};
pub use codec::Codec;
pub(crate) use codec::{Compressor, Decompressor};
pub(crate) use layout::{chunk_len_bound, write_chunk, write_chunk_into, ChunkParts};
pub use layout::{BlockMeta, RawChunk, Version};
pub(crate) use symbols::SymbolTable;
pub use symbols::Symbols;
