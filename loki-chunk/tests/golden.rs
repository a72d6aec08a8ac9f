//! Golden files: chunks this crate wrote, committed, so that a change to the
//! format shows up as a failing test; and chunks laid out by hand, byte by
//! byte, from the format description.
//!
//! To rewrite the golden files after a deliberate format change (which also
//! needs a new format version), run with `LOKI_CHUNK_BLESS=1`.

use std::path::PathBuf;

use bytes::Bytes;
use loki_chunk::{Chunk, ChunkBuilder, ChunkOptions, Codec, Direction, Version};

type Entries = Vec<(i64, Vec<u8>, Vec<(String, String)>)>;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

/// The entries every golden chunk holds (metadata only in v4).
fn golden_entries(version: Version) -> Entries {
    (0..40i64)
        .map(|i| {
            let line = format!(
                "ts=2024-01-01T00:00:{:02}Z level={} msg=\"request {i}\" path=/api/v1/items/{}",
                i % 60,
                ["info", "warn", "error"][(i % 3) as usize],
                i * 37 % 101
            );
            let metadata = match (version, i % 4) {
                (Version::V4, 0) => vec![("trace_id".to_owned(), format!("{:016x}", i * 7919))],
                (Version::V4, 1) => vec![
                    ("user".to_owned(), "ana".to_owned()),
                    ("trace_id".to_owned(), "0".to_owned()),
                ],
                _ => vec![],
            };
            (
                1_704_067_200_000_000_000 + i * 1_000_000_000,
                line.into_bytes(),
                metadata,
            )
        })
        .collect()
}

fn encode(codec: Codec, version: Version) -> Bytes {
    let options = ChunkOptions::default()
        .codec(codec)
        .version(version)
        .block_size(1024);
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    for (ts, line, metadata) in golden_entries(version) {
        let metadata: Vec<(&str, &str)> = metadata
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let _ = builder.append(ts, &line, &metadata).unwrap();
    }
    builder.encode().unwrap()
}

fn read(chunk: &Chunk) -> Entries {
    let mut out = Vec::new();
    let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
    while let Some(e) = entries.next().unwrap() {
        let metadata = e
            .metadata
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        out.push((e.timestamp, e.line.to_vec(), metadata));
    }
    out
}

#[test]
fn committed_chunks_of_every_codec_and_version_still_decode() {
    let bless = std::env::var_os("LOKI_CHUNK_BLESS").is_some();
    for version in [Version::V3, Version::V4] {
        for codec in Codec::ALL {
            let path = golden_dir().join(format!("v{}-{}.chunk", version.byte(), codec));
            if bless {
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&path, encode(codec, version)).unwrap();
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let chunk = Chunk::open(Bytes::from(bytes.clone())).unwrap();
            assert_eq!((chunk.version(), chunk.codec()), (version, codec));
            assert!(
                chunk.blocks().len() > 1,
                "golden chunks span several blocks"
            );
            chunk.verify().unwrap();
            assert_eq!(read(&chunk), golden_entries(version), "{}", path.display());
            if codec == Codec::None {
                // Without a codec in the way, the writer's bytes are fixed.
                assert_eq!(
                    encode(codec, version),
                    bytes,
                    "{}: writer output drifted",
                    path.display()
                );
            }
        }
    }
}

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn crc(bytes: &[u8]) -> [u8; 4] {
    crc32c::crc32c(bytes).to_be_bytes()
}

