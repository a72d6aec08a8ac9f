//! The write-ahead log: every accepted batch is appended (length-framed,
//! checksummed) and synced before the write is acknowledged, and replayed on
//! start-up.
//!
//! The log is a directory of numbered segment files (`00000001.wal`, …).
//! Writes go to the newest; a segment is closed when it passes the segment
//! size, and each segment repeats the series records its entries need, so
//! older segments can be deleted once their data is flushed or checkpointed.
//! Segments are written with direct I/O where the filesystem allows it
//! ([`WalOptions::direct_io`]); the last block of such a segment is padded
//! with zeros, which replay reads as the end.
//!
//! A checkpoint (`checkpoint.N`) holds all live data logged before segment
//! `N` and replaces those segments: chunks as their encoded (compressed)
//! bytes, and the uncut heads of open chunks as entries. Replay reads the newest checkpoint, then
//! every segment from `N` on, in order. A torn or damaged tail of the newest
//! segment (a crash in the middle of a write) is truncated at the last good
//! record and reported; damage inside an older segment skips the rest of
//! that segment, reported too. Nothing in the log can make replay panic.
//!
//! # Group commit
//!
//! [`Wal::write`] appends a batch and returns a [`Commit`]; waiting on it
//! ([`Commit::wait`]) returns once the batch is on stable storage. Writers
//! that arrive while an fsync is in flight share the next one: the first to
//! find no fsync running leads it, covering every batch written so far, and
//! the rest wait for its result. [`Wal::stats`] counts appends and fsyncs.
//! An append or fsync that fails poisons the log: a batch whose bytes may be
//! torn, or whose sync state is unknown, must not be followed by batches
//! acknowledged as durable, so every later write fails too.

mod record;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use bytes::Bytes;
use bytestring::ByteString;
use record::{
    decode, encode_chunk, encode_entries, encode_series, entries_len, read_frame, series_len,
    Framed, SEGMENT_MAGIC,
};
pub use record::{Record, WalEntry};

use crate::{Error, Result};

/// When the log is synced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// After every appended batch, before the append returns (the default:
    /// an acknowledged write survives power loss).
    #[default]
    EveryBatch,
    /// Never explicitly: data survives a process crash, not power loss.
    Never,
}

/// Write-ahead log settings.
///
/// ```
/// use loki_store::wal::{FsyncPolicy, WalOptions};
///
/// let options = WalOptions::default();
/// assert_eq!(options.fsync, FsyncPolicy::EveryBatch);
/// assert_eq!(options.segment_size, 128 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalOptions {
    /// Size past which the current segment is closed and a new one begun.
    pub segment_size: u64,
    /// When appends are synced.
    pub fsync: FsyncPolicy,
    /// Write segments with direct I/O (`O_DIRECT`, Linux only), bypassing
    /// the page cache: filling page cache pages costs more CPU than the
    /// rest of logging a batch. Falls back to buffered writes where the
    /// filesystem refuses it. Default on.
    pub direct_io: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            fsync: FsyncPolicy::EveryBatch,
            direct_io: true,
        }
    }
}

impl WalOptions {
    /// Sets the segment size.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets the fsync policy.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Turns direct I/O on or off.
    pub fn direct_io(mut self, on: bool) -> Self {
        self.direct_io = on;
        self
    }
}

/// The block size direct writes are aligned to (offset, length, memory).
const DIRECT_BLOCK: usize = 4096;

/// The encoding buffer is given back to the allocator after a batch larger
/// than this passed through it.
const BUF_KEEP: usize = 64 << 20;

/// Appending with direct I/O. Records are encoded straight into an
/// aligned window of the log's buffer, after the bytes of the segment's
/// last, partial block: whole aligned blocks are written, the last one
/// zero-padded; its bytes are kept and written again, followed by the next
/// batch, by the next append. Replay reads a zero tail as the end.
#[derive(Debug)]
struct DirectWriter {
    /// The bytes of the segment's last, partial block.
    tail: Vec<u8>,
    /// That block's offset in the file.
    tail_at: u64,
}

