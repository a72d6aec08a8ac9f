//! Build matchers from arbitrary name / operator / value triples and run them
//! against a small index: construction may fail with an error, nothing may
//! panic, and head and segment must agree.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use loki_index::{
    ChunkRef, HeadIndex, Labels, MatchOp, Matcher, Querier, Segment, Selector, TimeRange,
};
use std::sync::OnceLock;

#[derive(Debug, Arbitrary)]
struct Input {
    matchers: Vec<(String, u8, String)>,
}

fn index() -> &'static (HeadIndex, [Segment; 1]) {
    static INDEX: OnceLock<(HeadIndex, [Segment; 1])> = OnceLock::new();
    INDEX.get_or_init(|| {
        let head = HeadIndex::new();
        let rows: [&[(&str, &str)]; 5] = [
            &[("app", "checkout"), ("env", "prod"), ("pod", "checkout-1")],
            &[
                ("app", "checkout"),
                ("env", "staging"),
                ("pod", "checkout-2"),
            ],
            &[("app", "cart"), ("pod", "cart-1"), ("team", "a\nb")],
            &[("app", "ünïcode"), ("env", "dev")],
            &[("job", "nginx")],
        ];
        for (i, row) in rows.iter().enumerate() {
            let chunk = ChunkRef {
                from: i as i64,
                through: i as i64 + 10,
                checksum: i as u32,
                compressed_size: 1,
                entries: 1,
                uncompressed_size: 1,
            };
            head.insert(&Labels::new(row.iter().copied()).unwrap(), chunk)
                .unwrap();
        }
        let segment =
            Segment::open(head.write_segment("t", TimeRange::ALL).unwrap().into()).unwrap();
        (head, [segment])
    })
}

fuzz_target!(|input: Input| {
    let ops = [
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::Regex,
        MatchOp::NotRegex,
    ];
    let mut matchers = Vec::new();
    for (name, op, value) in input.matchers.into_iter().take(4) {
        if value.len() > 256 {
            return;
        }
        match Matcher::new(name, ops[op as usize % 4], value) {
            Ok(m) => matchers.push(m),
            Err(_) => return,
        }
    }
    let Ok(selector) = Selector::new(matchers) else {
        return;
    };
    let (head, segments) = index();
    let from_head = Querier::new(Some(head), &[])
        .series(Some(&selector), TimeRange::ALL)
        .unwrap();
    let from_segment = Querier::new(None, segments)
        .series(Some(&selector), TimeRange::ALL)
        .unwrap();
    assert_eq!(from_head, from_segment);
    let all = Querier::new(Some(head), &[])
        .series(None, TimeRange::ALL)
        .unwrap();
    let brute: Vec<Labels> = all.into_iter().filter(|l| selector.matches(l)).collect();
    assert_eq!(from_head, brute);
});
