//! The write-ahead log through its public API: replay, rotation, torn and
//! damaged tails.

use std::path::Path;

use loki_store::wal::{
    CheckpointStream, EntryRef, FsyncPolicy, Record, StreamBatch, Wal, WalEntry, WalOptions,
};
use proptest::prelude::*;

type Logged = Vec<(u64, WalEntry)>;

fn labels(stream: u64) -> Vec<(String, String)> {
    vec![("stream".to_owned(), stream.to_string())]
}

/// Appends one batch per item: `(stream, entries)`.
fn write(dir: &Path, options: WalOptions, batches: &[(u64, Vec<WalEntry>)]) {
    let (mut wal, _) = Wal::open(dir, options, |_| Ok(())).unwrap();
    for (stream, entries) in batches {
        let labels = labels(*stream);
        let refs: Vec<EntryRef<'_>> = entries
            .iter()
            .map(|e| (e.timestamp, e.line.as_slice(), e.metadata.as_slice()))
            .collect();
        wal.append(&[StreamBatch {
            stream: *stream,
            tenant: "t",
            labels: &labels,
            entries: &refs,
        }])
        .unwrap();
    }
}

/// Replays, checking that every entries record follows its series record
/// in the same segment stream.
fn replay(dir: &Path) -> (Logged, loki_store::wal::ReplayReport) {
    let mut known = std::collections::HashSet::new();
    let mut out = Vec::new();
    let (_, report) = Wal::open(dir, WalOptions::default(), |record| {
        match record {
            Record::Series {
                stream,
                tenant,
                labels: l,
            } => {
                assert_eq!((tenant.as_str(), l), ("t", labels(stream)));
                known.insert(stream);
            }
            Record::Entries { stream, entries } => {
                assert!(known.contains(&stream), "entries before their series");
                out.extend(entries.into_iter().map(|e| (stream, e)));
            }
            other => panic!("segments hold no {other:?}"),
        }
        Ok(())
    })
    .unwrap();
    (out, report)
}

fn entry(i: i64) -> WalEntry {
    WalEntry {
        timestamp: i,
        line: format!("line number {i}").into_bytes(),
        metadata: if i % 3 == 0 {
            vec![("k".into(), format!("v{i}").into())]
        } else {
            vec![]
        },
    }
}

fn flatten(batches: &[(u64, Vec<WalEntry>)]) -> Logged {
    batches
        .iter()
        .flat_map(|(s, es)| es.iter().map(move |e| (*s, e.clone())))
        .collect()
}

#[test]
fn replays_everything_across_rotations_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default()
        .segment_size(300)
        .fsync(FsyncPolicy::Never);
    let batches: Vec<(u64, Vec<WalEntry>)> = (0..40)
        .map(|i| (i as u64 % 4, vec![entry(i), entry(i + 100)]))
        .collect();
    write(dir.path(), options, &batches[..20]);
    write(dir.path(), options, &batches[20..]);
    let (got, report) = replay(dir.path());
    assert_eq!(got, flatten(&batches));
    assert!(
        report.segments > 5,
        "small segments rotate: {}",
        report.segments
    );
    assert!(report.damage.is_empty());
}

#[test]
fn removing_old_segments_keeps_newer_ones_replayable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(())).unwrap();
    let l = labels(1);
    let first = [(1i64, &b"old"[..], &[][..])];
    wal.append(&[StreamBatch {
        stream: 1,
        tenant: "t",
        labels: &l,
        entries: &first,
    }])
    .unwrap();
    let keep_from = wal.rotate().unwrap();
    let second = [(2i64, &b"new"[..], &[][..])];
    wal.append(&[StreamBatch {
        stream: 1,
        tenant: "t",
        labels: &l,
        entries: &second,
    }])
    .unwrap();
    assert!(wal.remove_segments_before(keep_from).unwrap() >= 1);
    drop(wal);
    let (got, _) = replay(dir.path());
    assert_eq!(
        got.iter().map(|(_, e)| e.line.clone()).collect::<Vec<_>>(),
        [b"new".to_vec()]
    );
}

