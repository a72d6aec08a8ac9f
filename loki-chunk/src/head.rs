//! The unordered head block: entries not yet compressed, kept sorted by
//! timestamp so a cut needs no sort.
//!
//! Loki keeps the head in a tree keyed by timestamp. Here it is one vector
//! kept in timestamp order (equal timestamps in arrival order) plus two
//! arenas for line bytes and metadata symbol ids: an in-order append is a
//! push, an out-of-order one a binary search and a short move, and no entry
//! owns an allocation of its own. Line bytes go into fixed-size pages, so a
//! growing head never copies the lines it holds and holds at most one
//! partly used page beyond them. A cut gives the head's full pages to a
//! small per-thread pool (at most 4 MiB), from which the next filling head
//! on the thread takes its full pages.

use crate::consts::HEAD_BYTES_PER_METADATA_PAIR;
use crate::raw::block::encode_entry;

#[derive(Debug, Clone)]
struct HeadEntry {
    timestamp: i64,
    /// Page, offset in it and length of the line.
    page: u32,
    start: u32,
    len: u32,
    /// Offset and count of the entry's symbol ids in `pairs`.
    pairs_start: u32,
    pairs_len: u32,
}

/// Bytes of a full line page; a longer line gets a page of its own size.
const PAGE: usize = 64 * 1024;

/// Bytes of a head's first line page.
const FIRST_PAGE: usize = 4 * 1024;

/// Full line pages kept per thread for reuse (4 MiB): a cut gives its
/// head's full pages back here and the next full page any head on the
/// thread needs is taken from here, so that filling heads does not go
/// through the allocator (and the kernel's page zeroing, once the allocator
/// has given freed pages back) for every page of every block.
const POOLED_PAGES: usize = 64;

