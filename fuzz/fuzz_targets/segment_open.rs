//! Open arbitrary bytes as an index segment and query it: every outcome must
//! be a typed error or an answer, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loki_index::{MatchOp, Matcher, Querier, Segment, Selector, TimeRange};

fuzz_target!(|data: &[u8]| {
    let Ok(segment) = Segment::open(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let segments = [segment];
    let q = Querier::new(None, &segments);
    let selectors = [
        Selector::new(vec![
            Matcher::new("app", MatchOp::Equal, "checkout").unwrap()
        ])
        .unwrap(),
        Selector::new(vec![
            Matcher::new("pod", MatchOp::Regex, "c.*-1").unwrap(),
            Matcher::new("env", MatchOp::NotEqual, "dev").unwrap(),
        ])
        .unwrap(),
        Selector::new(vec![Matcher::new("pod", MatchOp::Regex, "cart-.*").unwrap()]).unwrap(),
    ];
    for sel in &selectors {
        let _ = q.chunk_refs(sel, TimeRange::ALL);
        let _ = q.series(Some(sel), TimeRange::new(0, 1_700_000_002_000));
        let _ = q.stats(sel, TimeRange::ALL);
        let _ = q.label_values("pod", Some(sel), TimeRange::ALL);
    }
    let _ = q.label_names(None, TimeRange::new(0, 10));
    let _ = q.label_values("app", None, TimeRange::ALL);
    let _ = segments[0].verify();
});
