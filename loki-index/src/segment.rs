//! Reading an immutable segment straight from its bytes.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::consts::{
    CHUNK_STRIDE, FOOTER_LEN, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_LABEL_LEN, MAX_SERIES,
    MAX_TENANT_LEN, SERIES_STRIDE,
};
use crate::error::{Error, Result};
use crate::labels::{is_valid_name, Labels};
use crate::raw::{Cursor, Footer, SectionRef};
use crate::segment_names::NameView;
use crate::source::SeriesVisitor;
use bytes::Bytes;
use roaring::RoaringBitmap;
use std::sync::OnceLock;

/// TOC entry of one label name.
#[derive(Debug)]
pub(crate) struct NameToc {
    pub(crate) name: String,
    pub(crate) value_count: u32,
    pub(crate) section: SectionRef,
    pub(crate) fst_len: usize,
    pub(crate) all_len: usize,
}

/// The decoded head of the series section.
#[derive(Debug)]
struct SeriesTable {
    schemas: Vec<Vec<u32>>,
    /// Absolute offsets of the row index and of the rows.
    index_at: usize,
    rows_at: usize,
    rows_end: usize,
}

/// Byte counts of the parts of a [`Segment`] (see [`Segment::sizes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSizes {
    /// The whole segment.
    pub total: usize,
    /// Term dictionaries and postings of all label names.
    pub names: usize,
    /// The per-series label rows.
    pub series: usize,
    /// The per-series fingerprints and chunk refs.
    pub chunk_refs: usize,
}

/// An immutable, checksummed index segment for one tenant and period.
///
/// [`Segment::open`] reads only the header, footer and table of contents; the
/// term dictionaries (fst) and postings (roaring) are used in place from the
/// shared [`Bytes`]. Each section's CRC is checked the first time a query
/// touches it, so damaged bytes give [`Error::ChecksumMismatch`] or
/// [`Error::Corrupt`], never a panic. [`Segment::verify`] checks everything
/// up front.
///
/// ```
/// use loki_index::{ChunkRef, Labels, Querier, MatchOp, Matcher, Segment, SegmentBuilder, Selector, TimeRange};
///
/// let mut builder = SegmentBuilder::new();
/// let chunk = ChunkRef { from: 0, through: 10, checksum: 1, compressed_size: 100, entries: 5, uncompressed_size: 400 };
/// builder.add(&Labels::new([("app", "cart"), ("env", "prod")])?, chunk)?;
/// let bytes = builder.build("tenant-a", TimeRange::ALL)?;
///
/// let segment = Segment::open(bytes.into())?;
/// segment.verify()?;
/// assert_eq!(segment.tenant(), "tenant-a");
/// let selector = Selector::new(vec![Matcher::new("app", MatchOp::Equal, "cart")?])?;
/// let found = Querier::new(None, std::slice::from_ref(&segment)).series(Some(&selector), TimeRange::ALL)?;
/// assert_eq!(found.len(), 1);
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug)]
pub struct Segment {
    pub(crate) bytes: Bytes,
    tenant: String,
    period: TimeRange,
    bounds: Option<TimeRange>,
    series_count: u32,
    chunk_count: u64,
    series_section: SectionRef,
    chunk_section: SectionRef,
    pub(crate) names: Vec<NameToc>,
    name_views: Vec<OnceLock<Result<NameView>>>,
    series_table: OnceLock<Result<SeriesTable>>,
    chunks_checked: OnceLock<Result<()>>,
}

