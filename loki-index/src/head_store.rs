//! The interned, mutable series store behind the head index and the segment
//! builder.
//!
//! Memory per series is kept small by interning: a series holds its
//! fingerprint, the global ids of its label values and its chunk refs; each
//! distinct value is stored once with its postings. Series ids are handed out
//! in increasing order, so a value seen by one series keeps that id inline
//! and only values shared by several series pay for a roaring bitmap.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::consts::MAX_SERIES;
use crate::error::{Error, Result};
use crate::head_prefilter::{value_key, KeyFilter};
use crate::labels::Labels;
use crate::matcher::Core;
use crate::regex_plan::Plan;
use crate::source::{accepts_all_stored, SeriesVisitor, Source};
use hashbrown::{DefaultHashBuilder, HashTable};
use roaring::RoaringBitmap;
use std::collections::BTreeSet;
use std::hash::BuildHasher;

/// The series ids holding one label value.
#[derive(Debug)]
pub(crate) enum Postings {
    /// Exactly one series.
    One(u32),
    /// Two or more series.
    Many(Box<RoaringBitmap>),
}

impl Postings {
    fn add(&mut self, id: u32) {
        match self {
            Postings::One(first) => {
                let mut b = RoaringBitmap::new();
                b.insert(*first);
                b.insert(id);
                *self = Postings::Many(Box::new(b));
            }
            Postings::Many(b) => {
                b.insert(id);
            }
        }
    }

    pub(crate) fn union_into(&self, out: &mut RoaringBitmap) {
        match self {
            Postings::One(id) => {
                out.insert(*id);
            }
            Postings::Many(b) => *out |= &**b,
        }
    }

    fn intersects(&self, ids: &RoaringBitmap) -> bool {
        match self {
            Postings::One(id) => ids.contains(*id),
            Postings::Many(b) => !b.is_disjoint(ids),
        }
    }
}

#[derive(Debug)]
pub(crate) struct NameEntry {
    pub(crate) name: Box<str>,
    /// Global value ids of this name, hashed by value string.
    values: HashTable<u32>,
    /// Every series that has this name.
    all: RoaringBitmap,
}

#[derive(Debug)]
pub(crate) struct ValueEntry {
    pub(crate) name: u32,
    /// The value is `strings[at..at + len]`.
    at: u32,
    len: u32,
    pub(crate) postings: Postings,
}

#[derive(Debug)]
pub(crate) struct SeriesEntry {
    pub(crate) fingerprint: u64,
    /// The global value ids, in label-name order, are
    /// `label_arena[at..at + len]`.
    at: u32,
    len: u32,
    pub(crate) chunks: Chunks,
}

/// The chunk refs of a head series. Most series hold one chunk, kept inline
/// so that the series entry is one cache line and needs no allocation.
#[derive(Debug)]
pub(crate) enum Chunks {
    One(ChunkRef),
    Many(Vec<ChunkRef>),
}

impl Chunks {
    pub(crate) fn as_slice(&self) -> &[ChunkRef] {
        match self {
            Chunks::One(c) => std::slice::from_ref(c),
            Chunks::Many(v) => v,
        }
    }

