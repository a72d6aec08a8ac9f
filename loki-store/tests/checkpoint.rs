//! WAL checkpoints of compressed chunks: what they hold, that a restart
//! replays them to exactly the entries acknowledged, that checkpoints of
//! entries only (the older format) still replay, and that chunks cut for
//! size are flushed at the next flush check.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use loki_chunk::{ChunkBuilder, Direction};
use loki_index::{Labels, MatchOp, Matcher, Selector};
use loki_store::wal::{CheckpointStream, Record, StreamBatch, Wal, WalOptions};
use loki_store::{Clock, Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;

fn config(dir: &Path, now: Arc<AtomicI64>) -> StoreConfig {
    let mut config = StoreConfig::filesystem(dir);
    config.limits = Limits::unlimited();
    config.clock = Clock::from_fn(move || now.load(Ordering::Relaxed));
    config
}

fn selector() -> Selector {
    Selector::new(vec![Matcher::new("app", MatchOp::Equal, "shop").unwrap()]).unwrap()
}

/// Every `(stream, timestamp, line, metadata)` readable, in stream and time
/// order.
async fn everything(store: &Store) -> Vec<(String, i64, String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for stream in store
        .select(
            "t",
            &selector(),
            i64::MIN,
            i64::MAX,
            Direction::Forward,
            1_000_000,
        )
        .await
        .unwrap()
    {
        for e in stream.entries {
            let metadata = e.metadata.clone();
            out.push((
                format!("{:?}", stream.labels),
                e.timestamp,
                e.line,
                metadata,
            ));
        }
    }
    out.sort();
    out
}

/// Replays the WAL directory, counting `(closed chunks, open chunks, entries)`.
fn checkpoint_contents(dir: &Path) -> (usize, usize, u64) {
    let (mut closed, mut open, mut entries) = (0, 0, 0);
    let _ = Wal::open(&dir.join("wal"), WalOptions::default(), |record| {
        match record {
            Record::Chunk { open: true, .. } => open += 1,
            Record::Chunk { open: false, .. } => closed += 1,
            Record::Entries { entries: e, .. } => entries += e.len() as u64,
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    (closed, open, entries)
}

fn checkpoint_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint."))
        })
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn entry(timestamp: i64, line: String, trace: Option<&str>) -> PushEntry {
    let mut entry = PushEntry::new(timestamp, line);
    if let Some(trace) = trace {
        entry.metadata = vec![("trace_id".into(), trace.into())];
    }
    entry
}

#[tokio::test]
async fn a_checkpoint_holds_compressed_chunks_and_replays_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now.clone());
    cfg.chunk = cfg.chunk.block_size(4 * 1024);
    let store = Store::open(cfg.clone()).await.unwrap();
    let mut raw = 0;
    for round in 0..40i64 {
        let mut streams = Vec::new();
        for s in 0..3 {
            let labels = Labels::new([("app", "shop"), ("pod", ["a", "b", "c"][s])]).unwrap();
            // Mostly in order, every fifth entry a little in the past, and
            // every entry of round 7 pushed twice (dropped as duplicates).
            let entries: Vec<PushEntry> = (0..50i64)
                .map(|i| {
                    let n = round * 50 + i;
                    let ts = BASE + if i % 5 == 0 { n - 30 } else { n } * 1_000;
                    let trace = (i % 3 == 0).then_some("4bf92f35");
                    entry(
                        ts,
                        format!("level=info msg=\"request served\" n={n}"),
                        trace,
                    )
                })
                .collect();
            raw += entries.iter().map(|e| e.line.len()).sum::<usize>();
            streams.push(PushStream {
                labels: labels.clone(),
                entries: entries.clone(),
            });
            if round == 7 {
                streams.push(PushStream { labels, entries });
            }
        }
        store.push_at("t", streams, BASE).await.unwrap();
    }
    let before = everything(&store).await;
    assert_eq!(before.len(), 3 * 40 * 50);

    // Nothing is due: the flush only checkpoints what memory holds.
    let summary = store.flush(false).await.unwrap();
    assert_eq!(summary.chunks, 0);
    let (closed, open, entries) = checkpoint_contents(dir.path());
    assert_eq!(
        (closed, open),
        (0, 3),
        "each stream's cut blocks as one chunk"
    );
    assert!(
        entries < 3 * 40 * 50 / 2,
        "only the heads as entries: {entries}"
    );
    let size = checkpoint_size(dir.path());
    assert!(
        size * 3 < raw as u64,
        "checkpoint of {size} bytes for {raw} bytes of lines"
    );

    // More after the checkpoint, in the new segment; then a restart.
    let labels = Labels::new([("app", "shop"), ("pod", "a")]).unwrap();
    let late = vec![
        entry(BASE + 5, "late".into(), None),
        entry(BASE + 99_999_000, "last".into(), Some("x")),
    ];
    store
        .push_at(
            "t",
            vec![PushStream {
                labels,
                entries: late,
            }],
            BASE,
        )
        .await
        .unwrap();
    let mut want = everything(&store).await;
    assert_eq!(want.len(), before.len() + 2);
    drop(store);

    let store = Store::open(cfg.clone()).await.unwrap();
    assert_eq!(everything(&store).await, want);
    // A second checkpoint, of the replayed state and one more entry (a
    // flush with nothing new leaves the WAL alone), and another restart.
    let labels = Labels::new([("app", "shop"), ("pod", "b")]).unwrap();
    let after_restart = vec![entry(BASE + 99_999_500, "after restart".into(), None)];
    store
        .push_at(
            "t",
            vec![PushStream {
                labels,
                entries: after_restart,
            }],
            BASE,
        )
        .await
        .unwrap();
    want = everything(&store).await;
    assert_eq!(want.len(), before.len() + 3);
    store.flush(false).await.unwrap();
    drop(store);
    let store = Store::open(cfg.clone()).await.unwrap();
    assert_eq!(everything(&store).await, want);
    // Flushed to the object store, the same entries again.
    store.flush(true).await.unwrap();
    assert_eq!(store.memory_bytes(), 0);
    drop(store);
    let store = Store::open(cfg).await.unwrap();
    want.sort();
    assert_eq!(everything(&store).await, want);
}

