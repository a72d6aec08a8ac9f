//! Round trips through the public API against a model: a sorted `Vec`.

use loki_chunk::{
    Appended, Chunk, ChunkBuilder, ChunkObject, ChunkObjectMeta, ChunkOptions, Codec, Direction,
    Version,
};
use proptest::prelude::*;

type Model = Vec<(i64, Vec<u8>, Vec<(String, String)>)>;

#[derive(Debug, Clone)]
struct Input {
    ts: i64,
    line: Vec<u8>,
    metadata: Vec<(String, String)>,
}

fn input() -> impl Strategy<Value = Input> {
    let ts = prop_oneof![
        4 => -3i64..40,                       // many equal timestamps, some negative
        1 => any::<i64>(),                    // anywhere, including the extremes
    ];
    let line = prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..40),
        2 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..3),
        1 => Just(Vec::new()),
    ];
    let metadata = proptest::collection::vec(("[a-c_]{0,3}", "[x-z😀]{0,3}"), 0..3);
    (ts, line, metadata).prop_map(|(ts, line, metadata)| Input { ts, line, metadata })
}

fn codec() -> impl Strategy<Value = Codec> {
    proptest::sample::select(Codec::ALL.to_vec())
}

/// What the chunk must hold: arrival order, stably sorted by time, exact
/// duplicates (metadata dropped in v3) removed.
fn model(inputs: &[Input], version: Version) -> Model {
    let mut model: Model = Vec::new();
    for input in inputs {
        let metadata = if version == Version::V4 {
            input.metadata.clone()
        } else {
            Vec::new()
        };
        let entry = (input.ts, input.line.clone(), metadata);
        if !model.contains(&entry) {
            model.push(entry);
        }
    }
    model.sort_by_key(|e| e.0);
    model
}

fn build(inputs: &[Input], options: ChunkOptions) -> Chunk {
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    for input in inputs {
        let metadata: Vec<(&str, &str)> = input
            .metadata
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let appended = builder.append(input.ts, &input.line, &metadata).unwrap();
        let _ = appended;
    }
    Chunk::open(builder.encode().unwrap()).unwrap()
}

/// The entries of a walk, read with `next`; `for_each` must hand out the
/// same ones, and after `next` has begun, the rest of them; and the
/// chunk's decompressed copy the same again.
fn read(chunk: &Chunk, from: i64, through: i64, direction: Direction) -> Model {
    let out = walks(chunk, from, through, direction);
    let hot = chunk.decompressed().unwrap();
    assert!(hot.is_decompressed());
    assert_eq!(
        walks(&hot, from, through, direction),
        out,
        "decompressed copy against the chunk"
    );
    out
}

