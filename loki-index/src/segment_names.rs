//! One label name of a segment: its fst term dictionary and postings, used in
//! place, and how matcher cores are resolved against them.

use crate::consts::INLINE_POSTING_BIT;
use crate::error::{Error, Result};
use crate::matcher::Core;
use crate::regex_plan::{prefix_successor, DfaAutomaton, Plan};
use crate::segment::{NameToc, Segment};
use bytes::Bytes;
use fst::{IntoStreamer, Streamer};
use roaring::RoaringBitmap;

/// A checked view of one name section (see the `raw` module).
#[derive(Debug)]
pub(crate) struct NameView {
    /// Values → ordinals.
    fst: fst::Map<Bytes>,
    /// Every series that has the name.
    pub(crate) all: RoaringBitmap,
    /// The postings directory and blob (a slice of the segment).
    dir: Bytes,
    blob: Bytes,
    /// Absolute offset of `dir`, for error reports.
    dir_at: usize,
    value_count: u32,
    series_count: u32,
}

impl NameView {
    /// Checks the section CRC and the fst checksum, then decodes the
    /// all-series bitmap. Everything else stays in place.
    pub(crate) fn open(seg: &Segment, toc: &NameToc) -> Result<NameView> {
        let s = toc.section;
        s.checked(&seg.bytes, "name section")?;
        let corrupt = |what, at| Error::corrupt(what, at);
        let fst_bytes = seg.bytes.slice(s.offset..s.offset + toc.fst_len);
        let fst = fst::Map::new(fst_bytes).map_err(|_| corrupt("fst header", s.offset))?;
        fst.as_fst()
            .verify()
            .map_err(|_| corrupt("fst checksum", s.offset))?;
        if fst.len() != toc.value_count as usize {
            return Err(corrupt("fst length", s.offset));
        }
        let all_at = s.offset + toc.fst_len;
        let all = RoaringBitmap::deserialize_from(&seg.bytes[all_at..all_at + toc.all_len])
            .map_err(|_| corrupt("all-series bitmap", all_at))?;
        if all.max().is_some_and(|m| m >= seg.series_count()) || all.is_empty() {
            return Err(corrupt("all-series bitmap", all_at));
        }
        let dir_at = all_at + toc.all_len;
        let blob_at = dir_at + toc.value_count as usize * 4;
        Ok(NameView {
            fst,
            all,
            dir: seg.bytes.slice(dir_at..blob_at),
            blob: seg.bytes.slice(blob_at..s.offset + s.len),
            dir_at,
            value_count: toc.value_count,
            series_count: seg.series_count(),
        })
    }

    /// Adds the postings of ordinal `ord` to `out`.
    pub(crate) fn postings_into(&self, ord: u64, out: &mut RoaringBitmap) -> Result<()> {
        if ord >= self.value_count as u64 {
            return Err(Error::corrupt("fst output out of range", self.dir_at));
        }
        let at = ord as usize * 4;
        let entry = u32::from_le_bytes([
            self.dir[at],
            self.dir[at + 1],
            self.dir[at + 2],
            self.dir[at + 3],
        ]);
        if entry & INLINE_POSTING_BIT != 0 {
            let id = entry & !INLINE_POSTING_BIT;
            if id >= self.series_count {
                return Err(Error::corrupt("inline posting", self.dir_at + at));
            }
            out.insert(id);
            return Ok(());
        }
        let off = entry as usize;
        let bad = || Error::corrupt("postings bitmap", self.dir_at + self.dir.len() + off);
        let bytes = self.blob.get(off..).ok_or_else(bad)?;
        let bitmap = RoaringBitmap::deserialize_from(bytes).map_err(|_| bad())?;
        if bitmap.max().is_some_and(|m| m >= self.series_count) {
            return Err(bad());
        }
        *out |= bitmap;
        Ok(())
    }

    /// Whether the postings of `ord` share a series with `ids`.
    fn intersects(&self, ord: u64, ids: &RoaringBitmap) -> Result<bool> {
        let mut p = RoaringBitmap::new();
        self.postings_into(ord, &mut p)?;
        Ok(!p.is_disjoint(ids))
    }