    /// Adds `chunk` unless already present.
    fn add(&mut self, chunk: ChunkRef) {
        if self.as_slice().contains(&chunk) {
            return;
        }
        match self {
            Chunks::One(first) => {
                let mut v = Vec::with_capacity(2);
                v.extend([*first, chunk]);
                *self = Chunks::Many(v);
            }
            Chunks::Many(v) => {
                // Grow by half instead of doubling: series hold few chunks
                // and chunk refs are most of the head's memory.
                if v.len() == v.capacity() {
                    v.reserve_exact(v.len() / 2);
                }
                v.push(chunk);
            }
        }
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct HeadStore {
    hasher: DefaultHashBuilder,
    pub(crate) names: Vec<NameEntry>,
    pub(crate) values: Vec<ValueEntry>,
    /// The [`value_key`] of each value, by value id: scanned for prefixes.
    keys: Vec<u32>,
    pub(crate) series: Vec<SeriesEntry>,
    /// All value strings, back to back (one allocation instead of one each).
    strings: String,
    /// All series' value ids, back to back.
    label_arena: Vec<u32>,
    /// Series ids hashed by fingerprint.
    by_fp: HashTable<u32>,
    bounds: Option<TimeRange>,
}

impl HeadStore {
    /// Adds `chunk` to the series `labels`, creating the series if needed.
    pub(crate) fn insert(&mut self, labels: &Labels, chunk: ChunkRef) -> Result<u32> {
        chunk.validate()?;
        let fp = labels.fingerprint();
        let id = match self.find(fp, labels) {
            Some(id) => {
                self.series[id as usize].chunks.add(chunk);
                id
            }
            None => self.create(fp, labels, chunk)?,
        };
        self.bounds = Some(match self.bounds {
            None => TimeRange::new(chunk.from, chunk.through),
            Some(b) => TimeRange::new(b.start.min(chunk.from), b.end.max(chunk.through)),
        });
        Ok(id)
    }

    pub(crate) fn find(&self, fp: u64, labels: &Labels) -> Option<u32> {
        self.by_fp
            .find(fp, |&id| {
                let s = &self.series[id as usize];
                let vids = self.series_values(id);
                s.fingerprint == fp
                    && vids.len() == labels.len()
                    && vids.iter().zip(labels.iter()).all(|(&vid, (n, v))| {
                        self.value_str(vid) == v
                            && &*self.names[self.values[vid as usize].name as usize].name == n
                    })
            })
            .copied()
    }

    fn create(&mut self, fp: u64, labels: &Labels, chunk: ChunkRef) -> Result<u32> {
        if self.series.len() >= MAX_SERIES as usize {
            return Err(Error::LimitExceeded {
                what: "series per index",
                limit: MAX_SERIES as u64,
            });
        }
        let id = self.series.len() as u32;
        let at = arena_offset(self.label_arena.len() + labels.len())? - labels.len() as u32;
        for (name, value) in labels.iter() {
            let nid = self.intern_name(name);
            let vid = self.intern_value(nid, value, id)?;
            self.label_arena.push(vid);
            self.names[nid as usize].all.insert(id);
        }
        self.series.push(SeriesEntry {
            fingerprint: fp,
            at,
            len: labels.len() as u32,
            chunks: Chunks::One(chunk),
        });
        let series = &self.series;
        self.by_fp
            .insert_unique(fp, id, |&i| series[i as usize].fingerprint);
        Ok(id)
    }

    fn name_id(&self, name: &str) -> Option<u32> {
        self.names
            .iter()
            .position(|n| &*n.name == name)
            .map(|i| i as u32)
    }

    fn intern_name(&mut self, name: &str) -> u32 {
        self.name_id(name).unwrap_or_else(|| {
            self.names.push(NameEntry {
                name: name.into(),
                values: HashTable::new(),
                all: RoaringBitmap::new(),
            });
            (self.names.len() - 1) as u32
        })
    }

    fn value_id(&self, nid: u32, value: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(value);
        self.names[nid as usize]
            .values
            .find(hash, |&vid| self.value_str(vid) == value)
            .copied()
    }

    /// Interns `value` under name `nid` and adds series `id` to its postings.
    fn intern_value(&mut self, nid: u32, value: &str, id: u32) -> Result<u32> {
        if let Some(vid) = self.value_id(nid, value) {
            self.values[vid as usize].postings.add(id);
            return Ok(vid);
        }
        let vid = self.values.len() as u32;
        let at = arena_offset(self.strings.len() + value.len())? - value.len() as u32;
        self.strings.push_str(value);
        self.values.push(ValueEntry {
            name: nid,
            at,
            len: value.len() as u32,
            postings: Postings::One(id),
        });
        let table_hash = self.hasher.hash_one(value);
        self.keys.push(value_key(value.as_bytes()));
        // Split borrows: the table grows while rehashing reads the arena.
        let HeadStore {
            names,
            hasher,
            values,
            strings,
            ..
        } = self;
        names[nid as usize]
            .values
            .insert_unique(table_hash, vid, |&v| {
                let e = &values[v as usize];
                hasher.hash_one(&strings[e.at as usize..(e.at + e.len) as usize])
            });
        Ok(vid)
    }

    /// The string of global value `vid`.
    pub(crate) fn value_str(&self, vid: u32) -> &str {
        let e = &self.values[vid as usize];
        &self.strings[e.at as usize..(e.at + e.len) as usize]
    }

    /// The global value ids of series `id`, in label-name order.
    pub(crate) fn series_values(&self, id: u32) -> &[u32] {
        let s = &self.series[id as usize];
        &self.label_arena[s.at as usize..(s.at + s.len) as usize]
    }

    /// The global value ids of name `name`.
    fn name_values(&self, name: &str) -> impl Iterator<Item = u32> + '_ {
        self.name_id(name)
            .into_iter()
            .flat_map(move |nid| self.names[nid as usize].values.iter().copied())
    }

    /// Union of the postings of the values of `nid` accepted by `accept`,
    /// testing only values that may start with one of `prefixes` (any value
    /// for `None`).
    ///
    /// A name holding many of all values is scanned in arena order (kind to
    /// caches), with prefixes over the contiguous value keys; a small one
    /// through its hash table.
    fn scan_postings(
        &self,
        nid: u32,
        prefixes: Option<&[Vec<u8>]>,
        accept: impl Fn(&str) -> bool,
    ) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let name = &self.names[nid as usize];
        let mut visit = |vid: u32| {
            let e = &self.values[vid as usize];
            if e.name == nid && accept(self.value_str(vid)) {
                e.postings.union_into(&mut out);
            }
        };
        if name.values.len() * 4 <= self.values.len() {
            name.values.iter().for_each(|&vid| visit(vid));
        } else if let Some(prefixes) = prefixes {
            KeyFilter::new(prefixes).for_each_candidate(&self.keys, |vid| visit(vid as u32));
        } else {
            (0..self.values.len() as u32).for_each(visit);
        }
        out
    }
}

