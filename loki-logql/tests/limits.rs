//! Resource limits, cancellation and storage failures surface as typed
//! errors.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use futures::stream::{self, BoxStream, StreamExt};
use loki_logql::{
    parse_labels, Direction, Engine, EntryBatch, Error, Limits, MemoryStorage, QueryParams,
    QueryResult, SelectRequest, Storage, StorageError,
};

const S: i64 = 1_000_000_000;

fn store() -> MemoryStorage {
    let mut s = MemoryStorage::new().with_batch_size(2);
    for app in ["a", "b", "c"] {
        let l = parse_labels(&format!(r#"{{app="{app}"}}"#)).unwrap();
        for t in 1..=10 {
            s.push(&l, t * S, &format!("level=info n={t} app={app}"));
        }
    }
    s
}

fn run(limits: Limits, q: &str, p: &QueryParams) -> Result<QueryResult, Error> {
    block_on(Engine::new(store()).with_limits(limits).query(q, p))
}

#[test]
fn max_entries() {
    let l = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let p = QueryParams::range(0, 20 * S, 0).with_limit(6);
    let err = run(l.clone(), r#"{app="a"}"#, &p).unwrap_err();
    assert_eq!(
        err,
        Error::MaxEntries {
            requested: 6,
            limit: 5
        }
    );
    assert!(err.is_client_error());
    assert!(run(l, r#"{app="a"}"#, &p.with_limit(5)).is_ok());
}

#[test]
fn max_series() {
    let l = Limits {
        max_series: 2,
        ..Limits::default()
    };
    let q = r#"count_over_time({app=~"a|b|c"}[1m])"#;
    let err = run(l.clone(), q, &QueryParams::instant(20 * S)).unwrap_err();
    assert_eq!(err, Error::MaxSeries { limit: 2 });
    let err = run(l.clone(), q, &QueryParams::range(0, 20 * S, 5 * S)).unwrap_err();
    assert_eq!(err, Error::MaxSeries { limit: 2 });
    // Aggregated below the limit: fine.
    let ok = run(l, &format!("sum({q})"), &QueryParams::instant(20 * S)).unwrap();
    assert!(matches!(ok, QueryResult::Vector(v) if v.len() == 1));
}

#[test]
fn max_bytes() {
    let l = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let err = run(
        l.clone(),
        r#"{app=~"a|b|c"}"#,
        &QueryParams::range(0, 20 * S, 0),
    )
    .unwrap_err();
    assert_eq!(err, Error::MaxBytes { limit: 100 });
    let err = run(
        l,
        r#"count_over_time({app="a"}[1m])"#,
        &QueryParams::instant(20 * S),
    )
    .unwrap_err();
    assert_eq!(err, Error::MaxBytes { limit: 100 });
}

#[test]
fn timeout_and_cancel() {
    let l = Limits {
        timeout: Some(Duration::ZERO),
        ..Limits::default()
    };
    let err = run(l, r#"{app="a"}"#, &QueryParams::range(0, 20 * S, 0)).unwrap_err();
    assert_eq!(err, Error::Timeout);
    assert!(err.is_retryable());
    let flag = Arc::new(AtomicBool::new(true));
    let p = QueryParams::instant(20 * S).with_cancel(flag);
    let err = run(Limits::default(), r#"rate({app="a"}[1m])"#, &p).unwrap_err();
    assert_eq!(err, Error::Cancelled);
}

#[test]
fn bad_params() {
    let p = QueryParams::range(10 * S, 0, S);
    let err = run(Limits::default(), r#"rate({app="a"}[1m])"#, &p).unwrap_err();
    assert!(matches!(err, Error::InvalidParams(_)));
    let p = QueryParams::range(0, 1_000_000 * S, 1);
    let err = run(Limits::default(), r#"rate({app="a"}[1m])"#, &p).unwrap_err();
    assert!(matches!(err, Error::InvalidParams(_)));
}

#[derive(Debug)]
struct Failing;

impl Storage for Failing {
    fn select(&self, _: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        stream::iter(vec![Err(StorageError {
            message: "disk on fire".to_owned(),
            retryable: true,
        })])
        .boxed()
    }
}

#[test]
fn storage_errors() {
    let e = Engine::new(Failing);
    let err = block_on(e.query(r#"{app="a"}"#, &QueryParams::range(0, S, 0))).unwrap_err();
    assert_eq!(err.to_string(), "storage error: disk on fire");
    assert!(err.is_retryable());
    assert!(!err.is_client_error());
}

#[test]
fn limited_log_query_returns_newest() {
    // Ten batches per stream of one entry each; with limit 3 backward the
    // answer is the three newest entries across streams.
    let s = store().with_batch_size(1);
    let e = Engine::new(s);
    let r = block_on(e.query(
        r#"{app=~"a|b"}"#,
        &QueryParams::range(0, 20 * S, 0).with_limit(3),
    ))
    .unwrap();
    let QueryResult::Streams(st) = r else {
        panic!()
    };
    let mut ts: Vec<i64> = st
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.timestamp))
        .collect();
    ts.sort();
    assert_eq!(ts, vec![9 * S, 10 * S, 10 * S]);
}

/// Counts the entries storage hands out, to see how much a query reads.
#[derive(Debug)]
struct Counting {
    inner: MemoryStorage,
    read: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: MemoryStorage) -> Counting {
        Counting {
            inner,
            read: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn read(&self) -> usize {
        self.read.load(Ordering::SeqCst)
    }
}

impl Storage for Counting {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let read = self.read.clone();
        self.inner
            .select(req)
            .inspect(move |b| {
                if let Ok(b) = b {
                    read.fetch_add(b.len(), Ordering::SeqCst);
                }
            })
            .boxed()
    }
}

#[test]
fn limited_log_query_stops_reading() {
    // 3 streams of 100 entries in batches of 2; the newest entries are one
    // per stream at 100s, the oldest one per stream at 1s.
    let mut s = MemoryStorage::new().with_batch_size(2);
    for app in ["a", "b", "c"] {
        let l = parse_labels(&format!(r#"{{app="{app}"}}"#)).unwrap();
        for t in 1..=100 {
            s.push(&l, t * S, &format!("n={t} app={app}"));
        }
    }
    for (direction, want) in [
        (Direction::Backward, vec![100 * S; 3]),
        (Direction::Forward, vec![S; 3]),
    ] {
        let e = Engine::new(Counting::new(s.clone()));
        let p = QueryParams::range(0, 200 * S, 0)
            .with_limit(3)
            .with_direction(direction);
        let QueryResult::Streams(st) = block_on(e.query(r#"{app=~"a|b|c"}"#, &p)).unwrap() else {
            panic!()
        };
        let mut ts: Vec<i64> = st
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.timestamp))
            .collect();
        ts.sort();
        assert_eq!(ts, want);
        // Stream a: two batches fill the limit; b and c: one batch each
        // before the cutoff stops them (300 without the cutoff).
        assert!(e.storage().read() <= 8, "read {}", e.storage().read());
    }
}

#[test]
fn limited_log_query_with_filters_reads_only_what_it_needs() {
    // Only every tenth line matches: reading stops once the limit is
    // filled with matches newer than everything left.
    let mut s = MemoryStorage::new().with_batch_size(4);
    let l = parse_labels(r#"{app="a"}"#).unwrap();
    for t in 1..=1000 {
        let kind = if t % 10 == 0 { "error" } else { "info" };
        s.push(&l, t * S, &format!("level={kind} n={t}"));
    }
    let e = Engine::new(Counting::new(s));
    let p = QueryParams::range(0, 2000 * S, 0).with_limit(5);
    let QueryResult::Streams(st) = block_on(e.query(r#"{app="a"} |= "error""#, &p)).unwrap() else {
        panic!()
    };
    assert_eq!(st[0].entries.len(), 5);
    assert_eq!(st[0].entries[4].timestamp, 960 * S);
    assert!(e.storage().read() <= 48, "read {}", e.storage().read());
}

#[test]
fn max_series_fails_while_streaming() {
    // 50 streams of one entry each; the limit is 5.
    let mut s = MemoryStorage::new().with_batch_size(1);
    for i in 0..50 {
        let l = parse_labels(&format!(r#"{{app="a{i:02}", pod="p{}"}}"#, i % 2)).unwrap();
        s.push(&l, S, "x");
    }
    let l = Limits {
        max_series: 5,
        ..Limits::default()
    };
    for pushdown in [true, false] {
        for q in [
            r#"count_over_time({app=~"a.*"}[1m])"#,
            r#"count_over_time({app=~"a.*"} | logfmt [1m]) * 2"#,
            r#"sum by (app) (rate({app=~"a.*"}[1m]))"#,
            r#"max without (pod) (bytes_over_time({app=~"a.*"}[1m]))"#,
        ] {
            let e = Engine::new(Counting::new(s.clone()))
                .with_limits(l.clone())
                .with_sample_pushdown(pushdown);
            let err = block_on(e.query(q, &QueryParams::instant(30 * S))).unwrap_err();
            assert_eq!(err, Error::MaxSeries { limit: 5 }, "{q}");
            // The sixth series ends the query.
            assert_eq!(e.storage().read(), 6, "{q}");
        }
        // Two result series: the whole input is read and the query passes.
        let e = Engine::new(Counting::new(s.clone()))
            .with_limits(l.clone())
            .with_sample_pushdown(pushdown);
        let q = r#"sum by (pod) (count_over_time({app=~"a.*"}[1m]))"#;
        let r = block_on(e.query(q, &QueryParams::instant(30 * S))).unwrap();
        assert!(matches!(r, QueryResult::Vector(v) if v.len() == 2));
        assert_eq!(e.storage().read(), 50);
    }
}

#[test]
fn interval_with_limit_reads_up_to_the_last_entry_it_returns() {
    // Two streams, one entry per second each, interleaved timestamps.
    let mut s = MemoryStorage::new().with_batch_size(3);
    for (app, offset) in [("a", 0), ("b", S / 2)] {
        let l = parse_labels(&format!(r#"{{app="{app}"}}"#)).unwrap();
        for t in 0..200 {
            s.push(&l, t * S + offset, &format!("t={t}"));
        }
    }
    for (direction, want) in [
        (Direction::Forward, vec![0, 10 * S, 20 * S, 30 * S]),
        (
            Direction::Backward,
            vec![
                199 * S + S / 2,
                189 * S + S / 2,
                179 * S + S / 2,
                169 * S + S / 2,
            ],
        ),
    ] {
        let e = Engine::new(Counting::new(s.clone()));
        let p = QueryParams::range(0, 300 * S, 0)
            .with_limit(4)
            .with_direction(direction)
            .with_interval(10 * S);
        let QueryResult::Streams(st) = block_on(e.query(r#"{app=~"a|b"}"#, &p)).unwrap() else {
            panic!()
        };
        let mut ts: Vec<i64> = st
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.timestamp))
            .collect();
        ts.sort_unstable();
        if direction == Direction::Backward {
            ts.reverse();
        }
        assert_eq!(ts, want);
        // Each stream is read up to about 31 entries past its start, not 200.
        assert!(e.storage().read() <= 80, "read {}", e.storage().read());
    }
}
