//! One stream's in-memory state: the chunk being written, sealed chunks
//! waiting for upload, and what the out-of-order window needs to know.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use loki_chunk::{Chunk, ChunkBuilder, ChunkKey, ChunkObject, ChunkObjectMeta, ChunkOptions};
use loki_index::{ChunkRef, Labels};

use crate::ingest::labels_text;
use crate::{Error, Result};

/// One entry of a push.
///
/// The line and the structured metadata's names and values are
/// [`ByteString`]s: UTF-8 text over [`bytes::Bytes`], so a server can hand
/// over strings that are slices of the request body it decoded, without a
/// copy (or an allocation) per line or per pair. `String` and `&str`
/// convert into it.
///
/// ```
/// use loki_store::PushEntry;
///
/// let mut entry = PushEntry::new(1, "GET /cart 200");
/// entry.metadata.push(("trace_id".into(), "4bf92f35".into()));
/// assert_eq!(entry.line, "GET /cart 200");
/// assert_eq!(entry.line.len(), 13);
/// assert_eq!(entry.metadata[0].1, "4bf92f35");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The log line.
    pub line: ByteString,
    /// Structured metadata pairs.
    pub metadata: Vec<(ByteString, ByteString)>,
}

impl PushEntry {
    /// An entry without structured metadata.
    pub fn new(timestamp: i64, line: impl Into<ByteString>) -> PushEntry {
        PushEntry {
            timestamp,
            line: line.into(),
            metadata: Vec::new(),
        }
    }
}

/// A chunk closed and encoded as a stored object, not yet (or just) uploaded.
#[derive(Debug)]
pub(crate) struct SealedChunk {
    pub(crate) key: ChunkKey,
    pub(crate) object: Bytes,
    pub(crate) chunk: Chunk,
    pub(crate) chunk_ref: ChunkRef,
}

impl SealedChunk {
    /// A sealed chunk: its key, its object's bytes, and the chunk in them
    /// (sharing them rather than keeping a copy).
    fn new(key: ChunkKey, object: Bytes, chunk: Chunk) -> SealedChunk {
        let stats = chunk.stats();
        let chunk_ref = ChunkRef {
            from: key.from_ms,
            through: key.through_ms,
            checksum: key.checksum,
            compressed_size: u32::try_from(object.len()).unwrap_or(u32::MAX),
            entries: u32::try_from(stats.entries).unwrap_or(u32::MAX),
            uncompressed_size: stats.uncompressed_bytes,
        };
        SealedChunk {
            key,
            object,
            chunk,
            chunk_ref,
        }
    }
}

#[derive(Debug)]
struct OpenChunk {
    builder: ChunkBuilder,
    /// Wall-clock time the chunk was started (ns).
    created: i64,
    /// Smallest entry timestamp in the chunk.
    first: i64,
    /// A readable copy of the chunk, until the next append.
    snapshot: Option<Chunk>,
}

/// Why an entry was not accepted into a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Older than the stream's newest entry minus half the max chunk age.
    TooFarBehind { oldest_acceptable: i64 },
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: u64,
    pub(crate) tenant: Arc<str>,
    pub(crate) labels: Labels,
    /// The labels as WAL records and chunk metadata take them (shared, so
    /// logging a push copies no strings).
    pub(crate) pairs: Arc<[(String, String)]>,
    head: Option<OpenChunk>,
    pub(crate) sealed: Vec<Arc<SealedChunk>>,
    highest: i64,
    last: Option<PushEntry>,
    last_append: i64,
}

impl Stream {
    pub(crate) fn new(id: u64, tenant: Arc<str>, labels: Labels) -> Stream {
        let pairs = labels
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        Stream {
            id,
            tenant,
            labels,
            pairs,
            head: None,
            sealed: Vec::new(),
            highest: i64::MIN,
            last: None,
            last_append: 0,
        }
    }