/// [`read`]'s three walks of one chunk.
fn walks(chunk: &Chunk, from: i64, through: i64, direction: Direction) -> Model {
    let owned = |e: loki_chunk::Entry<'_>| {
        let metadata = e
            .metadata
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        (e.timestamp, e.line.to_vec(), metadata)
    };
    let mut out = Vec::new();
    let mut entries = chunk.entries(from, through, direction);
    while let Some(e) = entries.next().unwrap() {
        out.push(owned(e));
    }
    let mut each = Vec::new();
    let mut entries = chunk.entries(from, through, direction);
    entries.for_each(|e| each.push(owned(e))).unwrap();
    assert_eq!(each, out, "for_each against next");
    let mut resumed = Vec::new();
    let mut entries = chunk.entries(from, through, direction);
    if let Some(e) = entries.next().unwrap() {
        resumed.push(owned(e));
    }
    entries.for_each(|e| resumed.push(owned(e))).unwrap();
    assert_eq!(resumed, out, "next, then for_each");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn entries_equal_the_model_in_both_directions_and_any_range(
        inputs in proptest::collection::vec(input(), 0..120),
        codec in codec(),
        v4 in any::<bool>(),
        block_size in prop_oneof![1usize..200, Just(256 * 1024)],
        bounds in (any::<i64>(), any::<i64>()),
        small_bounds in (-5i64..45, -5i64..45),
    ) {
        let version = if v4 { Version::V4 } else { Version::V3 };
        let options = ChunkOptions::default().codec(codec).version(version).block_size(block_size);
        let chunk = build(&inputs, options);
        chunk.verify().unwrap();
        prop_assert!(!chunk.has_overlapping_blocks());
        let model = model(&inputs, version);
        prop_assert_eq!(chunk.stats().entries, model.len() as u64);

        // Ranges are [from, through): an entry at i64::MAX is in no range.
        let model: Model = model.into_iter().filter(|e| e.0 < i64::MAX).collect();
        prop_assert_eq!(&read(&chunk, i64::MIN, i64::MAX, Direction::Forward), &model);
        let mut backward = model.clone();
        backward.reverse();
        prop_assert_eq!(&read(&chunk, i64::MIN, i64::MAX, Direction::Backward), &backward);

        for (from, through) in [bounds, small_bounds] {
            let want: Model = model.iter().filter(|e| e.0 >= from && e.0 < through).cloned().collect();
            prop_assert_eq!(&read(&chunk, from, through, Direction::Forward), &want);
            let mut want_back = want.clone();
            want_back.reverse();
            prop_assert_eq!(&read(&chunk, from, through, Direction::Backward), &want_back);
        }
    }

    /// A builder taken apart at any point (cut blocks as a chunk, head as
    /// entries) and resumed holds what an uninterrupted one holds, and
    /// encodes to the same bytes.
    #[test]
    fn a_resumed_builder_equals_an_uninterrupted_one(
        inputs in proptest::collection::vec(input(), 0..120),
        split in any::<prop::sample::Index>(),
        codec in codec(),
        v4 in any::<bool>(),
        block_size in 1usize..200,
    ) {
        let version = if v4 { Version::V4 } else { Version::V3 };
        let options = ChunkOptions::default().codec(codec).version(version).block_size(block_size);
        let split = if inputs.is_empty() { 0 } else { split.index(inputs.len() + 1) };
        let append = |builder: &mut ChunkBuilder, input: &Input| {
            let metadata: Vec<(&str, &str)> = input.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let _ = builder.append(input.ts, &input.line, &metadata).unwrap();
        };
        let mut whole = ChunkBuilder::with_options(options).unwrap();
        let mut first = ChunkBuilder::with_options(options).unwrap();
        for input in &inputs[..split] {
            append(&mut whole, input);
            append(&mut first, input);
        }
        let cut = Chunk::open(first.encode_cut().unwrap()).unwrap();
        let mut resumed = ChunkBuilder::resume(&cut, ChunkOptions::default().block_size(block_size)).unwrap();
        prop_assert_eq!(resumed.options(), &options);
        for (ts, line, metadata) in first.head_entries() {
            let _ = resumed.append(ts, line, &metadata).unwrap();
        }
        for input in &inputs[split..] {
            append(&mut whole, input);
            append(&mut resumed, input);
        }
        let resumed = Chunk::open(resumed.encode().unwrap()).unwrap();
        let model = model(&inputs, version);
        let model: Model = model.into_iter().filter(|e| e.0 < i64::MAX).collect();
        prop_assert_eq!(&read(&resumed, i64::MIN, i64::MAX, Direction::Forward), &model);
        prop_assert_eq!(resumed.bytes(), &whole.encode().unwrap());
    }

    /// A stored object laid out in one buffer is byte for byte the chunk
    /// encoded, then wrapped.
    #[test]
    fn objects_encoded_in_one_buffer_equal_chunks_wrapped_afterwards(
        inputs in proptest::collection::vec(input(), 1..120),
        codec in codec(),
        v4 in any::<bool>(),
        block_size in prop_oneof![1usize..200, Just(256 * 1024)],
    ) {
        let version = if v4 { Version::V4 } else { Version::V3 };
        let options = ChunkOptions::default().codec(codec).version(version).block_size(block_size);
        let mut builder = ChunkBuilder::with_options(options).unwrap();
        for input in &inputs {
            let metadata: Vec<(&str, &str)> = input.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let _ = builder.append(input.ts, &input.line, &metadata).unwrap();
        }
        let labels = [("app", "shop"), ("env", "prod")];
        let (bytes, object) = builder.encode_object("acme", &labels).unwrap();
        let chunk = builder.encode().unwrap();
        let stats = Chunk::open(chunk.clone()).unwrap().stats();
        let meta = ChunkObjectMeta::new("acme", &labels, stats.min_time.unwrap(), stats.max_time.unwrap());
        let (wrapped, key) = ChunkObject::encode(&meta, &chunk).unwrap();
        prop_assert_eq!(&bytes, &wrapped);
        prop_assert_eq!(object.key(), key);
        prop_assert_eq!(object.meta(), &meta);
        prop_assert_eq!(object.chunk().bytes(), &chunk);
    }

    #[test]
    fn duplicates_reported_at_append_are_real(inputs in proptest::collection::vec(input(), 0..80), block_size in 1usize..100) {
        let mut builder = ChunkBuilder::with_options(ChunkOptions::default().block_size(block_size)).unwrap();
        let mut seen: Model = Vec::new();
        for input in &inputs {
            let metadata: Vec<(&str, &str)> = input.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let entry = (input.ts, input.line.clone(), input.metadata.clone());
            let appended = builder.append(input.ts, &input.line, &metadata).unwrap();
            if appended == Appended::Duplicate {
                prop_assert!(seen.contains(&entry));
            }
            seen.push(entry);
        }
    }

    #[test]
    fn filters_and_samples_see_exactly_the_matching_lines(
        inputs in proptest::collection::vec(input(), 0..80),
        codec in codec(),
        block_size in 1usize..300,
    ) {
        let options = ChunkOptions::default().codec(codec).block_size(block_size);
        let chunk = build(&inputs, options);
        let model = model(&inputs, Version::V4);
        let model: Model = model.into_iter().filter(|e| e.0 < i64::MAX).collect();
        let has_a = |line: &[u8]| line.contains(&b'a');
        let want: Vec<i64> = model.iter().filter(|e| has_a(&e.1)).map(|e| e.0).collect();
        let mut got = Vec::new();
        let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward).with_line_filter(has_a);
        while let Some(e) = entries.next().unwrap() {
            got.push(e.timestamp);
        }
        prop_assert_eq!(&got, &want);

        let samples: Vec<(i64, f64)> = chunk
            .samples(i64::MIN, i64::MAX, |e| has_a(e.line).then_some(e.line.len() as f64))
            .map(|s| s.map(|s| (s.timestamp, s.value)))
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, f64)> = model.iter().filter(|e| has_a(&e.1)).map(|e| (e.0, e.1.len() as f64)).collect();
        prop_assert_eq!(samples, want);
    }
}

