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
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::WalRecord(_) => ErrorKind::Corrupt,
        }
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Io)
    }

    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}
