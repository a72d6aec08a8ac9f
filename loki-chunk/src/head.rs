//! The unordered head block: entries not yet compressed, kept sorted by
//! timestamp so a cut needs no sort.
//!
//! Loki keeps the head in a tree keyed by timestamp. Here the entries are
//! written once, in block encoding, into one buffer in arrival order, and a
//! vector kept in timestamp order (equal timestamps in arrival order) points
//! into it: an in-order append is a push, an out-of-order one a binary
//! search and a short move, and no entry owns an allocation of its own.
//! While every entry arrived in order, the buffer already is the block a
//! cut compresses, so the cut copies nothing; after an out-of-order append
//! the cut writes the entries out in timestamp order first.
//!
//! The buffer grows by doubling while the head is small. Past
//! [`SMALL_HEAD`] it moves once into a buffer the size of a whole block,
//! taken from a small per-thread pool (at most 4 MiB) to which cuts give
//! their heads' buffers back, so filling heads goes through neither the
//! allocator nor repeated copies for every block. Such a buffer is mostly
//! empty while its head fills, so heads hold at most
//! [`BLOCK_BUFFERS_BUDGET`] of them at once, process-wide: with many
//! streams filling slowly, the rest keep growing by doubling (at most twice
//! their bytes, copied about once over a block, as a cut would copy them).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::consts::HEAD_BYTES_PER_METADATA_PAIR;
use crate::raw::block::{encode_entry, encoded_entry_bound};

#[derive(Debug, Clone)]
struct HeadEntry {
    timestamp: i64,
    /// Offset of the entry's encoding in the buffer, and its length.
    start: u32,
    encoded_len: u32,
    /// Offset of the line in the encoding (after the two varints), and the
    /// line's length.
    line_at: u8,
    len: u32,
    /// Offset and count of the entry's symbol ids in `pairs`.
    pairs_start: u32,
    pairs_len: u32,
}

/// Bytes a head's buffer first takes.
const FIRST_BYTES: usize = 4 * 1024;

/// Bytes up to which a head's buffer grows by doubling; a head growing past
/// it moves into a block-sized buffer.
const SMALL_HEAD: usize = 16 * 1024;

/// Bytes of block-sized buffers kept per thread for reuse (4 MiB).
const POOLED_BYTES: usize = 4 << 20;

/// Bytes of block-sized buffers all heads together may hold (32 MiB, a
/// hundred default blocks); past it, heads grow by doubling.
const BLOCK_BUFFERS_BUDGET: usize = 32 << 20;

/// Bytes of block-sized buffers heads hold now.
static BLOCK_BUFFERS_HELD: AtomicUsize = AtomicUsize::new(0);

/// A head's share of [`BLOCK_BUFFERS_BUDGET`], given back when dropped. A
/// clone holds none: a cloned head's buffer is an exact copy.
#[derive(Debug, Default)]
struct BudgetClaim(usize);

impl BudgetClaim {
    /// A claim on `bytes` of the budget, if that much is left.
    fn try_claim(bytes: usize) -> Option<BudgetClaim> {
        BLOCK_BUFFERS_HELD
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                let after = held.checked_add(bytes)?;
                (after <= BLOCK_BUFFERS_BUDGET).then_some(after)
            })
            .ok()
            .map(|_| BudgetClaim(bytes))
    }
}

impl Clone for BudgetClaim {
    fn clone(&self) -> Self {
        BudgetClaim(0)
    }
}

