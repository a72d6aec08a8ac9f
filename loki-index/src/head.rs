//! The mutable, concurrent head index.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::error::{Error, Result};
use crate::head_store::HeadStore;
use crate::labels::Labels;
use crate::segment_writer::write_segment;
use parking_lot::{RwLock, RwLockReadGuard};
use std::collections::BTreeSet;

/// Most index periods one chunk may span when splitting by period.
const MAX_PERIODS_PER_CHUNK: i64 = 1024;

/// The in-memory index of recent chunks for one tenant: inserts take a short
/// write lock, queries (through [`crate::Querier`]) a read lock, so both can
/// run concurrently from many threads.
///
/// ```
/// use loki_index::{ChunkRef, HeadIndex, Labels, Segment, TimeRange, DEFAULT_PERIOD_MS};
///
/// let head = HeadIndex::new();
/// let labels = Labels::new([("app", "cart")])?;
/// let chunk = ChunkRef { from: 5, through: 9, checksum: 1, compressed_size: 10, entries: 2, uncompressed_size: 40 };
/// head.insert(&labels, chunk)?;
/// assert_eq!(head.series_count(), 1);
///
/// for (period, bytes) in head.write_segments("tenant-a", DEFAULT_PERIOD_MS)? {
///     let segment = Segment::open(bytes.into())?;
///     assert_eq!(segment.period(), period);
/// }
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct HeadIndex {
    store: RwLock<HeadStore>,
}

impl HeadIndex {
    /// An empty head.
    pub fn new() -> HeadIndex {
        HeadIndex::default()
    }

    /// Records that series `labels` has the chunk `chunk` (idempotent).
    ///
    /// Errors: [`Error::InvalidChunkRef`] if `from > through`, and
    /// [`Error::LimitExceeded`] past 2³¹ series.
    pub fn insert(&self, labels: &Labels, chunk: ChunkRef) -> Result<()> {
        self.store.write().insert(labels, chunk).map(|_| ())
    }

    /// Number of series.
    pub fn series_count(&self) -> u32 {
        self.store.read().series.len() as u32
    }

    /// Serialises the series with chunks overlapping `period` (and only
    /// those chunks) into one segment.
    pub fn write_segment(&self, tenant: &str, period: TimeRange) -> Result<Vec<u8>> {
        write_segment(&self.store.read(), tenant, period)
    }

    /// Splits the head into one segment per index period of `period_ms`
    /// milliseconds (aligned to the Unix epoch, like Loki's index tables).
    /// A chunk spanning a period boundary is written to every period it
    /// overlaps. Returns `(period, segment bytes)` in time order.
    pub fn write_segments(
        &self,
        tenant: &str,
        period_ms: i64,
    ) -> Result<Vec<(TimeRange, Vec<u8>)>> {
        if period_ms <= 0 {
            return Err(Error::InvalidPeriod { period_ms });
        }
        let store = self.store.read();
        let mut periods = BTreeSet::new();
        for s in &store.series {
            for c in s.chunks.as_slice() {
                let (first, last) = (
                    c.from.div_euclid(period_ms),
                    c.through.div_euclid(period_ms),
                );
                if last - first >= MAX_PERIODS_PER_CHUNK {
                    return Err(Error::LimitExceeded {
                        what: "index periods spanned by one chunk",
                        limit: MAX_PERIODS_PER_CHUNK as u64,
                    });
                }
                periods.extend(first..=last);
            }
        }
        periods
            .into_iter()
            .map(|k| {
                let start = k.saturating_mul(period_ms);
                let period = TimeRange::new(start, start.saturating_add(period_ms - 1));
                Ok((period, write_segment(&store, tenant, period)?))
            })
            .collect()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, HeadStore> {
        self.store.read()
    }
}
