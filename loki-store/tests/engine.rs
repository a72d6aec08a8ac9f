//! The engine through its public API: tenants, limits, deletion,
//! retention, label queries and damaged stored data.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loki_chunk::Direction;
use loki_index::{Labels, MatchOp, Matcher, Selector};
use loki_store::{
    Clock, DeleteStatus, Error, Limits, PushEntry, PushStream, RefusalKind, RetentionRule, Store,
    StoreConfig,
};

const BASE: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn selector(name: &str, value: &str) -> Selector {
    Selector::new(vec![Matcher::new(name, MatchOp::Equal, value).unwrap()]).unwrap()
}

fn push(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> Vec<PushStream> {
    vec![PushStream {
        labels: Labels::new(labels.iter().copied()).unwrap(),
        entries: entries
            .iter()
            .map(|(ts, line)| PushEntry::new(*ts, *line))
            .collect(),
    }]
}

async fn lines(store: &Store, tenant: &str, sel: &Selector) -> Vec<String> {
    store
        .select(tenant, sel, 0, i64::MAX, Direction::Forward, 10_000)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|s| s.entries.into_iter().map(|e| e.line))
        .collect()
}

fn test_config(dir: &std::path::Path, now: Arc<AtomicI64>) -> StoreConfig {
    let mut config = StoreConfig::filesystem(dir);
    config.limits = Limits::unlimited();
    config.clock = Clock::from_fn(move || now.load(Ordering::Relaxed));
    config
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let store = Store::open(StoreConfig::in_memory()).await.unwrap();
    store
        .push_at("a", push(&[("app", "shop")], &[(BASE, "from a")]), BASE)
        .await
        .unwrap();
    store
        .push_at("b", push(&[("app", "shop")], &[(BASE, "from b")]), BASE)
        .await
        .unwrap();
    for flushed in [false, true] {
        assert_eq!(
            lines(&store, "a", &selector("app", "shop")).await,
            ["from a"],
            "flushed: {flushed}"
        );
        assert_eq!(
            lines(&store, "b", &selector("app", "shop")).await,
            ["from b"],
            "flushed: {flushed}"
        );
        assert!(lines(&store, "c", &selector("app", "shop"))
            .await
            .is_empty());
        store.flush(true).await.unwrap();
    }
    assert!(matches!(
        store.push_at("../x", Vec::new(), BASE).await,
        Err(Error::InvalidTenant { .. })
    ));
}

#[tokio::test]
async fn limits_refuse_with_loki_s_statuses_and_messages() {
    let mut config = StoreConfig::in_memory();
    config.limits.max_streams_per_tenant = 1;
    config.limits.max_line_size = 10;
    config.limits.ingestion_rate_bytes = 100.0;
    config.limits.ingestion_burst_bytes = 100.0;
    let store = Store::open(config).await.unwrap();

    let summary = store
        .push_at(
            "t",
            push(
                &[("app", "one")],
                &[(BASE, "ok"), (BASE + 1, "far too long a line")],
            ),
            BASE,
        )
        .await
        .unwrap();
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.refusals[0].kind, RefusalKind::LineTooLong);
    assert!(
        summary.refusals[0]
            .message
            .contains("Max entry size '10' bytes exceeded"),
        "{:?}",
        summary.refusals
    );
    assert_eq!(summary.http_status(), 400);

    let summary = store
        .push_at("t", push(&[("app", "two")], &[(BASE, "x")]), BASE)
        .await
        .unwrap();
    assert_eq!(summary.refusals[0].kind, RefusalKind::StreamLimit);
    assert_eq!(summary.http_status(), 429);

    // Out of order beyond the window (max_chunk_age / 2 = 1h), and a
    // duplicate of the previous entry.
    let summary = store
        .push_at(
            "t",
            push(
                &[("app", "one")],
                &[(BASE - 2 * 3600 * SECOND, "old"), (BASE, "ok")],
            ),
            BASE,
        )
        .await
        .unwrap();
    assert_eq!(summary.refusals[0].kind, RefusalKind::OutOfOrder);
    assert!(
        summary.refusals[0]
            .message
            .starts_with("entry too far behind"),
        "{:?}",
        summary.refusals
    );
    assert_eq!(summary.duplicates, 1);

    let err = store
        .push_at(
            "t",
            push(
                &[("app", "one")],
                &[(BASE, &"y".repeat(10)); 20].map(|(t, l)| (t, l.as_str())),
            ),
            BASE,
        )
        .await;
    assert!(matches!(err, Err(Error::RateLimited { .. })), "{err:?}");
}

