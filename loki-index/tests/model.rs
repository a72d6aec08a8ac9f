//! The index against a brute-force model: for random series and random
//! selectors of all four matcher kinds, every answer of the head, a segment,
//! merged segments and head + segments equals scanning every series.

use loki_index::{
    merge_segments, AggregateBy, ChunkRef, Error, HeadIndex, Labels, MatchOp, Matcher, Querier,
    Segment, SegmentBuilder, Selector, SeriesChunkRef, Stats, TimeRange, Volume, VolumeRequest,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 4] = ["a", "b", "env", "pod"];
const VALUES: [&str; 14] = [
    "x", "y", "z", "xy", "foo", "foobar", "f\no", "prod", "staging", "foobaz", "fo", "f.o", "é",
    "éx",
];
const REGEXES: [&str; 32] = [
    r"\bx",
    "x",
    "x|y",
    "f.*",
    "f.+",
    ".*",
    ".+",
    "fo+bar",
    "(x|y)z?",
    "p1.*",
    "p[0-9]",
    ".*o.*",
    "",
    "x|",
    "[xy]",
    "(?i)X",
    "p1[0-9]*",
    "foo|f.*",
    "prod|staging",
    "p(1|2).+",
    "x*",
    "(foo)?bar|foo",
    "f.o",
    // Literal prefixes: with metacharacters, unicode, shorter and longer
    // than the head's 4-byte value keys, many of them, or only required.
    r"f\.o.*",
    "foob.*z",
    "(foo|é)[a-z]*",
    "é.+",
    "fo.*o.*",
    "(x|fo|é)(o|x)?.*",
    "(a|b|c|d|e|f|g|h|i|x)y?.*",
    "fooba.",
    // Too large a DFA: a scan of the values starting with "fo".
    "fo(.*x[a-z]{14})?",
];

const POD_REGEXES: [&str; 16] = [
    "p1.*",
    "p[0-9]",
    "p1[0-9]*",
    "p(1|2).+",
    ".*",
    ".+",
    "p.*3",
    "p[1-3][0-9]|p5",
    ".*1",
    "p1|p2|p3",
    "p3.",
    "(p1|p2)[0-9]?",
    "p1[0-9]+",
    "(p1[0-9]|p2|p3)-?.*",
    r"p[13]\d*9",
    "p1(.*x[a-z]{14})?",
];

type Model = BTreeMap<Labels, BTreeSet<ChunkRef>>;

fn chunk_strategy() -> impl Strategy<Value = ChunkRef> {
    (0i64..100, 0i64..20, 0u32..4, 1u32..100).prop_map(|(from, len, checksum, n)| ChunkRef {
        from,
        through: from + len,
        checksum,
        compressed_size: n,
        entries: n,
        uncompressed_size: n as u64 * 10,
    })
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    (
        proptest::option::of(proptest::sample::select(&VALUES[..])),
        proptest::option::of(proptest::sample::select(&VALUES[..])),
        proptest::option::of(proptest::sample::select(&VALUES[..6])),
        0u32..40,
    )
        .prop_map(|(a, b, env, pod)| {
            let mut pairs = vec![("pod".to_string(), format!("p{pod}"))];
            for (n, v) in [("a", a), ("b", b), ("env", env)] {
                if let Some(v) = v {
                    pairs.push((n.to_string(), v.to_string()));
                }
            }
            Labels::new(pairs).unwrap()
        })
}

fn matcher_strategy() -> impl Strategy<Value = Matcher> {
    let name = prop_oneof![
        9 => proptest::sample::select(&NAMES[..]),
        1 => Just("missing"),
    ];
    (
        name,
        0u8..4,
        any::<proptest::sample::Index>(),
        0u32..45,
        0u8..10,
    )
        .prop_map(|(name, op, pick, pod, empty)| {
            let value = if empty == 0 {
                String::new()
            } else if op < 2 {
                if name == "pod" {
                    format!("p{pod}")
                } else {
                    pick.get(&VALUES[..]).to_string()
                }
            } else if name == "pod" {
                pick.get(&POD_REGEXES[..]).to_string()
            } else {
                pick.get(&REGEXES[..]).to_string()
            };
            let op = [
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex,
            ][op as usize];
            Matcher::new(name, op, value).unwrap()
        })
}