impl DirectWriter {
    fn new() -> DirectWriter {
        DirectWriter {
            tail: Vec::new(),
            tail_at: 0,
        }
    }

    /// Readies `buf` for `len` more bytes: room for them and the padding
    /// is reserved (so the buffer does not move while they are encoded),
    /// its start is padded up to an aligned address, and the tail block's
    /// bytes copied there. Returns where the aligned window starts; the
    /// caller appends its bytes, then calls [`finish`](Self::finish).
    fn begin(&self, buf: &mut Vec<u8>, len: usize) -> usize {
        buf.clear();
        buf.reserve(2 * DIRECT_BLOCK + self.tail.len() + len);
        let start = buf.as_ptr().align_offset(DIRECT_BLOCK);
        buf.resize(start, 0);
        buf.extend_from_slice(&self.tail);
        start
    }

    /// Writes the window `begin` readied, zero-padded to whole blocks, and
    /// keeps its last partial block as the new tail.
    fn finish(&mut self, file: &File, buf: &mut Vec<u8>, start: usize) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let total = buf.len() - start;
        let padded = total.div_ceil(DIRECT_BLOCK) * DIRECT_BLOCK;
        buf.resize(start + padded, 0);
        let window = &buf[start..];
        if window.as_ptr().align_offset(DIRECT_BLOCK) == 0 {
            file.write_all_at(window, self.tail_at)?;
        } else {
            // The buffer moved after all (more was encoded than reserved):
            // copy the window to an aligned place.
            let mut aligned: Vec<u8> = Vec::with_capacity(padded + DIRECT_BLOCK);
            let at = aligned.as_ptr().align_offset(DIRECT_BLOCK);
            aligned.resize(at, 0);
            aligned.extend_from_slice(window);
            file.write_all_at(&aligned[at..], self.tail_at)?;
        }
        let full = total / DIRECT_BLOCK * DIRECT_BLOCK;
        self.tail.clear();
        self.tail
            .extend_from_slice(&buf[start + full..start + total]);
        self.tail_at += full as u64;
        Ok(())
    }

    /// Appends `bytes` on their own.
    fn append(&mut self, file: &File, bytes: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let start = self.begin(&mut buf, bytes.len());
        buf.extend_from_slice(bytes);
        self.finish(file, &mut buf, start)
    }
}

/// Opens a new segment file for appending: with direct I/O if asked and
/// the filesystem allows it.
fn open_segment_file(path: &Path, direct: bool) -> std::io::Result<(File, Option<DirectWriter>)> {
    #[cfg(target_os = "linux")]
    if direct {
        use std::os::unix::fs::OpenOptionsExt;
        match OpenOptions::new()
            .create_new(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(file) => return Ok((file, Some(DirectWriter::new()))),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // The filesystem does not do direct I/O: buffered, then.
                match fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)?;
    Ok((file, None))
}

/// One entry to append: `(timestamp, line, metadata)`.
pub type EntryRef<'a> = (i64, &'a [u8], &'a [(ByteString, ByteString)]);

/// One stream's part of an appended batch.
#[derive(Debug, Clone, Copy)]
pub struct StreamBatch<'a> {
    /// The stream reference (unique within the log).
    pub stream: u64,
    /// The stream's tenant.
    pub tenant: &'a str,
    /// The stream's labels, sorted by name.
    pub labels: &'a [(String, String)],
    /// `(timestamp, line, metadata)` of each accepted entry.
    pub entries: &'a [EntryRef<'a>],
}

/// One stream's part of a checkpoint: its closed chunks and open chunk as
/// encoded chunk bytes, and the entries of the open chunk's head.
/// See [`Wal::begin_checkpoint`] for an example.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointStream<'a> {
    /// The stream's identity, and the entries not in any chunk below.
    pub head: StreamBatch<'a>,
    /// Closed chunks not yet flushed, encoded.
    pub closed: &'a [Bytes],
    /// The cut blocks of the open chunk, encoded as a chunk
    /// (`ChunkBuilder::encode_cut`).
    pub open: Option<&'a [u8]>,
}

