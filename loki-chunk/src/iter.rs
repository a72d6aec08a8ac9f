//! Walking a chunk's entries: forward or backward over a time range, with
//! a line predicate pushed down into the walk, and a sample path for metric
//! queries.
//!
//! Entries are lent, not returned: each [`Entry`] borrows the decompressed
//! block until the next call, so no line is copied or allocated.

use crate::chunk::{BlockCheck, Chunk};
use crate::raw::block::{decode_entry, metadata_pairs};
use crate::raw::{Decompressor, Symbols};
use crate::Result;

/// The order in which entries are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Oldest first (Loki's `direction=forward`).
    Forward,
    /// Newest first (Loki's `direction=backward`, the query default).
    #[default]
    Backward,
}

/// One log entry, borrowing its line from the decompressed block.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The log line.
    pub line: &'a [u8],
    /// Structured metadata (always empty before format version 4).
    pub metadata: Metadata<'a>,
}

impl<'a> Entry<'a> {
    pub(crate) fn new(raw: crate::raw::BlockEntry<'a>, symbols: &'a Symbols) -> Entry<'a> {
        Entry {
            timestamp: raw.timestamp,
            line: raw.line,
            metadata: Metadata {
                section: raw.metadata,
                symbols,
            },
        }
    }
}

/// An entry's structured metadata: `(name, value)` pairs resolved through
/// the chunk's symbol table as they are read.
///
/// ```
/// # use loki_chunk::{Chunk, ChunkBuilder, Direction};
/// let mut builder = ChunkBuilder::new();
/// builder.append(1, b"x", &[("user", "ana"), ("trace_id", "t1")])?;
/// let chunk = Chunk::open(builder.encode()?)?;
/// let mut entries = chunk.entries(0, 2, Direction::Forward);
/// let entry = entries.next()?.unwrap();
/// assert_eq!(entry.metadata.len(), 2);
/// assert_eq!(entry.metadata.get("trace_id"), Some("t1"));
/// assert_eq!(entry.metadata.iter().collect::<Vec<_>>(), [("user", "ana"), ("trace_id", "t1")]);
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a> {
    section: &'a [u8],
    symbols: &'a Symbols,
}

impl<'a> Metadata<'a> {
    /// The pairs in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let symbols = self.symbols;
        metadata_pairs(self.section).map(move |(n, v)| (symbols.get(n), symbols.get(v)))
    }

    /// The value of the first pair named `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        metadata_pairs(self.section).count()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.section.len() <= 1
    }
}

/// A line predicate evaluated on every line in range before it is handed
/// out; `false` skips the entry.
type LineFilter<'c> = Box<dyn FnMut(&[u8]) -> bool + Send + 'c>;

static NO_SYMBOLS: Symbols = Symbols::EMPTY;

/// The entries of a chunk in a time range; see [`Chunk::entries`].
///
/// Call [`next`](Self::next) until it gives `Ok(None)`. After an error the
/// walk is over.
pub struct Entries<'c> {
    chunk: &'c Chunk,
    from: i64,
    through: i64,
    direction: Direction,
    filter: Option<LineFilter<'c>>,
    symbols: Option<&'c Symbols>,
    decompressor: Decompressor,
    /// The current decompressed block (all overlapping blocks, when merging).
    buf: Vec<u8>,
    /// The current block instead of `buf`, read in place, when the chunk
    /// holds its blocks decompressed.
    held: Option<&'c [u8]>,
    /// Blocks still to visit, in visiting order (reversed: popped from the end).
    pending: Vec<usize>,
    /// Forward walk over `buf` when `positions` is not in use.
    pos: usize,
    /// Checks the forward walk's entries against the block table.
    check: Option<BlockCheck>,
    /// Entry offsets in `buf` to hand out, in order (backward and merge walks).
    positions: Vec<usize>,
    next_position: usize,
    use_positions: bool,
    done: bool,
}

