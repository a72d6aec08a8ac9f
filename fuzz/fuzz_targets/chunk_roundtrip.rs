//! Builds a chunk from arbitrary entries and options, and checks that it
//! reads back as the model says: sorted by time (stable), exact duplicates
//! dropped, and readable in every range that holds it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use loki_chunk::{Chunk, ChunkBuilder, ChunkOptions, Codec, Direction, Version};

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    v4: bool,
    block_size: u16,
    entries: Vec<(i64, Vec<u8>, Vec<(String, String)>)>,
}

fuzz_target!(|input: Input| {
    let codec = Codec::ALL[usize::from(input.codec) % Codec::ALL.len()];
    let version = if input.v4 { Version::V4 } else { Version::V3 };
    let options = ChunkOptions::default()
        .codec(codec)
        .version(version)
        .block_size(usize::from(input.block_size).max(1));
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    let mut model: Vec<(i64, Vec<u8>, Vec<(String, String)>)> = Vec::new();
    for (ts, line, metadata) in &input.entries {
        let pairs: Vec<(&str, &str)> = metadata
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let _ = builder.append(*ts, line, &pairs).unwrap();
        let stored = if input.v4 {
            metadata.clone()
        } else {
            Vec::new()
        };
        let entry = (*ts, line.clone(), stored);
        if !model.contains(&entry) {
            model.push(entry);
        }
    }
    model.sort_by_key(|e| e.0);
    let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
    chunk.verify().unwrap();
    assert_eq!(chunk.stats().entries, model.len() as u64);
    // Ranges are [from, through): an entry at i64::MAX is in no range.
    model.retain(|e| e.0 < i64::MAX);
    let mut got = Vec::new();
    let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
    while let Some(e) = entries.next().unwrap() {
        let metadata = e
            .metadata
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        got.push((e.timestamp, e.line.to_vec(), metadata));
    }
    assert_eq!(got, model);
});