/// A checkpoint being written; see [`Wal::begin_checkpoint`]. Dropped
/// without [`finish`](Self::finish), it leaves an unfinished file that the
/// next open removes.
///
/// Like the log, it is written with direct I/O where the log is: it is
/// read once, at the next start, so it has no use for the page cache, and
/// a checkpoint rewrites everything the engine holds.
#[derive(Debug)]
pub struct CheckpointWriter {
    dir: PathBuf,
    segment: u64,
    tmp: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// With direct I/O: the writer, and where `buf`'s aligned window starts.
    direct: Option<(DirectWriter, usize)>,
}

/// A checkpoint is written out once its buffer holds this many bytes.
const CHECKPOINT_SPILL: usize = 4 << 20;

/// Bytes a checkpoint's buffer reserves beyond the spill size: room for a
/// record or two (a closed chunk's is about 1.5 MiB) before it would move.
const CHECKPOINT_SLACK: usize = 4 << 20;

impl CheckpointWriter {
    /// Adds a stream: its series record, chunk records, then its head's
    /// entries.
    ///
    /// # Errors
    /// I/O errors.
    pub fn add(&mut self, part: &CheckpointStream<'_>) -> Result<()> {
        let head = &part.head;
        encode_series(&mut self.buf, head.stream, head.tenant, head.labels);
        for chunk in part.closed {
            encode_chunk(&mut self.buf, head.stream, false, chunk);
            self.spill(CHECKPOINT_SPILL)?;
        }
        if let Some(chunk) = part.open {
            encode_chunk(&mut self.buf, head.stream, true, chunk);
        }
        if !head.entries.is_empty() {
            encode_entries(&mut self.buf, head.stream, head.entries.iter().copied());
        }
        self.spill(CHECKPOINT_SPILL)
    }