/// Checks that an arena of `len` entries can be addressed with `u32`.
fn arena_offset(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::LimitExceeded {
        what: "head index arena size",
        limit: u32::MAX as u64,
    })
}

impl Source for HeadStore {
    fn series_count(&self) -> u32 {
        self.series.len() as u32
    }

    fn time_bounds(&self) -> Option<TimeRange> {
        self.bounds
    }

    fn name_postings(&self, name: &str) -> Result<RoaringBitmap> {
        Ok(self
            .name_id(name)
            .map(|nid| self.names[nid as usize].all.clone())
            .unwrap_or_default())
    }

    fn core_postings(&self, name: &str, core: &Core) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let Some(nid) = self.name_id(name) else {
            return Ok(out);
        };
        let exact = |v: &[u8], out: &mut RoaringBitmap| {
            if let Some(vid) = std::str::from_utf8(v)
                .ok()
                .and_then(|v| self.value_id(nid, v))
            {
                self.values[vid as usize].postings.union_into(out);
            }
        };
        match core {
            Core::Exact(v) => exact(v.as_bytes(), &mut out),
            Core::Regex {
                plan: Plan::Literals(lits),
                ..
            } => {
                for lit in lits {
                    exact(lit, &mut out);
                }
            }
            c if accepts_all_stored(c) => return self.name_postings(name),
            Core::Regex {
                plan:
                    Plan::Prefixes {
                        prefixes,
                        non_empty_rest,
                    },
                ..
            } => {
                out = self.scan_postings(nid, Some(prefixes), |v| {
                    prefixes.iter().any(|p| {
                        v.as_bytes().starts_with(p) && (!non_empty_rest || v.len() > p.len())
                    })
                });
            }
            Core::Regex {
                prefixes, regex, ..
            } => out = self.scan_postings(nid, prefixes.as_deref(), |v| regex.is_match(v)),
        }
        Ok(out)
    }

    fn labels(&self, id: u32) -> Result<Labels> {
        let pairs = self
            .series_values(id)
            .iter()
            .map(|&vid| {
                let name = &self.names[self.values[vid as usize].name as usize].name;
                (name.to_string(), self.value_str(vid).to_owned())
            })
            .collect();
        Ok(Labels::from_sorted_unchecked(pairs))
    }

    fn names_of(&self, id: u32, out: &mut BTreeSet<String>) -> Result<()> {
        for &vid in self.series_values(id) {
            let name = &self.names[self.values[vid as usize].name as usize].name;
            if !out.contains(&**name) {
                out.insert(name.to_string());
            }
        }
        Ok(())
    }

    fn value_of(&self, id: u32, name: &str) -> Result<Option<String>> {
        Ok(self.series_values(id).iter().find_map(|&vid| {
            let nid = self.values[vid as usize].name;
            (&*self.names[nid as usize].name == name).then(|| self.value_str(vid).to_owned())
        }))
    }

    fn for_each_series(
        &self,
        ids: &RoaringBitmap,
        range: TimeRange,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        for id in ids {
            let s = &self.series[id as usize];
            if range == TimeRange::ALL {
                f(id, s.fingerprint, s.chunks.as_slice())?;
            } else {
                buf.clear();
                buf.extend(s.chunks.as_slice().iter().filter(|c| c.overlaps(range)));
                f(id, s.fingerprint, &buf)?;
            }
        }
        Ok(())
    }

    fn all_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.names.iter().map(|n| n.name.to_string()).collect();
        names.sort_unstable();
        Ok(names)
    }

    fn value_count(&self, name: &str) -> Result<u64> {
        Ok(self
            .name_id(name)
            .map_or(0, |nid| self.names[nid as usize].values.len() as u64))
    }

    fn all_values(&self, name: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .name_values(name)
            .map(|vid| self.value_str(vid).to_owned())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn values_in(&self, name: &str, ids: &RoaringBitmap) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .name_values(name)
            .filter(|&vid| self.values[vid as usize].postings.intersects(ids))
            .map(|vid| self.value_str(vid).to_owned())
            .collect();
        out.sort_unstable();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{MatchOp, Matcher};

    /// Every scan path (hash table, arena, arena with key prefilter) answers
    /// like testing each series: `pod` holds most values, `app` few.
    #[test]
    fn scans_agree_with_brute_force() {
        let pods = [
            "checkout-1",
            "checkout-22",
            "check",
            "chec",
            "che",
            "c",
            "cart-9",
            "é-1",
            "éé",
            "f.o-x",
            "fxo",
            "a\n",
            "a",
            "ab\0",
            "ab",
        ];
        let apps = ["checkout", "cart", "é", "f.o"];
        let mut store = HeadStore::default();
        let chunk = ChunkRef {
            from: 0,
            through: 1,
            checksum: 0,
            compressed_size: 1,
            entries: 1,
            uncompressed_size: 1,
        };
        let mut series = Vec::new();
        for (i, pod) in pods.iter().enumerate() {
            let labels = Labels::new([("pod", *pod), ("app", apps[i % apps.len()])]).unwrap();
            store.insert(&labels, chunk).unwrap();
            series.push(labels);
        }
        let patterns = [
            "checkout-.*",
            "chec.*",
            "che.+",
            "c.*",
            "é.*",
            r"f\.o.*",
            "f.o.*",
            "(a|ab).*",
            "ab\0?",
            "a.",
            "(checkout|cart)-[0-9]+",
            "check(out)?.*2",
            "(a|b|c|d|e|f|g|h|i|é)-?.*",
            ".*o.*",
            "x.*",
        ];
        for pattern in patterns {
            for name in ["pod", "app"] {
                let m = Matcher::new(name, MatchOp::Regex, pattern).unwrap();
                let got = store.core_postings(name, m.core()).unwrap();
                let want: RoaringBitmap = (0..series.len() as u32)
                    .filter(|&id| {
                        let v = series[id as usize].get(name).unwrap();
                        m.matches_value(v)
                    })
                    .collect();
                assert_eq!(got, want, "{name}=~{pattern:?}");
            }
        }
    }
}