impl Segment {
    /// Opens a segment: checks magic, version, footer and TOC checksums and
    /// the TOC's internal consistency. Cost is proportional to the TOC
    /// (a few bytes per label name), not to the segment.
    pub fn open(bytes: Bytes) -> Result<Segment> {
        let seg = &bytes[..];
        if seg.len() < HEADER_LEN + FOOTER_LEN {
            return Err(Error::corrupt("segment too short", seg.len()));
        }
        if seg[..4] != MAGIC {
            return Err(Error::corrupt("header magic", 0));
        }
        let version = u16::from_le_bytes([seg[4], seg[5]]);
        if seg[6..8] != [0, 0] {
            return Err(Error::corrupt("header reserved bytes", 6));
        }
        if version != FORMAT_VERSION {
            return Err(Error::VersionMismatch {
                expected: FORMAT_VERSION,
                got: version,
            });
        }
        let footer = Footer::decode(seg)?;
        let body_end = seg.len() - FOOTER_LEN;
        let toc_at = usize::try_from(footer.toc_offset).unwrap_or(usize::MAX);
        let toc_len = usize::try_from(footer.toc_len).unwrap_or(usize::MAX);
        if toc_at < HEADER_LEN || toc_at > body_end || toc_len != body_end - toc_at {
            return Err(Error::corrupt("footer toc offset", body_end));
        }
        let toc = &seg[toc_at..body_end];
        let computed = crc32fast::hash(toc);
        if computed != footer.toc_crc {
            return Err(Error::ChecksumMismatch {
                what: "toc",
                stored: footer.toc_crc,
                computed,
            });
        }
        let mut c = Cursor::new(toc, toc_at, "toc");
        let tenant = c.str(MAX_TENANT_LEN)?.to_owned();
        let period = TimeRange::new(c.ivarint()?, c.ivarint()?);
        let bounds = match c.u8()? {
            0 => None,
            1 => Some(TimeRange::new(c.ivarint()?, c.ivarint()?)),
            _ => return Err(c.err()),
        };
        let series_count = c.len(MAX_SERIES as usize - 1)? as u32;
        let chunk_count = c.varint()?;
        if (series_count == 0) != bounds.is_none() || chunk_count < series_count as u64 {
            return Err(c.err());
        }
        let series_section = SectionRef::decode(&mut c, HEADER_LEN, toc_at)?;
        let chunk_section = SectionRef::decode(&mut c, HEADER_LEN, toc_at)?;
        let name_count = c.len(c.remaining())?;
        let mut names: Vec<NameToc> = Vec::with_capacity(name_count);
        for _ in 0..name_count {
            let name = c.str(MAX_LABEL_LEN)?.to_owned();
            if !is_valid_name(&name) || names.last().is_some_and(|p| p.name >= name) {
                return Err(c.err());
            }
            let value_count = c.len(series_count as usize)? as u32;
            let section = SectionRef::decode(&mut c, HEADER_LEN, toc_at)?;
            let fst_len = c.len(section.len)?;
            let all_len = c.len(section.len - fst_len)?;
            if value_count == 0 || (value_count as usize) * 4 > section.len - fst_len - all_len {
                return Err(c.err());
            }
            names.push(NameToc {
                name,
                value_count,
                section,
                fst_len,
                all_len,
            });
        }
        if c.remaining() != 0 {
            return Err(c.err());
        }
        let name_views = names.iter().map(|_| OnceLock::new()).collect();
        Ok(Segment {
            bytes,
            tenant,
            period,
            bounds,
            series_count,
            chunk_count,
            series_section,
            chunk_section,
            names,
            name_views,
            series_table: OnceLock::new(),
            chunks_checked: OnceLock::new(),
        })
    }

    /// Checks every section checksum and decodes every structure, so that
    /// later queries cannot hit corruption.
    pub fn verify(&self) -> Result<()> {
        for i in 0..self.names.len() {
            self.name_view(i)?.verify()?;
        }
        for id in 0..self.series_count {
            self.row(id, |_, _| Ok(()))?;
        }
        let mut all = RoaringBitmap::new();
        all.insert_range(0..self.series_count);
        let at = self.chunk_section.offset;
        self.for_each_chunk_row(&all, TimeRange::ALL, &mut |_, _, chunks| {
            if chunks.is_empty() {
                return Err(Error::corrupt("series without chunks", at));
            }
            Ok(())
        })
    }

    /// The tenant the segment belongs to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The index period the segment was written for.
    pub fn period(&self) -> TimeRange {
        self.period
    }

    /// Number of series.
    pub fn series_count(&self) -> u32 {
        self.series_count
    }

    /// Number of chunk refs.
    pub fn chunk_count(&self) -> u64 {
        self.chunk_count
    }