impl std::fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("from", &self.from)
            .field("through", &self.through)
            .field("direction", &self.direction)
            .field("filtered", &self.filter.is_some())
            .field("blocks_left", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<'c> Entries<'c> {
    pub(crate) fn new(
        chunk: &'c Chunk,
        from: i64,
        through: i64,
        direction: Direction,
    ) -> Entries<'c> {
        let mut pending: Vec<usize> = (0..chunk.blocks().len())
            .filter(|&i| chunk.blocks()[i].overlaps(from, through))
            .collect();
        if direction == Direction::Forward {
            pending.reverse();
        }
        Entries {
            chunk,
            from,
            through,
            direction,
            filter: None,
            symbols: None,
            decompressor: Decompressor::new(),
            buf: Vec::new(),
            held: None,
            pending,
            pos: 0,
            check: None,
            positions: Vec::new(),
            next_position: 0,
            use_positions: false,
            done: from >= through,
        }
    }

    /// Pushes a line predicate into the walk: entries whose line fails it
    /// are skipped before anything about them is decoded further.
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder, Direction};
    /// let mut builder = ChunkBuilder::new();
    /// builder.append(1, b"GET /ok 200", &[])?;
    /// builder.append(2, b"GET /boom 500", &[])?;
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let mut errors = chunk
    ///     .entries(0, 10, Direction::Forward)
    ///     .with_line_filter(|line| line.ends_with(b"500"));
    /// assert_eq!(errors.next()?.unwrap().timestamp, 2);
    /// assert!(errors.next()?.is_none());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    pub fn with_line_filter(
        mut self,
        filter: impl FnMut(&[u8]) -> bool + Send + 'c,
    ) -> Entries<'c> {
        self.filter = Some(Box::new(filter));
        self
    }

    /// The next entry, or `Ok(None)` at the end.
    ///
    /// # Errors
    /// A checksum, decompression or entry decoding error of the block being
    /// read; the walk ends there.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>> {
        match self.advance() {
            Ok(Some((timestamp, line, metadata))) => {
                let symbols = self.symbols.unwrap_or(&NO_SYMBOLS);
                let block = current(&self.buf, self.held);
                Ok(Some(Entry {
                    timestamp,
                    line: &block[line.0..line.1],
                    metadata: Metadata {
                        section: &block[metadata.0..metadata.1],
                        symbols,
                    },
                }))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.done = true;
                Err(err)
            }
        }
    }

    /// Hands every entry still to come to `f`, in order: the entries
    /// [`next`](Self::next) would give, decoded in one loop per block on a
    /// forward walk (no per-entry call and `Result` in between).
    ///
    /// ```
    /// # use loki_chunk::{Chunk, ChunkBuilder, Direction};
    /// let mut builder = ChunkBuilder::new();
    /// for ts in 0..100 {
    ///     builder.append(ts, b"GET /", &[])?;
    /// }
    /// let chunk = Chunk::open(builder.encode()?)?;
    /// let mut seen = Vec::new();
    /// chunk
    ///     .entries(10, 20, Direction::Forward)
    ///     .for_each(|entry| seen.push(entry.timestamp))?;
    /// assert_eq!(seen, (10..20).collect::<Vec<_>>());
    /// # Ok::<(), loki_chunk::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`next`](Self::next); the entries before the error were handed
    /// to `f`.
    pub fn for_each(&mut self, mut f: impl FnMut(Entry<'_>)) -> Result<()> {
        loop {
            let in_block = !self.done
                && !self.use_positions
                && self.filter.is_none()
                && self.pos < current(&self.buf, self.held).len()
                && (self.symbols.is_some() || !self.chunk.version().has_structured_metadata());
            if !in_block {
                match self.next()? {
                    Some(entry) => f(entry),
                    None => return Ok(()),
                }
                continue;
            }
            let structured = self.chunk.version().has_structured_metadata();
            let symbols = self.symbols.unwrap_or(&NO_SYMBOLS);
            let block = current(&self.buf, self.held);
            let mut pos = self.pos;
            while pos < block.len() {
                let decoded = decode_entry(block, &mut pos, structured).and_then(|entry| {
                    if let Some(check) = &mut self.check {
                        check.entry(entry.timestamp)?;
                    }
                    Ok(entry)
                });
                let entry = match decoded {
                    Ok(entry) => entry,
                    Err(err) => {
                        self.done = true;
                        return Err(err);
                    }
                };
                // Never before `from`: the walk is inside a block only after
                // `next` handed out one of its entries in range, and the
                // check holds the rest in time order.
                if entry.timestamp >= self.through {
                    // Blocks are sorted and disjoint: nothing later is in range.
                    self.done = true;
                    return Ok(());
                }
                f(Entry::new(entry, symbols));
            }
            self.pos = pos;
        }
    }

    /// Finds the next entry to hand out, as a timestamp and byte ranges of
    /// `buf` (so that no borrow of `buf` outlives the loop).
    #[allow(clippy::type_complexity)]
    fn advance(&mut self) -> Result<Option<(i64, (usize, usize), (usize, usize))>> {
        let structured = self.chunk.version().has_structured_metadata();
        if structured && self.symbols.is_none() && !self.done {
            self.symbols = Some(self.chunk.symbols()?);
        }
        loop {
            if self.done {
                return Ok(None);
            }
            let start = if self.use_positions {
                match self.positions.get(self.next_position) {
                    Some(&p) => {
                        self.next_position += 1;
                        p
                    }
                    None => {
                        self.load_next_block()?;
                        continue;
                    }
                }
            } else if self.pos < current(&self.buf, self.held).len() {
                self.pos
            } else {
                if let Some(check) = self.check.take() {
                    check.finish()?;
                }
                self.load_next_block()?;
                continue;
            };
            let block = current(&self.buf, self.held);
            let mut end = start;
            let entry = decode_entry(block, &mut end, structured)?;
            if !self.use_positions {
                self.pos = end;
                if let Some(check) = &mut self.check {
                    check.entry(entry.timestamp)?;
                }
                if entry.timestamp < self.from {
                    continue;
                }
                if entry.timestamp >= self.through {
                    // Blocks are sorted and disjoint: nothing later is in range.
                    self.done = true;
                    return Ok(None);
                }
            }
            if let Some(filter) = &mut self.filter {
                if !filter(entry.line) {
                    continue;
                }
            }
            // Both slices lie inside the block (empty ones too: see
            // `decode_entry`).
            let base = block.as_ptr() as usize;
            let line = entry.line.as_ptr() as usize - base;
            let metadata = entry.metadata.as_ptr() as usize - base;
            return Ok(Some((
                entry.timestamp,
                (line, line + entry.line.len()),
                (metadata, metadata + entry.metadata.len()),
            )));
        }
    }

    /// Decompresses the next block (or, for overlapping blocks, all of them)
    /// and prepares the walk over it.
    fn load_next_block(&mut self) -> Result<()> {
        let Some(index) = self.pending.pop() else {
            self.done = true;
            return Ok(());
        };
        let structured = self.chunk.version().has_structured_metadata();
        if self.chunk.has_overlapping_blocks() {
            self.held = None;
            return self.load_merged(index, structured);
        }
        self.held = self.chunk.decompressed_block(index);
        if self.held.is_none() {
            self.chunk
                .decompress_block_into(index, &mut self.decompressor, &mut self.buf)?;
        }
        self.pos = 0;
        self.use_positions = self.direction == Direction::Backward;
        let check = BlockCheck::new(&self.chunk.blocks()[index]);
        if self.use_positions {
            self.positions.clear();
            self.next_position = 0;
            scan_block(
                current(&self.buf, self.held),
                0,
                structured,
                check,
                self.from,
                self.through,
                &mut |_, start| self.positions.push(start),
            )?;
            self.positions.reverse();
        } else {
            self.check = Some(check);
        }
        Ok(())
    }

    /// Blocks overlap in time: decompress every block in range into one
    /// buffer and order the entries by timestamp (stable: block order, then
    /// stored order), dropping exact duplicates, as Loki's heap merge does.
    fn load_merged(&mut self, first: usize, structured: bool) -> Result<()> {
        let mut indices = vec![first];
        indices.extend(self.pending.drain(..).rev());
        indices.sort_unstable();
        self.buf.clear();
        let mut block = Vec::new();
        let mut keyed = Vec::new();
        for index in indices {
            self.chunk
                .decompress_block_into(index, &mut self.decompressor, &mut block)?;
            let check = BlockCheck::new(&self.chunk.blocks()[index]);
            let base = self.buf.len();
            scan_block(
                &block,
                base,
                structured,
                check,
                self.from,
                self.through,
                &mut |ts, start| keyed.push((ts, start)),
            )?;
            self.buf.extend_from_slice(&block);
        }
        keyed.sort_by_key(|&(ts, _)| ts);
        // An entry identical to an earlier one of the same timestamp (a
        // duplicate that landed in another block before the chunk closed)
        // is read once, as Loki's merge reads it. Symbol ids are the
        // chunk's, so identical entries have identical encodings.
        let identity = |start: usize| -> Result<(&[u8], &[u8])> {
            let mut pos = start;
            let entry = decode_entry(&self.buf, &mut pos, structured)?;
            Ok((entry.line, entry.metadata))
        };
        let mut positions: Vec<usize> = Vec::with_capacity(keyed.len());
        let mut run = 0;
        for (i, &(ts, start)) in keyed.iter().enumerate() {
            if i == 0 || keyed[i - 1].0 != ts {
                run = positions.len();
            } else {
                let this = identity(start)?;
                let mut earlier = positions[run..].iter().map(|&p| identity(p));
                if earlier.any(|e| e.is_ok_and(|e| e == this)) {
                    continue;
                }
            }
            positions.push(start);
        }
        self.positions = positions;
        if self.direction == Direction::Backward {
            self.positions.reverse();
        }
        self.next_position = 0;
        self.use_positions = true;
        Ok(())
    }
}

