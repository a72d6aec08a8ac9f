//! The write-ahead log: every accepted batch is appended (length-framed,
//! checksummed) and synced before the write is acknowledged, and replayed on
//! start-up.
//!
//! The log is a directory of numbered segment files (`00000001.wal`, …).
//! Writes go to the newest; a segment is closed when it passes the segment
//! size, and each segment repeats the series records its entries need, so
//! older segments can be deleted once their data is flushed or checkpointed.
//!
//! A checkpoint (`checkpoint.N`) holds all live data logged before segment
//! `N` and replaces those segments. Replay reads the newest checkpoint, then
//! every segment from `N` on, in order. A torn or damaged tail of the newest
//! segment (a crash in the middle of a write) is truncated at the last good
//! record and reported; damage inside an older segment skips the rest of
//! that segment, reported too. Nothing in the log can make replay panic.

mod record;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use record::{decode, encode_entries, encode_series, read_frame, Framed, SEGMENT_MAGIC};
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
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            fsync: FsyncPolicy::EveryBatch,
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
}

/// One entry to append: `(timestamp, line, metadata)`.
pub type EntryRef<'a> = (i64, &'a [u8], &'a [(String, String)]);

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
    /// Entries replayed.
    pub entries: u64,
    /// Damage found, if any.
    pub damage: Vec<WalDamage>,
}

/// The write-ahead log. See the [module docs](self).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: File,
    segment: u64,
    size: u64,
    /// Streams whose series record is in the current segment.
    series_written: HashSet<u64>,
    buf: Vec<u8>,
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

    fn create_segment(dir: PathBuf, options: WalOptions, segment: u64) -> Result<Wal> {
        let path = segment_path(&dir, segment);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("creating a WAL segment", &path, e))?;
        file.write_all(&SEGMENT_MAGIC)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("writing a WAL segment", &path, e))?;
        sync_dir(&dir)?;
        Ok(Wal {
            dir,
            options,
            file,
            segment,
            size: SEGMENT_MAGIC.len() as u64,
            series_written: HashSet::new(),
            buf: Vec::new(),
        })
    }

    /// Appends a batch and, with [`FsyncPolicy::EveryBatch`], syncs it
    /// before returning: once this returns `Ok`, the batch survives a crash.
    ///
    /// # Errors
    /// I/O errors; the batch must then be treated as not written.
    pub fn append(&mut self, batch: &[StreamBatch<'_>]) -> Result<()> {
        self.encode(batch);
        if self.size + self.buf.len() as u64 > self.options.segment_size
            && self.size > SEGMENT_MAGIC.len() as u64
        {
            self.rotate()?;
            self.encode(batch); // series records are repeated in the new segment
        }
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io("appending to the WAL", &path, e))?;
        self.size += self.buf.len() as u64;
        if self.options.fsync == FsyncPolicy::EveryBatch {
            self.file
                .sync_data()
                .map_err(|e| Error::io("syncing the WAL", &path, e))?;
        }
        Ok(())
    }

    fn encode(&mut self, batch: &[StreamBatch<'_>]) {
        self.buf.clear();
        for part in batch {
            if self.series_written.insert(part.stream) {
                encode_series(&mut self.buf, part.stream, part.tenant, part.labels);
            }
            encode_entries(&mut self.buf, part.stream, part.entries.iter().copied());
        }
    }

    /// Closes the current segment and starts the next; returns the new
    /// segment's number. Everything before it can later be removed with
    /// [`remove_segments_before`](Self::remove_segments_before).
    ///
    /// # Errors
    /// I/O errors.
    pub fn rotate(&mut self) -> Result<u64> {
        let path = segment_path(&self.dir, self.segment);
        self.file
            .sync_data()
            .map_err(|e| Error::io("syncing the WAL", &path, e))?;
        let next = Wal::create_segment(self.dir.clone(), self.options, self.segment + 1)?;
        *self = next;
        Ok(self.segment)
    }

    /// Deletes every segment numbered below `segment`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove_segments_before(&mut self, segment: u64) -> Result<usize> {
        let mut removed = 0;
        for old in list_segments(&self.dir)?
            .into_iter()
            .filter(|&s| s < segment)
        {
            let path = segment_path(&self.dir, old);
            fs::remove_file(&path).map_err(|e| Error::io("removing a WAL segment", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Writes a checkpoint: every batch `live` yields, as one file that
    /// replaces all segments before `segment` (a number [`rotate`](Self::rotate)
    /// returned, taken when the live data held everything logged before it).
    /// The file is complete on disk before any segment is deleted; a crash
    /// in between leaves the old segments, and replay drops the duplicates.
    ///
    /// # Errors
    /// I/O errors; the old segments are then kept.
    pub fn write_checkpoint<'a>(
        &mut self,
        segment: u64,
        live: impl IntoIterator<Item = StreamBatch<'a>>,
    ) -> Result<()> {
        let tmp = self.dir.join(format!("checkpoint.{segment:08}.tmp"));
        let mut file =
            File::create(&tmp).map_err(|e| Error::io("creating a checkpoint", &tmp, e))?;
        let mut buf = SEGMENT_MAGIC.to_vec();
        for part in live {
            encode_series(&mut buf, part.stream, part.tenant, part.labels);
            encode_entries(&mut buf, part.stream, part.entries.iter().copied());
            if buf.len() > 4 << 20 {
                file.write_all(&buf)
                    .map_err(|e| Error::io("writing a checkpoint", &tmp, e))?;
                buf.clear();
            }
        }
        file.write_all(&buf)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("writing a checkpoint", &tmp, e))?;
        let done = checkpoint_path(&self.dir, segment);
        fs::rename(&tmp, &done).map_err(|e| Error::io("completing a checkpoint", &done, e))?;
        sync_dir(&self.dir)?;
        self.remove_segments_before(segment)?;
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
                .is_some_and(|n| n < segment);
            if older {
                fs::remove_file(&path)
                    .map_err(|e| Error::io("removing an old checkpoint", &path, e))?;
            }
        }
        Ok(())
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
        match read_frame(&bytes[pos..]) {
            Framed::Record { kind, payload, len } => match decode(kind, payload) {
                Ok(record) => {
                    if let Record::Entries { entries, .. } = &record {
                        report.entries += entries.len() as u64;
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