    /// Min `from` and max `through` of all chunk refs (`None` when empty).
    pub fn time_bounds(&self) -> Option<TimeRange> {
        self.bounds
    }

    /// How the segment's bytes divide between its parts.
    ///
    /// ```
    /// # use loki_index::{ChunkRef, Labels, Segment, SegmentBuilder, TimeRange};
    /// # let mut b = SegmentBuilder::new();
    /// # let chunk = ChunkRef { from: 0, through: 1, checksum: 9, compressed_size: 1, entries: 1, uncompressed_size: 1 };
    /// # b.add(&Labels::new([("job", "nginx")])?, chunk)?;
    /// let segment = Segment::open(b.build("t", TimeRange::ALL)?.into())?;
    /// let sizes = segment.sizes();
    /// assert!(sizes.names + sizes.series + sizes.chunk_refs < sizes.total);
    /// # Ok::<(), loki_index::Error>(())
    /// ```
    pub fn sizes(&self) -> SegmentSizes {
        SegmentSizes {
            total: self.bytes.len(),
            names: self.names.iter().map(|n| n.section.len).sum(),
            series: self.series_section.len,
            chunk_refs: self.chunk_section.len,
        }
    }

    /// The segment bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub(crate) fn name_index(&self, name: &str) -> Option<usize> {
        self.names
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
    }

    /// The checked view of name `i`'s section, built on first use.
    pub(crate) fn name_view(&self, i: usize) -> Result<&NameView> {
        self.name_views[i]
            .get_or_init(|| NameView::open(self, &self.names[i]))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn series_table(&self) -> Result<&SeriesTable> {
        self.series_table
            .get_or_init(|| {
                let s = self.series_section;
                let bytes = s.checked(&self.bytes, "series section")?;
                let mut c = Cursor::new(bytes, s.offset, "series schemas");
                let count = c.len(c.remaining())?;
                let mut schemas = Vec::with_capacity(count);
                for _ in 0..count {
                    let n = c.len(self.names.len())?;
                    let mut schema = Vec::with_capacity(n);
                    for _ in 0..n {
                        let name = c.len(self.names.len() - 1)? as u32;
                        if schema.last().is_some_and(|&p| p >= name) {
                            return Err(c.err());
                        }
                        schema.push(name);
                    }
                    schemas.push(schema);
                }
                let index_len = (self.series_count.div_ceil(SERIES_STRIDE) as usize) * 4;
                c.bytes(index_len)?;
                let index_at = s.offset + c.pos() - index_len;
                Ok(SeriesTable {
                    schemas,
                    index_at,
                    rows_at: s.offset + c.pos(),
                    rows_end: s.offset + s.len,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Decodes the label row of series `id`, calling `f(name index, ordinal)`
    /// for each label in name order.
    pub(crate) fn row(&self, id: u32, mut f: impl FnMut(usize, u32) -> Result<()>) -> Result<()> {
        let t = self.series_table()?;
        if id >= self.series_count {
            return Err(Error::corrupt("series id out of range", t.rows_at));
        }
        let block = (id / SERIES_STRIDE) as usize;
        let at = t.index_at + block * 4;
        let off = u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]);
        let rows = &self.bytes[t.rows_at..t.rows_end];
        let mut c = Cursor::new(rows, t.rows_at, "series row");
        c.seek(off as usize)?;
        for skip in 0..=(id % SERIES_STRIDE) {
            let schema = t
                .schemas
                .get(c.len(t.schemas.len())?)
                .ok_or_else(|| c.err())?;
            for &name in schema {
                let ord = c.varint()?;
                if ord >= self.names[name as usize].value_count as u64 {
                    return Err(c.err());
                }
                if skip == id % SERIES_STRIDE {
                    f(name as usize, ord as u32)?;
                }
            }
        }
        Ok(())
    }

    /// The value string of ordinal `ord` of name `i`.
    pub(crate) fn value(&self, i: usize, ord: u32) -> Result<String> {
        self.name_view(i)?.value(ord)
    }

    pub(crate) fn labels_of(&self, id: u32) -> Result<Labels> {
        let mut pairs = Vec::new();
        self.row(id, |name, ord| {
            pairs.push((self.names[name].name.clone(), self.value(name, ord)?));
            Ok(())
        })?;
        if pairs.is_empty() {
            return Err(Error::corrupt(
                "series without labels",
                self.series_section.offset,
            ));
        }
        Ok(Labels::from_sorted_unchecked(pairs))
    }

    /// A cursor at the start of chunk row `id`.
    fn chunk_cursor(&self, id: u32) -> Result<Cursor<'_>> {
        let s = self.chunk_section;
        self.chunks_checked
            .get_or_init(|| s.checked(&self.bytes, "chunk section").map(|_| ()))
            .as_ref()
            .map_err(Clone::clone)?;
        let index_len = self.series_count.div_ceil(CHUNK_STRIDE) as usize * 8;
        if id >= self.series_count || index_len > s.len {
            return Err(Error::corrupt("chunk index", s.offset));
        }
        let at = s.offset + (id / CHUNK_STRIDE) as usize * 8;
        let mut c = Cursor::new(&self.bytes[at..at + 8], at, "chunk index");
        let off = c.u64()?;
        let rows = &self.bytes[s.offset + index_len..s.offset + s.len];
        let mut c = Cursor::new(rows, s.offset + index_len, "chunk row");
        c.seek(usize::try_from(off).unwrap_or(usize::MAX))?;
        for _ in 0..id % CHUNK_STRIDE {
            read_chunk_row(&mut c, None)?;
        }
        Ok(c)
    }

    /// Calls `f(id, fingerprint, chunks overlapping range)` for every series
    /// of `ids`, decoding rows sequentially where ids are close together.
    pub(crate) fn for_each_chunk_row(
        &self,
        ids: &RoaringBitmap,
        range: TimeRange,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut at: Option<(u32, Cursor<'_>)> = None;
        for id in ids {
            let mut c = match at.take() {
                // Walking forward costs no more than seeking from the index.
                Some((next, mut c)) if next <= id && id - next <= id % CHUNK_STRIDE => {
                    for _ in next..id {
                        read_chunk_row(&mut c, None)?;
                    }
                    c
                }
                _ => self.chunk_cursor(id)?,
            };
            buf.clear();
            let fp = read_chunk_row(&mut c, Some((range, &mut buf)))?;
            f(id, fp, &buf)?;
            at = Some((id + 1, c));
        }
        Ok(())
    }

    /// Appends the chunks of series `id` overlapping `range`.
    pub(crate) fn chunk_row(
        &self,
        id: u32,
        range: TimeRange,
        out: &mut Vec<ChunkRef>,
    ) -> Result<()> {
        read_chunk_row(&mut self.chunk_cursor(id)?, Some((range, out))).map(|_| ())
    }
}

/// Reads one chunk row, appending the chunks overlapping the range to the
/// vector if one is given; returns the fingerprint.
#[inline]
fn read_chunk_row(
    c: &mut Cursor<'_>,
    mut out: Option<(TimeRange, &mut Vec<ChunkRef>)>,
) -> Result<u64> {
    let fp = c.u64()?;
    let n = c.len(c.remaining())?;
    let mut prev = 0;
    for _ in 0..n {
        let chunk = read_chunk(c, prev)?;
        prev = chunk.from;
        if let Some((range, out)) = &mut out {
            if chunk.overlaps(*range) {
                out.push(chunk);
            }
        }
    }
    Ok(fp)
}

#[inline]
fn read_chunk(c: &mut Cursor<'_>, prev_from: i64) -> Result<ChunkRef> {
    let from = prev_from.wrapping_add(c.ivarint()?);
    let through = from.wrapping_add(c.ivarint()?);
    let checksum = c.u32()?;
    let compressed_size = u32::try_from(c.varint()?).map_err(|_| c.err())?;
    let entries = u32::try_from(c.varint()?).map_err(|_| c.err())?;
    let uncompressed_size = c.varint()?;
    if through < from {
        return Err(c.err());
    }
    Ok(ChunkRef {
        from,
        through,
        checksum,
        compressed_size,
        entries,
        uncompressed_size,
    })
}
