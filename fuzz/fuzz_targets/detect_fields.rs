//! Field and level detection over arbitrary lines and structured metadata
//! never panic; field detection keeps to its limits and counts each
//! field's values exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loki_logql::detect::{detect_fields, LevelDetector};
use loki_logql::{parse, parse_labels, Expr, MemoryStorage};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let stream = parse_labels(r#"{app="fuzz", level="x"}"#).expect("a valid label set");
    let mut storage = MemoryStorage::new();
    let levels = LevelDetector::default();
    for (i, line) in text.split('\n').enumerate() {
        // A line of `key\tvalue` also gives the entry structured metadata.
        let metadata: Vec<(&str, &str)> = line.split_once('\t').into_iter().collect();
        assert!(
            !levels.from_entry(&metadata, line).is_empty()
                || metadata.iter().any(|(_, v)| v.is_empty())
        );
        storage.push_with_metadata(&stream, i as i64, line, &metadata);
    }
    let Ok(Expr::Log(query)) = parse(r#"{app="fuzz"} | drop nothing"#) else {
        panic!("the fuzz query parses");
    };
    let found = futures_lite_block_on(detect_fields(&storage, &query, 0, i64::MAX, 50, 20))
        .expect("memory storage does not fail");
    let fields = found.fields();
    assert!(fields.len() <= 20 && found.lines() <= 50);
    for field in &fields {
        assert_eq!(found.values(&field.label).len(), field.cardinality);
        assert_ne!(field.label, "app", "a stream label is no field");
    }
});

/// Runs a future that never waits (memory storage) to completion.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