/// The block a walk is reading: the one the chunk holds decompressed, or
/// else the walk's own buffer.
fn current<'a>(buf: &'a [u8], held: Option<&'a [u8]>) -> &'a [u8] {
    held.unwrap_or(buf)
}

/// Decodes and checks a whole block, calling `found(timestamp, base +
/// offset)` for each entry in `[from, through)`.
fn scan_block(
    block: &[u8],
    base: usize,
    structured: bool,
    mut check: BlockCheck,
    from: i64,
    through: i64,
    found: &mut dyn FnMut(i64, usize),
) -> Result<()> {
    let mut pos = 0;
    while pos < block.len() {
        let start = pos;
        let entry = decode_entry(block, &mut pos, structured)?;
        check.entry(entry.timestamp)?;
        if entry.timestamp >= from && entry.timestamp < through {
            found(entry.timestamp, base + start);
        }
    }
    check.finish()
}

/// A timestamped value extracted from an entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The extracted value.
    pub value: f64,
}

/// Samples extracted from a chunk's entries; see [`Chunk::samples`].
pub struct Samples<'c, F> {
    entries: Entries<'c>,
    extract: F,
}

impl<F> std::fmt::Debug for Samples<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl<'c, F> Samples<'c, F> {
    pub(crate) fn new(entries: Entries<'c>, extract: F) -> Samples<'c, F> {
        Samples { entries, extract }
    }
}

impl<F> Iterator for Samples<'_, F>
where
    F: FnMut(&Entry<'_>) -> Option<f64>,
{
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        loop {
            match self.entries.next() {
                Err(err) => return Some(Err(err)),
                Ok(None) => return None,
                Ok(Some(entry)) => {
                    if let Some(value) = (self.extract)(&entry) {
                        return Some(Ok(Sample {
                            timestamp: entry.timestamp,
                            value,
                        }));
                    }
                }
            }
        }
    }
}