    /// Writes the buffer out once it holds more than `at_least` bytes.
    fn spill(&mut self, at_least: usize) -> Result<()> {
        let start = self.direct.as_ref().map_or(0, |(_, start)| *start);
        if self.buf.len() - start <= at_least {
            return Ok(());
        }
        match &mut self.direct {
            Some((writer, start)) => {
                writer
                    .finish(&self.file, &mut self.buf, *start)
                    .map_err(|e| Error::io("writing a checkpoint", &self.tmp, e))?;
                *start = writer.begin(&mut self.buf, CHECKPOINT_SPILL + CHECKPOINT_SLACK);
            }
            None => {
                self.file
                    .write_all(&self.buf)
                    .map_err(|e| Error::io("writing a checkpoint", &self.tmp, e))?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// Completes the checkpoint: the file is synced and renamed into place
    /// before the segments and checkpoints it replaces are deleted; a crash
    /// in between leaves them, and replay reads the newest checkpoint and
    /// the segments from its number on.
    ///
    /// # Errors
    /// I/O errors; the old segments are then kept.
    pub fn finish(mut self) -> Result<()> {
        self.spill(0)?;
        if let Some((writer, _)) = &self.direct {
            // Direct writes end in a zero-padded block: cut it off.
            self.file
                .set_len(writer.tail_at + writer.tail.len() as u64)
                .map_err(|e| Error::io("writing a checkpoint", &self.tmp, e))?;
        }
        self.file
            .sync_all()
            .map_err(|e| Error::io("writing a checkpoint", &self.tmp, e))?;
        let done = checkpoint_path(&self.dir, self.segment);
        fs::rename(&self.tmp, &done).map_err(|e| Error::io("completing a checkpoint", &done, e))?;
        sync_dir(&self.dir)?;
        remove_segments_before(&self.dir, self.segment)?;
        for entry in fs::read_dir(&self.dir)
            .map_err(|e| Error::io("listing the WAL directory", &self.dir, e))?
        {
            let path = entry
                .map_err(|e| Error::io("listing the WAL directory", &self.dir, e))?
                .path();
            let older = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("checkpoint."))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n < self.segment);
            if older {
                fs::remove_file(&path)
                    .map_err(|e| Error::io("removing an old checkpoint", &path, e))?;
            }
        }
        Ok(())
    }
}

/// Deletes every segment in `dir` numbered below `segment`.
fn remove_segments_before(dir: &Path, segment: u64) -> Result<usize> {
    let mut removed = 0;
    for old in list_segments(dir)?.into_iter().filter(|&s| s < segment) {
        let path = segment_path(dir, old);
        fs::remove_file(&path).map_err(|e| Error::io("removing a WAL segment", &path, e))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Damage found during replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDamage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the first record not replayed.
    pub offset: u64,
    /// What was wrong.
    pub reason: &'static str,
    /// Whether the segment was truncated there (only the newest is).
    pub truncated: bool,
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: usize,
    /// Records replayed.
    pub records: u64,
    /// Entries replayed: those of entries records, and those held in the
    /// chunks of a checkpoint's chunk records.
    pub entries: u64,
    /// Chunk records replayed (checkpoints only); their entries are counted
    /// in [`entries`](Self::entries) too.
    pub chunks: u64,
    /// Damage found, if any.
    pub damage: Vec<WalDamage>,
}

/// Counters of a log's work since it was opened.
///
/// ```
/// use loki_store::wal::{StreamBatch, Wal, WalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let (mut wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
/// let entries = [(1_i64, &b"hello"[..], &[][..])];
/// wal.append(&[StreamBatch { stream: 1, tenant: "t", labels: &[], entries: &entries }])?;
/// let stats = wal.stats();
/// assert_eq!((stats.appends, stats.fsyncs), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Batches appended.
    pub appends: u64,
    /// Fsyncs of appended batches (one may cover many batches), including
    /// the sync of a segment closed by rotation.
    pub fsyncs: u64,
    /// Bytes of records appended (framing included, direct I/O padding
    /// not).
    pub bytes: u64,
}

/// What the group commit shares between writers.
#[derive(Debug)]
struct SyncState {
    /// The segment being written, shared with fsync leaders.
    file: Arc<File>,
    path: PathBuf,
    /// Batches written so far (a sequence number).
    written: u64,
    /// Batches known to be on stable storage.
    synced: u64,
    /// Whether a leader is syncing now.
    syncing: bool,
    /// Why the log can no longer be written, once an append or fsync failed.
    failed: Option<String>,
}

#[derive(Debug)]
struct Syncer {
    state: Mutex<SyncState>,
    done: Condvar,
    appends: AtomicU64,
    fsyncs: AtomicU64,
    bytes: AtomicU64,
}

impl Syncer {
    fn poisoned(&self) -> Result<()> {
        let state = self.state.lock();
        match &state.failed {
            Some(reason) => Err(poisoned_error(&state.path, reason)),
            None => Ok(()),
        }
    }

    fn poison(&self, reason: String) {
        self.state.lock().failed.get_or_insert(reason);
        self.done.notify_all();
    }
}

fn poisoned_error(path: &Path, reason: &str) -> Error {
    Error::io(
        "writing the WAL after an earlier failure",
        path,
        std::io::Error::other(reason.to_owned()),
    )
}

/// A written batch, durable once [`wait`](Self::wait) returns `Ok`.
#[derive(Debug)]
#[must_use = "a batch is not durable until its commit is waited on"]
pub struct Commit {
    sync: Arc<Syncer>,
    sequence: u64,
    needs_sync: bool,
}

impl Commit {
    /// Blocks until the batch is on stable storage, leading an fsync that
    /// covers every batch written so far, or waiting for the one in flight.
    /// Returns at once under [`FsyncPolicy::Never`].
    ///
    /// # Errors
    /// The fsync failed (now or for an earlier batch): the batch must be
    /// treated as not written.
    pub fn wait(self) -> Result<()> {
        if !self.needs_sync {
            return Ok(());
        }
        let sync = &*self.sync;
        let mut state = sync.state.lock();
        loop {
            if let Some(reason) = &state.failed {
                return Err(poisoned_error(&state.path, reason));
            }
            if state.synced >= self.sequence {
                return Ok(());
            }
            if state.syncing {
                sync.done.wait(&mut state);
                continue;
            }
            state.syncing = true;
            let target = state.written;
            let file = state.file.clone();
            let path = state.path.clone();
            let result = parking_lot::MutexGuard::unlocked(&mut state, || file.sync_data());
            state.syncing = false;
            match result {
                Ok(()) => {
                    sync.fsyncs.fetch_add(1, Ordering::Relaxed);
                    state.synced = state.synced.max(target);
                }
                Err(e) => {
                    let err = Error::io("syncing the WAL", &path, e);
                    state.failed.get_or_insert(err.to_string());
                    sync.done.notify_all();
                    return Err(err);
                }
            }
            sync.done.notify_all();
        }
    }
}

/// The write-ahead log. See the [module docs](self).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: Arc<File>,
    segment: u64,
    size: u64,
    /// Streams whose series record is in the current segment.
    series_written: HashSet<u64>,
    buf: Vec<u8>,
    sync: Arc<Syncer>,
    /// Set when the segment is written with direct I/O.
    direct: Option<DirectWriter>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:08}.wal"))
}

