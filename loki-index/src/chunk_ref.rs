//! Chunk references and time ranges.

use crate::error::{Error, Result};

/// A reference to one stored chunk of a series, as kept in the index.
///
/// Times are Unix **milliseconds**, like Loki's chunk keys
/// (`<tenant>/<fp>/<from>:<through>:<checksum>`): `from` is the floor of the
/// first entry, `through` the ceiling of the last one. Sizes are in bytes.
///
/// ```
/// use loki_index::{ChunkRef, TimeRange};
///
/// let chunk = ChunkRef {
///     from: 1_000,
///     through: 2_000,
///     checksum: 0x3c5a_0e91,
///     compressed_size: 512,
///     entries: 10,
///     uncompressed_size: 4096,
/// };
/// assert!(chunk.overlaps(TimeRange::new(1_500, 9_000)));
/// assert!(!chunk.overlaps(TimeRange::new(2_001, 9_000)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef {
    /// First entry time (ms, inclusive).
    pub from: i64,
    /// Last entry time (ms, inclusive).
    pub through: i64,
    /// CRC-32C of the chunk object; with the fingerprint and times it forms the key.
    pub checksum: u32,
    /// Size of the stored (compressed) chunk object.
    pub compressed_size: u32,
    /// Number of log entries in the chunk.
    pub entries: u32,
    /// Sum of the uncompressed entry bytes.
    pub uncompressed_size: u64,
}

impl ChunkRef {
    /// Whether the chunk has data in `range` (both ends inclusive).
    pub fn overlaps(&self, range: TimeRange) -> bool {
        self.from <= range.end && self.through >= range.start
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.from > self.through {
            return Err(Error::InvalidChunkRef {
                reason: "from is after through",
            });
        }
        Ok(())
    }
}

/// An inclusive time range in Unix milliseconds.
///
/// ```
/// use loki_index::TimeRange;
///
/// assert!(TimeRange::ALL.contains(&TimeRange::new(0, 10)));
/// assert!(TimeRange::new(10, 5).is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// First millisecond (inclusive).
    pub start: i64,
    /// Last millisecond (inclusive).
    pub end: i64,
}

impl TimeRange {
    /// Every representable time.
    pub const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// `[start, end]`, both inclusive.
    pub const fn new(start: i64, end: i64) -> TimeRange {
        TimeRange { start, end }
    }

    /// Whether the range holds no time at all.
    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(&self, other: &TimeRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two ranges share at least one millisecond.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start <= other.end && other.start <= self.end
    }
}
