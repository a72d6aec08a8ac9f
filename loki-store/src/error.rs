//! The crate's one error type.

use std::path::{Path, PathBuf};

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine.
///
/// ```
/// use loki_store::{Error, ErrorKind};
///
/// let err = Error::WalRecord("unknown record kind");
/// assert_eq!(err.kind(), ErrorKind::Corrupt);
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("{what} ({}): {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A WAL record passed its checksum but does not decode.
    #[error("malformed WAL record: {0}")]
    WalRecord(&'static str),
    /// A tenant ID breaks the rules.
    #[error("invalid tenant ID {tenant:?}: {reason}")]
    InvalidTenant {
        /// The tenant ID given (cut to 151 characters).
        tenant: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tenant pushed faster than its ingestion rate allows.
    #[error("Ingestion rate limit exceeded for user {tenant} (limit: {limit_bytes_per_second} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased")]
    RateLimited {
        /// The tenant.
        tenant: String,
        /// The configured rate.
        limit_bytes_per_second: u64,
        /// Lines in the refused request.
        lines: usize,
        /// Bytes in the refused request.
        bytes: usize,
    },
    /// An object store operation failed.
    #[error("object store {op} of {path}: {source}")]
    Object {
        /// The operation.
        op: &'static str,
        /// The object path.
        path: String,
        /// The object store's error.
        source: object_store::Error,
    },
    /// A chunk could not be written or read.
    #[error("chunk {key}: {source}")]
    Chunk {
        /// The chunk's key (or stream, for chunks not yet stored).
        key: String,
        /// What went wrong.
        source: loki_chunk::Error,
    },
    /// An index operation failed.
    #[error("index: {0}")]
    Index(#[from] loki_index::Error),
    /// Stored data is damaged or inconsistent.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What is damaged.
        what: &'static str,
        /// Where and how.
        detail: String,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A coarse classification of [`Error`], for picking a response without
/// matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Stored data is damaged.
    Corrupt,
    /// The machine failed an operation (disk, network).
    Io,
    /// The caller sent something invalid.
    InvalidInput,
    /// The caller went over a limit; trying later may work.
    Limited,
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::Object { .. } => ErrorKind::Io,
            Error::WalRecord(_) | Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Chunk { source, .. } => match source.kind() {
                loki_chunk::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                _ => ErrorKind::Corrupt,
            },
            Error::Index(source) => match source.kind() {
                loki_index::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                _ => ErrorKind::Corrupt,
            },
            Error::InvalidTenant { .. } | Error::Config(_) => ErrorKind::InvalidInput,
            Error::RateLimited { .. } => ErrorKind::Limited,
        }
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Io | ErrorKind::Limited)
    }

    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}