#[test]
fn hand_built_v3_chunk_decodes() {
    // Block payload: entries (ts=1000 "foo") and (ts=1002 "barbaz"),
    // timestamps zig-zag varints: 1000 -> 2000 = d0 0f, 1002 -> 2004 = d4 0f.
    let block: Vec<u8> = [&[0xd0, 0x0f, 3][..], b"foo", &[0xd4, 0x0f, 6], b"barbaz"].concat();
    let mut chunk = vec![0x01, 0x2e, 0xe5, 0x6a, 3, 0]; // magic, v3, codec none
    chunk.extend_from_slice(&block); // block 0 at offset 6
    chunk.extend_from_slice(&crc(&block));
    let metas_offset = chunk.len();
    let mut metas = vec![1]; // one block
    metas.extend_from_slice(&[2, 0xd0, 0x0f, 0xd4, 0x0f, 6, 9, block.len() as u8]);
    // entries=2, min=1000, max=1002, offset=6, uncompressed=9, len
    chunk.extend_from_slice(&metas);
    chunk.extend_from_slice(&crc(&metas));
    chunk.extend_from_slice(&(metas_offset as u64).to_be_bytes());

    let chunk = Chunk::open(Bytes::from(chunk)).unwrap();
    chunk.verify().unwrap();
    assert_eq!(chunk.stats().uncompressed_bytes, 9);
    assert_eq!(
        read(&chunk),
        vec![
            (1000, b"foo".to_vec(), vec![]),
            (1002, b"barbaz".to_vec(), vec![])
        ]
    );
}

#[test]
fn hand_built_v2_chunk_decodes() {
    // Version 2: block metas have no uncompressed size. Codec gzip (byte 1).
    let block_plain: Vec<u8> =
        [&[0xd0, 0x0f, 5][..], b"hello", &[0xd2, 0x0f, 5], b"world"].concat();
    let block = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&block_plain).unwrap();
        enc.finish().unwrap()
    };
    let mut chunk = vec![0x01, 0x2e, 0xe5, 0x6a, 2, 1];
    chunk.extend_from_slice(&block);
    chunk.extend_from_slice(&crc(&block));
    let metas_offset = chunk.len();
    let mut metas = vec![1, 2, 0xd0, 0x0f, 0xd2, 0x0f, 6];
    uvarint(&mut metas, block.len() as u64);
    chunk.extend_from_slice(&metas);
    chunk.extend_from_slice(&crc(&metas));
    chunk.extend_from_slice(&(metas_offset as u64).to_be_bytes());

    let chunk = Chunk::open(Bytes::from(chunk)).unwrap();
    assert_eq!((chunk.version(), chunk.codec()), (Version::V2, Codec::Gzip));
    chunk.verify().unwrap();
    assert_eq!(chunk.stats().uncompressed_bytes, 0, "v2 does not record it");
    assert_eq!(
        read(&chunk),
        vec![
            (1000, b"hello".to_vec(), vec![]),
            (1001, b"world".to_vec(), vec![])
        ]
    );
}

#[test]
fn hand_built_v4_chunk_with_symbols_decodes() {
    // Symbols: 0 "trace_id", 1 "abc" (codec none: the stream is plain).
    let mut symbols = vec![2];
    for s in ["trace_id", "abc"] {
        uvarint(&mut symbols, s.len() as u64);
        symbols.extend_from_slice(s.as_bytes());
    }
    // Entry 1 (ts=5, "a", trace_id=abc): metadata section = 03 01 00 01.
    // Entry 2 (ts=6, "b", none): metadata section = 01 00.
    let block: Vec<u8> = vec![10, 1, b'a', 3, 1, 0, 1, 12, 1, b'b', 1, 0];
    let mut chunk = vec![0x01, 0x2e, 0xe5, 0x6a, 4, 0];
    let sm_offset = chunk.len();
    chunk.extend_from_slice(&symbols);
    chunk.extend_from_slice(&crc(&symbols));
    let block_offset = chunk.len();
    chunk.extend_from_slice(&block);
    chunk.extend_from_slice(&crc(&block));
    let metas_offset = chunk.len();
    let metas = vec![1, 2, 10, 12, block_offset as u8, 10, block.len() as u8];
    chunk.extend_from_slice(&metas);
    chunk.extend_from_slice(&crc(&metas));
    for (len, offset) in [(symbols.len(), sm_offset), (metas.len(), metas_offset)] {
        chunk.extend_from_slice(&(len as u64).to_be_bytes());
        chunk.extend_from_slice(&(offset as u64).to_be_bytes());
    }

    let chunk = Chunk::open(Bytes::from(chunk)).unwrap();
    chunk.verify().unwrap();
    assert_eq!(
        read(&chunk),
        vec![
            (
                5,
                b"a".to_vec(),
                vec![("trace_id".to_owned(), "abc".to_owned())]
            ),
            (6, b"b".to_vec(), vec![]),
        ]
    );
}