fn newest_segment(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // The last file is the empty segment the final open created; the data
    // is in the one before it.
    files
        .into_iter()
        .rev()
        .find(|p| records_end(&std::fs::read(p).unwrap()) > 8)
        .unwrap()
}

/// Where a segment's records end: the zero padding a direct write leaves
/// after them is not part of the log.
fn records_end(bytes: &[u8]) -> usize {
    let mut pos = 8;
    while pos + 9 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
        if len == 0 && crc == 0 {
            break;
        }
        pos += 9 + len;
    }
    pos.min(bytes.len())
}

#[test]
fn a_torn_tail_is_truncated_at_the_last_good_record_at_every_cut() {
    let batches: Vec<(u64, Vec<WalEntry>)> = (0..4).map(|i| (1, vec![entry(i)])).collect();
    let template = tempfile::tempdir().unwrap();
    write(template.path(), WalOptions::default(), &batches);
    let mut full = std::fs::read(newest_segment(template.path())).unwrap();
    full.truncate(records_end(&full));
    let want = flatten(&batches);
    for cut in 0..full.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00000001.wal"), &full[..cut]).unwrap();
        let (got, report) = replay(dir.path());
        assert!(
            want.starts_with(&got),
            "cut at {cut}: replay is not a prefix"
        );
        // A cut on a record boundary is indistinguishable from a shorter
        // log; any other cut is reported and truncated where it starts.
        for damage in &report.damage {
            assert!(
                damage.truncated && damage.offset <= cut as u64,
                "cut at {cut}: {damage:?}"
            );
        }
        // After truncation, appending and replaying again works.
        write(dir.path(), WalOptions::default(), &[(2, vec![entry(99)])]);
        let (again, report) = replay(dir.path());
        assert!(
            report.damage.is_empty(),
            "cut at {cut}: damage left after truncation"
        );
        assert_eq!(again.len(), got.len() + 1);
        assert_eq!(again.last().unwrap().1, entry(99));
    }
}

#[test]
fn damage_inside_an_older_segment_skips_only_the_rest_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default().segment_size(200);
    let batches: Vec<(u64, Vec<WalEntry>)> = (0..12).map(|i| (1, vec![entry(i)])).collect();
    write(dir.path(), options, &batches);
    let first = dir.path().join("00000001.wal");
    let mut bytes = std::fs::read(&first).unwrap();
    let last = records_end(&bytes) - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let (got, report) = replay(dir.path());
    assert_eq!(report.damage.len(), 1);
    assert!(
        !report.damage[0].truncated,
        "older segments are never truncated"
    );
    assert_eq!(got.len(), 11, "one entry lost, the rest replayed");
    assert_eq!(got.last().unwrap().1, entry(11));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replay_after_any_damage_is_a_prefix(
        batches in proptest::collection::vec((0u64..5, proptest::collection::vec(any::<i64>().prop_map(entry), 1..4)), 1..12),
        cut in any::<proptest::sample::Index>(),
        flip in any::<Option<(proptest::sample::Index, u8)>>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), WalOptions::default().fsync(FsyncPolicy::Never), &batches);
        let path = newest_segment(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(cut.index(bytes.len() + 1));
        if let (Some((at, mask)), false) = (flip, bytes.is_empty()) {
            let at = at.index(bytes.len());
            bytes[at] ^= mask.max(1);
        }
        std::fs::write(&path, &bytes).unwrap();
        let (got, _) = replay(dir.path());
        let want = flatten(&batches);
        prop_assert!(want.starts_with(&got));
    }
}