#[tokio::test]
async fn closed_chunks_and_entries_only_checkpoints_replay() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let labels = |pod: &str| {
        vec![
            ("app".to_owned(), "shop".to_owned()),
            ("pod".to_owned(), pod.to_owned()),
        ]
    };
    {
        let (mut wal, _) =
            Wal::open(&dir.path().join("wal"), WalOptions::default(), |_| Ok(())).unwrap();
        let segment = wal.rotate().unwrap();
        // Stream 1: a closed chunk, an open chunk's cut blocks and its head.
        let mut closed = ChunkBuilder::new();
        let _ = closed.append(BASE + 1, b"closed one", &[]).unwrap();
        let _ = closed
            .append(BASE + 2, b"closed two", &[("k", "v")])
            .unwrap();
        let closed = closed.encode().unwrap();
        let mut open = ChunkBuilder::new();
        let _ = open.append(BASE + 10, b"cut", &[("k", "w")]).unwrap();
        open.cut().unwrap();
        let _ = open.append(BASE + 11, b"head", &[("k", "w")]).unwrap();
        let cut = open.encode_cut().unwrap();
        let meta: [(bytestring::ByteString, bytestring::ByteString); 1] =
            [("k".into(), "w".into())];
        let head = [(BASE + 11, &b"head"[..], &meta[..])];
        let mut checkpoint = wal.begin_checkpoint(segment).unwrap();
        let pod_a = labels("a");
        checkpoint
            .add(&CheckpointStream {
                head: StreamBatch {
                    stream: 1,
                    tenant: "t",
                    labels: &pod_a,
                    entries: &head,
                },
                closed: &[closed],
                open: Some(&cut),
            })
            .unwrap();
        // Stream 2: entries only, as checkpoints were written before chunk
        // records existed.
        let pod_b = labels("b");
        let old = [(BASE + 3, &b"old format"[..], &[][..])];
        checkpoint
            .add(&CheckpointStream {
                head: StreamBatch {
                    stream: 2,
                    tenant: "t",
                    labels: &pod_b,
                    entries: &old,
                },
                closed: &[],
                open: None,
            })
            .unwrap();
        checkpoint.finish().unwrap();
    }
    let store = Store::open(config(dir.path(), now)).await.unwrap();
    let got: Vec<(i64, String)> = everything(&store)
        .await
        .into_iter()
        .map(|(_, ts, line, _)| (ts - BASE, line))
        .collect();
    let want: Vec<(i64, String)> = [
        (1, "closed one"),
        (2, "closed two"),
        (10, "cut"),
        (11, "head"),
        (3, "old format"),
    ]
    .into_iter()
    .map(|(ts, l)| (ts, l.to_owned()))
    .collect();
    let mut sorted_want = want.clone();
    sorted_want.sort_by_key(|(ts, l)| (l == "old format", *ts));
    assert_eq!(got, sorted_want);
    // The closed chunk is flushed at the next flush check; the open one is not due.
    let summary = store.flush(false).await.unwrap();
    assert_eq!(summary.chunks, 1);
}