impl Drop for BudgetClaim {
    fn drop(&mut self) {
        if self.0 > 0 {
            BLOCK_BUFFERS_HELD.fetch_sub(self.0, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// Empty block-sized buffers, ready for reuse.
    static BUFFER_POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer of at least `capacity` bytes: a pooled one if the
/// thread has one.
fn take_buffer(capacity: usize) -> Vec<u8> {
    BUFFER_POOL
        .with(|pool| {
            let mut pool = pool.borrow_mut();
            let fits = pool.iter().position(|b| b.capacity() >= capacity)?;
            Some(pool.swap_remove(fits))
        })
        .unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// Keeps a block-sized buffer for the next head that fills, if the
/// thread's pool has room; small buffers are freed.
fn give_buffer(mut buffer: Vec<u8>) {
    if buffer.capacity() <= SMALL_HEAD {
        return;
    }
    BUFFER_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let held: usize = pool.iter().map(Vec::capacity).sum();
        if held + buffer.capacity() <= POOLED_BYTES {
            buffer.clear();
            pool.push(buffer);
        }
    });
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

#[derive(Debug, Clone)]
pub(crate) struct Head {
    entries: Vec<HeadEntry>,
    /// Every entry in block encoding, in arrival order.
    encoded: Vec<u8>,
    pairs: Vec<u32>,
    /// Loki's accounting: line bytes plus 8 per metadata pair.
    size: usize,
    /// Every entry arrived in timestamp order: `encoded` is the block.
    in_order: bool,
    /// Entries are encoded with their structured-metadata section.
    structured: bool,
    /// Capacity of the buffer a head growing past [`SMALL_HEAD`] moves
    /// into: a block and room for the entries' varints and last line.
    block_capacity: usize,
    /// The share of the block-buffer budget `encoded` holds, if it is a
    /// block-sized buffer.
    claim: BudgetClaim,
}

impl Head {
    /// An empty head writing entries with their structured-metadata section
    /// if `structured`, for blocks cut at about `block_size` bytes.
    pub(crate) fn new(structured: bool, block_size: usize) -> Head {
        Head {
            entries: Vec::new(),
            encoded: Vec::new(),
            pairs: Vec::new(),
            size: 0,
            in_order: true,
            structured,
            block_capacity: block_size.saturating_add(block_size / 4),
            claim: BudgetClaim::default(),
        }
    }

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
        self.reserve(encoded_entry_bound(
            line.len(),
            pairs.len(),
            self.structured,
        ));
        let start = self.encoded.len();
        let line_at = encode_entry(&mut self.encoded, timestamp, line, pairs, self.structured);
        let pairs_start = self.pairs.len();
        self.pairs.extend_from_slice(pairs);
        self.size += line.len() + pairs.len() / 2 * HEAD_BYTES_PER_METADATA_PAIR;
        self.in_order &= at == self.entries.len();
        // Lines are at most 1 GiB and blocks at most 1 GiB, so a head, a
        // block and one line, stays below 4 GiB: the offsets fit in 32 bits.
        self.entries.insert(
            at,
            HeadEntry {
                timestamp,
                start: start as u32,
                encoded_len: (self.encoded.len() - start) as u32,
                line_at: line_at as u8,
                len: line.len() as u32,
                pairs_start: pairs_start as u32,
                pairs_len: pairs.len() as u32,
            },
        );
        Appended::Added
    }

    /// Makes room for `additional` more encoded bytes: by doubling while
    /// the head is small, then by moving once into a block-sized buffer if
    /// the budget allows, else by doubling up to a block.
    fn reserve(&mut self, additional: usize) {
        let used = self.encoded.len();
        let capacity = self.encoded.capacity();
        if capacity - used >= additional {
            return;
        }
        let needed = used + additional;
        let fits_a_block = needed <= self.block_capacity;
        if needed > SMALL_HEAD && fits_a_block && capacity < self.block_capacity {
            if let Some(claim) = BudgetClaim::try_claim(self.block_capacity) {
                let mut block = take_buffer(self.block_capacity);
                block.extend_from_slice(&self.encoded);
                give_buffer(std::mem::replace(&mut self.encoded, block));
                self.claim = claim;
                return;
            }
        }
        let doubled = (2 * capacity).max(needed).max(FIRST_BYTES);
        let target = if fits_a_block {
            doubled.min(self.block_capacity)
        } else {
            doubled
        };
        self.encoded.reserve_exact(target - used);
    }

    fn line(&self, e: &HeadEntry) -> &[u8] {
        let start = e.start as usize + usize::from(e.line_at);
        &self.encoded[start..start + e.len as usize]
    }

    fn encoding(&self, e: &HeadEntry) -> &[u8] {
        let start = e.start as usize;
        &self.encoded[start..start + e.encoded_len as usize]
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

    /// The head as a block (every entry in block encoding, in timestamp
    /// order) when the entries arrived in order and so already are one;
    /// `None` when [`write_block`](Self::write_block) must order them.
    pub(crate) fn as_block(&self) -> Option<&[u8]> {
        self.in_order.then_some(&self.encoded[..])
    }

    /// Writes the head as a block: every entry in block encoding, in
    /// timestamp order.
    pub(crate) fn write_block(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded.len());
        for e in &self.entries {
            out.extend_from_slice(self.encoding(e));
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
            + self.encoded.capacity()
            + self.pairs.capacity() * std::mem::size_of::<u32>()
    }

    /// Gives the head's block-sized buffer to the thread's pool (up to its
    /// bound), for the next head that fills; the head is left empty and
    /// holds no buffer.
    pub(crate) fn recycle_buffer(&mut self) {
        give_buffer(std::mem::take(&mut self.encoded));
        self.claim = BudgetClaim::default();
        self.clear();
    }

    /// Empties the head, keeping its buffers for reuse.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.encoded.clear();
        self.pairs.clear();
        self.size = 0;
        self.in_order = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_time_order_and_arrival_order_for_ties() {
        let mut head = Head::new(false, 1024);
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

    /// The block encoding of `entries`, one by one, in the given order.
    fn block_of(entries: &[(i64, &[u8], &[u32])], structured: bool) -> Vec<u8> {
        let mut block = Vec::new();
        for (ts, line, pairs) in entries {
            encode_entry(&mut block, *ts, line, pairs, structured);
        }
        block
    }

    #[test]
    fn an_in_order_head_is_its_block_and_an_unordered_one_is_written_in_order() {
        for structured in [false, true] {
            let mut head = Head::new(structured, 1024);
            let _ = head.append(-3, b"negative time", &[1, 2]);
            let _ = head.append(1, b"a", &[]);
            let _ = head.append(1 << 60, &[b'x'; 300], &[3, 4, 5, 6]);
            let sorted: Vec<(i64, &[u8], &[u32])> = vec![
                (-3, b"negative time", &[1, 2]),
                (1, b"a", &[]),
                (1 << 60, &[b'x'; 300], &[3, 4, 5, 6]),
            ];
            assert_eq!(head.as_block(), Some(&block_of(&sorted, structured)[..]));

            let _ = head.append(0, b"late", &[7, 8]);
            assert_eq!(
                head.as_block(),
                None,
                "an older entry came after newer ones"
            );
            let mut written = Vec::new();
            head.write_block(&mut written);
            let mut want = sorted.clone();
            want.insert(1, (0, b"late", &[7, 8]));
            assert_eq!(written, block_of(&want, structured));
            assert_eq!(head.iter().collect::<Vec<_>>(), want);

            head.clear();
            let _ = head.append(9, b"after a clear", &[]);
            assert_eq!(
                head.as_block(),
                Some(&block_of(&[(9, b"after a clear", &[])], structured)[..])
            );
        }
    }

    #[test]
    fn a_filling_head_moves_once_into_a_pooled_block_buffer() {
        let line = [b'x'; 1000];
        let block_size = 64 * 1024;
        let fill = |head: &mut Head| {
            let mut ts = 0;
            while head.size() < block_size {
                ts += 1;
                assert_eq!(head.append(ts, &line, &[]), Appended::Added);
            }
            ts
        };
        let mut head = Head::new(false, block_size);
        fill(&mut head);
        let buffer = head.encoded.as_ptr();
        assert!(head.encoded.capacity() >= block_size);
        assert!(head.memory_bytes() < 2 * block_size);
        assert_eq!(head.claim.0, head.block_capacity, "the budget counts it");
        head.recycle_buffer();
        assert!(head.is_empty() && head.encoded.capacity() == 0);
        assert_eq!(head.claim.0, 0);

        let mut next = Head::new(false, block_size);
        let _ = next.append(1, &line, &[]);
        assert!(
            next.encoded.capacity() <= SMALL_HEAD,
            "a small head stays small"
        );
        next.clear();
        let appended = fill(&mut next);
        assert_eq!(next.encoded.as_ptr(), buffer, "the pooled buffer is taken");
        assert_eq!(next.len(), appended as usize);
        assert!(next
            .iter()
            .zip(1..)
            .all(|((t, l, _), want)| t == want && l == line));
    }

    #[test]
    fn past_the_budget_a_head_grows_by_doubling_up_to_a_block() {
        assert!(BudgetClaim::try_claim(BLOCK_BUFFERS_BUDGET + 1).is_none());
        // Blocks larger than the whole budget never get a block buffer.
        let block_size = BLOCK_BUFFERS_BUDGET;
        let mut head = Head::new(false, block_size);
        let line = [b'z'; 4000];
        let mut ts = 0;
        while head.size() < 300_000 {
            ts += 1;
            let _ = head.append(ts, &line, &[]);
            assert!(head.encoded.capacity() <= 2 * head.encoded.len().max(FIRST_BYTES));
        }
        assert_eq!(head.claim.0, 0);
        let lines: Vec<(i64, &[u8], &[u32])> = (1..=ts).map(|t| (t, &line[..], &[][..])).collect();
        assert_eq!(head.as_block(), Some(&block_of(&lines, false)[..]));
        let clone = head.clone();
        assert_eq!(clone.as_block(), head.as_block());
    }

    #[test]
    fn a_line_longer_than_a_block_still_fits() {
        let mut head = Head::new(false, 1024);
        let long = vec![b'y'; 100_000];
        let _ = head.append(1, b"short", &[]);
        let _ = head.append(2, &long, &[]);
        let _ = head.append(3, b"after", &[]);
        let lines: Vec<&[u8]> = head.iter().map(|(_, l, _)| l).collect();
        assert_eq!(lines, [&b"short"[..], &long[..], &b"after"[..]]);
    }

    #[test]
    fn drops_exact_duplicates_only() {
        let mut head = Head::new(true, 1024);
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
