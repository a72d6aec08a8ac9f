//! The read interface shared by the head and by segments, and the matcher
//! evaluation built on it.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::error::Result;
use crate::labels::Labels;
use crate::matcher::{Core, Matcher, Selector};
use crate::regex_plan::Plan;
use roaring::RoaringBitmap;
use std::collections::BTreeSet;

/// A callback receiving `(series id, fingerprint, chunks in range)`.
pub(crate) type SeriesVisitor<'a> = dyn FnMut(u32, u64, &[ChunkRef]) -> Result<()> + 'a;

/// One index (the head or a segment) seen through dense series ids `0..n`.
///
/// Invariant: every series has at least one chunk ref.
pub(crate) trait Source {
    /// Number of series; ids are `0..series_count()`.
    fn series_count(&self) -> u32;
    /// Min `from` and max `through` over all chunk refs (`None` if empty).
    fn time_bounds(&self) -> Option<TimeRange>;
    /// Series that have label `name` (with any value).
    fn name_postings(&self, name: &str) -> Result<RoaringBitmap>;
    /// Series whose value of `name` is accepted by `core` (stored values are
    /// never empty, so the empty value is not considered here).
    fn core_postings(&self, name: &str, core: &Core) -> Result<RoaringBitmap>;
    /// The labels of a series.
    fn labels(&self, id: u32) -> Result<Labels>;
    /// Adds the label names of a series to `out`.
    fn names_of(&self, id: u32, out: &mut BTreeSet<String>) -> Result<()>;
    /// The value of `name` in a series, if it has that label.
    fn value_of(&self, id: u32, name: &str) -> Result<Option<String>>;
    /// Calls `f(id, fingerprint, chunks overlapping range)` for each series
    /// of `ids` (in id order; the chunk slice may be empty).
    fn for_each_series(
        &self,
        ids: &RoaringBitmap,
        range: TimeRange,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<()>;
    /// All label names, sorted.
    fn all_names(&self) -> Result<Vec<String>>;
    /// Number of distinct values of `name`.
    fn value_count(&self, name: &str) -> Result<u64>;
    /// All values of `name`, sorted.
    fn all_values(&self, name: &str) -> Result<Vec<String>>;
    /// Values of `name` held by at least one series of `ids`.
    fn values_in(&self, name: &str, ids: &RoaringBitmap) -> Result<Vec<String>>;
}

/// Whether the plan accepts every stored (non-empty) value.
pub(crate) fn accepts_all_stored(core: &Core) -> bool {
    matches!(
        core,
        Core::Regex {
            plan: Plan::Any | Plan::NonEmpty,
            ..
        }
    )
}

fn cost_rank(m: &Matcher) -> u8 {
    match (m.is_negated(), m.core()) {
        (false, Core::Exact(_)) => 0,
        (
            false,
            Core::Regex {
                plan: Plan::Literals(_),
                ..
            },
        ) => 1,
        (false, _) => 2,
        (true, _) => 3,
    }
}

/// Series ids of `src` matching `selector` (all series for `None`).
pub(crate) fn select(src: &dyn Source, selector: Option<&Selector>) -> Result<RoaringBitmap> {
    let Some(selector) = selector else {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..src.series_count());
        return Ok(all);
    };
    let mut matchers: Vec<&Matcher> = selector.matchers().iter().collect();
    matchers.sort_by_key(|m| cost_rank(m));
    let mut include: Option<RoaringBitmap> = None;
    let mut exclude = RoaringBitmap::new();
    for m in matchers {
        let core_accepts_empty = m.core().matches("");
        match (m.is_negated(), core_accepts_empty) {
            // `a="x"`, `a=~"x.+"`: the union of the accepted values.
            (false, false) => {
                let set = src.core_postings(m.name(), m.core())?;
                intersect(&mut include, set);
            }
            // `a=""`, `a=~"x|"`: series with `a` set to a rejected value go.
            (false, true) => {
                let mut has = src.name_postings(m.name())?;
                has -= src.core_postings(m.name(), m.core())?;
                exclude |= has;
            }
            // `a!=""`, `a!~"x|"`: `a` must be set, to a value the core rejects.
            (true, true) => {
                let mut has = src.name_postings(m.name())?;
                has -= src.core_postings(m.name(), m.core())?;
                intersect(&mut include, has);
            }
            // `a!="x"`, `a!~"x.+"`: series with an accepted value go.
            (true, false) => exclude |= src.core_postings(m.name(), m.core())?,
        }
        if include.as_ref().is_some_and(RoaringBitmap::is_empty) {
            return Ok(RoaringBitmap::new());
        }
    }
    let mut out = include.unwrap_or_else(|| {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..src.series_count());
        all
    });
    out -= exclude;
    Ok(out)
}

fn intersect(acc: &mut Option<RoaringBitmap>, set: RoaringBitmap) {
    match acc {
        Some(a) => *a &= set,
        None => *acc = Some(set),
    }
}

/// Series ids of `src` matching `selector` with at least one chunk in `range`.
pub(crate) fn select_live(
    src: &dyn Source,
    selector: Option<&Selector>,
    range: TimeRange,
) -> Result<RoaringBitmap> {
    if !src.time_bounds().is_some_and(|b| b.overlaps(&range)) {
        return Ok(RoaringBitmap::new());
    }
    let mut ids = select(src, selector)?;
    if !covers(src, range) {
        let mut dead = Vec::new();
        src.for_each_series(&ids, range, &mut |id, _, chunks| {
            if chunks.is_empty() {
                dead.push(id);
            }
            Ok(())
        })?;
        for id in dead {
            ids.remove(id);
        }
    }
    Ok(ids)
}

/// Whether `range` covers every chunk of `src` (so every series is live).
pub(crate) fn covers(src: &dyn Source, range: TimeRange) -> bool {
    src.time_bounds().is_none_or(|b| range.contains(&b))
}