/// The WAL directory's files with their sizes and modification times.
fn wal_files(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_flush_with_nothing_new_leaves_the_wal_alone() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let cfg = config(dir.path(), now.clone());
    let store = Store::open(cfg.clone()).await.unwrap();
    let push = |n: i64| {
        let store = store.clone();
        async move {
            let labels = Labels::new([("app", "shop")]).unwrap();
            let entries = vec![entry(BASE + n, format!("line {n}"), None)];
            store
                .push_at("t", vec![PushStream { labels, entries }], BASE)
                .await
                .unwrap();
        }
    };
    push(1).await;
    // Something logged: the flush check checkpoints it.
    let before = wal_files(dir.path());
    store.flush(false).await.unwrap();
    let checkpointed = wal_files(dir.path());
    assert_ne!(checkpointed, before);
    assert!(checkpointed
        .iter()
        .any(|(name, ..)| name.starts_with("checkpoint.")));

    // Nothing since: neither a flush check nor a forced flush with nothing
    // open (as at shutdown, twice) touch the WAL.
    now.fetch_add(1_000_000_000, Ordering::Relaxed);
    std::thread::sleep(std::time::Duration::from_millis(20));
    store.flush(false).await.unwrap();
    assert_eq!(wal_files(dir.path()), checkpointed);
    assert_eq!(store.flush(true).await.unwrap().chunks, 1);
    let uploaded = wal_files(dir.path());
    assert_ne!(uploaded, checkpointed, "the upload is checkpointed");
    std::thread::sleep(std::time::Duration::from_millis(20));
    store.flush(true).await.unwrap();
    store.flush(false).await.unwrap();
    assert_eq!(wal_files(dir.path()), uploaded);

    // A push since the last checkpoint is checkpointed again; all of it
    // reads back after a restart.
    push(2).await;
    store.flush(false).await.unwrap();
    assert_ne!(wal_files(dir.path()), uploaded);
    drop(store);
    let store = Store::open(cfg).await.unwrap();
    let lines: Vec<String> = everything(&store)
        .await
        .into_iter()
        .map(|(_, _, line, _)| line)
        .collect();
    assert_eq!(lines, ["line 1", "line 2"]);
}

