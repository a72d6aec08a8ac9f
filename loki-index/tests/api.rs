//! Behaviour of the public API beyond the model test: concurrency, periods,
//! volume grouping and limits.

use loki_index::{
    AggregateBy, ChunkRef, Error, HeadIndex, Labels, MatchOp, Matcher, Querier, Segment, Selector,
    TimeRange, Volume, VolumeRequest, DEFAULT_PERIOD_MS,
};
use std::sync::atomic::{AtomicBool, Ordering};

fn chunk(from: i64, through: i64, bytes: u64) -> ChunkRef {
    ChunkRef {
        from,
        through,
        checksum: from as u32,
        compressed_size: 1,
        entries: 1,
        uncompressed_size: bytes,
    }
}

fn sel(name: &str, op: MatchOp, value: &str) -> Selector {
    Selector::new(vec![Matcher::new(name, op, value).unwrap()]).unwrap()
}

#[test]
fn concurrent_inserts_while_querying() {
    let head = HeadIndex::new();
    let done = AtomicBool::new(false);
    let selector = sel("job", MatchOp::Regex, "w.*");
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut last = 0;
                    let mut rounds = 0;
                    while !done.load(Ordering::Acquire) || rounds == 0 {
                        let n = Querier::new(Some(&head), &[])
                            .chunk_refs(&selector, TimeRange::ALL)
                            .unwrap()
                            .len();
                        assert!(n >= last, "series disappeared: {n} < {last}");
                        last = n;
                        rounds += 1;
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let head = &head;
                s.spawn(move || {
                    for i in 0..300 {
                        let labels =
                            Labels::new([("job", format!("w{w}")), ("pod", format!("p{i}"))])
                                .unwrap();
                        head.insert(&labels, chunk(i, i + 1, 1)).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
    });
    assert_eq!(head.series_count(), 1200);
    assert_eq!(
        Querier::new(Some(&head), &[])
            .chunk_refs(&selector, TimeRange::ALL)
            .unwrap()
            .len(),
        1200
    );
}

#[test]
fn segments_per_period_hold_overlapping_chunks() {
    let head = HeadIndex::new();
    let day = DEFAULT_PERIOD_MS;
    let a = Labels::new([("app", "a")]).unwrap();
    let b = Labels::new([("app", "b")]).unwrap();
    head.insert(&a, chunk(10, 20, 1)).unwrap();
    head.insert(&b, chunk(day - 5, day + 5, 2)).unwrap(); // spans the boundary
    head.insert(&b, chunk(2 * day + 1, 2 * day + 2, 3)).unwrap();
    let segs = head.write_segments("t", day).unwrap();
    let periods: Vec<TimeRange> = segs.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        periods,
        [
            TimeRange::new(0, day - 1),
            TimeRange::new(day, 2 * day - 1),
            TimeRange::new(2 * day, 3 * day - 1)
        ]
    );
    let segs: Vec<Segment> = segs
        .into_iter()
        .map(|(_, b)| Segment::open(b.into()).unwrap())
        .collect();
    assert_eq!(
        segs.iter().map(|s| s.series_count()).collect::<Vec<_>>(),
        [2, 1, 1]
    );
    let q = Querier::new(None, &segs);
    let refs = q
        .chunk_refs(&sel("app", MatchOp::Equal, "b"), TimeRange::ALL)
        .unwrap();
    assert_eq!(refs.len(), 2, "the boundary chunk is reported once");
    assert!(refs.iter().all(|r| r.fingerprint == b.fingerprint()));
    assert!(matches!(
        head.write_segments("t", 0),
        Err(Error::InvalidPeriod { .. })
    ));
}

#[test]
fn volume_by_series_and_by_label_with_limit() {
    let head = HeadIndex::new();
    for (app, env, bytes) in [
        ("a", "prod", 10),
        ("a", "dev", 5),
        ("b", "prod", 7),
        ("c", "prod", 1),
    ] {
        head.insert(
            &Labels::new([("app", app), ("env", env)]).unwrap(),
            chunk(0, 1, bytes),
        )
        .unwrap();
    }
    let q = Querier::new(Some(&head), &[]);
    let prod = sel("env", MatchOp::Equal, "prod");
    let v = |labels: &[(&str, &str)], bytes| Volume {
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        bytes,
    };
    let by_app = VolumeRequest {
        target_labels: vec!["app".into()],
        aggregate_by: AggregateBy::Series,
        limit: 2,
    };
    assert_eq!(
        q.volume(&prod, TimeRange::ALL, &by_app).unwrap(),
        [v(&[("app", "a")], 10), v(&[("app", "b")], 7)]
    );
    let default = VolumeRequest::default();
    assert_eq!(
        q.volume(&prod, TimeRange::ALL, &default).unwrap().len(),
        1,
        "grouped by env only"
    );
    let all = sel("app", MatchOp::Regex, ".+");
    let by_label = VolumeRequest {
        target_labels: vec!["env".into(), "app".into()],
        aggregate_by: AggregateBy::Labels,
        limit: 0,
    };
    assert_eq!(
        q.volume(&all, TimeRange::ALL, &by_label).unwrap(),
        [v(&[("app", "")], 23), v(&[("env", "")], 23)]
    );
}

#[test]
fn empty_matchers_and_invalid_input() {
    let head = HeadIndex::new();
    head.insert(
        &Labels::new([("app", "a"), ("team", "x")]).unwrap(),
        chunk(0, 1, 1),
    )
    .unwrap();
    head.insert(&Labels::new([("app", "b")]).unwrap(), chunk(0, 1, 1))
        .unwrap();
    let q = Querier::new(Some(&head), &[]);
    let no_team = Selector::new(vec![
        Matcher::new("app", MatchOp::Regex, ".+").unwrap(),
        Matcher::new("team", MatchOp::Equal, "").unwrap(),
    ])
    .unwrap();
    assert_eq!(
        q.series(Some(&no_team), TimeRange::ALL).unwrap(),
        [Labels::new([("app", "b")]).unwrap()]
    );
    let has_team = Selector::new(vec![
        Matcher::new("app", MatchOp::Regex, ".+").unwrap(),
        Matcher::new("team", MatchOp::NotEqual, "").unwrap(),
    ])
    .unwrap();
    assert_eq!(
        q.label_values("app", Some(&has_team), TimeRange::ALL)
            .unwrap(),
        ["a"]
    );
    assert!(head
        .insert(&Labels::new([("app", "c")]).unwrap(), chunk(5, 1, 1))
        .is_err());
    assert_eq!(
        q.label_names(None, TimeRange::new(2, 3)).unwrap(),
        Vec::<String>::new()
    );
}

/// Regexes resolved through literal prefixes (a range scan on segments, the
/// value-key prefilter on the head) select what testing each series does,
/// including a regex whose DFA is too large, so that the prefix range is
/// scanned with the regex.
#[test]
fn prefix_regexes_on_head_and_segment() {
    let head = HeadIndex::new();
    let mut all = Vec::new();
    let values = [
        "p1",
        "p10",
        "p1x",
        "p2",
        "p",
        "checkout-1",
        "check",
        "chec",
        "é",
        "é-x",
        "f.o",
        "fxo",
        "a\0",
        "a",
    ];
    for (i, v) in values.iter().enumerate() {
        // Extra values keep `pod` the name holding most values.
        let labels = Labels::new([("pod", *v), ("app", ["a", "b"][i % 2])]).unwrap();
        head.insert(&labels, chunk(i as i64, i as i64, 1)).unwrap();
        all.push(labels);
    }
    let segment = [Segment::open(head.write_segment("t", TimeRange::ALL).unwrap().into()).unwrap()];
    for pattern in [
        "p1(.*x[a-z]{14})?",
        "p1.*",
        "p1[0-9]+",
        "chec.*",
        "check(out)?-?.*",
        "é.*",
        r"f\.o.*",
        "a\0?",
        "(p|a|é|f|c|x|y|z|q)1?.+",
    ] {
        let selector = sel("pod", MatchOp::Regex, pattern);
        let mut want: Vec<Labels> = all
            .iter()
            .filter(|l| selector.matches(l))
            .cloned()
            .collect();
        want.sort();
        let on_head = Querier::new(Some(&head), &[]);
        assert_eq!(
            on_head.series(Some(&selector), TimeRange::ALL).unwrap(),
            want,
            "{pattern}"
        );
        let on_segment = Querier::new(None, &segment);
        assert_eq!(
            on_segment.series(Some(&selector), TimeRange::ALL).unwrap(),
            want,
            "{pattern}"
        );
    }
}
