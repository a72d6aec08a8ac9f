//! The crate's one error type.

use crate::Codec;

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while writing or reading chunks.
///
/// Decoding untrusted bytes reports what was wrong and at which byte offset
/// of the input; it never panics.
///
/// ```
/// use loki_chunk::{Chunk, Error, ErrorKind};
///
/// let err = Chunk::open(bytes::Bytes::from_static(b"not a chunk")).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Corrupt);
/// assert!(matches!(err, Error::BadMagic { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first four bytes are not the chunk magic number `0x012EE56A`.
    #[error("bad chunk magic number {got:#010x} at offset 0 (expected 0x012ee56a)")]
    BadMagic {
        /// The big-endian number found.
        got: u32,
    },
    /// The format version byte is one this crate cannot read or write.
    #[error("unsupported chunk format version {got} at offset 4 (supported: {supported})")]
    UnsupportedVersion {
        /// The version byte found or requested.
        got: u8,
        /// The versions supported for this operation.
        supported: &'static str,
    },
    /// The codec byte is not one of Loki's codecs.
    #[error("unknown compression codec byte {got} at offset 5")]
    UnknownCodec {
        /// The codec byte found.
        got: u8,
    },
    /// A codec name (as in Loki's `chunk_encoding` setting) is not known.
    #[error("unknown chunk encoding {name:?} (expected one of none, gzip, lz4-64k, snappy, lz4-256k, lz4-1M, lz4, flate, zstd)")]
    UnknownCodecName {
        /// The name given.
        name: String,
    },
    /// A stored checksum does not match the bytes it covers.
    #[error("{what} checksum mismatch at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which structure the checksum covers.
        what: &'static str,
        /// Byte offset of the covered bytes in the input.
        offset: usize,
        /// The checksum stored in the input.
        stored: u32,
        /// The checksum computed over the bytes.
        computed: u32,
    },
    /// The input ends before a structure it declares.
    #[error("truncated {what} at offset {offset}: need {needed} bytes, {available} available")]
    Truncated {
        /// The structure that is cut short.
        what: &'static str,
        /// Byte offset where the structure starts.
        offset: usize,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes actually available.
        available: usize,
    },
    /// A structure holds a value that cannot be right.
    #[error("corrupt {what} at offset {offset}: {detail}")]
    Corrupt {
        /// The structure that is wrong.
        what: &'static str,
        /// Byte offset of the problem in the input (or in the decompressed
        /// block, for entry errors).
        offset: usize,
        /// What exactly is wrong.
        detail: String,
    },
    /// A compressed stream could not be decompressed.
    #[error("{codec} decompression of {what} at offset {offset} failed: {source}")]
    Decompress {
        /// The codec used.
        codec: Codec,
        /// Which structure was being decompressed.
        what: &'static str,
        /// Byte offset of the compressed stream in the input.
        offset: usize,
        /// The codec's own error.
        source: std::io::Error,
    },
    /// Compressing a block failed inside the codec.
    #[error("{codec} compression failed: {source}")]
    Compress {
        /// The codec used.
        codec: Codec,
        /// The codec's own error.
        source: std::io::Error,
    },
    /// An entry's line is longer than the format allows.
    #[error("line of {len} bytes exceeds the maximum of {max} bytes")]
    LineTooLong {
        /// The line's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stored chunk object's metadata disagrees with its key.
    #[error("wrong chunk metadata: {field} is {got} in the object but {expected} in the key")]
    WrongMetadata {
        /// The field that differs.
        field: &'static str,
        /// The value the key says.
        expected: String,
        /// The value in the object.
        got: String,
    },
    /// The stored chunk object's JSON metadata is malformed.
    #[error("malformed chunk object metadata JSON: {0}")]
    MetadataJson(#[from] serde_json::Error),
    /// An object key is not in Loki's chunk key layout.
    #[error("invalid chunk key {key:?}: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Options passed to a builder are out of range.
    #[error("invalid chunk options: {0}")]
    InvalidOptions(&'static str),
}

/// A coarse classification of [`Error`], for callers that pick a response
/// (an HTTP status, a retry) without matching every variant.
///
/// ```
/// use loki_chunk::{Error, ErrorKind};
///
/// let err = Error::InvalidOptions("block size must be positive");
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Stored bytes are damaged or not a chunk: the data cannot be read.
    Corrupt,
    /// The bytes are well formed but use a version or codec not supported.
    Unsupported,
    /// The caller passed something invalid (a key, an option, a line).
    InvalidInput,
    /// A codec failed while compressing.
    Internal,
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadMagic { .. }
            | Error::ChecksumMismatch { .. }
            | Error::Truncated { .. }
            | Error::Corrupt { .. }
            | Error::Decompress { .. }
            | Error::WrongMetadata { .. }
            | Error::MetadataJson(_) => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. } | Error::UnknownCodec { .. } => ErrorKind::Unsupported,
            Error::UnknownCodecName { .. }
            | Error::LineTooLong { .. }
            | Error::InvalidKey { .. }
            | Error::InvalidOptions(_) => ErrorKind::InvalidInput,
            Error::Compress { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn corrupt(what: &'static str, offset: usize, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what,
            offset,
            detail: detail.into(),
        }
    }

    pub(crate) fn truncated(
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    ) -> Self {
        Error::Truncated {
            what,
            offset,
            needed,
            available,
        }
    }
}
