//! Building segments from label sets, and merging segments (compaction).

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::error::Result;
use crate::head_store::HeadStore;
use crate::labels::Labels;
use crate::segment::Segment;
use crate::segment_writer::write_segment;

/// Collects series and chunk refs, then writes one segment.
///
/// ```
/// use loki_index::{ChunkRef, Labels, Segment, SegmentBuilder, TimeRange};
///
/// let mut b = SegmentBuilder::new();
/// let chunk = ChunkRef { from: 0, through: 1, checksum: 9, compressed_size: 1, entries: 1, uncompressed_size: 1 };
/// b.add(&Labels::new([("job", "nginx")])?, chunk)?;
/// let segment = Segment::open(b.build("t", TimeRange::ALL)?.into())?;
/// assert_eq!((segment.series_count(), segment.chunk_count()), (1, 1));
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    store: HeadStore,
}

impl SegmentBuilder {
    /// An empty builder.
    pub fn new() -> SegmentBuilder {
        SegmentBuilder::default()
    }

    /// Adds a chunk ref of series `labels` (duplicates are kept once).
    pub fn add(&mut self, labels: &Labels, chunk: ChunkRef) -> Result<()> {
        self.store.insert(labels, chunk).map(|_| ())
    }

    /// Adds every series and chunk ref of `segment` for which `is_deleted`
    /// returns false. Series left without chunks disappear.
    pub fn add_segment(
        &mut self,
        segment: &Segment,
        mut is_deleted: impl FnMut(&Labels, &ChunkRef) -> bool,
    ) -> Result<()> {
        let mut chunks = Vec::new();
        for id in 0..segment.series_count() {
            let labels = segment.labels_of(id)?;
            chunks.clear();
            segment.chunk_row(id, TimeRange::ALL, &mut chunks)?;
            for chunk in &chunks {
                if !is_deleted(&labels, chunk) {
                    self.store.insert(&labels, *chunk)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the series with chunks overlapping `period` (only those
    /// chunks) as a segment for `tenant`.
    pub fn build(&self, tenant: &str, period: TimeRange) -> Result<Vec<u8>> {
        write_segment(&self.store, tenant, period)
    }
}

/// Merges `segments` into one segment for `tenant` and `period`, dropping
/// the chunk refs for which `is_deleted` returns true (retention, deletes).
///
/// ```
/// use loki_index::{merge_segments, ChunkRef, Labels, Segment, SegmentBuilder, TimeRange};
///
/// let chunk = |checksum| ChunkRef { from: 0, through: 1, checksum, compressed_size: 1, entries: 1, uncompressed_size: 1 };
/// let mut parts = Vec::new();
/// for checksum in [1, 2] {
///     let mut b = SegmentBuilder::new();
///     b.add(&Labels::new([("job", "nginx")])?, chunk(checksum))?;
///     parts.push(Segment::open(b.build("t", TimeRange::ALL)?.into())?);
/// }
/// let merged = merge_segments(&parts, "t", TimeRange::ALL, |_, c| c.checksum == 2)?;
/// let merged = Segment::open(merged.into())?;
/// assert_eq!((merged.series_count(), merged.chunk_count()), (1, 1));
/// # Ok::<(), loki_index::Error>(())
/// ```
pub fn merge_segments(
    segments: &[Segment],
    tenant: &str,
    period: TimeRange,
    mut is_deleted: impl FnMut(&Labels, &ChunkRef) -> bool,
) -> Result<Vec<u8>> {
    let mut builder = SegmentBuilder::new();
    for segment in segments {
        builder.add_segment(segment, &mut is_deleted)?;
    }
    builder.build(tenant, period)
}