fn range_strategy() -> impl Strategy<Value = TimeRange> {
    prop_oneof![
        Just(TimeRange::ALL),
        (0i64..130, 0i64..60).prop_map(|(s, l)| TimeRange::new(s, s + l)),
    ]
}

fn live(model: &Model, range: TimeRange) -> impl Iterator<Item = (&Labels, Vec<ChunkRef>)> {
    model.iter().filter_map(move |(l, cs)| {
        let cs: Vec<ChunkRef> = cs.iter().copied().filter(|c| c.overlaps(range)).collect();
        (!cs.is_empty()).then_some((l, cs))
    })
}

struct Expected {
    refs: Vec<SeriesChunkRef>,
    series: Vec<Labels>,
    all_series: Vec<Labels>,
    names: Vec<String>,
    values: Vec<String>,
    all_values: Vec<String>,
    stats: Stats,
    volume: Vec<Volume>,
}

fn expected(model: &Model, sel: &Selector, range: TimeRange, value_name: &str) -> Expected {
    let matching: Vec<(&Labels, Vec<ChunkRef>)> =
        live(model, range).filter(|(l, _)| sel.matches(l)).collect();
    let mut by_fp: BTreeMap<u64, BTreeSet<ChunkRef>> = BTreeMap::new();
    let mut stats = Stats::default();
    let mut fps = BTreeSet::new();
    let mut groups: BTreeMap<Vec<(String, String)>, u64> = BTreeMap::new();
    let targets: BTreeSet<&str> = sel.matchers().iter().map(|m| m.name()).collect();
    for (l, cs) in &matching {
        let set = by_fp.entry(l.fingerprint()).or_default();
        fps.insert(l.fingerprint());
        let mut bytes = 0;
        for c in cs {
            if set.insert(*c) {
                stats.chunks += 1;
                stats.bytes += c.uncompressed_size;
                stats.entries += c.entries as u64;
            }
            bytes += c.uncompressed_size;
        }
        let key: Vec<(String, String)> = l
            .iter()
            .filter(|(n, _)| targets.contains(n))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if !key.is_empty() {
            *groups.entry(key).or_default() += bytes;
        }
    }
    stats.streams = fps.len() as u64;
    let mut volume: Vec<Volume> = groups
        .into_iter()
        .map(|(labels, bytes)| Volume { labels, bytes })
        .collect();
    volume.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.labels.cmp(&b.labels)));
    Expected {
        refs: by_fp
            .into_iter()
            .flat_map(|(fingerprint, cs)| {
                cs.into_iter()
                    .map(move |chunk| SeriesChunkRef { fingerprint, chunk })
            })
            .collect(),
        series: matching.iter().map(|(l, _)| (*l).clone()).collect(),
        all_series: live(model, range).map(|(l, _)| l.clone()).collect(),
        names: matching
            .iter()
            .flat_map(|(l, _)| l.iter().map(|(n, _)| n.to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        values: matching
            .iter()
            .filter_map(|(l, _)| l.get(value_name).map(String::from))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        all_values: live(model, range)
            .filter_map(|(l, _)| l.get(value_name).map(String::from))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        stats,
        volume,
    }
}

fn check(
    q: &Querier<'_>,
    model: &Model,
    sel: &Selector,
    range: TimeRange,
    value_name: &str,
) -> Result<(), TestCaseError> {
    let want = expected(model, sel, range, value_name);
    let mut refs = q.chunk_refs(sel, range).unwrap();
    refs.sort_unstable();
    prop_assert_eq!(refs, want.refs);
    prop_assert_eq!(q.series(Some(sel), range).unwrap(), want.series);
    prop_assert_eq!(q.series(None, range).unwrap(), want.all_series);
    prop_assert_eq!(q.label_names(Some(sel), range).unwrap(), want.names);
    prop_assert_eq!(
        q.label_values(value_name, Some(sel), range).unwrap(),
        want.values
    );
    prop_assert_eq!(
        q.label_values(value_name, None, range).unwrap(),
        want.all_values
    );
    prop_assert_eq!(q.stats(sel, range).unwrap(), want.stats);
    let req = VolumeRequest {
        target_labels: vec![],
        aggregate_by: AggregateBy::Series,
        limit: 10_000,
    };
    prop_assert_eq!(q.volume(sel, range, &req).unwrap(), want.volume);
    Ok(())
}

fn segment(parts: &[(Labels, ChunkRef)]) -> Segment {
    let mut b = SegmentBuilder::new();
    for (l, c) in parts {
        b.add(l, *c).unwrap();
    }
    let seg = Segment::open(b.build("t", TimeRange::ALL).unwrap().into()).unwrap();
    seg.verify().unwrap();
    seg
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_model(
        inserts in proptest::collection::vec((labels_strategy(), chunk_strategy(), 0u8..3), 1..60),
        matchers in proptest::collection::vec(matcher_strategy(), 1..4),
        range in range_strategy(),
        value_name in proptest::sample::select(&NAMES[..]),
    ) {
        let selector = match Selector::new(matchers.clone()) {
            Ok(s) => s,
            Err(e) => {
                // Loki's rule: an `=`/`=~` matcher that rejects "" is required.
                let is_selector_error = matches!(e, Error::InvalidSelector { .. });
                prop_assert!(is_selector_error);
                let none_positive = matchers.iter().all(|m| {
                    matches!(m.op(), MatchOp::NotEqual | MatchOp::NotRegex) || m.matches_value("")
                });
                prop_assert!(none_positive);
                return Ok(());
            }
        };
        let mut model = Model::new();
        for (l, c, _) in &inserts {
            model.entry(l.clone()).or_default().insert(*c);
        }

        // Head only.
        let head = HeadIndex::new();
        for (l, c, _) in &inserts {
            head.insert(l, *c).unwrap();
        }
        check(&Querier::new(Some(&head), &[]), &model, &selector, range, value_name)?;

        // One segment written from the head.
        let seg = Segment::open(head.write_segment("t", TimeRange::ALL).unwrap().into()).unwrap();
        seg.verify().unwrap();
        let one = [seg];
        check(&Querier::new(None, &one), &model, &selector, range, value_name)?;

        // Three overlapping parts: two segments and the head.
        let part = |k: u8| -> Vec<(Labels, ChunkRef)> {
            inserts.iter().filter(|(_, _, p)| *p == k || *p == (k + 1) % 3).map(|(l, c, _)| (l.clone(), *c)).collect()
        };
        let parts = [segment(&part(0)), segment(&part(1))];
        let tail = HeadIndex::new();
        for (l, c) in part(2) {
            tail.insert(&l, c).unwrap();
        }
        check(&Querier::new(Some(&tail), &parts), &model, &selector, range, value_name)?;

        // Merged segments equal the model; deleted chunks are gone.
        let merged = merge_segments(&parts, "t", TimeRange::ALL, |_, _| false).unwrap();
        let merged = [Segment::open(merged.into()).unwrap()];
        merged[0].verify().unwrap();
        let mut all_parts = part(0);
        all_parts.extend(part(1));
        let mut part_model = Model::new();
        for (l, c) in &all_parts {
            part_model.entry(l.clone()).or_default().insert(*c);
        }
        check(&Querier::new(None, &merged), &part_model, &selector, range, value_name)?;

        let pruned = merge_segments(&parts, "t", TimeRange::ALL, |_, c| c.checksum == 0).unwrap();
        let pruned = [Segment::open(pruned.into()).unwrap()];
        pruned[0].verify().unwrap();
        for set in part_model.values_mut() {
            set.retain(|c| c.checksum != 0);
        }
        part_model.retain(|_, set| !set.is_empty());
        check(&Querier::new(None, &pruned), &part_model, &selector, range, value_name)?;
    }
}