#[test]
fn one_mebibyte_lines_round_trip_in_every_codec() {
    let big: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for codec in Codec::ALL {
        for version in [Version::V3, Version::V4] {
            let options = ChunkOptions::default().codec(codec).version(version);
            let mut builder = ChunkBuilder::with_options(options).unwrap();
            let _ = builder.append(2, &big, &[("k", "v")]).unwrap();
            let _ = builder.append(1, b"", &[]).unwrap();
            let _ = builder.append(3, &big[..1000], &[]).unwrap();
            let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
            chunk.verify().unwrap();
            assert!(
                chunk.blocks().len() >= 2,
                "{codec}: a 1 MiB line cuts a block"
            );
            let got = read(&chunk, i64::MIN, i64::MAX, Direction::Forward);
            assert_eq!(got.len(), 3);
            assert_eq!(got[0].1, b"");
            assert_eq!(got[1].1, big, "{codec} {version:?}");
            assert_eq!(got[2].1, &big[..1000]);
        }
    }
}

#[test]
fn room_checks_follow_the_target_size() {
    let options = ChunkOptions::default()
        .codec(Codec::None)
        .block_size(100)
        .target_size(1000);
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    let line = [b'x'; 60];
    let mut appended = 0;
    while builder.has_room_for(&line, &[]) {
        let _ = builder.append(appended, &line, &[]).unwrap();
        appended += 1;
    }
    // Uncompressed blocks of 2 × 60 bytes plus framing: about 8 blocks fit.
    assert!((14..=16).contains(&appended), "{appended}");
    let stats = builder.stats();
    assert!(stats.compressed_bytes + 60 < 1000 + 200);

    let ten_blocks = ChunkOptions::default().block_size(1).target_size(0);
    let mut builder = ChunkBuilder::with_options(ten_blocks).unwrap();
    for i in 0..10 {
        assert!(builder.has_room_for(b"x", &[]));
        let _ = builder.append(i, b"x", &[]).unwrap();
    }
    assert!(!builder.has_room_for(b"x", &[]));
}