thread_local! {
    /// Empty full-size line pages, ready for reuse.
    static PAGE_POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A full-size line page: a pooled one if the thread has one.
fn take_page() -> Vec<u8> {
    PAGE_POOL
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(PAGE))
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Appended {
    /// The entry was added.
    Added,
    /// An entry with the same timestamp, line and metadata was already
    /// there; nothing changed (Loki counts these as duplicates, not errors).
    Duplicate,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Head {
    entries: Vec<HeadEntry>,
    pages: Vec<Vec<u8>>,
    pairs: Vec<u32>,
    /// Loki's accounting: line bytes plus 8 per metadata pair.
    size: usize,
}

impl Head {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn bounds(&self) -> Option<(i64, i64)> {
        Some((
            self.entries.first()?.timestamp,
            self.entries.last()?.timestamp,
        ))
    }

    /// Adds an entry unless an identical one is present; `pairs` holds
    /// `(name, value)` symbol ids flattened.
    pub(crate) fn append(&mut self, timestamp: i64, line: &[u8], pairs: &[u32]) -> Appended {
        let at = self.insertion_point(timestamp);
        if self.has_duplicate_before(at, timestamp, line, pairs) {
            return Appended::Duplicate;
        }
        let room = self
            .pages
            .last()
            .is_some_and(|page| page.capacity() - page.len() >= line.len());
        if !room {
            // Pages grow from 4 KiB to 64 KiB as the head does, so a small
            // head (or the few entries kept to check duplicates) stays small.
            let held: usize = self.pages.iter().map(Vec::capacity).sum();
            let capacity = held.clamp(FIRST_PAGE, PAGE).max(line.len());
            self.pages.push(if capacity == PAGE {
                take_page()
            } else {
                Vec::with_capacity(capacity)
            });
        }
        let page_index = self.pages.len() - 1;
        let page = &mut self.pages[page_index];
        let start = page.len();
        page.extend_from_slice(line);
        let pairs_start = self.pairs.len();
        self.pairs.extend_from_slice(pairs);
        self.size += line.len() + pairs.len() / 2 * HEAD_BYTES_PER_METADATA_PAIR;
        // Lines are at most 1 GiB and a head far smaller than 4 GiB of
        // entries: the offsets fit in 32 bits.
        self.entries.insert(
            at,
            HeadEntry {
                timestamp,
                page: page_index as u32,
                start: start as u32,
                len: line.len() as u32,
                pairs_start: pairs_start as u32,
                pairs_len: pairs.len() as u32,
            },
        );
        Appended::Added
    }

    fn line(&self, e: &HeadEntry) -> &[u8] {
        let start = e.start as usize;
        &self.pages[e.page as usize][start..start + e.len as usize]
    }

    fn pairs_of(&self, e: &HeadEntry) -> &[u32] {
        let start = e.pairs_start as usize;
        &self.pairs[start..start + e.pairs_len as usize]
    }

    /// Where an entry with `timestamp` goes: after every entry not newer.
    fn insertion_point(&self, timestamp: i64) -> usize {
        match self.entries.last() {
            Some(last) if last.timestamp > timestamp => {
                self.entries.partition_point(|e| e.timestamp <= timestamp)
            }
            _ => self.entries.len(),
        }
    }

    /// Whether an identical entry sits in the run of equal timestamps that
    /// ends at `at`.
    fn has_duplicate_before(&self, at: usize, timestamp: i64, line: &[u8], pairs: &[u32]) -> bool {
        self.entries[..at]
            .iter()
            .rev()
            .take_while(|e| e.timestamp == timestamp)
            .any(|e| self.line(e) == line && self.pairs_of(e) == pairs)
    }

    /// Whether an identical entry is present.
    pub(crate) fn contains(&self, timestamp: i64, line: &[u8], pairs: &[u32]) -> bool {
        self.has_duplicate_before(self.insertion_point(timestamp), timestamp, line, pairs)
    }

    /// Replaces this head's contents with the entries of `other` that share
    /// its newest timestamp.
    pub(crate) fn keep_newest_run_of(&mut self, other: &Head) {
        self.clear();
        let Some((_, newest)) = other.bounds() else {
            return;
        };
        let run = other
            .entries
            .iter()
            .rev()
            .take_while(|e| e.timestamp == newest)
            .count();
        for e in &other.entries[other.entries.len() - run..] {
            let _ = self.append(e.timestamp, other.line(e), other.pairs_of(e));
        }
    }

    /// Writes every entry in block encoding, in timestamp order.
    pub(crate) fn serialize(&self, out: &mut Vec<u8>, structured: bool) {
        let lines: usize = self.pages.iter().map(Vec::len).sum();
        out.reserve(lines + self.entries.len() * 8);
        for e in &self.entries {
            encode_entry(out, e.timestamp, self.line(e), self.pairs_of(e), structured);
        }
    }

    /// Entries in timestamp order: `(timestamp, line, pairs)`.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (i64, &[u8], &[u32])> + '_ {
        self.entries
            .iter()
            .map(|e| (e.timestamp, self.line(e), self.pairs_of(e)))
    }

    /// Heap bytes held by the head's buffers.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<HeadEntry>()
            + self.pages.iter().map(Vec::capacity).sum::<usize>()
            + self.pages.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.pairs.capacity() * std::mem::size_of::<u32>()
    }

    /// Gives the head's full-size line pages to the thread's pool (up to
    /// its bound), for the next head that fills; the head is left empty.
    pub(crate) fn recycle_pages(&mut self) {
        PAGE_POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            for mut page in self.pages.drain(..) {
                if pool.len() >= POOLED_PAGES {
                    break;
                }
                if page.capacity() == PAGE {
                    page.clear();
                    pool.push(page);
                }
            }
        });
        self.clear();
    }

    /// Empties the head, keeping the entry and symbol-id buffers for reuse
    /// (line pages are given back).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.pages.clear();
        self.pairs.clear();
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_time_order_and_arrival_order_for_ties() {
        let mut head = Head::default();
        for (ts, line) in [(5, "e"), (1, "a"), (3, "c"), (3, "c2"), (1, "a2"), (9, "z")] {
            assert_eq!(head.append(ts, line.as_bytes(), &[]), Appended::Added);
        }
        let got: Vec<_> = head.iter().map(|(ts, l, _)| (ts, l.to_vec())).collect();
        let want: Vec<_> = [(1, "a"), (1, "a2"), (3, "c"), (3, "c2"), (5, "e"), (9, "z")]
            .iter()
            .map(|(t, l)| (*t, l.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(head.size(), 8);
    }

    #[test]
    fn full_pages_are_reused_after_a_cut() {
        let line = [b'x'; 1000];
        let mut head = Head::default();
        let mut ts = 0;
        while head.pages.iter().filter(|p| p.capacity() == PAGE).count() < 2 {
            ts += 1;
            assert_eq!(head.append(ts, &line, &[]), Appended::Added);
        }
        let full: Vec<*const u8> = head
            .pages
            .iter()
            .filter(|p| p.capacity() == PAGE)
            .map(|p| p.as_ptr())
            .collect();
        head.recycle_pages();
        assert!(head.is_empty() && head.pages.is_empty());
        let mut next = Head::default();
        let mut ts = 0;
        while next.pages.iter().filter(|p| p.capacity() == PAGE).count() < 1 {
            ts += 1;
            assert_eq!(next.append(ts, &line, &[]), Appended::Added);
        }
        let reused = next.pages.iter().find(|p| p.capacity() == PAGE).unwrap();
        assert!(full.contains(&reused.as_ptr()), "a pooled page is taken");
        assert_eq!(next.len(), ts as usize);
        assert!(next
            .iter()
            .zip(1..)
            .all(|((t, l, _), want)| t == want && l == line));
    }

    #[test]
    fn drops_exact_duplicates_only() {
        let mut head = Head::default();
        assert_eq!(head.append(2, b"x", &[0, 1]), Appended::Added);
        assert_eq!(head.append(3, b"y", &[]), Appended::Added);
        assert_eq!(head.append(2, b"x", &[0, 1]), Appended::Duplicate);
        assert_eq!(head.append(2, b"x", &[]), Appended::Added);
        assert_eq!(head.append(2, b"x", &[0, 2]), Appended::Added);
        assert_eq!(head.append(3, b"y", &[]), Appended::Duplicate);
        assert_eq!(head.len(), 4);
        assert_eq!(head.size(), 4 + 2 * HEAD_BYTES_PER_METADATA_PAIR);
    }
}
