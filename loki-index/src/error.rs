//! The crate's one public error type.

/// Everything that can go wrong in `loki-index`.
///
/// Variants carry the data needed to report the problem; use
/// [`Error::kind`] to pick a reaction (for example an HTTP status) without
/// matching on messages.
///
/// ```
/// use loki_index::{Error, ErrorKind, Labels};
///
/// let err = Labels::new([("1abc", "x")]).unwrap_err();
/// assert!(matches!(err, Error::InvalidLabelName { .. }));
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName {
        /// The offending name.
        name: String,
    },
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {name:?}")]
    DuplicateLabelName {
        /// The repeated name.
        name: String,
    },
    /// A label set has no label with a non-empty value.
    #[error("a label set needs at least one label with a non-empty value")]
    EmptyLabelSet,
    /// A regular expression in a matcher does not compile.
    #[error("invalid regular expression {pattern:?}: {message}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// The regex engine's explanation.
        message: String,
    },
    /// A selector breaks one of Loki's rules (see the message).
    #[error("invalid selector: {reason}")]
    InvalidSelector {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A chunk reference is malformed (for example `from > through`).
    #[error("invalid chunk ref: {reason}")]
    InvalidChunkRef {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An index period length that is not positive.
    #[error("invalid index period {period_ms} ms: must be positive")]
    InvalidPeriod {
        /// The period given, in milliseconds.
        period_ms: i64,
    },
    /// A format limit (see the consts module) would be exceeded.
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// Segment bytes are malformed.
    #[error("corrupt segment: {what} at byte {offset}")]
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// Byte offset in the segment where decoding failed.
        offset: u64,
    },
    /// A checksum does not match the bytes it covers.
    #[error("checksum mismatch in {what}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which part of the segment.
        what: &'static str,
        /// The checksum written in the segment.
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// The segment was written with a format version this build cannot read.
    #[error("segment format version mismatch: expected {expected}, got {got}")]
    VersionMismatch {
        /// The version this build reads.
        expected: u16,
        /// The version found in the segment.
        got: u16,
    },
}

/// The broad class of an [`Error`], for callers that map errors to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something invalid (labels, matchers, chunk refs).
    InvalidInput,
    /// Stored bytes are damaged or of an unknown version.
    Corrupt,
    /// A format limit was hit while writing.
    Limit,
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidLabelName { .. }
            | Error::DuplicateLabelName { .. }
            | Error::EmptyLabelSet
            | Error::InvalidRegex { .. }
            | Error::InvalidSelector { .. }
            | Error::InvalidChunkRef { .. }
            | Error::InvalidPeriod { .. } => ErrorKind::InvalidInput,
            Error::LimitExceeded { .. } => ErrorKind::Limit,
            Error::Corrupt { .. }
            | Error::ChecksumMismatch { .. }
            | Error::VersionMismatch { .. } => ErrorKind::Corrupt,
        }
    }

    pub(crate) fn corrupt(what: &'static str, offset: usize) -> Error {
        Error::Corrupt {
            what,
            offset: offset as u64,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