#[tokio::test]
async fn deleted_entries_vanish_at_once_and_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    let entries: Vec<(i64, String)> = (0..10)
        .map(|i| (BASE + i * SECOND, format!("line {i}")))
        .collect();
    let refs: Vec<(i64, &str)> = entries.iter().map(|(t, l)| (*t, l.as_str())).collect();
    store
        .push_at("t", push(&[("app", "shop"), ("env", "prod")], &refs), BASE)
        .await
        .unwrap();
    store
        .push_at(
            "t",
            push(&[("app", "shop"), ("env", "dev")], &refs[..2]),
            BASE,
        )
        .await
        .unwrap();
    store.flush(true).await.unwrap();

    let sel = selector("env", "prod");
    let request = store
        .add_delete_request("t", &sel, BASE + 2 * SECOND, BASE + 4 * SECOND)
        .await
        .unwrap();
    let want: Vec<String> = [0, 1, 5, 6, 7, 8, 9]
        .iter()
        .map(|i| format!("line {i}"))
        .collect();
    assert_eq!(
        lines(&store, "t", &sel).await,
        want,
        "hidden before the compactor runs"
    );
    assert_eq!(
        lines(&store, "t", &selector("env", "dev")).await.len(),
        2,
        "other streams untouched"
    );

    let other = store
        .add_delete_request("t", &selector("env", "dev"), 0, i64::MAX)
        .await
        .unwrap();
    assert!(store.cancel_delete_request("t", &other.id).await.unwrap());
    assert_eq!(
        lines(&store, "t", &selector("env", "dev")).await.len(),
        2,
        "cancelled: nothing hidden"
    );

    let summary = store.compact().await.unwrap();
    assert_eq!(summary.chunks_rewritten, 1);
    let statuses: Vec<DeleteStatus> = store
        .delete_requests("t")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [DeleteStatus::Processed, DeleteStatus::Cancelled]);
    assert_eq!(lines(&store, "t", &sel).await, want);
    drop(store);

    // After a restart the rewritten chunk is all there is.
    let store = Store::open(test_config(dir.path(), now)).await.unwrap();
    assert_eq!(lines(&store, "t", &sel).await, want);
    assert_eq!(store.delete_requests("t")[0].id, request.id);
    assert_eq!(
        lines(&store, "t", &selector("app", "shop")).await.len(),
        want.len() + 2
    );
}

#[tokio::test]
async fn retention_deletes_expired_chunks_per_stream_rule() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let mut config = test_config(dir.path(), now.clone());
    config.limits.retention_period = Some(Duration::from_secs(24 * 3600));
    config.limits.retention_streams = vec![RetentionRule {
        selector: selector("env", "dev"),
        period: Duration::from_secs(3600),
    }];
    let store = Store::open(config).await.unwrap();
    store
        .push_at("t", push(&[("env", "prod")], &[(BASE, "prod line")]), BASE)
        .await
        .unwrap();
    store
        .push_at("t", push(&[("env", "dev")], &[(BASE, "dev line")]), BASE)
        .await
        .unwrap();
    store.flush(true).await.unwrap();

    now.store(BASE + 2 * 3600 * SECOND, Ordering::Relaxed);
    let summary = store.compact().await.unwrap();
    assert_eq!(summary.chunks_deleted, 1);
    assert!(
        lines(&store, "t", &selector("env", "dev")).await.is_empty(),
        "past its stream's 1h"
    );
    assert_eq!(
        lines(&store, "t", &selector("env", "prod")).await,
        ["prod line"],
        "within the tenant's 24h"
    );

    now.store(BASE + 25 * 3600 * SECOND, Ordering::Relaxed);
    store.compact().await.unwrap();
    assert!(lines(&store, "t", &selector("env", "prod"))
        .await
        .is_empty());
    assert_eq!(
        summary.segments_after, 1,
        "segments of a period are merged into one"
    );
}

