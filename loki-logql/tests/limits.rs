//! Resource limits, cancellation and storage failures surface as typed
//! errors.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use futures::stream::{self, BoxStream, StreamExt};
use loki_logql::{
    parse_labels, Engine, EntryBatch, Error, Limits, MemoryStorage, QueryParams, QueryResult,
    SelectRequest, Storage, StorageError,
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
