//! A chunk object written by a real Loki 2.8 filesystem store decodes to
//! exactly the entries that were pushed into it.

use std::path::PathBuf;

use bytes::Bytes;
use loki_chunk::{fingerprint, ChunkKey, ChunkObject, Codec, Direction, Version};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/loki-2.8")
}

const OBJECT: &str = "fake/b89e203d5d949ddf/MTlhOWU4Zjk0YjU6MTlhOWVjNjVjY2Y6ZGM5NTQxOWU=";

fn expected() -> Vec<(i64, String)> {
    let text = std::fs::read_to_string(data_dir().join("expected.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = v["ts"].as_str().unwrap().parse().unwrap();
            (ts, v["line"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn object() -> (ChunkKey, ChunkObject) {
    let bytes = std::fs::read(data_dir().join(OBJECT)).unwrap();
    let key = ChunkKey::from_filesystem_path(OBJECT).unwrap();
    let object = ChunkObject::decode_checked(Bytes::from(bytes), &key).unwrap();
    (key, object)
}

#[test]
fn key_and_metadata_match_the_manifest() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("manifest.json")).unwrap())
            .unwrap();
    let (key, object) = object();
    assert_eq!(key.tenant, "fake");
    assert_eq!(
        format!("{:x}", key.fingerprint),
        manifest["fingerprint"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:x}", key.checksum),
        manifest["checksum_crc32c"].as_str().unwrap()
    );
    assert_eq!(key.from_ms, manifest["from_ms"].as_i64().unwrap());
    assert_eq!(key.through_ms, manifest["through_ms"].as_i64().unwrap());
    assert_eq!(
        key.filesystem_path(),
        manifest["object_key"].as_str().unwrap()
    );

    let meta = object.meta();
    let labels: Vec<(String, String)> = manifest["labels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(meta.labels, labels);
    assert_eq!(
        fingerprint(&labels),
        key.fingerprint,
        "our fingerprint is Loki's"
    );

    let chunk = object.chunk();
    assert_eq!(chunk.version(), Version::V3);
    assert_eq!(chunk.codec(), Codec::Snappy);
    let per_block: Vec<u64> = chunk.blocks().iter().map(|b| b.entries).collect();
    let want: Vec<u64> = manifest["block_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(per_block, want);
    let stats = chunk.stats();
    assert_eq!(stats.entries, 400);
    assert_eq!(stats.min_time, manifest["first_ts"].as_i64());
    assert_eq!(stats.max_time, manifest["last_ts"].as_i64());
    chunk.verify().unwrap();
}

#[test]
fn entries_are_the_pushed_ones_in_both_directions() {
    let (_, object) = object();
    let chunk = object.chunk();
    let want = expected();
    let mut got = Vec::new();
    let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
    while let Some(e) = entries.next().unwrap() {
        assert!(e.metadata.is_empty());
        got.push((e.timestamp, String::from_utf8(e.line.to_vec()).unwrap()));
    }
    assert_eq!(got, want);

    let mut back = Vec::new();
    let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Backward);
    while let Some(e) = entries.next().unwrap() {
        back.push(e.timestamp);
    }
    let mut want_back: Vec<i64> = want.iter().map(|e| e.0).collect();
    want_back.reverse();
    assert_eq!(back, want_back);
}

#[test]
fn re_encoding_through_our_writer_keeps_every_entry() {
    let (_, object) = object();
    for codec in Codec::ALL {
        let mut builder = loki_chunk::ChunkBuilder::with_options(
            loki_chunk::ChunkOptions::default()
                .codec(codec)
                .version(Version::V4),
        )
        .unwrap();
        let mut entries = object
            .chunk()
            .entries(i64::MIN, i64::MAX, Direction::Forward);
        while let Some(e) = entries.next().unwrap() {
            let _ = builder.append(e.timestamp, e.line, &[]).unwrap();
        }
        let chunk = loki_chunk::Chunk::open(builder.encode().unwrap()).unwrap();
        let mut n = 0;
        let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
        let want = expected();
        while let Some(e) = entries.next().unwrap() {
            assert_eq!((e.timestamp, e.line), (want[n].0, want[n].1.as_bytes()));
            n += 1;
        }
        assert_eq!(n, 400, "{codec}");
    }
}

#[test]
fn wrong_key_or_damaged_object_is_refused() {
    let bytes = Bytes::from(std::fs::read(data_dir().join(OBJECT)).unwrap());
    let key = ChunkKey::from_filesystem_path(OBJECT).unwrap();
    let mut other_tenant = key.clone();
    other_tenant.tenant = "someone-else".into();
    let err = ChunkObject::decode_checked(bytes.clone(), &other_tenant).unwrap_err();
    assert!(
        matches!(
            err,
            loki_chunk::Error::WrongMetadata {
                field: "tenant",
                ..
            }
        ),
        "{err}"
    );

    let mut damaged = bytes.to_vec();
    damaged[1000] ^= 1;
    let err = ChunkObject::decode_checked(Bytes::from(damaged), &key).unwrap_err();
    assert!(
        matches!(
            err,
            loki_chunk::Error::ChecksumMismatch {
                what: "chunk object",
                ..
            }
        ),
        "{err}"
    );
}