#[tokio::test]
async fn label_queries_cover_memory_and_store() {
    let store = Store::open(StoreConfig::in_memory()).await.unwrap();
    store
        .push_at(
            "t",
            push(&[("app", "shop"), ("env", "prod")], &[(BASE, "a")]),
            BASE,
        )
        .await
        .unwrap();
    store.flush(true).await.unwrap();
    store
        .push_at(
            "t",
            push(&[("app", "cart"), ("pod", "p1")], &[(BASE, "b")]),
            BASE,
        )
        .await
        .unwrap();
    assert_eq!(
        store.label_names("t", None, 0, i64::MAX).await.unwrap(),
        ["app", "env", "pod"]
    );
    assert_eq!(
        store
            .label_values("t", "app", None, 0, i64::MAX)
            .await
            .unwrap(),
        ["cart", "shop"]
    );
    let sel = selector("app", "shop");
    assert_eq!(
        store
            .series("t", Some(&sel), 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .label_values("t", "app", None, 0, BASE - 1)
            .await
            .unwrap()
            .is_empty(),
        "time range applies"
    );
}

#[tokio::test]
async fn chunk_options_the_writer_refuses_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    for (options, what) in [
        (
            loki_chunk::ChunkOptions::default().block_size(0),
            "block size",
        ),
        (
            loki_chunk::ChunkOptions::default().block_size(2 << 30),
            "block size",
        ),
        (
            loki_chunk::ChunkOptions::default().zstd_level(23),
            "zstd level",
        ),
    ] {
        let mut config = StoreConfig::filesystem(dir.path());
        config.chunk = options;
        let Err(err) = Store::open(config).await else {
            panic!("{what}: opened");
        };
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
    // Nothing was created for a store that never opened.
    assert!(walk(dir.path()).is_empty(), "{:?}", walk(dir.path()));
}

#[tokio::test]
async fn damaged_stored_data_is_a_typed_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    store
        .push_at("t", push(&[("app", "shop")], &[(BASE, "precious")]), BASE)
        .await
        .unwrap();
    store.flush(true).await.unwrap();
    drop(store);

    let files: Vec<std::path::PathBuf> = walk(&dir.path().join("chunks"));
    let chunk = files
        .iter()
        .find(|p| p.starts_with(dir.path().join("chunks/t")))
        .unwrap();
    let mut bytes = std::fs::read(chunk).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    std::fs::write(chunk, &bytes).unwrap();
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    let err = select_err(&store).await;
    assert!(matches!(err, Error::Chunk { .. }), "{err}");
    drop(store);

    let segment = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    std::fs::write(segment, b"not a segment").unwrap();
    let store = Store::open(test_config(dir.path(), now)).await.unwrap();
    let err = select_err(&store).await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "index segment",
                ..
            }
        ),
        "{err}"
    );
}

async fn select_err(store: &Store) -> Error {
    store
        .select(
            "t",
            &selector("app", "shop"),
            0,
            i64::MAX,
            Direction::Forward,
            10,
        )
        .await
        .unwrap_err()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Many pushes at once share fsyncs (group commit), and every one of them
/// survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_share_fsyncs_and_all_survive_a_restart() {
    const WRITERS: i64 = 32;
    const PUSHES: i64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for p in 0..PUSHES {
                    let n = w * PUSHES + p;
                    let line = format!("push {n}");
                    let stream = format!("s{}", w % 4);
                    let streams = push(&[("app", "group"), ("s", &stream)], &[(BASE + n, &line)]);
                    store.push_at("t", streams, BASE).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let stats = store.wal_stats().unwrap();
    assert_eq!(stats.appends, (WRITERS * PUSHES) as u64);
    assert!(
        stats.fsyncs < stats.appends,
        "every push did its own fsync: {stats:?}"
    );
    drop(store);

    let store = Store::open(test_config(dir.path(), now)).await.unwrap();
    let mut found = lines(&store, "t", &selector("app", "group")).await;
    found.sort();
    let mut expected: Vec<String> = (0..WRITERS * PUSHES).map(|n| format!("push {n}")).collect();
    expected.sort();
    assert_eq!(found, expected);
}

/// With a segment cache far smaller than the index, every read still
/// answers as with an ample one (segments evicted and read again), and the
/// cache never holds more than its budget.
#[tokio::test]
async fn a_segment_cache_smaller_than_the_index_answers_the_same() {
    const HOUR: i64 = 3_600 * SECOND;
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE + 8 * HOUR));
    let config = |budget: usize| {
        let mut config = test_config(dir.path(), now.clone());
        config.index_period = Duration::from_secs(3_600);
        config.segment_cache_bytes = budget;
        config
    };
    let store = Store::open(config(256 << 20)).await.unwrap();
    for hour in 0..6 {
        for app in ["cart", "pay", "ship"] {
            let line = format!("{app} in hour {hour}");
            let ts = BASE + hour * HOUR + 1;
            store
                .push_at(
                    "t",
                    push(&[("app", app), ("h", &hour.to_string())], &[(ts, &line)]),
                    ts,
                )
                .await
                .unwrap();
        }
        store.flush(true).await.unwrap();
    }
    async fn answers(store: &Store) -> (Vec<String>, Vec<String>, u64, u64) {
        let every =
            Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+").unwrap()]).unwrap();
        let mut found = lines(store, "t", &every).await;
        found.sort();
        let hours = store
            .label_values("t", "h", None, 0, i64::MAX)
            .await
            .unwrap();
        let stats = store.index_stats("t", &every, 0, i64::MAX).await.unwrap();
        (found, hours, stats.streams, stats.entries)
    }
    let ample = answers(&store).await;
    assert_eq!(ample.0.len(), 18);
    assert_eq!((ample.2, ample.3), (18, 18));
    let written = store.segment_cache_stats();
    assert!(written.segments >= 6, "{written:?}");
    drop(store);

    let budget = written.bytes / 3;
    let store = Store::open(config(budget)).await.unwrap();
    assert_eq!(store.segment_cache_stats().bytes, 0, "nothing read at open");
    for _ in 0..2 {
        assert_eq!(answers(&store).await, ample);
        let stats = store.segment_cache_stats();
        assert!(stats.bytes <= budget, "{stats:?}");
    }
    let stats = store.segment_cache_stats();
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(
        stats.misses > written.segments as u64,
        "segments were read again: {stats:?}"
    );
    store.compact().await.unwrap();
    assert_eq!(answers(&store).await, ample);
    assert!(store.segment_cache_stats().bytes <= budget);
}