/// The segment numbers in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("listing the WAL directory", dir, e))? {
        let entry = entry.map_err(|e| Error::io("listing the WAL directory", dir, e))?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(number) = number.parse::<u64>() {
            segments.push(number);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

fn checkpoint_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("checkpoint.{segment:08}"))
}

/// The newest complete checkpoint in `dir`, by the segment it precedes.
fn newest_checkpoint(dir: &Path) -> Result<Option<u64>> {
    let mut newest = None;
    for entry in fs::read_dir(dir).map_err(|e| Error::io("listing the WAL directory", dir, e))? {
        let entry = entry.map_err(|e| Error::io("listing the WAL directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            // An interrupted checkpoint: never complete, never used.
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|e| Error::io("removing an unfinished checkpoint", &path, e))?;
            continue;
        }
        if let Some(number) = name
            .strip_prefix("checkpoint.")
            .and_then(|n| n.parse::<u64>().ok())
        {
            newest = newest.max(Some(number));
        }
    }
    Ok(newest)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing the WAL directory", dir, e))
}

impl Wal {
    /// Opens the log in `dir` (created if missing), replaying every record
    /// into `on_record` first, then starts a new segment for writing.
    ///
    /// # Errors
    /// I/O errors, and any error `on_record` returns (replay stops there).
    ///
    /// ```
    /// use loki_store::wal::{Record, StreamBatch, Wal, WalOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let labels = vec![("app".to_owned(), "shop".to_owned())];
    /// {
    ///     let (mut wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
    ///     let entries = [(1_i64, &b"hello"[..], &[][..])];
    ///     wal.append(&[StreamBatch { stream: 1, tenant: "t", labels: &labels, entries: &entries }])?;
    /// }
    /// let mut replayed = Vec::new();
    /// let (_, report) = Wal::open(dir.path(), WalOptions::default(), |r| Ok(replayed.push(r)))?;
    /// assert_eq!((report.records, report.entries), (2, 1));
    /// assert!(matches!(&replayed[1], Record::Entries { stream: 1, entries } if entries[0].line == b"hello"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(
        dir: &Path,
        options: WalOptions,
        mut on_record: impl FnMut(Record) -> Result<()>,
    ) -> Result<(Wal, ReplayReport)> {
        fs::create_dir_all(dir).map_err(|e| Error::io("creating the WAL directory", dir, e))?;
        let checkpoint = newest_checkpoint(dir)?;
        let mut report = ReplayReport::default();
        if let Some(first_segment) = checkpoint {
            // A checkpoint holds everything before its segment: replay it,
            // then only the segments from there on.
            replay_segment(
                &checkpoint_path(dir, first_segment),
                false,
                &mut on_record,
                &mut report,
            )?;
        }
        let segments: Vec<u64> = list_segments(dir)?
            .into_iter()
            .filter(|&s| checkpoint.is_none_or(|first| s >= first))
            .collect();
        for (i, &segment) in segments.iter().enumerate() {
            let newest = i + 1 == segments.len();
            replay_segment(
                &segment_path(dir, segment),
                newest,
                &mut on_record,
                &mut report,
            )?;
        }
        let next = segments.last().map_or(checkpoint.unwrap_or(1), |s| s + 1);
        let wal = Wal::create_segment(dir.to_owned(), options, next)?;
        Ok((wal, report))
    }

    /// Creates segment file `segment`, holding just the magic, synced.
    fn create_file(
        dir: &Path,
        segment: u64,
        options: WalOptions,
    ) -> Result<(File, Option<DirectWriter>)> {
        let path = segment_path(dir, segment);
        let (mut file, mut direct) = open_segment_file(&path, options.direct_io)
            .map_err(|e| Error::io("creating a WAL segment", &path, e))?;
        match &mut direct {
            Some(writer) => writer.append(&file, &SEGMENT_MAGIC),
            None => file.write_all(&SEGMENT_MAGIC),
        }
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("writing a WAL segment", &path, e))?;
        sync_dir(dir)?;
        Ok((file, direct))
    }

    fn create_segment(dir: PathBuf, options: WalOptions, segment: u64) -> Result<Wal> {
        let (file, direct) = Wal::create_file(&dir, segment, options)?;
        let file = Arc::new(file);
        let sync = Arc::new(Syncer {
            state: Mutex::new(SyncState {
                file: file.clone(),
                path: segment_path(&dir, segment),
                written: 0,
                synced: 0,
                syncing: false,
                failed: None,
            }),
            done: Condvar::new(),
            appends: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        Ok(Wal {
            dir,
            options,
            file,
            segment,
            size: SEGMENT_MAGIC.len() as u64,
            series_written: HashSet::new(),
            buf: Vec::new(),
            sync,
            direct,
        })
    }

    /// Appends a batch and, with [`FsyncPolicy::EveryBatch`], syncs it
    /// before returning: once this returns `Ok`, the batch survives a crash.
    /// The same as [`write`](Self::write) then [`Commit::wait`].
    ///
    /// # Errors
    /// I/O errors; the batch must then be treated as not written.
    pub fn append(&mut self, batch: &[StreamBatch<'_>]) -> Result<()> {
        self.write(batch)?.wait()
    }

    /// Appends a batch without waiting for it to be synced: the returned
    /// [`Commit`] is waited on (outside any lock around the log) before the
    /// batch is acknowledged, so that concurrent writers share fsyncs.
    ///
    /// ```
    /// use loki_store::wal::{StreamBatch, Wal, WalOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (mut wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
    /// let entries = [(1_i64, &b"hello"[..], &[][..])];
    /// let first = wal.write(&[StreamBatch { stream: 1, tenant: "t", labels: &[], entries: &entries }])?;
    /// let second = wal.write(&[StreamBatch { stream: 1, tenant: "t", labels: &[], entries: &entries }])?;
    /// second.wait()?; // one fsync covers both batches
    /// first.wait()?;
    /// assert_eq!((wal.stats().appends, wal.stats().fsyncs), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// I/O errors, or an earlier failure that poisoned the log; the batch
    /// must then be treated as not written.
    pub fn write(&mut self, batch: &[StreamBatch<'_>]) -> Result<Commit> {
        self.sync.poisoned()?;
        let mut len = self.encoded_len(batch);
        if self.size + len as u64 > self.options.segment_size
            && self.size > SEGMENT_MAGIC.len() as u64
        {
            self.rotate()?;
            // Series records are repeated in the new segment.
            len = self.encoded_len(batch);
        }
        // One pass: records are encoded (and checksummed) where they are
        // written from, an aligned window of `buf` under direct I/O.
        let start = match &self.direct {
            Some(writer) => writer.begin(&mut self.buf, len),
            None => {
                self.buf.clear();
                self.buf.reserve(len);
                0
            }
        };
        let before = self.buf.len();
        for part in batch {
            if self.series_written.insert(part.stream) {
                encode_series(&mut self.buf, part.stream, part.tenant, part.labels);
            }
            encode_entries(&mut self.buf, part.stream, part.entries.iter().copied());
        }
        // At most `len`: a stream twice in the batch has one series record.
        let len = self.buf.len() - before;
        let written = match &mut self.direct {
            Some(writer) => writer.finish(&self.file, &mut self.buf, start),
            None => (&*self.file).write_all(&self.buf),
        };
        if let Err(e) = written {
            let err = Error::io(
                "appending to the WAL",
                &segment_path(&self.dir, self.segment),
                e,
            );
            self.sync.poison(err.to_string());
            return Err(err);
        }
        self.size += len as u64;
        self.sync.appends.fetch_add(1, Ordering::Relaxed);
        self.sync.bytes.fetch_add(len as u64, Ordering::Relaxed);
        if self.buf.capacity() > BUF_KEEP {
            self.buf = Vec::new();
        }
        let sequence = {
            let mut state = self.sync.state.lock();
            state.written += 1;
            state.written
        };
        Ok(Commit {
            sync: self.sync.clone(),
            sequence,
            needs_sync: self.options.fsync == FsyncPolicy::EveryBatch,
        })
    }

    /// Appends and fsyncs since the log was opened.
    pub fn stats(&self) -> WalStats {
        WalStats {
            appends: self.sync.appends.load(Ordering::Relaxed),
            fsyncs: self.sync.fsyncs.load(Ordering::Relaxed),
            bytes: self.sync.bytes.load(Ordering::Relaxed),
        }
    }

    /// The bytes of records `batch` appends to the current segment (or a
    /// little more, when a stream appears twice in it).
    fn encoded_len(&self, batch: &[StreamBatch<'_>]) -> usize {
        batch
            .iter()
            .map(|part| {
                let series = if self.series_written.contains(&part.stream) {
                    0
                } else {
                    series_len(part.tenant, part.labels)
                };
                series + entries_len(part.entries.iter().copied())
            })
            .sum()
    }

    /// Closes the current segment and starts the next; returns the new
    /// segment's number. Everything before it can later be removed with
    /// [`remove_segments_before`](Self::remove_segments_before).
    ///
    /// # Errors
    /// I/O errors.
    pub fn rotate(&mut self) -> Result<u64> {
        self.sync.poisoned()?;
        let path = segment_path(&self.dir, self.segment);
        if let Err(e) = self.file.sync_data() {
            let err = Error::io("syncing the WAL", &path, e);
            self.sync.poison(err.to_string());
            return Err(err);
        }
        self.sync.fsyncs.fetch_add(1, Ordering::Relaxed);
        let next = self.segment + 1;
        let (file, direct) = Wal::create_file(&self.dir, next, self.options)?;
        let file = Arc::new(file);
        {
            // Everything written so far was in the segment just synced.
            let mut state = self.sync.state.lock();
            state.synced = state.synced.max(state.written);
            state.file = file.clone();
            state.path = segment_path(&self.dir, next);
        }
        self.sync.done.notify_all();
        self.file = file;
        self.direct = direct;
        self.segment = next;
        self.size = SEGMENT_MAGIC.len() as u64;
        self.series_written.clear();
        Ok(next)
    }

    /// Deletes every segment numbered below `segment`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove_segments_before(&mut self, segment: u64) -> Result<usize> {
        remove_segments_before(&self.dir, segment)
    }

    /// Starts a checkpoint that will replace every segment before `segment`
    /// (a number [`rotate`](Self::rotate) returned, taken when memory held
    /// everything logged before it). Streams are added one at a time with
    /// [`CheckpointWriter::add`], without holding the log: appends go on
    /// meanwhile. [`CheckpointWriter::finish`] completes it.
    ///
    /// ```
    /// use loki_store::wal::{CheckpointStream, Record, StreamBatch, Wal, WalOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (mut wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
    /// let entries = [(1_i64, &b"hello"[..], &[][..])];
    /// wal.append(&[StreamBatch { stream: 1, tenant: "t", labels: &[], entries: &entries }])?;
    /// let segment = wal.rotate()?;
    /// let mut checkpoint = wal.begin_checkpoint(segment)?;
    /// checkpoint.add(&CheckpointStream {
    ///     head: StreamBatch { stream: 1, tenant: "t", labels: &[], entries: &entries },
    ///     closed: &[],
    ///     open: None,
    /// })?;
    /// checkpoint.finish()?; // the segment before is gone
    /// drop(wal);
    /// let (_, report) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
    /// assert_eq!((report.records, report.entries), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn begin_checkpoint(&self, segment: u64) -> Result<CheckpointWriter> {
        let tmp = self.dir.join(format!("checkpoint.{segment:08}.tmp"));
        // One an earlier attempt left unfinished is started over.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing an unfinished checkpoint", &tmp, e)),
        }
        let (file, direct) = open_segment_file(&tmp, self.options.direct_io)
            .map_err(|e| Error::io("creating a checkpoint", &tmp, e))?;
        let mut buf = Vec::new();
        let direct = direct.map(|writer| {
            let start = writer.begin(&mut buf, CHECKPOINT_SPILL + CHECKPOINT_SLACK);
            (writer, start)
        });
        buf.extend_from_slice(&SEGMENT_MAGIC);
        Ok(CheckpointWriter {
            dir: self.dir.clone(),
            segment,
            tmp,
            file,
            buf,
            direct,
        })
    }

    /// The number of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.segment
    }

    /// Bytes in every segment of the log.
    ///
    /// # Errors
    /// I/O errors.
    pub fn disk_size(&self) -> Result<u64> {
        let mut total = 0;
        for segment in list_segments(&self.dir)? {
            let path = segment_path(&self.dir, segment);
            total += fs::metadata(&path)
                .map_err(|e| Error::io("reading WAL segment size", &path, e))?
                .len();
        }
        Ok(total)
    }
}