/// Writers that arrive while an fsync is in flight share the next one, and
/// each commit returns only once its own batch is synced.
#[test]
fn concurrent_writers_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(())).unwrap();
    let wal = std::sync::Mutex::new(wal);
    const THREADS: i64 = 16;
    const BATCHES: i64 = 20;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let wal = &wal;
            scope.spawn(move || {
                for b in 0..BATCHES {
                    let e = entry(t * BATCHES + b);
                    let entries: Vec<EntryRef<'_>> =
                        vec![(e.timestamp, e.line.as_slice(), e.metadata.as_slice())];
                    let labels = labels(t as u64 + 1);
                    let commit = wal
                        .lock()
                        .unwrap()
                        .write(&[StreamBatch {
                            stream: t as u64 + 1,
                            tenant: "t",
                            labels: &labels,
                            entries: &entries,
                        }])
                        .unwrap();
                    commit.wait().unwrap();
                }
            });
        }
    });
    let stats = wal.lock().unwrap().stats();
    assert_eq!(stats.appends, (THREADS * BATCHES) as u64);
    assert!(stats.fsyncs < stats.appends, "{stats:?}");
    drop(wal);
    let (logged, report) = replay(dir.path());
    assert!(report.damage.is_empty());
    assert_eq!(logged.len(), (THREADS * BATCHES) as usize);
}

/// With direct I/O every write is whole zero-padded blocks; replay reads the
/// padding as the end, reports no damage, and loses nothing.
#[test]
fn direct_writes_are_padded_blocks_and_replay_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<(u64, Vec<WalEntry>)> =
        (0..50).map(|i| (i as u64 % 3, vec![entry(i)])).collect();
    write(dir.path(), WalOptions::default().direct_io(true), &batches);
    let (got, report) = replay(dir.path());
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(got, flatten(&batches));
    let bytes = std::fs::read(newest_segment(dir.path())).unwrap();
    let end = records_end(&bytes);
    assert!(bytes[end..].iter().all(|&b| b == 0));
    // Where the filesystem does direct I/O, files are whole blocks.
    let buffered = tempfile::tempdir().unwrap();
    write(
        buffered.path(),
        WalOptions::default().direct_io(false),
        &batches,
    );
    let plain = std::fs::read(newest_segment(buffered.path())).unwrap();
    assert_eq!(plain.len(), end, "buffered writes hold just the records");
    assert_eq!(plain[..], bytes[..end]);
}

/// A checkpoint written with direct I/O, over several spills and with
/// records far larger than a block, holds exactly the bytes a buffered one
/// does (no padding left at its end) and replays the same records.
#[test]
fn direct_and_buffered_checkpoints_hold_the_same_bytes() {
    let closed: Vec<bytes::Bytes> = (0..5u8)
        .map(|i| bytes::Bytes::from(vec![i + 1; 1_700_000 + usize::from(i) * 4099]))
        .collect();
    let entries: Vec<WalEntry> = (0..20_000).map(entry).collect();
    let refs: Vec<EntryRef<'_>> = entries
        .iter()
        .map(|e| (e.timestamp, e.line.as_slice(), e.metadata.as_slice()))
        .collect();
    let written = |direct: bool| -> (Vec<u8>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions::default().direct_io(direct);
        let (wal, _) = Wal::open(dir.path(), options, |_| Ok(())).unwrap();
        let mut checkpoint = wal.begin_checkpoint(wal.current_segment()).unwrap();
        for stream in 0..3 {
            let labels = labels(stream);
            checkpoint
                .add(&CheckpointStream {
                    head: StreamBatch {
                        stream,
                        tenant: "t",
                        labels: &labels,
                        entries: &refs,
                    },
                    closed: &closed,
                    open: Some(&closed[4]),
                })
                .unwrap();
        }
        checkpoint.finish().unwrap();
        drop(wal);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("checkpoint.")
            })
            .unwrap();
        let bytes = std::fs::read(file).unwrap();
        let (_, report) = Wal::open(dir.path(), options, |_| Ok(())).unwrap();
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        (bytes, report.records)
    };
    let (direct, direct_records) = written(true);
    let (buffered, buffered_records) = written(false);
    assert!(direct.len() > 3 * 5 * 1_700_000);
    assert_eq!(direct.len(), buffered.len());
    assert!(direct == buffered, "the same bytes either way");
    // Per stream: its series, five closed chunks, the open one, entries.
    assert_eq!((direct_records, buffered_records), (3 * 8, 3 * 8));
}