/// Entries with equal timestamps come back in the order they were pushed,
/// within a chunk and across a stored and an open chunk, as Loki's merge
/// keeps them; backward reverses it.
#[tokio::test]
async fn equal_timestamps_keep_push_order() {
    let store = Store::open(StoreConfig::in_memory()).await.unwrap();
    let labels = [("app", "tie")];
    store
        .push_at("t", push(&labels, &[(BASE, "zulu"), (BASE, "alpha")]), BASE)
        .await
        .unwrap();
    store.flush(true).await.unwrap();
    store
        .push_at("t", push(&labels, &[(BASE, "mike"), (BASE, "bravo")]), BASE)
        .await
        .unwrap();
    let read = |direction| {
        let store = store.clone();
        async move {
            store
                .select("t", &selector("app", "tie"), BASE, BASE + 1, direction, 10)
                .await
                .unwrap()
                .into_iter()
                .flat_map(|s| s.entries.into_iter().map(|e| e.line))
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(
        read(Direction::Forward).await,
        ["zulu", "alpha", "mike", "bravo"]
    );
    assert_eq!(
        read(Direction::Backward).await,
        ["bravo", "mike", "alpha", "zulu"]
    );
}

/// Segments are read on demand: one that vanishes or changes after the
/// engine listed it is a typed error at the read, never a panic or a
/// silently shorter answer.
#[tokio::test]
async fn a_segment_gone_or_changed_after_open_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    store
        .push_at("t", push(&[("app", "shop")], &[(BASE, "precious")]), BASE)
        .await
        .unwrap();
    store.flush(true).await.unwrap();
    drop(store);
    let segment = walk(&dir.path().join("chunks"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let bytes = std::fs::read(&segment).unwrap();

    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
    let err = select_err(&store).await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "index segment",
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_file(&segment).unwrap();
    let err = select_err(&store).await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "index segment",
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(&segment, &bytes).unwrap();
    assert_eq!(
        lines(&store, "t", &selector("app", "shop")).await,
        ["precious"]
    );
}

/// A segment the compactor cannot read is left in place and reported; the
/// pass merges the others, deletes none of the unreadable segment's
/// chunks, and leaves delete requests unprocessed until it reads them all.
#[tokio::test]
async fn the_compactor_skips_a_corrupt_segment_and_merges_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(BASE));
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    let segments = || {
        let mut segments: Vec<std::path::PathBuf> = walk(&dir.path().join("chunks"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
        segments.sort();
        segments
    };
    for (i, line) in ["one", "two", "three"].into_iter().enumerate() {
        let ts = BASE + i as i64 * SECOND;
        store
            .push_at("t", push(&[("app", "shop")], &[(ts, line)]), BASE)
            .await
            .unwrap();
        store.flush(true).await.unwrap();
    }
    let written = segments();
    assert_eq!(written.len(), 3);
    let bad = written[1].clone();
    let good_bytes = std::fs::read(&bad).unwrap();
    let mut corrupt = good_bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&bad, &corrupt).unwrap();
    // Reopened, so that the segments are read from the store again.
    drop(store);
    let store = Store::open(test_config(dir.path(), now.clone()))
        .await
        .unwrap();
    // A request touching nothing: processed only by a pass that read all.
    store
        .add_delete_request("t", &selector("app", "none"), BASE, BASE + 1)
        .await
        .unwrap();

    let summary = store.compact().await.unwrap();
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    let skipped = &summary.skipped[0];
    assert_eq!(skipped.tenant, "t");
    assert!(
        bad.to_string_lossy().ends_with(&skipped.path),
        "{} vs {}",
        bad.display(),
        skipped.path
    );
    assert!(
        matches!(
            *skipped.error,
            Error::Corrupt {
                what: "index segment",
                ..
            }
        ),
        "{}",
        skipped.error
    );
    assert_eq!((summary.segments_before, summary.segments_after), (3, 2));
    assert_eq!(summary.chunks_deleted, 0);
    let after = segments();
    assert_eq!(after.len(), 2, "the other two merged into one: {after:?}");
    assert!(
        after.contains(&bad),
        "the unreadable segment is left in place"
    );
    assert_eq!(std::fs::read(&bad).unwrap(), corrupt, "and left unchanged");
    assert_eq!(store.delete_requests("t")[0].status, DeleteStatus::Received);

    // Repaired, every entry is there (no chunk of it was deleted), and the
    // next pass merges everything and processes the request.
    std::fs::write(&bad, &good_bytes).unwrap();
    drop(store);
    let store = Store::open(test_config(dir.path(), now)).await.unwrap();
    assert_eq!(
        lines(&store, "t", &selector("app", "shop")).await,
        ["one", "two", "three"]
    );
    let summary = store.compact().await.unwrap();
    assert!(summary.skipped.is_empty());
    assert_eq!(segments().len(), 1);
    assert_eq!(
        store.delete_requests("t")[0].status,
        DeleteStatus::Processed
    );
    assert_eq!(
        lines(&store, "t", &selector("app", "shop")).await,
        ["one", "two", "three"]
    );
}

#[tokio::test]
async fn compactor_passes_over_segments_settling_apart_converge_to_one() {
    use futures::TryStreamExt as _;
    use object_store::ObjectStore;

    let shared: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let now = Arc::new(AtomicI64::new(BASE));
    let open = || {
        let mut config = StoreConfig::in_memory();
        config.object_store = Some(shared.clone());
        config.limits = Limits::unlimited();
        let now = now.clone();
        config.clock = Clock::from_fn(move || now.load(Ordering::Relaxed));
        Store::open(config)
    };
    let segments = || async {
        let mut paths: Vec<String> = shared
            .list(None)
            .map_ok(|o| o.location.to_string())
            .try_filter(|p| std::future::ready(p.ends_with(".seg")))
            .try_collect()
            .await
            .unwrap();
        paths.sort();
        paths
    };
    let (writer, compactor) = (open().await.unwrap(), open().await.unwrap());
    // Two segments of one period, written two seconds apart.
    for (i, line) in ["one", "two"].into_iter().enumerate() {
        let at = BASE + 2 * i as i64 * SECOND;
        now.store(at, Ordering::Relaxed);
        writer
            .push_at("t", push(&[("app", "shop")], &[(at, line)]), at)
            .await
            .unwrap();
        writer.flush(true).await.unwrap();
    }
    assert_eq!(segments().await.len(), 2);

    // A pass a second, each over the segments five seconds old: the first
    // to settle is not rewritten alone (which would make it young again
    // and keep the two apart for ever); once both are settled they merge,
    // and the merged segment then stays as it is.
    let mut listings = Vec::new();
    for second in 3..=30 {
        now.store(BASE + second * SECOND, Ordering::Relaxed);
        compactor
            .adopt_settled_segments(Duration::from_secs(5))
            .await
            .unwrap();
        compactor.compact().await.unwrap();
        listings.push(segments().await);
    }
    let last = listings.last().unwrap();
    assert_eq!(last.len(), 1, "{listings:?}");
    assert!(last[0].contains("compacted"), "{last:?}");
    assert_eq!(
        listings.iter().filter(|l| *l != last).count(),
        listings.len() - 24,
        "merged once, when the second segment settled: {listings:?}"
    );
    compactor
        .adopt_settled_segments(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        lines(&compactor, "t", &selector("app", "shop")).await,
        ["one", "two"]
    );
}