    /// Decides, in order, which entries the stream accepts: those within the
    /// out-of-order window and not identical to the entry just before.
    /// Returns the accepted indices, the duplicates dropped and the refusals.
    pub(crate) fn admit(
        &mut self,
        entries: &[PushEntry],
        window: i64,
    ) -> (Vec<usize>, usize, Vec<(usize, Refusal)>) {
        let mut accepted = Vec::with_capacity(entries.len());
        let mut duplicates = 0;
        let mut refused = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if self.highest != i64::MIN {
                let oldest_acceptable = self.highest.saturating_sub(window);
                if entry.timestamp < oldest_acceptable {
                    refused.push((i, Refusal::TooFarBehind { oldest_acceptable }));
                    continue;
                }
            }
            if self.last.as_ref() == Some(entry) {
                duplicates += 1;
                continue;
            }
            self.highest = self.highest.max(entry.timestamp);
            accepted.push(i);
        }
        if let Some(&i) = accepted.last() {
            // A copy of the line: a clone could share (and keep alive) the
            // whole request buffer the line was sliced from.
            let last = &entries[i];
            self.last = Some(PushEntry {
                timestamp: last.timestamp,
                line: ByteString::from(&*last.line),
                metadata: last
                    .metadata
                    .iter()
                    .map(|(n, v)| (ByteString::from(&**n), ByteString::from(&**v)))
                    .collect(),
            });
        }
        (accepted, duplicates, refused)
    }

    /// Appends an accepted entry, starting a new chunk when the current one
    /// is full or would span more than `max_age` nanoseconds. Returns the
    /// bytes of the chunk object that closed, if one did.
    pub(crate) fn append<S: AsRef<str>>(
        &mut self,
        timestamp: i64,
        line: &[u8],
        metadata: &[(S, S)],
        now: i64,
        options: &ChunkOptions,
        max_age: i64,
    ) -> Result<usize> {
        // The pairs as the chunk writer takes them: on the stack for the
        // usual few, so an entry with metadata allocates nothing here.
        const ON_STACK: usize = 8;
        let mut stack = [("", ""); ON_STACK];
        let heap: Vec<(&str, &str)>;
        let pairs: &[(&str, &str)] = if metadata.len() <= ON_STACK {
            for (slot, (n, v)) in stack.iter_mut().zip(metadata) {
                *slot = (n.as_ref(), v.as_ref());
            }
            &stack[..metadata.len()]
        } else {
            heap = metadata
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .collect();
            &heap
        };
        let full = self.head.as_ref().is_some_and(|open| {
            !open.builder.has_room_for(line, pairs)
                || timestamp.saturating_sub(open.first) > max_age
                || open.first.saturating_sub(timestamp) > max_age
        });
        let mut sealed = 0;
        if full {
            self.seal_head()?;
            sealed = self.sealed.last().map_or(0, |s| s.object.len());
        }
        let open = match &mut self.head {
            Some(open) => open,
            None => self.head.insert(OpenChunk {
                builder: ChunkBuilder::with_options(*options)
                    .map_err(|source| self.chunk_error(source))?,
                created: now,
                first: timestamp,
                snapshot: None,
            }),
        };
        let _ = open
            .builder
            .append(timestamp, line, pairs)
            .map_err(|source| Error::Chunk {
                key: labels_text(&self.labels),
                source,
            })?;
        open.first = open.first.min(timestamp);
        open.snapshot = None;
        self.highest = self.highest.max(timestamp);
        self.last_append = now;
        Ok(sealed)
    }

    fn chunk_error(&self, source: loki_chunk::Error) -> Error {
        Error::Chunk {
            key: labels_text(&self.labels),
            source,
        }
    }

    /// Closes the open chunk, if any, encoding it as a stored object.
    pub(crate) fn seal_head(&mut self) -> Result<()> {
        let Some(mut open) = self.head.take() else {
            return Ok(());
        };
        if open.builder.is_empty() {
            return Ok(());
        }
        let (object, decoded) = open
            .builder
            .encode_object(&self.tenant, &self.pairs)
            .map_err(|e| self.chunk_error(e))?;
        drop(open);
        let sealed = SealedChunk::new(decoded.key(), object, decoded.into_chunk());
        self.sealed.push(Arc::new(sealed));
        Ok(())
    }

    /// Restores a closed chunk from a checkpoint, as it was (nothing is
    /// recompressed).
    pub(crate) fn restore_closed(&mut self, bytes: Bytes) -> Result<()> {
        let probe = Chunk::open(bytes).map_err(|e| self.chunk_error(e))?;
        let stats = probe.stats();
        let (Some(min), Some(max)) = (stats.min_time, stats.max_time) else {
            return Err(self.chunk_error(loki_chunk::Error::InvalidOptions(
                "a checkpointed chunk holds no entry",
            )));
        };
        let meta = ChunkObjectMeta::new(&self.tenant, &self.pairs, min, max);
        let (object, key) =
            ChunkObject::encode(&meta, probe.bytes()).map_err(|e| self.chunk_error(e))?;
        let len = probe.bytes().len();
        drop(probe);
        let chunk =
            Chunk::open(object.slice(object.len() - len..)).map_err(|e| self.chunk_error(e))?;
        let sealed = SealedChunk::new(key, object, chunk);
        if let Some(max) = sealed.chunk.stats().max_time {
            self.highest = self.highest.max(max);
        }
        self.sealed.push(Arc::new(sealed));
        Ok(())
    }

    /// Restores the open chunk's cut blocks from a checkpoint; its head's
    /// entries follow as appends. An open chunk already there is sealed.
    pub(crate) fn restore_open(
        &mut self,
        bytes: Bytes,
        now: i64,
        options: &ChunkOptions,
    ) -> Result<()> {
        self.seal_head()?;
        let chunk = Chunk::open(bytes).map_err(|e| self.chunk_error(e))?;
        let stats = chunk.stats();
        let (Some(min), Some(max)) = (stats.min_time, stats.max_time) else {
            return Ok(());
        };
        let builder = ChunkBuilder::resume(&chunk, *options).map_err(|e| self.chunk_error(e))?;
        self.head = Some(OpenChunk {
            builder,
            created: now,
            first: min,
            snapshot: None,
        });
        self.highest = self.highest.max(max);
        self.last_append = now;
        Ok(())
    }

    /// What a checkpoint needs of this stream, taken cheaply (closed chunks
    /// and cut blocks are shared, not copied): the closed chunks' bytes and
    /// a copy of the open chunk's builder.
    pub(crate) fn checkpoint_state(&self) -> (Vec<Bytes>, Option<ChunkBuilder>) {
        let closed = self
            .sealed
            .iter()
            .map(|s| s.chunk.bytes().clone())
            .collect();
        let open = self
            .head
            .as_ref()
            .filter(|open| !open.builder.is_empty())
            .map(|open| open.builder.clone());
        (closed, open)
    }

    /// Seals the open chunk if it has been idle or open too long.
    pub(crate) fn seal_if_due(&mut self, now: i64, idle: i64, max_age: i64) -> Result<bool> {
        let due = self.head.as_ref().is_some_and(|open| {
            now.saturating_sub(self.last_append) >= idle
                || now.saturating_sub(open.created) >= max_age
        });
        if due {
            self.seal_head()?;
        }
        Ok(due)
    }

    /// Forgets a sealed chunk once it is stored and indexed.
    pub(crate) fn forget_sealed(&mut self, key: &ChunkKey) {
        self.sealed.retain(|s| &s.key != key);
    }

    /// Whether nothing is held in memory.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none() && self.sealed.is_empty()
    }

    /// Bytes held in memory: the open chunk's buffers and compressed
    /// blocks, its cached readable copy, and the sealed objects (whose
    /// readable chunks share their bytes).
    pub(crate) fn memory_bytes(&self) -> usize {
        let head = self.head.as_ref().map_or(0, |open| {
            open.builder.memory_bytes() + open.snapshot.as_ref().map_or(0, |c| c.bytes().len())
        });
        head + self.sealed.iter().map(|s| s.object.len()).sum::<usize>()
    }

    /// Readable chunks holding this stream's unflushed data in `[from, through)`.
    pub(crate) fn chunks(&mut self, from: i64, through: i64) -> Result<Vec<Chunk>> {
        let overlaps = |chunk: &Chunk| {
            let stats = chunk.stats();
            stats.min_time.is_some_and(|min| min < through)
                && stats.max_time.is_some_and(|max| max >= from)
        };
        let mut out: Vec<Chunk> = self
            .sealed
            .iter()
            .map(|s| s.chunk.clone())
            .filter(|c| overlaps(c))
            .collect();
        if let Some(open) = &mut self.head {
            let snapshot = match &open.snapshot {
                Some(chunk) => chunk.clone(),
                None => {
                    let bytes = open.builder.snapshot().map_err(|source| Error::Chunk {
                        key: labels_text(&self.labels),
                        source,
                    })?;
                    let chunk = Chunk::open(bytes).map_err(|source| Error::Chunk {
                        key: labels_text(&self.labels),
                        source,
                    })?;
                    open.snapshot.insert(chunk).clone()
                }
            };
            if overlaps(&snapshot) {
                out.push(snapshot);
            }
        }
        Ok(out)
    }
}