    /// The value with ordinal `ord`.
    pub(crate) fn value(&self, ord: u32) -> Result<String> {
        let bad = || Error::corrupt("fst reverse lookup", self.dir_at);
        let key = self.fst.as_fst().get_key(ord as u64).ok_or_else(bad)?;
        String::from_utf8(key).map_err(|_| bad())
    }

    /// Union of the postings of the values `core` accepts.
    pub(crate) fn core_postings(&self, core: &Core) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        match core {
            Core::Exact(v) => {
                if let Some(ord) = self.fst.get(v) {
                    self.postings_into(ord, &mut out)?;
                }
            }
            Core::Regex {
                plan,
                regex,
                prefixes,
            } => match plan {
                Plan::Any | Plan::NonEmpty => out = self.all.clone(),
                Plan::Literals(lits) => {
                    for lit in lits {
                        if let Some(ord) = self.fst.get(lit) {
                            self.postings_into(ord, &mut out)?;
                        }
                    }
                }
                Plan::Prefixes {
                    prefixes,
                    non_empty_rest,
                } => {
                    for p in prefixes {
                        self.prefix_range(p, &mut out, |key| {
                            !(*non_empty_rest && key.len() == p.len())
                        })?;
                    }
                }
                Plan::Automaton(dfa) => {
                    let mut stream = self.fst.search(DfaAutomaton(dfa)).into_stream();
                    while let Some((_, ord)) = stream.next() {
                        self.postings_into(ord, &mut out)?;
                    }
                }
                Plan::Scan if prefixes.is_some() => {
                    for p in prefixes.iter().flatten() {
                        self.prefix_range(p, &mut out, |key| {
                            std::str::from_utf8(key).is_ok_and(|k| regex.is_match(k))
                        })?;
                    }
                }
                Plan::Scan => {
                    let mut stream = self.fst.stream();
                    while let Some((key, ord)) = stream.next() {
                        if std::str::from_utf8(key).is_ok_and(|k| regex.is_match(k)) {
                            self.postings_into(ord, &mut out)?;
                        }
                    }
                }
            },
        }
        Ok(out)
    }

    /// Adds the postings of the values starting with `prefix` that `accept`
    /// takes: one fst range scan.
    fn prefix_range(
        &self,
        prefix: &[u8],
        out: &mut RoaringBitmap,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Result<()> {
        let range = self.fst.range().ge(prefix);
        let mut stream = match prefix_successor(prefix) {
            Some(end) => range.lt(end).into_stream(),
            None => range.into_stream(),
        };
        while let Some((key, ord)) = stream.next() {
            if accept(key) {
                self.postings_into(ord, out)?;
            }
        }
        Ok(())
    }

    /// All values, sorted.
    pub(crate) fn values(&self) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(self.value_count as usize);
        let mut stream = self.fst.stream();
        while let Some((key, _)) = stream.next() {
            let s = std::str::from_utf8(key).map_err(|_| Error::corrupt("fst key", self.dir_at))?;
            out.push(s.to_owned());
        }
        Ok(out)
    }

    /// Values whose postings share a series with `ids`, sorted.
    pub(crate) fn values_in(&self, ids: &RoaringBitmap) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stream = self.fst.stream();
        while let Some((key, ord)) = stream.next() {
            if self.intersects(ord, ids)? {
                let s =
                    std::str::from_utf8(key).map_err(|_| Error::corrupt("fst key", self.dir_at))?;
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }

    /// Decodes every value and posting list.
    pub(crate) fn verify(&self) -> Result<()> {
        let mut stream = self.fst.stream();
        let mut expected = 0u64;
        let mut union = RoaringBitmap::new();
        while let Some((key, ord)) = stream.next() {
            if ord != expected || key.is_empty() || std::str::from_utf8(key).is_err() {
                return Err(Error::corrupt("fst entry", self.dir_at));
            }
            self.postings_into(ord, &mut union)?;
            expected += 1;
        }
        if union != self.all {
            return Err(Error::corrupt(
                "all-series bitmap disagrees with postings",
                self.dir_at,
            ));
        }
        Ok(())
    }
}