/// Replays one segment; truncates a damaged tail if it is the newest.
fn replay_segment(
    path: &Path,
    newest: bool,
    on_record: &mut impl FnMut(Record) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| Error::io("reading a WAL segment", path, e))?;
    report.segments += 1;
    let mut damage = |offset: usize, reason: &'static str| -> Result<()> {
        if newest {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io("opening a WAL segment to truncate it", path, e))?;
            file.set_len(offset as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("truncating a WAL segment", path, e))?;
        }
        report.damage.push(WalDamage {
            segment: path.to_owned(),
            offset: offset as u64,
            reason,
            truncated: newest,
        });
        Ok(())
    };
    if bytes.len() < SEGMENT_MAGIC.len() || bytes[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        let reason = if SEGMENT_MAGIC.starts_with(&bytes) {
            "segment header cut short"
        } else {
            "not a WAL segment (bad magic)"
        };
        if newest && SEGMENT_MAGIC.starts_with(&bytes) {
            // A crash while creating the file: nothing was in it.
            fs::remove_file(path)
                .map_err(|e| Error::io("removing an empty WAL segment", path, e))?;
            report.damage.push(WalDamage {
                segment: path.to_owned(),
                offset: 0,
                reason,
                truncated: true,
            });
            return Ok(());
        }
        report.damage.push(WalDamage {
            segment: path.to_owned(),
            offset: 0,
            reason,
            truncated: false,
        });
        return Ok(());
    }
    let mut pos = SEGMENT_MAGIC.len();
    while pos < bytes.len() {
        if bytes[pos..].iter().all(|&b| b == 0) {
            // The zero padding of a direct write: the end of the segment
            // (no record starts with a zero length and a zero checksum).
            break;
        }
        match read_frame(&bytes[pos..]) {
            Framed::Record { kind, payload, len } => match decode(kind, payload) {
                Ok(record) => {
                    match &record {
                        Record::Entries { entries, .. } => {
                            report.entries += entries.len() as u64;
                        }
                        Record::Chunk { chunk, .. } => {
                            report.chunks += 1;
                            // A chunk that does not open is reported by the
                            // engine restoring it; its entries count as none.
                            report.entries += loki_chunk::Chunk::open(chunk.clone())
                                .map_or(0, |c| c.stats().entries);
                        }
                        Record::Series { .. } => {}
                    }
                    report.records += 1;
                    on_record(record)?;
                    pos += len;
                }
                Err(_) => return damage(pos, "record does not decode"),
            },
            Framed::Torn => return damage(pos, "torn record at the end"),
            Framed::Damaged(reason) => return damage(pos, reason),
        }
    }
    Ok(())
}
