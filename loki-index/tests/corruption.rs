//! Damaged segments give typed errors, never panics or wrong answers, and the
//! committed golden segment still reads.

use loki_index::{
    ChunkRef, Error, ErrorKind, Labels, MatchOp, Matcher, Querier, Segment, SegmentBuilder,
    Selector, TimeRange, FORMAT_VERSION,
};

fn chunk(from: i64, checksum: u32) -> ChunkRef {
    ChunkRef {
        from,
        through: from + 100,
        checksum,
        compressed_size: 1000 + checksum,
        entries: 10 * checksum,
        uncompressed_size: 5000 + checksum as u64,
    }
}

/// A small segment with shared values, a unique-value label and several
/// chunks per series: the golden segment's content.
fn small_segment() -> Vec<u8> {
    let mut b = SegmentBuilder::new();
    let rows = [
        (
            [("app", "checkout"), ("env", "prod"), ("pod", "checkout-1")],
            1,
        ),
        (
            [
                ("app", "checkout"),
                ("env", "staging"),
                ("pod", "checkout-2"),
            ],
            2,
        ),
        ([("app", "cart"), ("env", "prod"), ("pod", "cart-1")], 3),
        ([("app", "cart"), ("env", "dev"), ("pod", "cart-2")], 4),
    ];
    for (labels, n) in rows {
        let labels = Labels::new(labels).unwrap();
        b.add(&labels, chunk(1_700_000_000_000 + n as i64 * 1000, n))
            .unwrap();
        b.add(&labels, chunk(1_700_000_100_000, 100 + n)).unwrap();
    }
    b.add(
        &Labels::new([("job", "nginx")]).unwrap(),
        chunk(1_700_000_000_000, 9),
    )
    .unwrap();
    b.build(
        "tenant-a",
        TimeRange::new(1_699_920_000_000, 1_700_006_399_999),
    )
    .unwrap()
}

fn selectors() -> Vec<Selector> {
    let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
    vec![
        Selector::new(vec![m("app", MatchOp::Equal, "checkout")]).unwrap(),
        Selector::new(vec![
            m("pod", MatchOp::Regex, "c.*-1"),
            m("env", MatchOp::NotEqual, "dev"),
        ])
        .unwrap(),
        Selector::new(vec![
            m("env", MatchOp::Regex, "prod|dev"),
            m("app", MatchOp::NotRegex, "cart"),
        ])
        .unwrap(),
        Selector::new(vec![m("pod", MatchOp::Regex, "cart-.*")]).unwrap(),
    ]
}

/// Every query answer of a segment, as comparable text (or the first error).
fn answers(seg: &Segment, selectors: &[Selector]) -> Result<String, Error> {
    let segs = std::slice::from_ref(seg);
    let q = Querier::new(None, segs);
    let mut out = String::new();
    for sel in selectors {
        let mut refs = q.chunk_refs(sel, TimeRange::ALL)?;
        refs.sort_unstable();
        out += &format!("{refs:?}\n");
        out += &format!(
            "{:?}\n",
            q.series(Some(sel), TimeRange::new(0, 1_700_000_002_000))?
        );
        out += &format!("{:?}\n", q.label_values("pod", Some(sel), TimeRange::ALL)?);
        out += &format!("{:?}\n", q.stats(sel, TimeRange::ALL)?);
    }
    out += &format!("{:?}\n", q.label_names(None, TimeRange::ALL)?);
    out += &format!(
        "{:?}\n",
        q.label_values("app", None, TimeRange::new(0, 1_700_000_002_500))?
    );
    Ok(out)
}

#[test]
fn every_byte_flip_is_detected() {
    let good = small_segment();
    let sels = selectors();
    let reference = answers(&Segment::open(good.clone().into()).unwrap(), &sels).unwrap();
    for at in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = good.clone();
            bad[at] ^= mask;
            let Ok(seg) = Segment::open(bad.into()) else {
                continue;
            };
            // Queries either fail with a typed error or answer correctly ...
            match answers(&seg, &sels) {
                Ok(a) => assert_eq!(a, reference, "wrong answer after flipping byte {at}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupt, "byte {at}: {e}"),
            }
            // ... and `verify` always notices the damage.
            let err = seg
                .verify()
                .expect_err(&format!("flip at byte {at} went unnoticed"));
            assert_eq!(err.kind(), ErrorKind::Corrupt);
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let good = small_segment();
    for len in 0..good.len() {
        let err = Segment::open(good[..len].to_vec().into()).expect_err("truncated segment opened");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "len {len}: {err}");
    }
    // Trailing garbage is not a segment either.
    let mut longer = good.clone();
    longer.push(0);
    assert!(Segment::open(longer.into()).is_err());
}

#[test]
fn future_versions_are_refused() {
    let mut bad = small_segment();
    bad[4] = 2;
    assert_eq!(
        Segment::open(bad.into()).unwrap_err(),
        Error::VersionMismatch {
            expected: FORMAT_VERSION,
            got: 2
        }
    );
}

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/segment-v1.lkix");

#[test]
fn golden_segment_reads_and_is_reproduced() {
    let fresh = small_segment();
    if std::env::var_os("LOKI_INDEX_BLESS").is_some() {
        std::fs::write(GOLDEN, &fresh).unwrap();
    }
    let golden =
        std::fs::read(GOLDEN).expect("golden segment missing; run with LOKI_INDEX_BLESS=1");
    let seg = Segment::open(golden.clone().into()).unwrap();
    seg.verify().unwrap();
    assert_eq!(seg.tenant(), "tenant-a");
    assert_eq!((seg.series_count(), seg.chunk_count()), (5, 9));
    assert_eq!(
        seg.period(),
        TimeRange::new(1_699_920_000_000, 1_700_006_399_999)
    );
    assert_eq!(
        seg.time_bounds(),
        Some(TimeRange::new(1_700_000_000_000, 1_700_000_100_100))
    );
    let segs = [seg];
    let q = Querier::new(None, &segs);
    let sel = Selector::new(vec![Matcher::new("pod", MatchOp::Regex, "c.*-1").unwrap()]).unwrap();
    let refs = q
        .chunk_refs(&sel, TimeRange::new(0, 1_700_000_050_000))
        .unwrap();
    let checksums: Vec<u32> = refs.iter().map(|r| r.chunk.checksum).collect();
    assert_eq!(refs.len(), 2);
    assert_eq!(
        checksums
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [1, 3].into()
    );
    let fp = Labels::new([("app", "cart"), ("env", "prod"), ("pod", "cart-1")])
        .unwrap()
        .fingerprint();
    assert!(refs.iter().any(|s| s.fingerprint == fp));
    assert_eq!(
        q.label_values("app", None, TimeRange::ALL).unwrap(),
        ["cart", "checkout"]
    );
    // The writer still produces these exact bytes; if this fails the format
    // changed: bump FORMAT_VERSION and keep a reader for version 1.
    assert!(
        golden == fresh,
        "segment writer output differs from the golden v1 segment"
    );
}