#[test]
fn out_of_order_blocks_are_reordered_on_close() {
    let options = ChunkOptions::default().block_size(10);
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    for ts in [50, 60, 10, 20, 55, 5, 60] {
        let _ = builder
            .append(ts, format!("line-{ts:03}").as_bytes(), &[])
            .unwrap();
    }
    let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
    assert!(!chunk.has_overlapping_blocks());
    let times: Vec<i64> = read(&chunk, i64::MIN, i64::MAX, Direction::Forward)
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(times, [5, 10, 20, 50, 55, 60]);
    let metas = chunk.blocks();
    assert!(metas.windows(2).all(|w| w[0].max_time <= w[1].min_time));
}

#[test]
fn the_newest_possible_entry_is_stored_but_in_no_half_open_range() {
    // Found by the chunk_roundtrip fuzz target: [from, through) cannot hold
    // i64::MAX, so the entry is counted but never returned by a range.
    let mut builder = ChunkBuilder::new();
    let _ = builder.append(i64::MAX, b"last", &[]).unwrap();
    let _ = builder.append(i64::MIN, b"first", &[]).unwrap();
    let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
    assert_eq!(chunk.stats().entries, 2);
    assert_eq!(chunk.stats().max_time, Some(i64::MAX));
    let got = read(&chunk, i64::MIN, i64::MAX, Direction::Backward);
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [i64::MIN]);
}

#[test]
fn builder_rejects_unwritable_options() {
    assert!(ChunkBuilder::with_options(ChunkOptions::default().version(Version::V2)).is_err());
    assert!(ChunkBuilder::with_options(ChunkOptions::default().block_size(0)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_read_like_the_finished_chunk(
        inputs in proptest::collection::vec(input(), 0..80),
        codec in codec(),
        block_size in 1usize..400,
        split in any::<proptest::sample::Index>(),
    ) {
        let options = ChunkOptions::default().codec(codec).block_size(block_size);
        let mut builder = ChunkBuilder::with_options(options).unwrap();
        let split = split.index(inputs.len() + 1);
        for (i, input) in inputs.iter().enumerate() {
            if i == split {
                // A snapshot midway changes nothing about the final chunk.
                let snapshot = Chunk::open(builder.snapshot().unwrap()).unwrap();
                snapshot.verify().unwrap();
                let want: Model = model(&inputs[..i], Version::V4).into_iter().filter(|e| e.0 < i64::MAX).collect();
                // A snapshot may still hold duplicates in different blocks
                // (they are dropped when the chunk closes); reading merges
                // them away.
                prop_assert_eq!(read(&snapshot, i64::MIN, i64::MAX, Direction::Forward), want);
            }
            let metadata: Vec<(&str, &str)> = input.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let _ = builder.append(input.ts, &input.line, &metadata).unwrap();
        }
        let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
        let want: Model = model(&inputs, Version::V4).into_iter().filter(|e| e.0 < i64::MAX).collect();
        prop_assert_eq!(read(&chunk, i64::MIN, i64::MAX, Direction::Forward), want);
    }
}
