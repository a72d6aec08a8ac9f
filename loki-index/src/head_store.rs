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
use crate::labels::Labels;
use crate::matcher::Core;
use crate::regex_plan::Plan;
use crate::source::{accepts_all_stored, Source};
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
    pub(crate) value: Box<str>,
    pub(crate) postings: Postings,
}

#[derive(Debug)]
pub(crate) struct SeriesEntry {
    pub(crate) fingerprint: u64,
    /// Global value ids, in label-name order.
    pub(crate) values: Box<[u32]>,
    pub(crate) chunks: Vec<ChunkRef>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct HeadStore {
    hasher: DefaultHashBuilder,
    pub(crate) names: Vec<NameEntry>,
    pub(crate) values: Vec<ValueEntry>,
    pub(crate) series: Vec<SeriesEntry>,
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
            Some(id) => id,
            None => self.create(fp, labels)?,
        };
        let chunks = &mut self.series[id as usize].chunks;
        if !chunks.contains(&chunk) {
            // Grow by half instead of doubling (and not to 4 at once): most
            // series hold few chunks, and this is most of the head's memory.
            if chunks.len() == chunks.capacity() {
                chunks.reserve_exact((chunks.len() / 2).max(1));
            }
            chunks.push(chunk);
        }
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
                s.fingerprint == fp
                    && s.values.len() == labels.len()
                    && s.values.iter().zip(labels.iter()).all(|(&vid, (n, v))| {
                        let ve = &self.values[vid as usize];
                        &*ve.value == v && &*self.names[ve.name as usize].name == n
                    })
            })
            .copied()
    }

    fn create(&mut self, fp: u64, labels: &Labels) -> Result<u32> {
        if self.series.len() >= MAX_SERIES as usize {
            return Err(Error::LimitExceeded {
                what: "series per index",
                limit: MAX_SERIES as u64,
            });
        }
        let id = self.series.len() as u32;
        let mut vids = Vec::with_capacity(labels.len());
        for (name, value) in labels.iter() {
            let nid = self.intern_name(name);
            vids.push(self.intern_value(nid, value, id));
            self.names[nid as usize].all.insert(id);
        }
        self.series.push(SeriesEntry {
            fingerprint: fp,
            values: vids.into(),
            chunks: Vec::new(),
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
        let values = &self.values;
        self.names[nid as usize]
            .values
            .find(hash, |&vid| &*values[vid as usize].value == value)
            .copied()
    }

    /// Interns `value` under name `nid` and adds series `id` to its postings.
    fn intern_value(&mut self, nid: u32, value: &str, id: u32) -> u32 {
        if let Some(vid) = self.value_id(nid, value) {
            self.values[vid as usize].postings.add(id);
            return vid;
        }
        let vid = self.values.len() as u32;
        self.values.push(ValueEntry {
            name: nid,
            value: value.into(),
            postings: Postings::One(id),
        });
        let (hasher, values) = (&self.hasher, &self.values);
        self.names[nid as usize]
            .values
            .insert_unique(hasher.hash_one(value), vid, |&v| {
                hasher.hash_one(&*values[v as usize].value)
            });
        vid
    }

    fn name_values(&self, name: &str) -> impl Iterator<Item = &ValueEntry> + '_ {
        self.name_id(name)
            .into_iter()
            .flat_map(move |nid| self.names[nid as usize].values.iter())
            .map(|&vid| &self.values[vid as usize])
    }
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
            c => {
                for ve in self.name_values(name) {
                    if c.matches(&ve.value) {
                        ve.postings.union_into(&mut out);
                    }
                }
            }
        }
        Ok(out)
    }

    fn labels(&self, id: u32) -> Result<Labels> {
        let pairs = self.series[id as usize]
            .values
            .iter()
            .map(|&vid| {
                let ve = &self.values[vid as usize];
                (
                    self.names[ve.name as usize].name.to_string(),
                    ve.value.to_string(),
                )
            })
            .collect();
        Ok(Labels::from_sorted_unchecked(pairs))
    }

    fn names_of(&self, id: u32, out: &mut BTreeSet<String>) -> Result<()> {
        for &vid in self.series[id as usize].values.iter() {
            let name = &self.names[self.values[vid as usize].name as usize].name;
            if !out.contains(&**name) {
                out.insert(name.to_string());
            }
        }
        Ok(())
    }

    fn value_of(&self, id: u32, name: &str) -> Result<Option<String>> {
        Ok(self.series[id as usize].values.iter().find_map(|&vid| {
            let ve = &self.values[vid as usize];
            (&*self.names[ve.name as usize].name == name).then(|| ve.value.to_string())
        }))
    }

    fn for_each_series(
        &self,
        ids: &RoaringBitmap,
        range: TimeRange,
        f: &mut dyn FnMut(u32, u64, &[ChunkRef]) -> Result<()>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        for id in ids {
            let s = &self.series[id as usize];
            if range == TimeRange::ALL {
                f(id, s.fingerprint, &s.chunks)?;
            } else {
                buf.clear();
                buf.extend(s.chunks.iter().filter(|c| c.overlaps(range)));
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
            .map(|v| v.value.to_string())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn values_in(&self, name: &str, ids: &RoaringBitmap) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .name_values(name)
            .filter(|v| v.postings.intersects(ids))
            .map(|v| v.value.to_string())
            .collect();
        out.sort_unstable();
        Ok(out)
    }
}