#[tokio::test]
async fn chunks_cut_for_size_are_flushed_at_the_next_check_and_freed() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now.clone());
    cfg.chunk = cfg.chunk.block_size(2 * 1024).target_size(8 * 1024);
    let store = Store::open(cfg).await.unwrap();
    let labels = Labels::new([("app", "shop")]).unwrap();
    for round in 0..20i64 {
        // Lines that hardly compress, so chunks fill after a few pushes.
        let entries = (0..20i64)
            .map(|i| {
                let n = round * 20 + i;
                let mut state = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let noise: String = (0..120)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        char::from(b'!' + (state % 90) as u8)
                    })
                    .collect();
                PushEntry::new(BASE + n, format!("{n} {noise}"))
            })
            .collect();
        store
            .push_at(
                "t",
                vec![PushStream {
                    labels: labels.clone(),
                    entries,
                }],
                BASE,
            )
            .await
            .unwrap();
    }
    let held = store.memory_bytes();
    // Neither idle nor old: only chunks cut for size are due.
    now.fetch_add(1_000_000_000, Ordering::Relaxed);
    let summary = store.flush(false).await.unwrap();
    assert!(summary.chunks >= 3, "{summary:?}");
    let after = store.memory_bytes();
    assert!(
        after * 3 < held,
        "memory {held} before the flush, {after} after"
    );
    // The checkpoint holds only the open chunk.
    let (closed, open, _) = checkpoint_contents(dir.path());
    assert_eq!((closed, open <= 1), (0, true));
    assert_eq!(everything(&store).await.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_chunks_past_the_budget_are_uploaded_before_the_flush_check() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now.clone());
    cfg.chunk = cfg.chunk.block_size(2 * 1024).target_size(8 * 1024);
    cfg.flush_check_period = std::time::Duration::from_secs(3600);
    cfg.max_sealed_bytes = 16 * 1024;
    let store = Store::open(cfg).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(store.clone().run_maintenance(async {
        let _ = stopped.await;
    }));
    // The first tick runs at once: let it pass before pushing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let labels = Labels::new([("app", "shop")]).unwrap();
    for n in 0..400i64 {
        let mut state = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let line: String = (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 90) as u8)
            })
            .collect();
        let entries = vec![PushEntry::new(BASE + n, line)];
        store
            .push_at(
                "t",
                vec![PushStream {
                    labels: labels.clone(),
                    entries,
                }],
                BASE,
            )
            .await
            .unwrap();
    }
    // Pushed about 80 KB of lines that hardly compress: most of it closed,
    // and uploaded without waiting an hour for the flush check.
    let mut held = store.memory_bytes();
    for _ in 0..100 {
        if held < 32 * 1024 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        held = store.memory_bytes();
    }
    assert!(held < 32 * 1024, "still {held} bytes held");
    assert_eq!(everything(&store).await.len(), 400);
    // No checkpoint (the first tick had nothing to checkpoint, and early
    // uploads write none): the WAL segments still hold every entry.
    assert_eq!(checkpoint_size(dir.path()), 0);
    stop.send(()).unwrap();
    maintenance.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_over_the_limit_closes_and_uploads_the_largest_streams() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now.clone());
    cfg.flush_check_period = std::time::Duration::from_secs(3600);
    cfg.max_memory_bytes = Some(256 * 1024);
    let store = Store::open(cfg).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(store.clone().run_maintenance(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // One large stream and three small ones: only the large one is over.
    let mut pushed = 0;
    for n in 0..2_000i64 {
        let pod = if n % 10 < 7 {
            "big"
        } else {
            ["s1", "s2", "s3"][(n % 3) as usize]
        };
        let labels = Labels::new([("app", "shop"), ("pod", pod)]).unwrap();
        let mut state = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let line: String = (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 90) as u8)
            })
            .collect();
        pushed += line.len();
        let entries = vec![PushEntry::new(BASE + n, line)];
        store
            .push_at("t", vec![PushStream { labels, entries }], BASE)
            .await
            .unwrap();
    }
    // 400 KB pushed into chunks far from full: the limit closes them.
    assert!(pushed > 256 * 1024);
    let mut held = store.memory_bytes();
    for _ in 0..100 {
        if held <= 256 * 1024 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        held = store.memory_bytes();
    }
    assert!(held <= 256 * 1024, "still {held} bytes held");
    assert_eq!(everything(&store).await.len(), 2_000);
    stop.send(()).unwrap();
    maintenance.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_replay_report_counts_entries_restored_from_checkpoint_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now);
    cfg.chunk = cfg.chunk.block_size(2 * 1024);
    let store = Store::open(cfg.clone()).await.unwrap();
    for pod in ["a", "b"] {
        let labels = Labels::new([("app", "shop"), ("pod", pod)]).unwrap();
        let entries: Vec<PushEntry> = (0..500i64)
            .map(|n| entry(BASE + n, format!("level=info n={n} pod={pod}"), None))
            .collect();
        store
            .push_at("t", vec![PushStream { labels, entries }], BASE)
            .await
            .unwrap();
    }
    // A checkpoint: each stream's cut blocks as a chunk record, its head
    // as entries; then two entries in the new segment.
    store.flush(false).await.unwrap();
    let (closed, open, head_entries) = checkpoint_contents(dir.path());
    assert_eq!((closed, open), (0, 2));
    assert!(head_entries < 1000, "most entries are in chunk records");
    let labels = Labels::new([("app", "shop"), ("pod", "a")]).unwrap();
    let late = vec![
        entry(BASE + 1_000, "late 1".into(), None),
        entry(BASE + 1_001, "late 2".into(), None),
    ];
    store
        .push_at(
            "t",
            vec![PushStream {
                labels,
                entries: late,
            }],
            BASE,
        )
        .await
        .unwrap();
    drop(store);

    let (store, report) = Store::open_with_report(cfg).await.unwrap();
    assert_eq!(report.chunks, 2);
    assert_eq!(report.entries, 1002, "{report:?}");
    assert_eq!(everything(&store).await.len(), 1002);
}

/// Under heavy ingest the WAL is checkpointed (and truncated) once it has
/// grown by `wal_checkpoint_bytes`, long before the flush check period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_when_it_passes_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut cfg = config(dir.path(), now);
    cfg.flush_check_period = std::time::Duration::from_secs(3600);
    cfg.wal_checkpoint_bytes = Some(256 << 10);
    let store = Store::open(cfg).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(store.clone().run_maintenance(async {
        let _ = stopped.await;
    }));
    let labels = Labels::new([("app", "shop")]).unwrap();
    let mut n = 0i64;
    // 4 MiB in pushes of 64 KiB.
    for _ in 0..64 {
        let entries: Vec<PushEntry> = (0..64)
            .map(|_| {
                n += 1;
                entry(BASE + n, format!("{n:>1020}"), None)
            })
            .collect();
        store
            .push_at(
                "t",
                vec![PushStream {
                    labels: labels.clone(),
                    entries,
                }],
                BASE,
            )
            .await
            .unwrap();
    }
    // The last checkpoint may still be running: wait for it (bounded).
    let mut wal = store.wal_bytes().unwrap();
    for _ in 0..500 {
        if wal < 1 << 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        wal = store.wal_bytes().unwrap();
    }
    assert!(
        wal < 1 << 20,
        "{wal} bytes of WAL segments after 4 MiB logged"
    );
    assert!(checkpoint_size(dir.path()) > 0);
    stop.send(()).unwrap();
    maintenance.await.unwrap().unwrap();
    assert_eq!(everything(&store).await.len(), 64 * 64);
}
