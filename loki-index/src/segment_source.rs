//! [`Source`] over a [`Segment`].

use crate::chunk_ref::TimeRange;
use crate::error::Result;
use crate::labels::Labels;
use crate::matcher::Core;
use crate::segment::Segment;
use crate::source::{SeriesVisitor, Source};
use roaring::RoaringBitmap;
use std::collections::BTreeSet;

impl Source for Segment {
    fn series_count(&self) -> u32 {
        Segment::series_count(self)
    }

    fn time_bounds(&self) -> Option<TimeRange> {
        Segment::time_bounds(self)
    }

    fn name_postings(&self, name: &str) -> Result<RoaringBitmap> {
        match self.name_index(name) {
            Some(i) => Ok(self.name_view(i)?.all.clone()),
            None => Ok(RoaringBitmap::new()),
        }
    }

    fn core_postings(&self, name: &str, core: &Core) -> Result<RoaringBitmap> {
        match self.name_index(name) {
            Some(i) => self.name_view(i)?.core_postings(core),
            None => Ok(RoaringBitmap::new()),
        }
    }

    fn labels(&self, id: u32) -> Result<Labels> {
        self.labels_of(id)
    }

    fn names_of(&self, id: u32, out: &mut BTreeSet<String>) -> Result<()> {
        self.row(id, |name, _| {
            let name = &self.names[name].name;
            if !out.contains(name) {
                out.insert(name.clone());
            }
            Ok(())
        })
    }

    fn value_of(&self, id: u32, name: &str) -> Result<Option<String>> {
        let Some(want) = self.name_index(name) else {
            return Ok(None);
        };
        let mut found = None;
        self.row(id, |i, ord| {
            if i == want {
                found = Some(ord);
            }
            Ok(())
        })?;
        found.map(|ord| self.value(want, ord)).transpose()
    }

    fn for_each_series(
        &self,
        ids: &RoaringBitmap,
        range: TimeRange,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<()> {
        self.for_each_chunk_row(ids, range, f)
    }

    fn all_names(&self) -> Result<Vec<String>> {
        Ok(self.names.iter().map(|n| n.name.clone()).collect())
    }

    fn value_count(&self, name: &str) -> Result<u64> {
        Ok(self
            .name_index(name)
            .map_or(0, |i| self.names[i].value_count as u64))
    }

    fn all_values(&self, name: &str) -> Result<Vec<String>> {
        match self.name_index(name) {
            Some(i) => self.name_view(i)?.values(),
            None => Ok(Vec::new()),
        }
    }

    fn values_in(&self, name: &str, ids: &RoaringBitmap) -> Result<Vec<String>> {
        match self.name_index(name) {
            Some(i) => self.name_view(i)?.values_in(ids),
            None => Ok(Vec::new()),
        }
    }
}
